"""OpenAssistant converter on small hand-built trees: exact thread and pair choices,
skip reasons, malformed rows (the real oasst2 trees are in test_oasst.py)."""

from __future__ import annotations

from typing import Any

import pytest

from postmix.schema import InvalidRow
from tests.formats.test_oasst import flatten, records, root_lines, run, walk


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


def test_root_message_layout_built() -> None:
    (root,) = root_lines([tree_row(sample_tree())])
    assert "message_tree_id" not in root and root["replies"]
    for kind in ("sft", "preference", "prompt"):
        assert run([root], kind) == run([tree_row(sample_tree())], kind)
    # A nested message that is not a root cannot start a conversation.
    child = root["replies"][1]  # "a0", which has replies of its own
    (out,) = run([child], "sft")
    assert isinstance(out[1], InvalidRow) and "not a root" in str(out[1])
