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


def test_root_message_layout_built() -> None:
    (root,) = root_lines([tree_row(sample_tree())])
    assert "message_tree_id" not in root and root["replies"]
    for kind in ("sft", "preference", "prompt"):
        assert run([root], kind) == run([tree_row(sample_tree())], kind)
    # A nested message that is not a root cannot start a conversation.
    child = root["replies"][1]  # "a0", which has replies of its own
    (out,) = run([child], "sft")
    assert isinstance(out[1], InvalidRow) and "not a root" in str(out[1])


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


# Small hand-built trees: exact thread and pair choices.


def node(
    mid: str, role: str, text: str, rank: int | None = None, *replies: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    return {
        "message_id": mid,
        "parent_id": None,
        "role": role,
        "text": text,
        "lang": "en",
        "deleted": False,
        "rank": rank,
        "review_result": True,
        "created_date": f"2023-02-0{extra.pop('day', 5)}T00:00:00+00:00",
        "replies": list(replies),
        **extra,
    }


def link(tree: dict[str, Any]) -> dict[str, Any]:
    for parent in walk(tree):
        for child in parent["replies"]:
            child["parent_id"] = parent["message_id"]
    return tree


def sample_tree() -> dict[str, Any]:
    root = node(
        "p0",
        "prompter",
        "What is 2+2?",
        None,
        node("a1", "assistant", "Four, I think.", 1),
        node(
            "a0",
            "assistant",
            "4.",
            0,
            node("p1", "prompter", "And 3+3?", None, node("a6", "assistant", "6."), day=4),
            node(
                "p2",
                "prompter",
                "Why?",
                None,
                node("a3", "assistant", "Because 2 and 2 make 4.", 0),
                node("a4", "assistant", "Dunno.", 1),
                node("a5", "assistant", "Buy my course!", 2, deleted=True),
                day=3,
            ),
        ),
        node("a2", "assistant", "Five.", 2),
        node("ax", "assistant", "Maybe 4?", None, day=1),
        node("ad", "assistant", "[removed]", None, deleted=True),
    )
    return link(root)


def tree_row(root: dict[str, Any]) -> dict[str, Any]:
    return {"message_tree_id": root["message_id"], "tree_state": "ready_for_export", "prompt": root}


def texts(msgs: list[dict[str, Any]]) -> list[str]:
    return [m["content"] for m in msgs]


def test_sft_follows_best_ranks_then_creation_order() -> None:
    (rec,) = records(run([tree_row(sample_tree())], "sft"))
    assert texts(rec["messages"]) == ["What is 2+2?", "4.", "Why?", "Because 2 and 2 make 4."]
    assert [m["role"] for m in rec["messages"]] == ["user", "assistant"] * 2
    assert rec["meta"] == {"lang": "en", "tree_id": "p0"}


def test_unranked_replies_come_after_ranked_ones() -> None:
    root = link(
        node(
            "p",
            "prompter",
            "Hi",
            None,
            node("early", "assistant", "Unranked but first.", None, day=1),
            node("ranked", "assistant", "Ranked.", 3, day=9),
        )
    )
    (rec,) = records(run([tree_row(root)], "sft"))
    assert texts(rec["messages"]) == ["Hi", "Ranked."]


def test_thread_is_cut_after_its_last_assistant_turn() -> None:
    root = link(
        node(
            "p",
            "prompter",
            "Hi",
            None,
            node("a", "assistant", "Hello!", 0, node("q", "prompter", "Unanswered follow-up")),
        )
    )
    (sft,) = records(run([tree_row(root)], "sft"))
    assert texts(sft["messages"]) == ["Hi", "Hello!"]
    (prompt,) = records(run([tree_row(root)], "prompt", prompt_turns="thread"))
    assert texts(prompt["messages"]) == ["Hi", "Hello!", "Unanswered follow-up"]


def test_preference_pairs_per_level() -> None:
    row = [tree_row(sample_tree())]
    worst = records(run(row, "preference"))
    assert [(texts(r["messages"]), texts(r["chosen"]), texts(r["rejected"])) for r in worst] == [
        (["What is 2+2?"], ["4."], ["Five."]),
        (["What is 2+2?", "4.", "Why?"], ["Because 2 and 2 make 4."], ["Dunno."]),
    ]
    assert [(r["meta"]["chosen_rank"], r["meta"]["rejected_rank"]) for r in worst] == [
        (0, 2),
        (0, 1),
    ]
    each = records(run(row, "preference", pairs="best_vs_each"))
    assert [texts(r["rejected"]) for r in each] == [["Four, I think."], ["Five."], ["Dunno."]]
    with_deleted = records(run(row, "preference", include_deleted=True))
    assert texts(with_deleted[1]["rejected"]) == ["Buy my course!"]


def test_prompt_kind_takes_the_root_prompt() -> None:
    (rec,) = records(run([tree_row(sample_tree())], "prompt"))
    assert rec["kind"] == "prompt" and texts(rec["messages"]) == ["What is 2+2?"]
    (thread,) = records(run([tree_row(sample_tree())], "prompt", prompt_turns="thread"))
    assert texts(thread["messages"]) == ["What is 2+2?", "4.", "Why?"]


def test_skip_reasons() -> None:
    lonely = link(node("p", "prompter", "Anyone?"))
    unranked = link(node("q", "prompter", "Hi", None, node("a", "assistant", "Hello")))
    gone = link(node("r", "prompter", "spam", None, node("b", "assistant", "no"), deleted=True))
    failed = link(
        node("s", "prompter", "x", None, node("c", "assistant", "y"), review_result=False)
    )
    spanish = link(node("t", "prompter", "Hola", None, node("d", "assistant", "¡Hola!"), lang="es"))
    rows = [tree_row(t) for t in (lonely, unranked, gone, failed, spanish)]
    sft = run(rows, "sft", lang=["en"])
    reasons = [out["kind"] if isinstance(out, dict) else out.reason for _, out in sft]
    assert reasons == ["no_reply", "sft", "deleted", "failed_review", "lang"]
    pref = run(rows[:2], "preference")
    assert [out.reason for _, out in pref] == ["no_ranked_siblings"] * 2


def test_malformed_rows_are_invalid() -> None:
    good = sample_tree()
    flat_good = flatten([tree_row(good)], seed=1)
    bad_text = link(node("p", "prompter", "Hi", None, node("a", "assistant", ["not", "text"])))
    bad_roles = link(node("p2", "prompter", "Hi", None, node("p3", "prompter", "Hi again")))
    rows: list[Any] = [
        42,
        {"unrelated": 1},
        tree_row(link(node("a9", "assistant", "I start the tree?"))),
        tree_row(bad_text),
        tree_row(bad_roles),
        {**flat_good[0], "role": "moderator", "message_id": "m1"},
        {**flat_good[0], "message_id": "orphan", "parent_id": "missing"},
        {**flat_good[0], "message_id": "orphan-child", "parent_id": "orphan"},
        {**flat_good[0], "message_id": "self", "parent_id": "self"},
        *flat_good,
        flat_good[0],  # duplicate message_id
    ]
    outcomes = run(rows, "sft")
    invalid = sorted(pos for pos, out in outcomes if isinstance(out, InvalidRow))
    assert invalid == [0, 1, 2, 3, 4, 5, 6, 7, 8, len(rows) - 1]
    # Rows read on their own carry their text to the quarantine file.
    errors = dict(outcomes[:6])
    assert '"moderator"' in errors[5].raw and "I start the tree?" in errors[2].raw
    (rec,) = records(outcomes)
    assert texts(rec["messages"])[-1] == "Because 2 and 2 make 4."


@pytest.mark.parametrize(
    ("field", "value", "why"),
    [
        ("deleted", "false", "'deleted' of message 'a0' is str, expected true or false"),
        ("review_result", "yes",
         "'review_result' of message 'a0' is str, expected true, false or null"),
        ("lang", 5, "'lang' of message 'p0' is int, expected a string"),
    ],
)  # fmt: skip
def test_wrong_typed_fields_are_quarantined(field: str, value: Any, why: str) -> None:
    """A string "false" must not silently drop (or keep) a message (issue 10 item 13)."""
    root = sample_tree()
    target = root if field == "lang" else root["replies"][1]
    target[field] = value
    for rows in ([tree_row(root)], flatten([tree_row(root)])):
        bad = [out for _, out in run(rows, "sft") if isinstance(out, InvalidRow)]
        assert [str(b) for b in bad] == [why]


def test_columns_infer_both_layouts(trees: list[dict[str, Any]]) -> None:
    hub_flat = {
        "message_id", "parent_id", "user_id", "created_date", "text", "role", "lang",
        "review_count", "review_result", "deleted", "rank", "synthetic", "model_name",
        "detoxify", "message_tree_id", "tree_state", "emojis", "labels",
    }  # fmt: skip
    assert formats.from_columns(hub_flat) is CONVERTER
    assert formats.from_columns(trees[0].keys()) is CONVERTER
    assert formats.from_hub_id("OpenAssistant/oasst2") is CONVERTER
