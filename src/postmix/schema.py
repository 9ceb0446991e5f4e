"""The canonical record every converter emits and every later stage reads.

Records are plain dicts (not model instances): the pipeline moves millions of
them, and a dict is what orjson reads and writes at full speed. This module is
the one place that says what a well-formed record is.
"""

from __future__ import annotations

import hashlib
import unicodedata
import uuid
from typing import Any, Literal, TypedDict

import orjson

Kind = Literal["sft", "preference", "prompt", "text", "kto"]
KINDS: tuple[str, ...] = ("sft", "preference", "prompt", "text", "kto")
ROLES: frozenset[str] = frozenset({"system", "user", "assistant", "tool"})

# uuid5 namespace of postmix ids: uuid5(NAMESPACE_URL, "https://postmix/record").
ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://postmix/record")
_ID_PREFIX = ID_NAMESPACE.bytes


class Message(TypedDict, total=False):
    role: str
    content: str
    tool_calls: list[dict[str, Any]]
    tool_call_id: str
    name: str
    reasoning_content: str
    train: bool


class InvalidRow(ValueError):
    """A source row that cannot be read as the declared format (goes to quarantine)."""


class Skip(Exception):
    """A well-formed row the converter deliberately does not turn into a record.

    The reason becomes a `dropped:<reason>` bucket in the manifest (for example
    an arena battle that ended in a tie).
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


def message(role: str, content: Any, **extra: Any) -> Message:
    """Build a message, rejecting content that is not text (a common upstream defect)."""
    if content is None:
        content = ""
    if not isinstance(content, str):
        raise InvalidRow(f"{role} content is {type(content).__name__}, expected a string")
    msg: Message = {"role": role, "content": content}
    for key, value in extra.items():
        if value is not None:
            msg[key] = value  # type: ignore[literal-required]
    return msg


def record(
    kind: Kind,
    messages: list[Message],
    *,
    chosen: list[Message] | None = None,
    rejected: list[Message] | None = None,
    text: str | None = None,
    tools: list[dict[str, Any]] | None = None,
    meta: dict[str, Any] | None = None,
    completion: list[Message] | None = None,
    label: bool | None = None,
) -> dict[str, Any]:
    """Assemble a canonical record; `id` and `source` are filled in by the pipeline.

    A `kto` record (unpaired preference) holds the prompt in `messages`, the
    assistant turns it rates in `completion` and whether they are desirable in
    `label`; other kinds have neither key.
    """
    rec: dict[str, Any] = {
        "id": None,
        "source": None,
        "kind": kind,
        "messages": messages,
        "chosen": chosen,
        "rejected": rejected,
        "text": text,
        "meta": meta or {},
    }
    if kind == "kto":
        rec["completion"] = completion
        rec["label"] = label
    if tools:
        rec["tools"] = tools
    return rec


def require(row: dict[str, Any], *fields: str) -> list[Any]:
    """Read required fields of an upstream row; a missing one makes the row invalid."""
    if not isinstance(row, dict):
        raise InvalidRow(f"row is {type(row).__name__}, expected an object")
    out = []
    for field in fields:
        if field not in row or row[field] is None:
            raise InvalidRow(f"missing field {field!r}")
        out.append(row[field])
    return out


def first_present(row: dict[str, Any], *fields: str) -> Any:
    """The value of the first field present (upstream variants name one thing differently)."""
    for field in fields:
        value = row.get(field)
        if value is not None:
            return value
    raise InvalidRow(f"none of the fields {', '.join(map(repr, fields))} is present")


def optional_str(row: dict[str, Any], field: str) -> str | None:
    """An optional text field; a value of another type makes the row invalid, never ignored."""
    value = row.get(field)
    if value is not None and not isinstance(value, str):
        raise InvalidRow(f"{field!r} is {type(value).__name__}, expected a string")
    return value


def normalize_text(text: str) -> str:
    """Normalization used for duplicate detection: NFKC, case-folded, whitespace collapsed.

    NFKC runs only on non-ASCII text (ASCII is already NFKC), and `str.split` does
    the whitespace work in C: this runs on every prompt of every record.
    """
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    return " ".join(text.split()).casefold()


def prompt_messages(rec: dict[str, Any]) -> list[Message]:
    """The prompt part of a record: everything before the trained reply."""
    msgs = rec["messages"]
    if rec["kind"] == "sft" and msgs and msgs[-1]["role"] == "assistant":
        last_user = max((i for i, m in enumerate(msgs) if m["role"] == "user"), default=-1)
        return msgs[: last_user + 1] if last_user >= 0 else msgs[:-1]
    return msgs


def prompt_text(rec: dict[str, Any]) -> str:
    """Text of the prompt side, used by prompt-level dedup and decontamination."""
    if rec["kind"] == "text":
        return rec["text"] or ""
    return "\n".join(m["content"] for m in prompt_messages(rec) if m["role"] != "system")


def all_text(rec: dict[str, Any]) -> str:
    """Every piece of text of a record, in order (length filters, whole-record dedup)."""
    if rec["kind"] == "text":
        return rec["text"] or ""
    parts = [m["content"] for m in rec["messages"]]
    for side in ("chosen", "rejected", "completion"):
        if rec.get(side):
            parts.extend(m["content"] for m in rec[side])
    return "\n".join(parts)


def response_texts(rec: dict[str, Any]) -> list[str]:
    """The assistant replies a record trains on (or offers as alternatives)."""
    if rec["kind"] == "preference":
        return [m["content"] for side in ("chosen", "rejected") for m in rec[side] or []]
    if rec["kind"] == "kto":
        return [m["content"] for m in rec["completion"] or []]
    return [m["content"] for m in rec["messages"] if m["role"] == "assistant"]


def record_id_bytes(rec: dict[str, Any]) -> bytes:
    """uuid5 (as 16 bytes) of the record's content in canonical JSON.

    Equal content gives an equal id on every machine; everything a trainer sees
    counts (roles, texts, tool calls, tool schemas), so distinct records keep
    distinct ids (a KTO completion and its label too). Duplicate detection uses
    the normalized `dedup_bytes` keys instead. Built as uuid5 is (sha1 of
    namespace + name, version and variant bits set), with the name serialized
    by orjson in one call.
    """
    parts = (rec["kind"], rec["messages"], rec["chosen"], rec["rejected"], rec["text"])
    if rec["kind"] == "kto":
        parts += (rec["completion"], rec["label"])
    return id_bytes(orjson.dumps((*parts, rec.get("tools"))))


def id_bytes(name: bytes) -> bytes:
    """uuid5 (16 bytes) of an id name: the canonical JSON `record_id_bytes` serializes.

    Batch paths that already hold a record's serialized messages assemble the
    name from them (`engine/fast.py`) and hash it here, to the same id.
    """
    return id_finish(hashlib.sha1(_ID_PREFIX + name))


def id_state(head: bytes) -> Any:
    """The sha1 state of an id name that starts with `head`: `id_bytes(head + rest)` is
    `id_finish` of a copy updated with `rest`. Paths that name many records sharing a
    head (the fast lane) copy it instead of hashing the head again and joining bytes."""
    return hashlib.sha1(_ID_PREFIX + head)


def id_finish(state: Any) -> bytes:
    """uuid5 (16 bytes) from the sha1 state of a whole id name."""
    value = int.from_bytes(state.digest()[:16], "big")
    return ((value & _UUID_KEEP) | _UUID5).to_bytes(16, "big")


def id_text(state: Any) -> str:
    """`uuid_str(id_finish(state))`, from the hex digest: the version digit is 5 and the
    variant digit keeps its two low bits under 10 (8, 9, a or b)."""
    h = state.hexdigest()
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:32]}"


_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}


# uuid5's version (5, high nibble of byte 6) and RFC 4122 variant (top bits 10 of byte 8),
# set on the 128-bit digest as one integer: two operations instead of a bytearray round trip.
_UUID_KEEP = ~((0xF << 76) | (0x3 << 62)) & ((1 << 128) - 1)
_UUID5 = (0x5 << 76) | (0x2 << 62)


_WHITESPACE = b" \t\n\r\x0b\x0c"
_ASCII_LOWER = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", b"abcdefghijklmnopqrstuvwxyz")


def dedup_bytes(text: str) -> bytes:
    """What exact-dedup keys hash: the text case-folded (NFKC first), all whitespace removed.

    Removing whitespace (rather than collapsing it) lets ASCII text, the common
    case, be normalized by two C calls instead of a split into words: 5x faster
    on long prompts. Records that differ only in spacing are duplicates.
    """
    if text.isascii():  # ASCII case-folds to its lower case: one translate does both
        return text.encode().translate(_ASCII_LOWER, _WHITESPACE)
    return "".join(unicodedata.normalize("NFKC", text).casefold().split()).encode()


def text_length(rec: dict[str, Any]) -> int:
    """Characters of all the text of a record (`len(all_text(rec))` without building it)."""
    if rec["kind"] == "text":
        return len(rec["text"] or "")
    n = sum(len(m["content"]) for m in rec["messages"])
    for side in ("chosen", "rejected", "completion"):
        n += sum(len(m["content"]) for m in rec.get(side) or ())
    return n


def uuid_str(raw: bytes) -> str:
    """Canonical uuid text of 16 bytes (what `str(uuid.UUID(bytes=raw))` gives, faster)."""
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def record_id(rec: dict[str, Any]) -> str:
    """The record id as a uuid string (see `record_id_bytes`)."""
    return uuid_str(record_id_bytes(rec))


def structure_problem(rec: dict[str, Any]) -> str | None:
    """Why a record is not well formed for its kind, or None.

    Returned reasons are stable names, counted as `dropped:<reason>`.
    """
    kind = rec["kind"]
    if kind == "text":
        return None if (rec.get("text") or "").strip() else "empty_text"
    msgs = rec["messages"]
    if not msgs:
        return "empty_conversation"
    for m in msgs:
        if m["role"] not in ROLES:
            return "unknown_role"
        if not m["content"].strip() and not m.get("tool_calls"):
            return "empty_turn"
    turns = [m["role"] for m in msgs if m["role"] != "system"]
    if any(r == "system" for r in (m["role"] for m in msgs[1:])) and msgs[0]["role"] != "system":
        return "misplaced_system"
    if not turns or turns[0] != "user":
        return "non_alternating"
    prev = None
    for role in turns:
        if role == prev and role != "tool":
            return "non_alternating"
        prev = role
    if kind == "sft":
        return None if turns[-1] == "assistant" else "no_final_reply"
    if turns[-1] not in ("user", "tool"):
        return "prompt_ends_with_reply"
    if kind == "kto":
        return _kto_problem(rec)
    if kind == "preference":
        chosen, rejected = rec.get("chosen") or [], rec.get("rejected") or []
        if not chosen or not rejected:
            return "empty_side"
        for side in (chosen, rejected):
            if not any(m["content"].strip() or m.get("tool_calls") for m in side):
                return "empty_side"
        if _side_key(chosen) == _side_key(rejected):
            return "identical_pair"
    return None


def _kto_problem(rec: dict[str, Any]) -> str | None:
    """A KTO record needs a boolean label and a completion of assistant turns (and tool results)."""
    if not isinstance(rec.get("label"), bool):
        return "no_label"
    completion = rec.get("completion") or []
    if not completion:
        return "empty_completion"
    roles = [m["role"] for m in completion]
    if roles[0] != "assistant" or not set(roles) <= {"assistant", "tool"}:
        return "completion_not_assistant"
    if not any(m["content"].strip() or m.get("tool_calls") for m in completion):
        return "empty_completion"
    return None


def _side_key(side: list[Message]) -> str:
    return "\x1f".join(" ".join(m["content"].split()) for m in side)
