"""postmix: post-training data for LLMs, from a YAML recipe to a clean training set."""

__version__ = "0.1.0"
