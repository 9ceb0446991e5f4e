"""Output schemas: one small pure function per (schema, kind), canonical record → output row.

Every row keeps `id` and `source` for lineage; extra columns are ignored by
TRL, LLaMA-Factory and axolotl loaders. A reference answer is written as
`answer` and as `solution` (what `trl.rewards.accuracy_reward` reads).
Reasoning stays a `reasoning_content` field in `messages` rows; the schemas
without such a field write it inline (`<think>…</think>` before the answer),
as the chats those trainers read store it.

A schema that cannot hold a record faithfully (tool turns in the single-turn
schemas) does not bend it: `schema_can_hold` names the drop reason, and the
engine drops the record with it before writing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from postmix.formats.reasoning import inline_message, inline_text
from postmix.schema import Message
from postmix.tools import has_tool_turns

Row = dict[str, Any]


def _lineage(rec: Row, row: Row) -> Row:
    row["id"] = rec["id"]
    row["source"] = rec["source"]
    if rec.get("tools"):
        row["tools"] = rec["tools"]
    answer = rec["meta"].get("answer")
    if answer is not None:
        row["answer"] = answer
        row["solution"] = answer
    return row


def messages_schema(rec: Row) -> Row:
    kind = rec["kind"]
    if kind == "sft":
        return _lineage(rec, {"messages": rec["messages"]})
    if kind == "preference":
        return _lineage(
            rec, {"prompt": rec["messages"], "chosen": rec["chosen"], "rejected": rec["rejected"]}
        )
    if kind == "prompt":
        return _lineage(rec, {"prompt": rec["messages"]})
    if kind == "kto":  # TRL's unpaired preference layout, what its KTOTrainer reads
        return _lineage(
            rec, {"prompt": rec["messages"], "completion": rec["completion"], "label": rec["label"]}
        )
    return _lineage(rec, {"text": rec["text"]})


def conversations_schema(rec: Row) -> Row:
    prompt = [inline_message(m) for m in rec["messages"]]
    if rec["kind"] == "preference":
        sides = {s: prompt + [inline_message(m) for m in rec[s]] for s in ("chosen", "rejected")}
        return _lineage(rec, sides)
    return _lineage(rec, {"conversations": prompt})


def _history(msgs: list[Message]) -> tuple[str, list[list[str]], str, str]:
    """System text, earlier (user, assistant) exchanges, last user turn, last reply."""
    system = "\n\n".join(m["content"] for m in msgs if m["role"] == "system")
    turns = [m for m in msgs if m["role"] in ("user", "assistant")]
    pairs = [[turns[i]["content"], inline_text(turns[i + 1])] for i in range(0, len(turns) - 1, 2)]
    last_user, reply = pairs.pop() if pairs else ("", "")
    return system, pairs, last_user, reply


def prompt_response_schema(rec: Row) -> Row:
    system, history, prompt, response = _history(rec["messages"])
    row: Row = {"prompt": prompt, "response": response}
    if system:
        row["system"] = system
    if history:
        row["history"] = history
    return _lineage(rec, row)


def alpaca_schema(rec: Row) -> Row:
    system, history, prompt, response = _history(rec["messages"])
    row: Row = {"instruction": prompt, "input": "", "output": response}
    if system:
        row["system"] = system
    if history:
        row["history"] = history
    return _lineage(rec, row)


SHAREGPT_ROLES = {"user": "human", "assistant": "gpt", "tool": "observation", "system": "system"}


def _sharegpt_turn(m: Message) -> Row:
    if m.get("tool_calls"):
        calls = [c.get("function", c) for c in m["tool_calls"]]
        value = orjson.dumps(calls[0] if len(calls) == 1 else calls).decode()
        return {"from": "function_call", "value": value}
    return {"from": SHAREGPT_ROLES[m["role"]], "value": inline_text(m)}


def sharegpt_schema(rec: Row) -> Row:
    """LLaMA-Factory's sharegpt layout: KTO as the whole chat plus `kto_tag`, tools as JSON text."""
    msgs = rec["messages"] + (rec.get("completion") or [])
    row: Row = {}
    if msgs and msgs[0]["role"] == "system":
        row["system"] = msgs[0]["content"]
        msgs = msgs[1:]
    row["conversations"] = [_sharegpt_turn(m) for m in msgs]
    if rec["kind"] == "preference":
        row["chosen"] = _sharegpt_turn(rec["chosen"][-1])
        row["rejected"] = _sharegpt_turn(rec["rejected"][-1])
    if rec["kind"] == "kto":
        row["kto_tag"] = rec["label"]
    row = _lineage(rec, row)
    if "tools" in row:
        row["tools"] = orjson.dumps(row["tools"]).decode()
    return row


SINGLE_TURN_SCHEMAS = frozenset({"alpaca", "prompt_response"})


def schema_can_hold(schema_name: str, rec: Row) -> str | None:
    """Why `schema_name` cannot write `rec` without bending it (a drop reason), or None.

    alpaca / prompt_response have no place for tool calls or tool results:
    writing them shifts the history and empties the reply, so such records are
    dropped as `tool_turns_unsupported`. sharegpt holds one turn per pair side
    and no text beside a call.
    """
    turns = [*rec["messages"], *(rec.get("completion") or [])]
    sides = [rec.get("chosen") or [], rec.get("rejected") or []]
    if schema_name in SINGLE_TURN_SCHEMAS and has_tool_turns(turns + sides[0] + sides[1]):
        return "tool_turns_unsupported"
    if schema_name == "sharegpt":
        if any(m.get("tool_calls") and m["content"].strip() for m in turns + sides[0] + sides[1]):
            return "tool_call_text_unsupported"
        if any(len(side) > 1 for side in sides):
            return "multi_turn_side_unsupported"
    return None


SCHEMAS: dict[str, Callable[[Row], Row]] = {
    "messages": messages_schema,
    "conversations": conversations_schema,
    "prompt_response": prompt_response_schema,
    "sharegpt": sharegpt_schema,
    "alpaca": alpaca_schema,
}
