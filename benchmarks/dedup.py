"""Near dedup on synthetic instruction data with planted near duplicates, against datatrove.

The script writes (once, cached under `benchmarks/_work/dedup/`) JSONL shards
of instruction-like records: an opener ("Explain why", "Summarize the
following text:", ...) and a body drawn from English function words and a
Zipf-weighted pool of pronounceable words, 5-400 words long (median ~40).
A share of the records (`--dup-share`, 10%) are planted near duplicates of
another record: 1-3 word edits (replace, delete, insert, swap) plus case,
punctuation and spacing noise. Records are shuffled, so a copy may come first.

Then it runs, each in its own process tree, timed, its summed RSS sampled every 20 ms:

- postmix: `dedup.near` as the pipeline runs it: forked workers read their
  shard, compute rensa signatures and band keys, spill signatures to disk and
  return keys; the main process resolves duplicates on arrays;
- datatrove: its 4-stage MinHash pipeline (signatures, buckets, clusters) on
  the same shards with the same shingles (3 words), bands (21 x 6) and word
  normalization (lowercase, punctuation stripped, whitespace split).

Quality against the planted truth: precision = removed records whose named
(kept) duplicate comes from the same original; recall = planted pairs of
which one side was removed, over pairs whose true 3-gram Jaccard reaches the
threshold (and over all planted pairs). Not a test.

    python benchmarks/dedup.py --rows 1000000 --workers 2
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing as mp
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import psutil
from dedup_data import SHARD_ROWS, generate, read_shard

from postmix.dedup import near, shingle

BATCH = 5_000


# ---------------------------------------------------------------- runs


def measure(cmd: list[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (bytes, summed over the process tree) of a command."""
    t = time.perf_counter()
    proc = subprocess.Popen(cmd)
    root, peak = psutil.Process(proc.pid), 0
    while proc.poll() is None:
        total = 0
        with contextlib.suppress(psutil.Error):
            for p in [root, *root.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    total += p.memory_info().rss
        peak = max(peak, total)
        time.sleep(0.02)
    if proc.returncode:
        raise SystemExit(f"{cmd} failed with {proc.returncode}")
    return time.perf_counter() - t, peak


def _sketch_shard(args: tuple[Path, Path, near.NearConfig]) -> np.ndarray:
    shard, sig_path, cfg = args
    texts = [r["text"] for r in read_shard(shard)]
    keys = []
    with open(sig_path, "wb") as out:
        for lo in range(0, len(texts), BATCH):
            sig = near.signatures(texts[lo : lo + BATCH], cfg)
            out.write(sig.tobytes())
            keys.append(near.band_keys(sig, cfg))
    return np.concatenate(keys)


def run_postmix(folder: Path, cfg: near.NearConfig, workers: int) -> tuple[np.ndarray, dict]:
    """dup_of (-1 kept, else kept index) in record order, plus timings."""
    shards = sorted((folder / "shards").glob("*.jsonl"))
    sig_dir = folder / "postmix-sigs"
    shutil.rmtree(sig_dir, ignore_errors=True)
    sig_dir.mkdir()
    sig_paths = [sig_dir / f"{s.stem}.sig" for s in shards]
    t0 = time.perf_counter()
    with mp.get_context("fork").Pool(workers) as pool:
        keys = np.concatenate(
            pool.map(_sketch_shard, [(s, p, cfg) for s, p in zip(shards, sig_paths)], chunksize=1)
        )
    t1 = time.perf_counter()
    store = near.SignatureStore(sig_paths, cfg.num_perm)
    dup_of = near.resolve(keys, np.arange(len(keys)), store, cfg.threshold)
    t2 = time.perf_counter()
    return dup_of, {"stage1_s": t1 - t0, "resolve_s": t2 - t1}


def run_datatrove(folder: Path, cfg: near.NearConfig, workers: int) -> tuple[np.ndarray, dict]:
    """datatrove's MinHash dedup: dup_of with the kept member of each cluster."""
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup.minhash import (
        MinhashConfig,
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupSignature,
    )
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.utils.hashing import HashConfig
    from datatrove.utils.word_tokenizers import WordTokenizer

    class SplitTokenizer(WordTokenizer):
        """Whitespace words of datatrove's simplified text (its default needs spaCy)."""

        def word_tokenize(self, text: str) -> list[str]:
            return text.split()

        def sent_tokenize(self, text: str) -> list[str]:
            return [text]

        def span_tokenize(self, text: str) -> list[tuple[int, int]]:
            return [(0, len(text))]

    bands, rows = cfg.bands
    # datatrove's xxhash path passes str to xxhash 4, which only hashes bytes: use its sha1
    mh = MinhashConfig(
        n_grams=cfg.shingle,
        num_buckets=bands,
        hashes_per_bucket=rows,
        hash_config=HashConfig(precision=64, hash_fc="sha1"),
    )
    out = folder / "datatrove"
    shutil.rmtree(out, ignore_errors=True)
    shards = sorted((folder / "shards").glob("*.jsonl"))
    timings = {}
    stages: list[tuple[str, Callable[[], Any]]] = [
        (
            "signatures_s",
            lambda: LocalPipelineExecutor(
                [
                    JsonlReader(str(folder / "shards"), glob_pattern="*.jsonl"),
                    MinhashDedupSignature(str(out / "sigs"), config=mh, language=SplitTokenizer()),
                ],
                tasks=len(shards),
                workers=workers,
                logging_dir=str(out / "logs1"),
            ).run(),
        ),
        (
            "buckets_s",
            lambda: LocalPipelineExecutor(
                [MinhashDedupBuckets(str(out / "sigs"), str(out / "buckets"), config=mh)],
                tasks=bands,
                workers=workers,
                logging_dir=str(out / "logs2"),
            ).run(),
        ),
        (
            "cluster_s",
            lambda: LocalPipelineExecutor(
                [
                    MinhashDedupCluster(
                        str(out / "buckets"), str(out / "remove"), config=mh, save_cluster_id=True
                    )
                ],
                tasks=1,
                logging_dir=str(out / "logs3"),
            ).run(),
        ),
    ]
    for name, stage in stages:
        t = time.perf_counter()
        with _output_to(out / f"{name}.log"):  # datatrove logs every task to the terminal
            stage()
        timings[name] = time.perf_counter() - t
    return _datatrove_dup_of(out / "remove", len(shards)), timings


@contextlib.contextmanager
def _output_to(path: Path) -> Iterator[None]:
    """Send this process's (and its children's) stdout and stderr to a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    saved = [os.dup(1), os.dup(2)]
    with open(path, "ab") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


def _datatrove_dup_of(folder: Path, n_shards: int) -> np.ndarray:
    """Cluster files to dup_of: each removed doc points to its cluster's kept doc."""
    n = n_shards * SHARD_ROWS
    cluster = np.full(n, -1, dtype=np.int64)
    removed = np.zeros(n, dtype=bool)
    for f in range(n_shards):
        path = folder / f"{f:06d}.clusters"
        if path.exists():
            pairs = np.frombuffer(path.read_bytes(), dtype="<u4").reshape(-1, 2)
            cluster[f * SHARD_ROWS + pairs[:, 0].astype(np.int64)] = pairs[:, 1]
        path = folder / f"{f:06d}.remove"
        if path.exists():
            docs = np.frombuffer(path.read_bytes(), dtype="<u4").astype(np.int64)
            removed[f * SHARD_ROWS + docs] = True
    kept_of = {}
    for i in np.flatnonzero((cluster >= 0) & ~removed).tolist():
        kept_of[int(cluster[i])] = i
    dup_of = np.full(n, -1, dtype=np.int64)
    for i in np.flatnonzero(removed).tolist():
        dup_of[i] = kept_of[int(cluster[i])]
    return dup_of


# ---------------------------------------------------------------- quality


def truth(folder: Path) -> tuple[np.ndarray, list[str]]:
    origin, texts = [], []
    for shard in sorted((folder / "shards").glob("*.jsonl")):
        for r in read_shard(shard):
            origin.append(r["origin"])
            texts.append(r["text"])
    return np.asarray(origin), texts


def grams(text: str, n: int) -> set[int]:
    w = shingle.words_of(text)
    return {hash(tuple(w[i : i + n])) for i in range(max(1, len(w) - n + 1))}


def quality(dup_of: np.ndarray, origin: np.ndarray, similar: np.ndarray) -> dict[str, float]:
    n = len(origin)
    dup_of = dup_of[:n]
    removed = np.flatnonzero(dup_of >= 0)
    correct = origin[removed] == origin[dup_of[removed]]
    copies = np.flatnonzero(origin != np.arange(n))
    caught = (dup_of[copies] >= 0) | (dup_of[origin[copies]] >= 0)
    return {
        "removed": len(removed),
        "precision": float(correct.mean()) if len(removed) else 1.0,
        "recall": float(caught[similar].mean()),
        "recall_all": float(caught.mean()),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--dup-share", type=float, default=0.1)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threshold", type=float, default=0.8)
    ap.add_argument("--no-datatrove", action="store_true")
    ap.add_argument("--tool", help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.tool:
        return run_tool(args)
    assert args.rows % SHARD_ROWS == 0 or args.rows < SHARD_ROWS, "rows: a multiple of 50000"
    cfg = near.NearConfig(threshold=args.threshold)

    t = time.perf_counter()
    folder = generate(args.rows, args.dup_share)
    origin, texts = truth(folder)
    copies = np.flatnonzero(origin != np.arange(len(origin)))
    jac = np.array(
        [
            len((a := grams(texts[c], cfg.shingle)) & (b := grams(texts[origin[c]], cfg.shingle)))
            / len(a | b)
            for c in copies
        ]
    )
    similar = jac >= cfg.threshold
    del texts
    ready = time.perf_counter() - t
    share = f"{similar.mean():.1%} at Jaccard >= {cfg.threshold}"
    print(f"data: {args.rows} rows, {len(copies)} planted ({share}), ready in {ready:.0f}s")
    print(f"bands x rows: {cfg.bands}, shingle {cfg.shingle}, num_perm {cfg.num_perm}")
    cpu = platform.processor() or platform.machine()
    print(f"machine: {cpu}, {os.cpu_count()} cpus, load {os.getloadavg()[0]:.1f}")

    tools = ["postmix"] if args.no_datatrove else ["postmix", "datatrove"]
    columns = ["tool", "wall s", "records/s", "peak RSS MB", "removed", "precision", "recall"]
    columns += ["recall (all planted)", "steps (s)"]
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for name in tools:
        out = folder / f"{name}.npz"
        cmd = [sys.executable, __file__, "--tool", name, "--data", str(folder), "--out", str(out)]
        cmd += ["--workers", str(args.workers), "--threshold", str(args.threshold)]
        wall, peak = measure(cmd)
        result = np.load(out)
        q = quality(result["dup_of"], origin, similar)
        steps = ", ".join(f"{k} {float(result[k]):.1f}" for k in result.files if k != "dup_of")
        print(
            f"| {name} | {wall:.1f} | {args.rows / wall:,.0f} | {peak / 2**20:,.0f} | "
            f"{q['removed']:,} | {q['precision']:.4f} | {q['recall']:.4f} | "
            f"{q['recall_all']:.4f} | {steps} |",
            flush=True,
        )


def run_tool(args: argparse.Namespace) -> None:
    """One tool on prepared data, in its own process so its memory is measured alone."""
    runs = {"postmix": run_postmix, "datatrove": run_datatrove}
    cfg = near.NearConfig(threshold=args.threshold)
    dup_of, detail = runs[args.tool](Path(args.data), cfg, args.workers)
    np.savez(args.out, dup_of=dup_of, **detail)


if __name__ == "__main__":
    main()
