"""Reading a prepared dir back against its manifest: sizes first, then sha256s.

A dir edited after `prepare`, or one whose files come from another run, must not
be trained on or inspected as if the manifest described it. Sizes catch most
damage for the price of a `stat`; hashes (about a second per GB) catch the rest.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from postmix.writers.files import file_sha256

FIX = "run prepare again, or pass --no-verify to use it as it is"


class VerifyError(ValueError):
    """A prepared dir does not match its manifest."""


def verify(out_dir: str | Path, *, hashes: bool = True) -> None:
    """Raise `VerifyError` unless every output the manifest lists is there with its size
    (`bytes`, when recorded) and, with `hashes`, its sha256 (when recorded)."""
    out = Path(out_dir)
    manifest = read_manifest(out)
    entries = [e for e in manifest.get("outputs") or [] if isinstance(e, dict) and "path" in e]
    for entry in entries:
        path = _inside(out, entry["path"])
        if not path.exists():
            raise VerifyError(f"{path}: listed in {out / 'manifest.json'} but missing; {FIX}")
        size = entry.get("bytes")
        if size is not None and path.is_file() and path.stat().st_size != size:
            raise VerifyError(
                f"{path}: {path.stat().st_size} bytes, the manifest says {size}: the file was "
                f"changed after prepare or comes from another run; {FIX}"
            )
    if not hashes:
        return
    for entry in entries:
        path = out / entry["path"]
        want = entry.get("sha256")
        if want and path.is_file() and file_sha256(path) != want:
            raise VerifyError(
                f"{path}: sha256 differs from the manifest's: the file was changed after "
                f"prepare or comes from another run; {FIX}"
            )


def read_manifest(out: Path) -> dict[str, Any]:
    """The dir's manifest.json as a dict, or a `VerifyError` saying what is wrong."""
    path = out / "manifest.json"
    try:
        doc = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        raise VerifyError(f"{out}: no manifest.json, so not a postmix output dir") from None
    except orjson.JSONDecodeError as exc:
        raise VerifyError(f"{path}: not valid JSON ({exc}); {FIX}") from exc
    if not isinstance(doc, dict):
        raise VerifyError(f"{path}: not a postmix manifest; {FIX}")
    return doc


def _inside(out: Path, rel: Any) -> Path:
    """A listed path, refused when it would leave the dir (a hand-edited manifest)."""
    path = Path(str(rel))
    if path.is_absolute() or ".." in path.parts:
        raise VerifyError(f"{out / 'manifest.json'}: output path {rel!r} leaves the dir; {FIX}")
    return out / path
