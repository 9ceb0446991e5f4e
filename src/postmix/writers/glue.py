"""Trainer glue beside the data: LLaMA-Factory's `dataset_info.json`, an axolotl snippet.

Each entry is derived from what was written, not from the recipe alone:
LLaMA-Factory fails on a mapped column that no row holds (`system`, `tools`,
`history`), so a column is mapped only when some row of the split has it.
LLaMA-Factory loads `file_name` relative to its `dataset_dir` and refuses a
folder of mixed file types, so entries name the split files themselves and
`dataset_dir: OUTPUT_DIR` works on the output dir as it is. `disk` outputs get
no LLaMA-Factory entry: its 0.9.5 pins datasets<=4.0, which cannot read them.
Entries cover the layouts both tools read as they are (sharegpt and alpaca for
LLaMA-Factory; chats, alpaca and pairs for axolotl); others get no entry and a
line in `notes()`.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import yaml

LLAMAFACTORY = "dataset_info.json"
AXOLOTL = "axolotl.yaml"
BLOCK = 4 << 20  # bytes of a JSONL split searched at a time
SHAREGPT_ROLES = {
    "system": ["system"],
    "user": ["human"],
    "assistant": ["gpt", "function_call"],
    "tool": ["observation"],
}


@dataclass(frozen=True)
class Split:
    """One written split: its name, path relative to the output dir and file type."""

    name: str
    path: str  # the one loadable file
    builder: str  # json | parquet | arrow (LLaMA-Factory's and axolotl's `ds_type`)
    output: str  # the manifest's path (a `disk` split's folder)


@dataclass(frozen=True)
class Layout:
    """What a prepared dir holds, from its manifest and rows."""

    kind: str
    schema: str
    packed: bool
    splits: tuple[Split, ...]
    columns: dict[str, frozenset[str]]  # per split: optional columns some row of it fills
    text_tools: bool  # every `tools` value is JSON text, as LLaMA-Factory reads them


def _splits(out_dir: Path, manifest: dict[str, Any]) -> Iterator[Split]:
    for o in manifest.get("outputs", []):
        if not int(o.get("rows") or 0):
            continue
        path = out_dir / o["path"]
        if path.is_dir():  # `save_to_disk`: only a single shard is one loadable file
            shards = sorted(path.glob("*.arrow"))
            if len(shards) == 1:
                file = shards[0].relative_to(out_dir).as_posix()
                yield Split(o["split"], file, "arrow", o["path"])
        else:
            builder = "json" if path.suffix == ".jsonl" else path.suffix.lstrip(".")
            yield Split(o["split"], o["path"], builder, o["path"])


# The optional columns an entry of each schema can map (the others are never looked for).
MAPPED: dict[str, tuple[str, ...]] = {
    "messages": ("tools",),
    "conversations": ("tools",),
    "sharegpt": ("system", "tools"),
    "alpaca": ("system", "tools", "history"),
}


# Every optional key as compact JSON writes it: a line without one of these has no optional
# column, and the shard workers flag the lines that have one (`mentions`).
KEY_BYTES: tuple[bytes, ...] = tuple(
    sorted({f'"{k}":'.encode() for keys in MAPPED.values() for k in keys})
)


def mentions(line: bytes) -> bool:
    """Whether a spill line can hold an optional column (one of `KEY_BYTES` occurs in it)."""
    return any(k in line for k in KEY_BYTES)


Scan = tuple[frozenset[str], bool]  # (optional columns some row fills, every `tools` is text)


def _filled(out_dir: Path, split: Split, schema: str) -> Scan:
    """(optional columns some row of the split holds a value in, whether every `tools` value
    is JSON text). Cached by file and modification time: the card and the glue both ask."""
    path = out_dir / split.output
    stat = path.stat()
    return _scan(str(path), (stat.st_mtime_ns, stat.st_size), MAPPED.get(schema, ()))


KNOWN = 16  # scans made while writing, kept until the glue or the card asks
_known: dict[tuple[str, tuple[int, int], tuple[str, ...]], Scan] = {}


def remember(path: Path, scan: KeyScan) -> None:
    """Keep the scan of a JSONL split made while it was written (`engine/gather.py`), for
    this very file (path, mtime, size): the glue and the card then need not read it again."""
    stat = path.stat()
    _known[(str(path), (stat.st_mtime_ns, stat.st_size), scan.optional)] = scan.result()
    while len(_known) > KNOWN:
        del _known[next(iter(_known))]


@functools.lru_cache(maxsize=64)
def _scan(path: str, _stamp: tuple[int, int], optional: tuple[str, ...]) -> Scan:
    """JSONL: only lines that mention an optional key are parsed. Parquet / Arrow: only the
    optional columns are read, as Arrow arrays."""
    if not optional:
        return frozenset(), True
    known = _known.pop((path, _stamp, optional), None)
    if known is not None:
        return known
    if path.endswith(".jsonl"):
        return _scan_jsonl(Path(path), optional)
    from postmix.report.stats import batches

    seen: set[str] = set()
    text_tools = True
    for batch in batches(Path(path)):
        for name in optional:
            if name not in batch.schema.names or name in seen:
                continue
            column = batch.column(name)
            if name == "tools" and not _is_text(column.type):
                text_tools = False
            if _any_value(column):
                seen.add(name)
    return frozenset(seen), text_tools


class KeyScan:
    """Which optional columns some row fills, from the lines holding an optional key as
    compact JSON writes it (`"tools":`; a value "tools" is no key): only those are parsed."""

    def __init__(self, optional: tuple[str, ...]) -> None:
        self.optional = optional
        self.keys = [f'"{k}":'.encode() for k in optional]
        self.seen: set[str] = set()
        self.text_tools = True

    def line(self, line: bytes) -> None:
        if any(k in line for k in self.keys):
            row = orjson.loads(line)
            self.seen.update(k for k in self.optional if row.get(k) not in (None, "", []))
            if row.get("tools") and not isinstance(row["tools"], str):
                self.text_tools = False

    def lines(self, block: bytes) -> None:
        """Every line of a block of whole lines."""
        for line in block.split(b"\n"):
            self.line(line)

    def result(self) -> Scan:
        return frozenset(self.seen), self.text_tools


def _scan_jsonl(path: Path, optional: tuple[str, ...]) -> Scan:
    """`KeyScan` over the file; a file where no key occurs at all is read once, in blocks."""
    scan = KeyScan(optional)
    if _mentions(path, scan.keys):
        with open(path, "rb") as fh:
            for line in fh:
                scan.line(line)
    return scan.result()


def _mentions(path: Path, keys: list[bytes]) -> bool:
    """Whether any key occurs in the file (blocks overlap by a key's length)."""
    overlap = max(map(len, keys)) - 1
    tail = b""
    with open(path, "rb") as fh:
        while block := fh.read(BLOCK):
            seam = tail + block[:overlap]
            if any(k in block or k in seam for k in keys):
                return True
            tail = block[-overlap:]
    return False


def _is_text(kind: Any) -> bool:
    import pyarrow as pa

    return pa.types.is_string(kind) or pa.types.is_large_string(kind)


def _any_value(column: Any) -> bool:
    """Whether an Arrow column holds a value that is not null, empty text or an empty list."""
    import pyarrow as pa
    import pyarrow.compute as pc

    valid = column.drop_null()
    if not len(valid):
        return False
    if _is_text(column.type):
        return bool(pc.any(pc.not_equal(pc.utf8_length(valid), 0)).as_py())
    if pa.types.is_list(column.type) or pa.types.is_large_list(column.type):
        return bool(pc.any(pc.greater(pc.list_value_length(valid), 0)).as_py())
    return True


def layout(out_dir: Path, manifest: dict[str, Any]) -> Layout:
    recipe = manifest.get("recipe") or {}
    output = recipe.get("output") or {}
    splits = tuple(_splits(out_dir, manifest))
    schema = output.get("schema", "messages")
    filled = {s.name: _filled(out_dir, s, schema) for s in splits}
    return Layout(
        kind=(recipe.get("metadata") or {}).get("kind", "sft"),
        schema=schema,
        packed=bool(recipe.get("packing")),
        splits=splits,
        columns={name: cols for name, (cols, _) in filled.items()},
        text_tools=all(text for _, text in filled.values()),
    )


def _llamafactory_entry(lay: Layout, split: Split) -> dict[str, Any] | None:
    """One `dataset_info.json` entry (LLaMA-Factory's DatasetAttr fields) or None."""
    if split.builder == "arrow":  # LLaMA-Factory pins datasets<=4.0, which cannot read these
        return None
    filled = lay.columns[split.name]
    cols = {k: k for k in ("system", "history") if k in filled}
    if "tools" in filled and lay.text_tools:
        cols["tools"] = "tools"
    entry: dict[str, Any] = {"file_name": split.path}
    if lay.schema == "sharegpt" and lay.kind in ("sft", "preference", "kto"):
        entry["formatting"] = "sharegpt"
        cols.pop("history", None)
        cols["messages"] = "conversations"
        if lay.kind == "preference":
            entry["ranking"] = True
            cols.update(chosen="chosen", rejected="rejected")
        if lay.kind == "kto":
            cols["kto_tag"] = "kto_tag"
    elif lay.schema == "alpaca" and lay.kind == "sft":
        entry["formatting"] = "alpaca"
        cols.update(prompt="instruction", query="input", response="output")
        cols.pop("tools", None)
    else:
        return None
    entry["columns"] = dict(sorted(cols.items()))
    return entry


def llamafactory_info(out_dir: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """`dataset_info.json`: one entry per split, named `{phase}_{split}`."""
    lay = layout(out_dir, manifest)
    phase = ((manifest.get("recipe") or {}).get("metadata") or {}).get("phase") or "dataset"
    info = {}
    for split in lay.splits:
        entry = _llamafactory_entry(lay, split)
        if entry is not None:
            info[f"{phase}_{split.name}"] = entry
    return info


def _axolotl_entry(lay: Layout, split: Split, out_dir: Path) -> dict[str, Any] | None:
    """One axolotl `datasets:` item (SFTDataset / DPODataset fields) or None."""
    entry: dict[str, Any] = {
        "path": str((out_dir / split.path).resolve()),
        "ds_type": split.builder,
    }
    entry["split"] = "train"  # a single data file loads as the `train` split
    chat = {"sft": "chat_template", "preference": "chat_template.default"}.get(lay.kind)
    if lay.schema in ("messages", "conversations") and chat and lay.kind == "sft":
        entry.update(type=chat, field_messages=lay.schema, roles_to_train=["assistant"])
        entry["message_property_mappings"] = {"role": "role", "content": "content"}
        if "tools" in lay.columns[split.name]:
            entry["field_tools"] = "tools"
    elif lay.schema == "messages" and lay.kind == "preference":
        entry.update(type=chat, field_messages="prompt", field_chosen="chosen")
        entry.update(field_rejected="rejected")
    elif lay.schema == "sharegpt" and chat:
        roles = {k: list(v) for k, v in SHAREGPT_ROLES.items()}  # no YAML anchors between items
        entry.update(type=chat, field_messages="conversations", roles=roles)
        entry["message_property_mappings"] = {"role": "from", "content": "value"}
        if lay.kind == "preference":
            entry.update(field_chosen="chosen", field_rejected="rejected")
        else:
            entry["roles_to_train"] = ["assistant"]
    elif lay.schema == "alpaca" and lay.kind == "sft":
        entry["type"] = "alpaca"
    else:
        return None
    return entry


def axolotl_config(
    out_dir: Path, manifest: dict[str, Any], target: Path | None = None
) -> dict[str, Any]:
    """The `datasets:` / `test_datasets:` (and `rl: dpo` for pairs) part of an axolotl config;
    paths are absolute, under `target` (where `out_dir`'s files will live) when given."""
    lay = layout(out_dir, manifest)
    items = {s.name: _axolotl_entry(lay, s, target or out_dir) for s in lay.splits}
    if items.get("train") is None:
        return {}
    config: dict[str, Any] = {"rl": "dpo"} if lay.kind == "preference" else {}
    config["datasets"] = [items["train"]]
    if items.get("validation") is not None:
        config["test_datasets"] = [items["validation"]]
    return config


def notes(out_dir: Path, manifest: dict[str, Any]) -> list[str]:
    """What the glue leaves out for this output, and why (for the dataset card)."""
    lay = layout(out_dir, manifest)
    out = []
    if any(s.builder == "arrow" for s in lay.splits) and lay.schema in ("sharegpt", "alpaca"):
        out.append(
            "LLaMA-Factory: no `dataset_info.json` for a `disk` output (LLaMA-Factory 0.9.5 "
            "pins datasets<=4.0, which cannot read it); prepare with `file_format: parquet`."
        )
    elif not llamafactory_info(out_dir, manifest):
        out.append(
            "LLaMA-Factory: no `dataset_info.json` entry for the "
            f"`{lay.schema}` schema ({lay.kind}); prepare with `schema: sharegpt` or `alpaca`."
        )
    elif lay.schema == "sharegpt" and not lay.text_tools:
        out.append(
            "LLaMA-Factory reads `tools` as JSON text, which these rows hold as objects: the "
            "entry leaves `tools` out."
        )
    if not axolotl_config(out_dir, manifest):
        out.append(f"axolotl: no snippet for the `{lay.schema}` schema ({lay.kind}).")
    return out


def glue_files(
    out_dir: Path, manifest: dict[str, Any], target: Path | None = None
) -> dict[str, str]:
    """The glue files that fit this output: file name -> text (nothing written)."""
    files = {}
    info = llamafactory_info(out_dir, manifest)
    if info:
        files[LLAMAFACTORY] = json.dumps(info, indent=2) + "\n"
    config = axolotl_config(out_dir, manifest, target)
    if config:
        name = (target or out_dir).name
        head = f"# axolotl: merge into your config (written by postmix for {name})\n"
        files[AXOLOTL] = head + yaml.safe_dump(config, sort_keys=False)
    return files


def write_glue(out_dir: Path, manifest: dict[str, Any], target: Path | None = None) -> list[str]:
    """Write the glue files that fit this output into `out_dir`; their names.

    The manifest and the split files decide everything; call it once the splits
    are written (before or after the card: the card derives the same list).
    `target`: the final output dir when `out_dir` is a staging dir (axolotl's
    paths are absolute; LLaMA-Factory's are relative and need no target).
    """
    from postmix.report.card import write_text

    files = glue_files(out_dir, manifest, target)
    for name, text in files.items():
        write_text(out_dir / name, text)
    return list(files)
