"""OpenAssistant (oasst1, oasst2): message trees, flat or nested, into conversation threads.

Three upstream layouts carry the same trees, and one source may use any of them:

- the flat message table of the hub datasets: one message per row, linked by
  `parent_id` (null at the root); a tree's rows may be anywhere in the file, so
  the table is read whole (`convert_stream`) and its trees are emitted at the end,
  in the order their root rows appear, each at its root row's position;
- the nested `*.trees.jsonl` export: `{message_tree_id, tree_state, prompt:
  {message..., replies: [...]}}`, one tree per row, emitted at once;
- root messages with their `replies` nested (no `message_tree_id` wrapper),
  one tree per row, emitted at once.

A thread follows the best reply at each level: ranked replies first (rank 0 is
best), then unranked ones, ties by creation time and then message id. This order
depends on the messages only, never on where their rows sit, so both layouts,
and any row order of the flat table, give the same records. Deleted messages
and messages that failed review are left out with their subtrees unless the
options keep them; a `deleted`, `review_result` or `lang` of the wrong type
makes the tree invalid (quarantined), never silently kept or dropped.

- sft: the best thread from the root to a leaf, cut after its last assistant turn.
- preference: at every prompter turn of the best thread whose non-excluded
  assistant replies hold at least two ranked ones, the best-ranked reply against
  the worst-ranked one (`pairs: best_vs_each`: against each lower-ranked one).
- prompt: the root prompt (`prompt_turns: thread`: the best thread up to its
  last prompter turn).

`meta` holds the root's `lang` and `tree_id` (the root message id, which OASST
also uses as `message_tree_id`); pairs add `chosen_rank` and `rejected_rank`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from postmix.formats.base import ConvertContext, Converter, raw_text
from postmix.schema import InvalidRow, Message, Skip, message, record

ROLES: dict[str, str] = {"prompter": "user", "assistant": "assistant"}
REPLY_ROLE: dict[str, str] = {"prompter": "assistant", "assistant": "prompter"}
# The fields of a flat row a thread needs; the rest of the row is not held while the table is read.
KEPT_FIELDS: tuple[str, ...] = (
    "message_id",
    "parent_id",
    "role",
    "text",
    "lang",
    "deleted",
    "rank",
    "review_result",
    "created_date",
)


class Options(BaseModel):
    """Which trees and messages count, and how pairs and prompts are cut."""

    model_config = ConfigDict(extra="forbid")

    lang: list[str] | None = None
    include_deleted: bool = False
    include_failed_review: bool = False
    pairs: Literal["best_vs_worst", "best_vs_each"] = "best_vs_worst"
    prompt_turns: Literal["first", "thread"] = "first"


def rank_of(node: dict[str, Any]) -> float | None:
    """A message's rank; a NaN (how a null rank reads through some parquet readers) is none."""
    rank = node.get("rank")
    if rank is None or rank != rank:
        return None
    if isinstance(rank, bool) or not isinstance(rank, (int, float)):
        raise InvalidRow(f"message {node.get('message_id')!r} has rank {rank!r}")
    return rank


def reply_order(node: dict[str, Any]) -> tuple[bool, float, str, str]:
    """Best first: ranked before unranked, lower rank, earlier creation, then message id."""
    rank = rank_of(node)
    return rank is None, rank or 0, str(node.get("created_date") or ""), str(node["message_id"])


def flag(node: dict[str, Any], key: str, nullable: bool = True) -> bool | None:
    """A boolean field of a message; any other type (a string "false") makes it invalid."""
    value = node.get(key)
    if isinstance(value, bool) or (value is None and nullable):
        return value
    expected = "true, false or null" if key == "review_result" else "true or false"
    raise InvalidRow(
        f"{key!r} of message {node.get('message_id')!r} is {type(value).__name__}, "
        f"expected {expected}"
    )


def usable(node: dict[str, Any], opts: Options) -> bool:
    """Whether a message (and so its subtree) takes part in threads."""
    if flag(node, "deleted") and not opts.include_deleted:
        return False
    return flag(node, "review_result") is not False or opts.include_failed_review


def replies(node: dict[str, Any], opts: Options) -> list[dict[str, Any]]:
    """The usable replies of a message, best first; a reply breaking alternation is malformed."""
    raw = node.get("replies") or []
    if not isinstance(raw, list):
        raise InvalidRow(f"'replies' of message {node.get('message_id')!r} is not a list")
    expected = REPLY_ROLE[node["role"]]
    out = []
    for reply in raw:
        if not isinstance(reply, dict) or not isinstance(reply.get("message_id"), str):
            raise InvalidRow(f"a reply to message {node.get('message_id')!r} has no message_id")
        if not usable(reply, opts):
            continue
        if reply.get("role") != expected:
            raise InvalidRow(
                f"message {reply['message_id']!r} ({reply.get('role')!r}) replies to a "
                f"{node['role']} message"
            )
        out.append(reply)
    out.sort(key=reply_order)
    return out


def best_thread(root: dict[str, Any], opts: Options) -> list[dict[str, Any]]:
    """The chain of best replies from the root down to a leaf."""
    thread = [root]
    while nxt := replies(thread[-1], opts):
        thread.append(nxt[0])
    return thread


def to_message(node: dict[str, Any]) -> Message:
    return message(ROLES[node["role"]], node.get("text"))


def trimmed(thread: list[dict[str, Any]], last_role: str) -> list[dict[str, Any]]:
    """The thread cut after its last message of `last_role`."""
    end = len(thread)
    while end and thread[end - 1]["role"] != last_role:
        end -= 1
    return thread[:end]


def preference_records(
    thread: list[dict[str, Any]], opts: Options, meta: dict[str, Any]
) -> list[dict[str, Any]]:
    """Pairs of ranked sibling replies at each prompter turn of the best thread."""
    out = []
    for depth, node in enumerate(thread):
        if node["role"] != "prompter":
            continue
        ranked = [r for r in replies(node, opts) if rank_of(r) is not None]
        if len(ranked) < 2:
            continue
        chosen = ranked[0]
        losers = ranked[1:] if opts.pairs == "best_vs_each" else ranked[-1:]
        for loser in losers:
            pair_meta = {**meta, "chosen_rank": rank_of(chosen), "rejected_rank": rank_of(loser)}
            out.append(
                record(
                    "preference",
                    [to_message(n) for n in thread[: depth + 1]],
                    chosen=[to_message(chosen)],
                    rejected=[to_message(loser)],
                    meta=pair_meta,
                )
            )
    if not out:
        raise Skip("no_ranked_siblings", "no turn of the best thread has two ranked replies")
    return out


def tree_records(root: Any, ctx: ConvertContext) -> list[dict[str, Any]]:
    """The records of one message tree, whichever layout it was read from."""
    opts: Options = ctx.options
    if not isinstance(root, dict) or root.get("role") != "prompter":
        raise InvalidRow("the root of a message tree must be a prompter message")
    lang = root.get("lang")
    if lang is not None and not isinstance(lang, str):
        raise InvalidRow(
            f"'lang' of message {root.get('message_id')!r} is {type(lang).__name__}, "
            "expected a string"
        )
    if opts.lang is not None and lang not in opts.lang:
        raise Skip("lang", f"root prompt lang {lang!r}")
    if root.get("deleted") and not opts.include_deleted:
        raise Skip("deleted", "the root prompt is deleted")
    if not usable(root, opts):
        raise Skip("failed_review", "the root prompt failed review")
    meta = {"lang": lang, "tree_id": root.get("message_id")}
    if ctx.kind == "prompt":
        if opts.prompt_turns == "first":
            return [record("prompt", [to_message(root)], meta=meta)]
        thread = trimmed(best_thread(root, opts), "prompter")
        return [record("prompt", [to_message(n) for n in thread], meta=meta)]
    thread = best_thread(root, opts)
    if ctx.kind == "preference":
        return preference_records(thread, opts, meta)
    thread = trimmed(thread, "assistant")
    if not thread:
        raise Skip("no_reply", "no usable assistant reply to the root prompt")
    return [record("sft", [to_message(n) for n in thread], meta=meta)]


def tree_outcomes(
    pos: int, root: Any, ctx: ConvertContext, row: Any = None
) -> Iterator[tuple[int, Any]]:
    """A tree's records at `pos`; a malformed tree carries its row (when held) for quarantine."""
    try:
        recs = tree_records(root, ctx)
    except Skip as exc:
        yield pos, exc
        return
    except InvalidRow as exc:
        if row is not None:
            exc.raw = raw_text(row)  # type: ignore[attr-defined]
        yield pos, exc
        return
    for rec in recs:
        yield pos, rec


def is_tree(row: dict[str, Any]) -> bool:
    """A nested export row: its `prompt` is a message (with `replies`), not prompt text."""
    prompt = row.get("prompt")
    return isinstance(prompt, dict) and ("replies" in prompt or "message_id" in prompt)


def is_root_message(row: dict[str, Any]) -> bool:
    """A root message carrying its tree as nested `replies` (a lone root reads as a flat row)."""
    replies = row.get("replies")
    return row.get("parent_id") is None and isinstance(replies, list) and bool(replies)


class FlatTable:
    """The flat message table, held as slim messages until every row has been read."""

    def __init__(self) -> None:
        self.nodes: dict[str, dict[str, Any]] = {}
        self.positions: dict[str, int] = {}

    def add(self, pos: int, row: dict[str, Any]) -> None:
        mid, parent, role = row.get("message_id"), row.get("parent_id"), row.get("role")
        if not isinstance(mid, str):
            raise InvalidRow("'message_id' must be a string")
        if mid in self.nodes:
            raise InvalidRow(f"duplicate message_id {mid!r}")
        if parent is not None and not isinstance(parent, str):
            raise InvalidRow("'parent_id' must be a string or null")
        if role not in ROLES:
            raise InvalidRow(f"unknown role {role!r}, expected prompter or assistant")
        if not isinstance(row.get("text"), str):
            raise InvalidRow("'text' must be a string")
        if row.get("replies"):
            raise InvalidRow(
                f"message {mid!r} has nested replies but is not a root (parent_id {parent!r})"
            )
        node = {key: row.get(key) for key in KEPT_FIELDS}
        node["replies"] = []
        self.nodes[mid] = node
        self.positions[mid] = pos

    def outcomes(self, ctx: ConvertContext) -> Iterator[tuple[int, Any]]:
        """Each tree at its root row's position, then every row no root reaches, as invalid."""
        nodes, roots = self.nodes, []
        for node in nodes.values():
            parent = node["parent_id"]
            if parent is None:
                roots.append(node)
            elif parent in nodes:
                nodes[parent]["replies"].append(node)
        for root in roots:
            yield from tree_outcomes(self.positions[root["message_id"]], root, ctx)
            for mid in subtree_ids(root):
                del nodes[mid]
        for mid, node in nodes.items():
            parent = node["parent_id"]
            why = (
                f"parent message {parent!r} is not in the table"
                if parent not in self.positions
                else "no root message reaches it (an ancestor is missing or parents form a cycle)"
            )
            yield self.positions[mid], InvalidRow(why)
        nodes.clear()


def subtree_ids(root: dict[str, Any]) -> Iterator[str]:
    """Message ids of a tree, iteratively (threads can be deeper than the recursion limit)."""
    stack = [root]
    while stack:
        node = stack.pop()
        yield node["message_id"]
        stack.extend(node["replies"])


def convert_stream(
    rows: Iterable[tuple[int, Any]], ctx: ConvertContext
) -> Iterator[tuple[int, Any]]:
    table = FlatTable()
    for pos, row in rows:
        if isinstance(row, dict) and is_tree(row):
            yield from tree_outcomes(pos, row["prompt"], ctx, row)
            continue
        if isinstance(row, dict) and is_root_message(row):
            yield from tree_outcomes(pos, row, ctx, row)
            continue
        try:
            if not isinstance(row, dict):
                raise InvalidRow(f"row is {type(row).__name__}, expected an object")
            if "message_id" not in row:
                raise InvalidRow("neither an OASST message (message_id) nor a tree (prompt)")
            table.add(pos, row)
        except InvalidRow as exc:
            exc.raw = raw_text(row)  # type: ignore[attr-defined]
            yield pos, exc
    yield from table.outcomes(ctx)


CONVERTER = Converter(
    name="oasst",
    kinds=("sft", "preference", "prompt"),
    convert_stream=convert_stream,
    columns=(
        frozenset({"message_id", "parent_id", "role", "text"}),
        frozenset({"message_tree_id", "tree_state", "prompt"}),
    ),
    hub_ids=("openassistant/oasst1", "openassistant/oasst2"),
    options=Options,
    doc=__doc__ or "",
)
