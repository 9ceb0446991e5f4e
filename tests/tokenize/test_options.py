"""Reasoning options (which turns keep it, whether it is trained) and truncated pairs."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest

from postmix.templates import bind
from postmix.templates.spec import think_block
from postmix.tokenize import IGNORE, tokenize_batch
from tests.templates.stock import tokenizer_for
from tests.tiny import bpe_tokenizer

R1, R2 = "First thought alpha.", "Second thought beta."
C1, C2 = "Answer one gamma.", "Answer two delta."
CONV = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Question one?"},
    {"role": "assistant", "content": C1, "reasoning_content": R1},
    {"role": "user", "content": "Question two?"},
    {"role": "assistant", "content": C2, "reasoning_content": R2},
]


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return bpe_tokenizer(tmp_path_factory.mktemp("bpe"))


def renderer_for(base, name: str):
    if name == "qwen3":
        tok = tokenizer_for(base, "qwen3")
        return tok, bind(tok, "tokenizer")
    tok = copy.deepcopy(base)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return tok, bind(tok, name, "add")


def decode(tok, ids) -> str:
    return tok._tokenizer.decode(np.asarray(ids).tolist(), skip_special_tokens=False)


def trained_runs(tok, rec) -> list[str]:
    mask = rec.labels != IGNORE
    edges = np.flatnonzero(np.diff(np.concatenate(([False], mask, [False]))))
    return [decode(tok, rec.input_ids[a:b]) for a, b in zip(edges[::2], edges[1::2])]


def sft(messages):
    return {"id": "r", "kind": "sft", "messages": messages}


@pytest.mark.parametrize("name", ["chatml", "llama-3", "qwen3"])
def test_which_turns_keep_their_reasoning(base, name) -> None:
    tok, renderer = renderer_for(base, name)
    texts = {}
    for keep in ("all", "last", "none"):
        rec = tokenize_batch([sft(CONV)], tok, renderer, reasoning=keep)[0]
        texts[keep] = decode(tok, rec.input_ids)
        runs = trained_runs(tok, rec)
        assert C1 in runs[0] and C2 in runs[1]
        assert (R1 in texts[keep]) == (keep == "all")
        assert (R2 in texts[keep]) == (keep != "none")
        assert (R2 in runs[1]) == (keep != "none")
    if name != "qwen3":  # a built-in template: exactly the think block goes
        assert texts["last"] == texts["all"].replace(think_block(CONV[2]), "")
        assert texts["none"] == texts["last"].replace(think_block(CONV[4]), "")


@pytest.mark.parametrize("name", ["chatml", "llama-2", "qwen3"])
def test_reasoning_tokens_untrained(base, name) -> None:
    tok, renderer = renderer_for(base, name)
    on = tokenize_batch([sft(CONV)], tok, renderer)[0]
    off = tokenize_batch([sft(CONV)], tok, renderer, train_reasoning=False)[0]
    assert (on.input_ids == off.input_ids).all()
    trained_on, trained_off = on.labels != IGNORE, off.labels != IGNORE
    assert not (trained_off & ~trained_on).any()  # only untrains
    runs = trained_runs(tok, off)
    assert len(runs) == 2
    for run, content in zip(runs, (C1, C2)):
        assert content in run and R1 not in run and R2 not in run and "think" not in run
    dropped = decode(tok, on.input_ids[trained_on & ~trained_off])
    assert R1 in dropped and R2 in dropped and C1 not in dropped and C2 not in dropped


def test_reasoning_options_on_pairs_and_prompts(base) -> None:
    tok, renderer = renderer_for(base, "chatml")
    chosen = [{"role": "assistant", "content": "Yes epsilon.", "reasoning_content": "Why zeta."}]
    rejected = [{"role": "assistant", "content": "No eta."}]
    pair = {"id": "p", "kind": "preference", "messages": CONV[:4], "chosen": chosen}
    pair["rejected"] = rejected
    out = tokenize_batch([pair], tok, renderer, reasoning="last")[0]
    assert R1 not in decode(tok, out.prompt_ids)  # history loses it
    assert "Why zeta." in decode(tok, out.chosen_ids)  # the reply keeps it
    prompt = {"id": "q", "kind": "prompt", "messages": CONV[:4]}
    for keep, present in (("all", True), ("last", False), ("none", False)):
        rec = tokenize_batch([prompt], tok, renderer, reasoning=keep)[0]
        assert (R1 in decode(tok, rec.input_ids)) == present
    with pytest.raises(ValueError, match="reasoning"):
        tokenize_batch([prompt], tok, renderer, reasoning="some")  # type: ignore[arg-type]


def test_truncated_pairs_identical_or_cut(base) -> None:
    tok, renderer = renderer_for(base, "chatml")
    same = "The same long start of both replies, and then"
    pair = {
        "id": "p",
        "kind": "preference",
        "messages": CONV[:2],
        "chosen": [{"role": "assistant", "content": same + " yes."}],
        "rejected": [{"role": "assistant", "content": same + " no."}],
    }
    full = tokenize_batch([pair], tok, renderer)[0]
    assert not full.cut_reply
    differ = int(
        np.flatnonzero(
            full.chosen_ids[: len(full.rejected_ids)] != full.rejected_ids[: len(full.chosen_ids)]
        )[0]
    )
    n = len(full.prompt_ids)
    short = tokenize_batch([pair], tok, renderer, max_length=n + differ, over_length="truncate")
    assert short == ["identical_after_truncation"]
    kept = tokenize_batch([pair], tok, renderer, max_length=n + differ + 1, over_length="truncate")[
        0
    ]
    assert kept.truncated and kept.cut_reply


def test_truncated_sft_reply_is_flagged_when_cut_before_its_end(base) -> None:
    tok, renderer = renderer_for(base, "chatml")
    full = tokenize_batch([sft(CONV)], tok, renderer)[0]
    trained = np.flatnonzero(full.labels != IGNORE)
    end_of_first = int(trained[np.flatnonzero(np.diff(trained) > 1)[0]]) + 1
    at_end = tokenize_batch(
        [sft(CONV)], tok, renderer, max_length=end_of_first, over_length="truncate"
    )[0]
    assert at_end.truncated and not at_end.cut_reply
    inside = tokenize_batch(
        [sft(CONV)], tok, renderer, max_length=end_of_first - 1, over_length="truncate"
    )[0]
    assert inside.cut_reply
    assert not tokenize_batch([sft(CONV)], tok, renderer, max_length=10_000)[0].cut_reply


def test_last_keeps_the_reasoning_of_every_step_after_the_last_user_turn(base) -> None:
    tok, renderer = renderer_for(base, "chatml")
    call = {"type": "function", "function": {"name": "lookup", "arguments": {"q": "x"}}}
    loop = [
        *CONV,
        {"role": "user", "content": "Look it up?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [call],
            "reasoning_content": "Step kappa.",
        },
        {"role": "tool", "content": "found"},
        {"role": "assistant", "content": "Done lambda.", "reasoning_content": "Final mu."},
    ]
    text = decode(tok, tokenize_batch([sft(loop)], tok, renderer, reasoning="last")[0].input_ids)
    assert R1 not in text and R2 not in text
    assert "Step kappa." in text and "Final mu." in text
