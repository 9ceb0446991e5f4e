"""Exact-dedup keys by record kind: pairs by their responses, KTO by label, tools count."""

from __future__ import annotations

import random
import string
import unicodedata
import uuid
from pathlib import Path
from typing import Any

import pytest
import xxhash
import yaml

from postmix.dedup import keys
from postmix.recipe import RecipeError, parse
from postmix.schema import (
    ID_NAMESPACE,
    all_text,
    dedup_bytes,
    id_bytes,
    id_finish,
    id_state,
    id_text,
    message,
    prompt_text,
    record,
)
from tests.filters.records import load, pref, sft, sharegpt_pair

DPO_DEMO = "hiyouga__LLaMA-Factory/dpo_en_demo.json"
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather of a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
TIME_TOOL = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "Current time of a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def kto(prompt: str, completion: str, label: bool) -> dict[str, Any]:
    """A KTO record as the kto kind defines it: prompt messages, a completion, a label."""
    rec = record("prompt", [message("user", prompt)])
    rec.update(kind="kto", completion=[message("assistant", completion)], label=label)
    return rec


def tool_sft(tools: list[dict[str, Any]], call: str = "get_weather") -> dict[str, Any]:
    calls = [{"type": "function", "function": {"name": call, "arguments": {"city": "Oslo"}}}]
    msgs = [
        message("user", "What is it like in Oslo right now?"),
        message("assistant", "", tool_calls=calls),
        message("tool", '{"result": "4 C, rain"}', tool_call_id="call_0"),
        message("assistant", "It is 4 degrees and raining in Oslo."),
    ]
    return record("sft", msgs, tools=tools)


def old_key(rec: dict[str, Any], mode: str) -> int:
    """The key SFT records had before keys by kind: what must not change for them."""
    text = prompt_text(rec) if mode == "prompt" else all_text(rec)
    return xxhash.xxh3_64_intdigest(dedup_bytes(text))


def test_pairs_sharing_a_prompt_are_distinct_by_default() -> None:
    a = pref("Name a prime number.", chosen="7 is prime.", rejected="8 is prime.")
    b = pref("Name a prime number.", chosen="2 is prime.", rejected="9 is prime.")
    again = pref("  name a PRIME number.", chosen="7 is  prime.", rejected="8 is prime.")
    assert keys.exact_key(a) != keys.exact_key(b)
    assert keys.exact_key(a) == keys.exact_key(again)  # normalized like every exact key
    assert keys.exact_key(a, "prompt") == keys.exact_key(b, "prompt")
    assert keys.exact_key(a, "conversation") == keys.exact_key(a)


def test_a_pair_and_its_reverse_are_different_records() -> None:
    a = pref("Name a prime number.", chosen="7 is prime.", rejected="8 is prime.")
    reverse = pref("Name a prime number.", chosen="8 is prime.", rejected="7 is prime.")
    assert keys.exact_key(a) != keys.exact_key(reverse)


def test_section_boundaries_are_part_of_the_key() -> None:
    """Moving text from one side to the other makes another pair, whitespace aside."""
    a = pref("Say it", chosen="ab", rejected="c")
    b = pref("Say it", chosen="a", rejected="bc")
    c = pref("Say ita", chosen="b", rejected="c")
    assert len({keys.exact_key(r) for r in (a, b, c)}) == 3


def test_kto_is_keyed_by_prompt_completion_and_label() -> None:
    good = kto("Is the sky green?", "No, it is usually blue.", True)
    bad = kto("Is the sky green?", "No, it is usually blue.", False)
    other = kto("Is the sky green?", "Yes.", False)
    assert len({keys.exact_key(r) for r in (good, bad, other)}) == 3
    lower = kto("is the sky green?", "No, it is usually blue.", True)
    assert keys.exact_key(good) == keys.exact_key(lower)
    assert keys.exact_key(good, "prompt") == keys.exact_key(bad, "prompt")


def test_sft_and_prompt_keys_keep_their_bytes() -> None:
    """Records without tools hash exactly what they hashed before (manifests stay comparable)."""
    records = [
        sft("Name a prime number.", "7.", system="Be brief."),
        sft("Hi", "Hello!", "And a prime?", "7."),
        record("prompt", [message("user", "Solve 2+2.")]),
        record("text", [], text="A plain document."),
        pref("Name a prime number.", chosen="7.", rejected="8."),
    ]
    for rec in records:
        assert keys.exact_key(rec, "prompt") == old_key(rec, "prompt")
        if rec["kind"] != "preference":
            assert keys.exact_key(rec, "conversation") == old_key(rec, "conversation")
        if rec["kind"] in ("sft", "prompt", "text"):
            assert keys.exact_key(rec) == old_key(rec, "prompt")


def test_tools_are_part_of_every_key() -> None:
    weather, both = tool_sft([WEATHER_TOOL]), tool_sft([WEATHER_TOOL, TIME_TOOL])
    for mode in ("auto", "prompt", "conversation"):
        assert keys.exact_key(weather, mode) != keys.exact_key(both, mode)
        assert keys.exact_key(weather, mode) == keys.exact_key(tool_sft([WEATHER_TOOL]), mode)
    called_time = tool_sft([WEATHER_TOOL], call="get_time")
    assert keys.exact_key(weather, "conversation") != keys.exact_key(called_time, "conversation")
    # The prompt of this conversation is its user turn: the reply's call is not part of it.
    assert keys.exact_key(weather, "prompt") == keys.exact_key(called_time, "prompt")
    chosen = [message("assistant", "", tool_calls=weather["messages"][1]["tool_calls"])]
    other = [message("assistant", "", tool_calls=called_time["messages"][1]["tool_calls"])]
    prompt = weather["messages"][:1]
    a = record("preference", prompt, chosen=chosen, rejected=other, tools=[WEATHER_TOOL])
    b = record("preference", prompt, chosen=other, rejected=chosen, tools=[WEATHER_TOOL])
    assert keys.exact_key(a) != keys.exact_key(b)


def test_mode_names() -> None:
    assert keys.resolve("auto", "preference") == "pair"
    assert keys.resolve("auto", "kto") == "kto"
    assert keys.resolve("auto", "sft") == "prompt"
    assert keys.resolve("conversation", "preference") == "pair"
    assert keys.resolve("prompt", "preference") == "prompt"
    assert keys.describe("auto", ["preference"]) == "auto (preference: pair)"
    assert keys.describe("auto", ["sft", "preference", "sft"]) == (
        "auto (preference: pair, sft: prompt)"
    )
    assert keys.describe("prompt", ["preference"]) == "prompt"
    with pytest.raises(ValueError, match="unknown exact-dedup key 'pairs'"):
        keys.resolve("pairs", "sft")


def test_real_dpo_demo_repeats_are_whole_pairs(shared_data: Path) -> None:
    """LLaMA-Factory's DPO demo repeats 5 prompts, each with the same pair: 5 duplicates."""
    recs = [sharegpt_pair(row) for row in load(shared_data, DPO_DEMO)]
    assert len(recs) == 300
    by_pair = {keys.exact_key(r) for r in recs}
    by_prompt = {keys.exact_key(r, "prompt") for r in recs}
    assert len(by_pair) == len(by_prompt) == 295


def recipe_dedup(dedup: dict[str, Any] | None) -> Any:
    text: dict[str, Any] = {
        "metadata": {"phase": "p", "kind": "preference"},
        "datasets": [{"name": "a", "source": "a.jsonl", "format_converter": "arena"}],
        "output": {"dir": "out"},
    }
    if dedup is not None:
        text["dedup"] = dedup
    return parse(yaml.safe_dump(text)).dedup


def test_recipe_key_defaults_to_keys_by_kind() -> None:
    assert recipe_dedup(None).exact_mode == "auto"
    assert recipe_dedup({"exact": True}).exact_mode == "auto"
    assert recipe_dedup({"exact": {"key": "prompt"}}).exact_mode == "prompt"
    assert recipe_dedup({"exact": {"key": "conversation"}}).exact_mode == "conversation"
    assert recipe_dedup({"exact": False}).exact_mode is None
    assert recipe_dedup(None).judgments == "majority"
    assert recipe_dedup({"judgments": "keep_all"}).judgments == "keep_all"
    with pytest.raises(RecipeError):
        recipe_dedup({"judgments": "vote"})
    with pytest.raises(RecipeError):
        recipe_dedup({"exact": {"key": "pairs"}})


def test_ids_and_normalized_text_keep_their_bytes() -> None:
    """The id is uuid5 of its name and ASCII text normalizes to its lower case without
    whitespace, however the two are computed (issue 13: ids and keys must not change)."""
    rnd = random.Random(13)
    alphabet = string.printable + "ÄÖü猫ǅ\u00a0\u2028"
    for _ in range(3000):
        text = "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 120)))
        assert id_bytes(text.encode()) == uuid.uuid5(ID_NAMESPACE, text).bytes
        head, rest = text[: len(text) // 3].encode(), text[len(text) // 3 :].encode()
        state = id_state(head).copy()
        state.update(rest)
        assert id_finish(state) == id_bytes(head + rest)  # the fast lane's way to the same id
        assert id_text(state) == str(uuid.uuid5(ID_NAMESPACE, text))
        if text.isascii():
            assert dedup_bytes(text) == b"".join(text.lower().encode().split())
        else:
            folded = unicodedata.normalize("NFKC", text).casefold()
            assert dedup_bytes(text) == "".join(folded.split()).encode()
