"""Trainer rows: messages rows tokenized and packed, tokenized splits in TRL's columns.

`postmix.train.data` finds and opens prepared dirs; this module turns their
rows into what the trainers take (see its docstring for the columns). Token
ids that `prepare` wrote are never re-tokenized: packed rows keep their ids and
labels and get per-record `seq_lengths`; pairs are read under TRL's names or
postmix 0.1's.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence
from functools import partial
from typing import Any

import numpy as np

from postmix.tokenize import IGNORE, TokenizedRecord, tokenize_batch
from postmix.train.config import TrainConfig
from postmix.writers.tokenized import ALIASES

LM_KINDS = ("sft", "text")
CHUNK = 1024


class DataError(ValueError):
    """Data that cannot be trained on as asked."""


def to_record(row: dict[str, Any], kind: str) -> dict[str, Any]:
    """A messages-schema row back to the canonical record `postmix.tokenize` takes."""
    rec: dict[str, Any] = {
        "id": row.get("id"),
        "source": row.get("source"),
        "kind": kind,
        "tools": row.get("tools"),
        "meta": {},
    }
    if kind == "sft":
        rec["messages"] = row["messages"]
    elif kind == "preference":
        rec.update(messages=row["prompt"], chosen=row["chosen"], rejected=row["rejected"])
    elif kind == "prompt":
        rec["messages"] = row["prompt"]
    else:
        rec["text"] = row["text"]
    return rec


def tokenize_rows(
    rows: list[dict[str, Any]], kind: str, tok: Any, renderer: Any, cfg: TrainConfig
) -> tuple[list[tuple[TokenizedRecord, str | None]], Counter[str]]:
    """(record, source) per kept row and drop reasons, in batches through `tokenize_batch`."""
    kept: list[tuple[TokenizedRecord, str | None]] = []
    dropped: Counter[str] = Counter()
    for start in range(0, len(rows), CHUNK):
        batch = [to_record(r, kind) for r in rows[start : start + CHUNK]]
        out = tokenize_batch(
            batch,
            tok,
            renderer,
            train_on=cfg.train_on,
            max_length=cfg.max_seq_length,
            over_length=cfg.over_length,
        )
        for rec, res in zip(batch, out):
            if isinstance(res, str):
                dropped[res] += 1
            else:
                kept.append((res, rec["source"]))
    return kept, dropped


def lm_columns(kept: list[tuple[TokenizedRecord, str | None]], cfg: TrainConfig) -> dict[str, Any]:
    """sft/text rows for TRL's padding-free collator: packed by `postmix.pack`, or one per row."""
    if cfg.packing:
        from postmix.pack import pack_records

        # The source rides along in the record id so packing keeps it with its record.
        tagged = [dataclasses.replace(r, id=(r.id, s)) for r, s in kept]
        rows = pack_records(tagged, cfg.max_seq_length)
        spans = list(zip(rows.row_offsets[:-1].tolist(), rows.row_offsets[1:].tolist()))
        seqs = zip(rows.seq_offsets[:-1].tolist(), rows.seq_offsets[1:].tolist())
        return {
            "input_ids": [rows.input_ids[a:b].tolist() for a, b in spans],
            "labels": [rows.labels[a:b].tolist() for a, b in spans],
            "seq_lengths": [rows.seq_lengths[a:b].tolist() for a, b in seqs],
            "sources": [[s for _, s in ids] for ids in rows.record_ids],
            "ids": [[i for i, _ in ids] for ids in rows.record_ids],
        }
    return {
        "input_ids": [r.input_ids.tolist() for r, _ in kept],
        "labels": [r.labels.tolist() for r, _ in kept],
        "seq_lengths": [[len(r.input_ids)] for r, _ in kept],
        "sources": [[s] for _, s in kept],
        "ids": [[r.id] for r, _ in kept],
    }


def pair_columns(kept: list[tuple[TokenizedRecord, str | None]]) -> dict[str, list[Any]]:
    return {
        "prompt_ids": [r.prompt_ids.tolist() for r, _ in kept],
        "chosen_ids": [r.chosen_ids.tolist() for r, _ in kept],
        "rejected_ids": [r.rejected_ids.tolist() for r, _ in kept],
        "source": [s for _, s in kept],
        "id": [r.id for r, _ in kept],
    }


def prompt_columns(rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """GRPO rows: the prompt as messages (TRL renders it with the bound chat template) and
    the reference answer as `answer` and `solution` (the keyword of TRL's own rewards)."""
    answers = [None if r.get("answer") is None else str(r["answer"]) for r in rows]
    return {
        "prompt": [r["prompt"] for r in rows],
        "answer": answers,
        "solution": answers,
        "source": [r.get("source") for r in rows],
        "id": [r.get("id") for r in rows],
    }


def seq_lengths(position_ids: Sequence[int]) -> list[int]:
    """Record lengths of a packed row from its position ids (they restart at 0 per record)."""
    pos = np.asarray(position_ids)
    starts = np.flatnonzero(pos == 0)
    if not len(starts) or starts[0] != 0:
        raise DataError("position_ids must start at 0")
    return np.diff(np.append(starts, len(pos))).tolist()


def _tokenized_lm(batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """Per-record lengths, sources and ids of tokenized rows (packed rows hold lists of them)."""
    lengths = [seq_lengths(p) for p in batch["position_ids"]]
    sources = [s if isinstance(s, list) else [s] * len(n) for s, n in zip(batch["source"], lengths)]
    ids = batch["ids"] if "ids" in batch else [[i] for i in batch["id"]]
    return {"seq_lengths": lengths, "sources": sources, "ids": ids}


def _tokenized_pairs(batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """prompt/chosen/rejected ids, under TRL's names or postmix 0.1's (`*_input_ids`).
    `{side}_ids` hold the reply alone, or with `{side}_labels` the whole sequence, which
    must then split into the prompt and a reply that is trained on every token (as DPO
    trains it)."""
    name = {k: k if k in batch else old for k, old in ALIASES.items()}
    out: dict[str, list[Any]] = {"prompt_ids": [], "chosen_ids": [], "rejected_ids": []}
    for k, prompt in enumerate(batch[name["prompt_ids"]]):
        prompt = list(prompt)
        n = len(prompt)
        out["prompt_ids"].append(prompt)
        for side in ("chosen", "rejected"):
            ids = list(batch[name[f"{side}_ids"]][k])
            if f"{side}_labels" in batch:
                trained = [x != IGNORE for x in batch[f"{side}_labels"][k]]
                if ids[:n] != prompt or trained != [i >= n for i in range(len(ids))]:
                    raise DataError(f"{side} ids/labels do not split into the prompt and a reply")
                ids = ids[n:]
            out[f"{side}_ids"].append(ids)
    return out


def _tokenized_prompts(batch: dict[str, list[Any]], tok: Any) -> dict[str, list[Any]]:
    """Prompt text from `prompt_ids` (postmix 0.1: `input_ids`); `solution` from `answer`."""
    ids = batch["prompt_ids"] if "prompt_ids" in batch else batch["input_ids"]
    answers = batch.get("answer") or [None] * len(ids)
    return {"prompt": tok.batch_decode(ids), "answer": answers, "solution": answers}


def from_tokenized(ds: Any, kind: str, tok: Any) -> Any:
    """A tokenized split in the trainers' columns; ids and labels are not touched.

    Prompts (GRPO) go back to text, their chat template already applied: TRL
    generates from text prompts and hands the rewards text.
    """
    if kind == "preference":
        ds = ds.map(_tokenized_pairs, batched=True)
        keep = ["prompt_ids", "chosen_ids", "rejected_ids", "source", "id"]
    elif kind == "prompt":
        ds = ds.map(partial(_tokenized_prompts, tok=tok), batched=True)
        keep = ["prompt", "answer", "solution", "source", "id"]
    else:
        ds = ds.map(_tokenized_lm, batched=True)
        keep = ["input_ids", "labels", "seq_lengths", "sources", "ids"]
    return ds.select_columns([c for c in keep if c in ds.column_names])


def features(kind: str) -> Any:
    """One Arrow schema per kind, so the splits of several dirs concatenate (None: prompts)."""
    from datasets import Features, List, Value

    ints, text = List(Value("int32")), Value("string")
    if kind in LM_KINDS:
        cols = {"input_ids": ints, "labels": ints, "seq_lengths": ints}
        return Features({**cols, "sources": List(text), "ids": List(text)})
    if kind == "preference":
        cols = {"prompt_ids": ints, "chosen_ids": ints, "rejected_ids": ints}
        return Features({**cols, "source": text, "id": text})
    return None
