"""Loading the tokenizer a recipe names: a local dir, a hub id, or a bare SentencePiece `.model`.

A `.model` file (the usual output of training your own tokenizer with
`sentencepiece`) is converted to a fast tokenizer here, reading the model's
protobuf directly: transformers' own converter needs the `protobuf` package and
a slow tokenizer class, neither of which this step should depend on.
"""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

# SentencePiece piece types (sentencepiece_model.proto).
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6
UNIGRAM, BPE = 1, 2


def load_tokenizer(spec: str) -> Any:
    """A fast Hugging Face tokenizer for `spec` (dir, hub id or SentencePiece `.model`);
    a dir that needs its own Python code is a RemoteCodeError, never run."""
    from transformers import AutoTokenizer

    from postmix.remote_code import refuse_remote_code

    path = Path(spec)
    if ".model" in path.suffixes and path.is_file():  # also mistral-common's tokenizer.model.v3
        return sentencepiece_tokenizer(path)
    with refuse_remote_code(spec):
        return AutoTokenizer.from_pretrained(spec, trust_remote_code=False)


@dataclass
class SpmModel:
    """The parts of a SentencePiece ModelProto a fast tokenizer needs."""

    pieces: list[tuple[str, float, int]] = field(default_factory=list)
    model_type: int = UNIGRAM
    byte_fallback: bool = False
    unk_id: int = 0
    bos_id: int = 1
    eos_id: int = 2
    pad_id: int = -1
    charsmap: bytes = b""
    add_dummy_prefix: bool = True
    remove_extra_whitespaces: bool = True

    def piece(self, i: int) -> str | None:
        return self.pieces[i][0] if 0 <= i < len(self.pieces) else None


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, i
        shift += 7


def _fields(buf: bytes) -> Iterator[tuple[int, Any]]:
    """(field number, value) of a protobuf message: ints, raw bytes, or 4-byte floats."""
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 2:
            n, i = _varint(buf, i)
            value, i = buf[i : i + n], i + n
        elif wire == 5:
            value, i = struct.unpack_from("<f", buf, i)[0], i + 4
        elif wire == 1:
            value, i = buf[i : i + 8], i + 8
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield num, value


def _int32(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


def read_spm(path: Path) -> SpmModel:
    """Parse a SentencePiece `.model` file (pieces, trainer and normalizer settings)."""
    m = SpmModel()
    for num, value in _fields(path.read_bytes()):
        if num == 1:
            piece = dict(_fields(value))
            m.pieces.append((piece[1].decode(), piece.get(2, 0.0), piece.get(3, NORMAL)))
        elif num == 2:
            spec = dict(_fields(value))
            m.model_type = spec.get(3, UNIGRAM)
            m.byte_fallback = bool(spec.get(35, 0))
            m.unk_id, m.bos_id = _int32(spec.get(40, 0)), _int32(spec.get(41, 1))
            m.eos_id, m.pad_id = _int32(spec.get(42, 2)), _int32(spec.get(43, -1))
        elif num == 3:
            norm = dict(_fields(value))
            m.charsmap = norm.get(2, b"")
            m.add_dummy_prefix = bool(norm.get(3, 1))
            m.remove_extra_whitespaces = bool(norm.get(4, 1))
    return m


def spm_backend(m: SpmModel) -> Any:
    """A `tokenizers.Tokenizer` that encodes like the SentencePiece model."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers
    from tokenizers import pre_tokenizers as pre

    if m.model_type == UNIGRAM:
        unk = m.unk_id if m.unk_id >= 0 else None
        model = models.Unigram([(p, s) for p, s, _ in m.pieces], unk, m.byte_fallback)
    elif m.model_type == BPE:
        from transformers.tokenization_utils_base import generate_merges

        vocab = {p: i for i, (p, _, _) in enumerate(m.pieces)}
        skip = [p for p, _, t in m.pieces if t in (UNKNOWN, CONTROL, BYTE, UNUSED)]
        merges = generate_merges(vocab, {p: s for p, s, _ in m.pieces}, skip_tokens=skip)
        model = models.BPE(
            vocab, merges, unk_token=m.piece(m.unk_id), fuse_unk=True, byte_fallback=m.byte_fallback
        )
    else:
        raise ValueError("only unigram and bpe SentencePiece models can be converted")
    tk = Tokenizer(model)
    steps = [normalizers.Precompiled(m.charsmap)] if m.charsmap else []
    if m.remove_extra_whitespaces:
        steps += [
            normalizers.Strip(left=False, right=True),
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    if steps:
        tk.normalizer = normalizers.Sequence(steps)
    scheme = "first" if m.add_dummy_prefix else "never"
    tk.pre_tokenizer = pre.Metaspace(replacement="▁", prepend_scheme=scheme, split=False)
    steps = [decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()]
    if m.add_dummy_prefix:
        steps.append(decoders.Strip(content=" ", left=1, right=0))
    tk.decoder = decoders.Sequence(steps)
    tk.add_tokens(
        [
            AddedToken(p, special=t == CONTROL, normalized=False)
            for p, _, t in m.pieces
            if t in (CONTROL, USER_DEFINED)
        ]
    )
    return tk


def sentencepiece_tokenizer(path: Path) -> Any:
    """A fast tokenizer converted from a SentencePiece model file.

    bos/eos/unk come from the model. pad is the model's pad piece, else unk,
    else eos: a pad equal to eos is the last resort because collators that mask
    padding by id would then also mask every trained eos.
    """
    from transformers import PreTrainedTokenizerFast

    m = read_spm(path)
    unk, eos = m.piece(m.unk_id), m.piece(m.eos_id)
    return PreTrainedTokenizerFast(
        tokenizer_object=spm_backend(m),
        bos_token=m.piece(m.bos_id),
        eos_token=eos,
        unk_token=unk,
        pad_token=m.piece(m.pad_id) or unk or eos,
    )


def _byte_alphabet() -> dict[int, int]:
    """GPT-2's byte-level alphabet as a `str.translate` table: visible char -> byte (as latin-1)."""
    visible = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1)]
    visible += range(ord("®"), ord("ÿ") + 1)
    chars = {b: b for b in visible}
    n = 0
    for b in range(256):
        if b not in chars:
            chars[b] = 256 + n
            n += 1
    return {c: b for b, c in chars.items()}


BYTE_LEVEL = _byte_alphabet()
BYTE_PIECE = re.compile(r"<0x([0-9A-Fa-f]{2})>")
# Normalizers that leave text as it is (NFC only changes text that is not NFC already).
NEUTRAL_NORMALIZERS = (
    {"type": "NFC"},
    {"type": "Replace", "pattern": {"String": " "}, "content": "▁"},
)


@dataclass(frozen=True)
class TokenBytes:
    """The exact bytes every token id stands for, back to back: a decoder as numpy arrays.

    Only built for the two decoders that are byte-exact (byte-level BPE and
    SentencePiece-style `▁` + byte fallback) on a tokenizer whose normalizer
    leaves text unchanged; everything derived from it is checked by comparing
    a record's decoded bytes with its text.
    """

    blob: np.ndarray
    offset: np.ndarray
    length: np.ndarray


def _decoder_kind(spec: dict[str, Any] | None) -> str | None:
    """'bytelevel' or 'metaspace' for the byte-exact decoders, else None."""
    if spec is None:
        return None
    steps = spec["decoders"] if spec["type"] == "Sequence" else [spec]
    kinds = set()
    for step in steps:
        kind = step["type"]
        if kind == "ByteLevel":
            kinds.add("bytelevel")
        elif kind == "Metaspace" or (
            kind == "Replace" and step["pattern"] == {"String": "▁"} and step["content"] == " "
        ):
            kinds.add("metaspace")
        elif not (kind in ("ByteFallback", "Fuse") or (kind == "Strip" and step["content"] == " ")):
            return None
    return kinds.pop() if len(kinds) == 1 else None


def _neutral(spec: dict[str, Any] | None) -> bool:
    if spec is None:
        return True
    if spec["type"] == "Sequence":
        return all(map(_neutral, spec["normalizers"]))
    return any(all(spec.get(k) == v for k, v in n.items()) for n in NEUTRAL_NORMALIZERS)


def _state(component: Any) -> dict[str, Any] | None:
    return None if component is None else json.loads(component.__getstate__())


def token_bytes(backend: Any) -> TokenBytes | None:
    """The byte table of a `tokenizers.Tokenizer`, or None where decoding is not byte-exact."""
    kind = _decoder_kind(_state(backend.decoder))
    if kind is None or not _neutral(_state(backend.normalizer)):
        return None
    added = backend.get_added_tokens_decoder()
    pieces = []
    for i in range(backend.get_vocab_size(with_added_tokens=True)):
        if i in added:
            pieces.append(added[i].content.encode())
            continue
        token = backend.id_to_token(i) or ""
        if kind == "bytelevel":
            try:
                pieces.append(token.translate(BYTE_LEVEL).encode("latin-1"))
            except UnicodeEncodeError:
                return None
        elif m := BYTE_PIECE.fullmatch(token):
            pieces.append(bytes([int(m[1], 16)]))
        else:
            pieces.append(token.replace("▁", " ").encode())
    length = np.fromiter(map(len, pieces), dtype=np.int64, count=len(pieces))
    offset = np.concatenate(([0], np.cumsum(length)[:-1]))
    return TokenBytes(np.frombuffer(b"".join(pieces), dtype=np.uint8), offset, length)
