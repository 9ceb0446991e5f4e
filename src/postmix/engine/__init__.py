"""The engine of `prepare`, in layers by what they do.

plan.py (recipe → shard tasks) · shard.py (read → convert → chain → spill, in
any process or node) · chain.py (the steps and the loop that runs them) ·
ledger.py (counting, removal lines, examples; the accounting identity) ·
index.py (the driver's compact arrays) · select.py (dedup, mix, split, leaks:
pure functions over arrays) · outputs.py · manifest.py · fingerprint.py.
"""
