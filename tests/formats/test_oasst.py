"""OpenAssistant converter: real oasst2 trees, the same trees as a shuffled flat table."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import orjson
import pytest

from postmix import formats
from postmix.formats.base import ConvertContext
from postmix.formats.oasst import CONVERTER, Options
from postmix.schema import InvalidRow, Skip, structure_problem
from tests.conftest import shared_file

TREES = "Open-Paws__Datasets/oasst2_filtered.jsonl"
Outcomes = list[tuple[int, Any]]


def run(rows: list[Any], kind: str, **options: Any) -> Outcomes:
    ctx = ConvertContext(kind=kind, options=Options(**options))
    return list(CONVERTER.stream(enumerate(rows), ctx))


def records(outcomes: Outcomes) -> list[dict[str, Any]]:
    return [out for _, out in outcomes if isinstance(out, dict)]


def skips(outcomes: Outcomes) -> Counter[str]:
    return Counter(out.reason for _, out in outcomes if isinstance(out, Skip))


def walk(node: dict[str, Any]) -> list[dict[str, Any]]:
    out, stack = [], [node]
    while stack:
        node = stack.pop()
        out.append(node)
        stack.extend(node.get("replies") or [])
    return out


def flatten(trees: list[dict[str, Any]], seed: int = 7) -> list[dict[str, Any]]:
    """The trees as the hub's flat table: one row per message, `parent_id` links, rows shuffled."""
    rows = []
    for tree in trees:
        for node in walk(tree["prompt"]):
            row = {k: v for k, v in node.items() if k != "replies"}
            row["message_tree_id"] = tree["message_tree_id"]
            row["tree_state"] = tree["tree_state"]
            rows.append(row)
    random.Random(seed).shuffle(rows)
    return rows


def by_tree(outcomes: Outcomes, tree_at: list[str]) -> dict[str, list[Any]]:
    """Outcomes grouped by the tree of their position (a skip or error as its class and reason)."""
    out: dict[str, list[Any]] = defaultdict(list)
    for pos, res in outcomes:
        key = res if isinstance(res, dict) else (type(res).__name__, getattr(res, "reason", ""))
        out[tree_at[pos]].append(key)
    return dict(out)


@pytest.fixture(scope="module")
def trees(shared_data: Path) -> list[dict[str, Any]]:
    return [
        orjson.loads(line) for line in shared_file(shared_data, TREES).read_bytes().splitlines()
    ]


@pytest.fixture(scope="module")
def unique(trees: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """First copy of each tree: the file repeats 31 trees (they differ only in CRITERIA)."""
    first: dict[str, dict[str, Any]] = {}
    for tree in trees:
        first.setdefault(tree["message_tree_id"], tree)
    return list(first.values())


def root_lines(trees: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The trees as root messages with nested `replies`, one per line, no `message_tree_id`."""
    out = []
    for tree in orjson.loads(orjson.dumps(trees)):
        for node in walk(tree["prompt"]):
            node.pop("message_tree_id", None)
            node.pop("tree_state", None)
        out.append(tree["prompt"])
    return out


@pytest.fixture(scope="module")
def flat(unique: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return flatten(unique)


def test_flattened_table_matches_readme_counts(trees: list[dict[str, Any]]) -> None:
    """README: 1552 messages (en 764, es 381, zh 100, ru 72), 52 deleted, 568 ranked."""
    flat = flatten(trees)
    assert len(flat) == 1552
    langs = Counter(row["lang"] for row in flat)
    assert (langs["en"], langs["es"], langs["zh"], langs["ru"]) == (764, 381, 100, 72)
    assert sum(row["deleted"] for row in flat) == 52
    assert sum(row["rank"] is not None for row in flat) == 568


@pytest.mark.parametrize(
    ("kind", "options"),
    [
        ("sft", {}),
        ("preference", {}),
        ("preference", {"pairs": "best_vs_each"}),
        ("sft", {"include_deleted": True, "include_failed_review": True}),
        ("prompt", {"prompt_turns": "thread"}),
    ],
)
def test_tree_and_flat_layouts_give_the_same_records(
    unique: list[dict[str, Any]], flat: list[dict[str, Any]], kind: str, options: dict[str, Any]
) -> None:
    from_trees = run(unique, kind, **options)
    from_flat = run(flat, kind, **options)
    tree_ids = [t["message_tree_id"] for t in unique]
    grouped = by_tree(from_trees, tree_ids)
    assert grouped == by_tree(from_flat, [row["message_tree_id"] for row in flat])
    assert set(grouped) == set(tree_ids)  # every tree ends in some bucket, in both layouts
    assert not any(isinstance(out, InvalidRow) for _, out in from_trees + from_flat)
    assert len(records(from_trees)) > 100
    # Flat trees come out in the order their root rows appear, each at its root row.
    flat_positions = [pos for pos, _ in from_flat]
    assert flat_positions == sorted(flat_positions)
    assert all(flat[pos]["parent_id"] is None for pos in flat_positions)


@pytest.mark.parametrize(
    ("kind", "options"),
    [("sft", {}), ("preference", {}), ("preference", {"pairs": "best_vs_each"}), ("prompt", {})],
)
def test_root_message_layout_gives_the_same_records(
    unique: list[dict[str, Any]], kind: str, options: dict[str, Any]
) -> None:
    """Each line a root message with nested `replies`: the same conversations and DPO pairs."""
    tree_ids = [t["message_tree_id"] for t in unique]
    from_trees = by_tree(run(unique, kind, **options), tree_ids)
    from_roots = by_tree(run(root_lines(unique), kind, **options), tree_ids)
    assert from_roots == from_trees
    assert sum(isinstance(out, dict) for outs in from_roots.values() for out in outs) > 100


def test_repeated_trees_give_repeated_records(trees: list[dict[str, Any]]) -> None:
    """Both copies of a repeated tree convert alike; dedup downstream, not here, removes one."""
    outcomes = by_tree(run(trees, "sft"), [t["message_tree_id"] for t in trees])
    repeated = [outs for outs in outcomes.values() if len(outs) == 2]
    assert len(repeated) == 31
    assert all(a == b for a, b in repeated)
    assert any(isinstance(a, dict) for a, _ in repeated)


def test_repeated_message_ids_in_a_flat_table_are_invalid(trees: list[dict[str, Any]]) -> None:
    flat = flatten(trees)
    outcomes = run(flat, "sft")
    invalid = [out for _, out in outcomes if isinstance(out, InvalidRow)]
    assert len(invalid) == 1552 - 1500
    assert all("duplicate message_id" in str(out) for out in invalid)


def test_sft_threads_are_well_formed_and_multi_turn(trees: list[dict[str, Any]]) -> None:
    outcomes = run(trees, "sft")
    recs = records(outcomes)
    assert all(structure_problem(r) is None for r in recs)
    assert max(len(r["messages"]) for r in recs) >= 4
    assert all(
        out["meta"]["tree_id"] == trees[pos]["message_tree_id"]
        for pos, out in outcomes
        if isinstance(out, dict)
    )
    # Trees still waiting for replies (prompt_lottery_waiting) have nothing to train on.
    waiting = sum(t["tree_state"] == "prompt_lottery_waiting" for t in trees)
    assert skips(outcomes)["no_reply"] >= waiting


def test_preference_pairs_prefer_the_better_rank(trees: list[dict[str, Any]]) -> None:
    recs = records(run(trees, "preference"))
    assert recs and all(structure_problem(r) is None for r in recs)
    assert all(r["meta"]["chosen_rank"] < r["meta"]["rejected_rank"] for r in recs)
    each = records(run(trees, "preference", pairs="best_vs_each"))
    assert len(each) > len(recs)


def test_lang_filter_keeps_trees_by_root_lang(trees: list[dict[str, Any]]) -> None:
    for langs in (["en"], ["es", "ru"]):
        outcomes = run(trees, "prompt", lang=langs)
        other = sum(t["prompt"]["lang"] not in langs for t in trees)
        assert skips(outcomes)["lang"] == other
        recs = records(outcomes)
        assert recs and {r["meta"]["lang"] for r in recs} == set(langs)


def test_deleted_messages_are_left_out_unless_asked(trees: list[dict[str, Any]]) -> None:
    deleted, kept = set(), set()
    for tree in trees:
        for node in walk(tree["prompt"]):
            (deleted if node["deleted"] else kept).add(node["text"])
    only_deleted = deleted - kept

    def deleted_texts(outcomes: Outcomes) -> int:
        return sum(
            m["content"] in only_deleted
            for r in records(outcomes)
            for side in ("messages", "chosen", "rejected")
            for m in r[side] or []
        )

    default = run(trees, "preference")
    assert deleted_texts(default) == 0
    assert skips(default)["deleted"] == sum(t["prompt"]["deleted"] for t in trees) == 1
    included = run(trees, "preference", include_deleted=True)
    assert deleted_texts(included) > 0
    assert skips(included)["deleted"] == 0


def test_columns_infer_both_layouts(trees: list[dict[str, Any]]) -> None:
    hub_flat = {
        "message_id", "parent_id", "user_id", "created_date", "text", "role", "lang",
        "review_count", "review_result", "deleted", "rank", "synthetic", "model_name",
        "detoxify", "message_tree_id", "tree_state", "emojis", "labels",
    }  # fmt: skip
    assert formats.from_columns(hub_flat) is CONVERTER
    assert formats.from_columns(trees[0].keys()) is CONVERTER
    assert formats.from_hub_id("OpenAssistant/oasst2") is CONVERTER
