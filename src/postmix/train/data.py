"""Prepared dirs and recipes → the datasets TRL's trainers take as they are.

What `prepare` wrote (and verified) is what the trainer sees:
- a `tokenized` dir is used id for id: `input_ids` and `labels` untouched,
  `position_ids` turned into the per-record `seq_lengths` TRL's padding-free
  collator rebuilds them from (no attention mask, so attention never crosses
  records);
- a `messages` dir is tokenized here through `postmix.tokenize` and packed
  through `postmix.pack`, the functions `prepare` itself uses.

Rows handed to the trainers:
- sft/text: `input_ids`, `labels`, `seq_lengths`, `sources` and `ids` (one per record);
- preference: `prompt_ids`, `chosen_ids`, `rejected_ids`, `source`, `id`;
- prompt (GRPO): `prompt` (messages), `answer` and `solution`, `source`, `id`
(built in `postmix.train.rows`).

Several dirs mix through `postmix.mix` (the recipe mixer): weights are shares
of trained tokens for sft/text rows and of rows for pairs and prompts.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from postmix import mix
from postmix.tokenize import IGNORE
from postmix.train.config import TrainConfig
from postmix.train.rows import (
    LM_KINDS,
    DataError,
    features,
    from_tokenized,
    lm_columns,
    pair_columns,
    prompt_columns,
    tokenize_rows,
)

SPLITS = ("train", "validation")
TOKENIZER_DIR = "tokenizer"
RECIPE_SUFFIXES = (".yaml", ".yml")


@dataclass
class Prepared:
    """One prepared dir: its manifest, output schema and record kind."""

    path: Path
    manifest: dict[str, Any]
    schema: str  # "tokenized" | "messages"
    kind: str

    @property
    def recipe(self) -> dict[str, Any]:
        return self.manifest.get("recipe") or {}


@dataclass
class TrainData:
    """Train and validation rows for one method, and the tokenizer they were made with."""

    kind: str
    train: Any  # datasets.Dataset
    validation: Any | None
    tokenizer: Any
    template: str
    dirs: list[Path]
    stats: dict[str, Any] = field(default_factory=dict)


def is_recipe(spec: str | Path) -> bool:
    return Path(spec).suffix in RECIPE_SUFFIXES and Path(spec).is_file()


def prepare_recipe(path: Path, out: Path) -> Path:
    """Run `postmix prepare` on a recipe into `out` (once, on the main process)."""
    from accelerate import PartialState

    from postmix import recipe
    from postmix.prepare import prepare

    with PartialState().main_process_first():
        if PartialState().is_main_process:
            prepare(recipe.load(path, output=out), out, progress=False)
    return out


def resolve(specs: Sequence[str], workdir: Path) -> list[Path]:
    """Prepared dirs for `--data`: dirs as they are, recipes prepared under `workdir/data`."""
    dirs = []
    for spec in specs:
        path = Path(spec)
        if is_recipe(path):
            dirs.append(prepare_recipe(path, workdir / "data" / path.stem))
        elif (path / "manifest.json").is_file():
            dirs.append(path)
        else:
            raise DataError(
                f"{spec}: neither a recipe (.yaml) nor a prepared dir with manifest.json"
            )
    return dirs


def _outputs(path: Path, manifest: dict[str, Any]) -> dict[str, Path]:
    return {o["split"]: path / o["path"] for o in manifest.get("outputs", [])}


def read_rows(path: Path) -> Any:
    """A split (Parquet, JSONL or a `save_to_disk` dir) as a `datasets.Dataset`."""
    from datasets import Dataset, load_from_disk

    if path.is_dir():
        return load_from_disk(str(path))
    if path.suffix == ".parquet":
        return Dataset.from_parquet(str(path))
    return Dataset.from_json(str(path))


def message_rows(path: Path) -> list[dict[str, Any]]:
    """Rows of a messages-schema split as plain dicts (free-form JSON kept as it was)."""
    if path.suffix == ".jsonl":
        with open(path, "rb") as fh:
            return [orjson.loads(line) for line in fh if line.strip()]
    return [_from_arrow(row) for row in read_rows(path).to_list()]


def _from_arrow(row: dict[str, Any]) -> dict[str, Any]:
    """Undo what typed storage does to messages: JSON-text tools / tool calls, null fields."""
    if isinstance(row.get("tools"), str):
        row["tools"] = json.loads(row["tools"])
    for key in ("messages", "prompt", "chosen", "rejected"):
        msgs = row.get(key)
        if isinstance(msgs, list):
            row[key] = [
                {
                    k: json.loads(v) if k == "tool_calls" and isinstance(v, str) else v
                    for k, v in m.items()
                    if v is not None
                }
                for m in msgs
            ]
    return row


def schema_of(first: dict[str, Any]) -> tuple[str, str]:
    """(schema, kind) of a prepared split from its first row."""
    if "chosen_ids" in first or "chosen_input_ids" in first:
        return "tokenized", "preference"
    if "input_ids" in first:
        return "tokenized", "sft" if "labels" in first else "prompt"
    if "messages" in first:
        return "messages", "sft"
    if "chosen" in first and "rejected" in first and "prompt" in first:
        return "messages", "preference"
    if "prompt" in first:
        return "messages", "prompt"
    if "text" in first:
        return "messages", "text"
    raise DataError(
        f"rows with columns {sorted(first)} cannot be trained on: "
        "prepare with output.schema: messages or tokenized"
    )


def open_prepared(path: Path, *, verify: bool = True) -> Prepared:
    """A prepared dir; with `verify`, refused unless its files match the manifest's
    sizes and sha256s (a dir changed after prepare, or mixed from two runs)."""
    if verify:
        from postmix.writers.verify import VerifyError
        from postmix.writers.verify import verify as check

        try:
            check(path)
        except VerifyError as exc:
            raise DataError(str(exc)) from exc
    manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
    files = _outputs(path, manifest)
    if "train" not in files:
        raise DataError(f"{path}: the manifest lists no train split")
    first = next(iter(_first_rows(files["train"])), None)
    if first is None:
        raise DataError(f"{path}: the train split is empty")
    schema, kind = schema_of(first)
    return Prepared(path, manifest, schema, kind)


def _first_rows(path: Path) -> Iterator[dict[str, Any]]:
    if path.suffix == ".jsonl":
        with open(path, "rb") as fh:
            for line in fh:
                if line.strip():
                    yield orjson.loads(line)
                    return
        return
    ds = read_rows(path)
    if len(ds):
        yield ds[0]


def load_tokenizer_for(
    cfg: TrainConfig, dirs: list[Prepared], model: str | None, model_tokenizer: str | None = None
) -> tuple[Any, str, Any]:
    """(tokenizer, template name, renderer) for the data.

    Tokenized dirs carry the tokenizer their ids came from (`<dir>/tokenizer`):
    it is the only one that fits them, and messages dirs mixed in with them are
    tokenized with it and its template. Otherwise: `--tokenizer`, then
    `model_tokenizer` (the one saved with a trained model, for eval), the dir's
    saved tokenizer, the recipe's `tokenizer:`, then the model's; the template
    is `--template`, the recipe's, the tokenizer's own, else chatml.
    """
    from postmix.templates import bind
    from postmix.tokenizer import load_tokenizer

    tokenized = [d for d in dirs if d.schema == "tokenized"]
    if tokenized:
        saved = [d.path / TOKENIZER_DIR for d in tokenized]
        tok = load_tokenizer(str(saved[0]))
        for other in saved[1:]:
            if load_tokenizer(str(other)).get_vocab() != tok.get_vocab():
                raise DataError(f"{saved[0]} and {other} hold different tokenizers")
        name = tokenized[0].recipe.get("template") or "tokenizer"
        same_as_data(cfg, tokenized[0], tok, name)
    else:
        first = dirs[0]
        saved = first.path / TOKENIZER_DIR
        spec = cfg.tokenizer or model_tokenizer or (str(saved) if saved.is_dir() else None)
        spec = spec or first.recipe.get("tokenizer") or model
        if spec is None:
            raise DataError("no tokenizer: give --tokenizer or --model")
        tok = load_tokenizer(spec)
        name = cfg.template or first.recipe.get("template")
        name = name or ("tokenizer" if tok.chat_template else "chatml")
    return tok, name, bind(tok, name, cfg.special_tokens)


def same_as_data(cfg: TrainConfig, d: Prepared, tok: Any, template: str) -> None:
    """`--tokenizer` / `--template` may repeat what tokenized data was made with (the same
    spec, or a tokenizer with the same vocabulary); a different one is refused, naming both."""
    from postmix.tokenizer import load_tokenizer

    if cfg.template and cfg.template != template:
        raise DataError(
            f"--template {cfg.template} conflicts with {d.path}, tokenized with template "
            f"{template}: drop --template, or prepare the data again with template: "
            f"{cfg.template}"
        )
    spec = cfg.tokenizer
    same_spec = not spec or spec == d.recipe.get("tokenizer")
    if not same_spec and load_tokenizer(spec).get_vocab() != tok.get_vocab():
        raise DataError(
            f"--tokenizer {spec} conflicts with {d.path / TOKENIZER_DIR}, the tokenizer "
            f"{d.path} was tokenized with: drop --tokenizer, or prepare the data again "
            f"with tokenizer: {spec}"
        )


def build_split(
    d: Prepared, split: str, tok: Any, renderer: Any, cfg: TrainConfig
) -> tuple[Any, Counter[str]]:
    """One split of one prepared dir as trainer rows, with what tokenizing dropped."""
    from datasets import Dataset

    path = _outputs(d.path, d.manifest).get(split)
    if path is None or not path.exists():
        return None, Counter()
    if d.schema == "tokenized":
        ds = from_tokenized(read_rows(path), d.kind, tok)
        return (ds if d.kind == "prompt" else ds.cast(features(d.kind))), Counter()
    rows = message_rows(path)
    if d.kind == "prompt":
        return Dataset.from_dict(prompt_columns(rows)), Counter()
    kept, dropped = tokenize_rows(rows, d.kind, tok, renderer, cfg)
    cols = pair_columns(kept) if d.kind == "preference" else lm_columns(kept, cfg)
    return Dataset.from_dict(cols, features=features(d.kind)), dropped


def trained_tokens(ds: Any) -> np.ndarray:
    """Trained tokens per LM row (labels that are not -100), counted on the Arrow columns."""
    counts = []
    for chunk in ds.with_format("arrow")["labels"].chunks:
        offsets = chunk.offsets.to_numpy()
        offsets = offsets - offsets[0]
        trained = np.concatenate(([0], np.cumsum(chunk.flatten().to_numpy() != IGNORE)))
        counts.append(trained[offsets[1:]] - trained[offsets[:-1]])
    return np.concatenate([np.zeros(0, dtype=np.int64), *counts]).astype(np.float64)


def row_costs(ds: Any, kind: str) -> np.ndarray:
    return trained_tokens(ds) if kind in LM_KINDS else np.ones(len(ds), dtype=np.float64)


def weighted(
    parts: list[Any], kind: str, weights: Sequence[float] | None, seed: int, names: list[str]
) -> Any:
    """The train rows of several dirs mixed by `weights` with the recipe mixer (`postmix.mix`).

    Each dir's draw is seeded by its name (its manifest fingerprint), as `prepare`
    seeds each source by its name: adding or reordering dirs never reshuffles another.
    """
    from datasets import concatenate_datasets

    from postmix.engine.select import rng

    if weights is not None and len(weights) != len(parts):
        raise DataError(f"{len(weights)} weights for {len(parts)} --data values")
    costs = [row_costs(p, kind) for p in parts]
    ratios = list(weights) if weights is not None else [None] * len(parts)
    budgets = mix.targets([float(c.sum()) for c in costs], ratios)
    chosen = [
        p.select(mix.select(c, b, rng(seed, "train", name)).tolist())
        for p, c, b, name in zip(parts, costs, budgets, names)
    ]
    return concatenate_datasets(chosen)


def load_data(
    specs: Sequence[str],
    cfg: TrainConfig,
    *,
    kinds: Sequence[str],
    weights: Sequence[float] | None = None,
    model: str | None = None,
    model_tokenizer: str | None = None,
    verify: bool = True,
) -> TrainData:
    """Everything a trainer needs from `--data`: rows per split, tokenizer, template, stats.

    `verify=False` or `cfg.verify` off (`--no-verify`) skips checking the dirs against
    their manifests.
    """
    from datasets import concatenate_datasets

    paths = resolve(specs, Path(cfg.output))
    dirs = [open_prepared(p, verify=verify and cfg.verify) for p in paths]
    found = {d.kind for d in dirs}
    kind = dirs[0].kind
    if not found <= set(kinds) or (len(found) > 1 and not found <= set(LM_KINDS)):
        raise DataError(
            f"this command trains on {' / '.join(kinds)} data; --data holds "
            + ", ".join(f"{d.path} ({d.kind})" for d in dirs)
        )
    tok, template, renderer = load_tokenizer_for(cfg, dirs, model, model_tokenizer)
    splits: dict[str, list[Any]] = {s: [] for s in SPLITS}
    names: list[str] = []
    dropped: Counter[str] = Counter()
    for d in dirs:
        for split in SPLITS:
            ds, lost = build_split(d, split, tok, renderer, cfg)
            dropped.update(lost)
            if ds is not None and len(ds):
                splits[split].append(ds)
                if split == "train":
                    names.append(d.manifest.get("fingerprint") or d.path.name)
    if not splits["train"]:
        raise DataError("no training rows left in " + ", ".join(str(p) for p in paths))
    if len(splits["train"]) > 1 or weights is not None:
        train = weighted(splits["train"], kind, weights, cfg.training.seed, names)
    else:
        train = splits["train"][0]
    validation = concatenate_datasets(splits["validation"]) if splits["validation"] else None
    stats = {
        "dirs": [str(p) for p in paths],
        "kind": kind,
        "train_rows": len(train),
        "validation_rows": len(validation) if validation is not None else 0,
        "dropped": dict(sorted(dropped.items())),
    }
    return TrainData(kind, train, validation, tok, template, paths, stats)
