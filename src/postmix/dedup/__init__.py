"""Duplicate removal: exact (content keys) and near (MinHash LSH)."""
