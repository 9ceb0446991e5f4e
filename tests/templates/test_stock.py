"""`template: tokenizer` on every chat template the installed trl ships: exact assistant masks.

Each template is set on a byte-level BPE (full byte alphabet) that has the
template's special tokens; conversations with a system turn, several
exchanges, reasoning on some turns, and tool calls where the template renders
them are tokenized, and the trained tokens are decoded and compared with the
replies: every reply's text and its end-of-turn token trained, no other
message's text and no role header trained. A template that is not supported
fails here; templates that genuinely refuse a conversation are listed with
the error they must give.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from postmix.templates import TemplateError, bind
from postmix.tokenize import IGNORE, tokenize_batch
from tests.templates.stock import (
    CHAT,
    NO_SYSTEM,
    SPECIAL,
    TOOL_CHAT,
    TOOLS,
    stock_names,
    tokenizer_for,
)
from tests.tiny import bpe_tokenizer

HEADERS = ("assistant", "model", "chatbot", "<|im_start|>", "<start_of_turn>")
DROPS_TOOL_CALLS = ("deepseek_r1_distill", "lfm2", "llama3", "phi3", "phi3_5", "qwen2_5_vl")
NO_TOOL_ROLE = ("cohere", "cohere2", "gemma", "gemma3")
IMAGE_ONLY = ("idefics3", "llava_next", "smolvlm")  # content must be a list of blocks
ALTERNATE = r"roles must alternate.*\(at message [23], (tool|assistant)\)"
# Templates that refuse a conversation by design: (template, conversation) -> the error.
REFUSALS: dict[tuple[str, str], str] = {
    ("gemma", "chat"): r"System role not supported \(at message 0, system\)",
    # DeepSeek-V3 is not a reasoning model: its template cuts any <think> block out
    ("deepseekv3", "chat"): "drops the reasoning of reply 6; set reasoning: none",
    ("deepseekv3", "no_system"): "drops the reasoning of reply 5; set reasoning: none",
    **{
        (n, "tools"): "reply 1 renders differently than given, without its tool calls"
        for n in DROPS_TOOL_CALLS
    },
    **{(n, "tools"): ALTERNATE for n in NO_TOOL_ROLE},
    **{
        (n, c): "without its content|has no attribute|has no element"
        for n in IMAGE_ONLY
        for c in ("chat", "no_system", "tools")
    },
}


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return bpe_tokenizer(tmp_path_factory.mktemp("stock"))


def runs(labels: np.ndarray) -> list[tuple[int, int]]:
    mask = labels != IGNORE
    edges = np.flatnonzero(np.diff(np.concatenate(([False], mask, [False]))))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def check_masks(tok: Any, messages: list[dict[str, Any]], tools: Any = None) -> None:
    renderer = bind(tok, "tokenizer")
    rec = tokenize_batch(
        [{"id": "r", "kind": "sft", "messages": messages, "tools": tools}], tok, renderer
    )[0]
    assert not isinstance(rec, str), rec
    text = renderer.render(messages, False, tools)[0]
    backend = tok._tokenizer
    trained = [
        backend.decode(rec.input_ids[a:b].tolist(), skip_special_tokens=False)
        for a, b in runs(rec.labels)
    ]
    untrained = backend.decode(
        rec.input_ids[rec.labels == IGNORE].tolist(), skip_special_tokens=False
    )
    replies = [m for m in messages if m["role"] == "assistant"]
    assert len(trained) == len(replies), trained
    others = [m["content"] for m in messages if m["role"] != "assistant" and m["content"]]
    for run, m in zip(trained, replies):
        fields = [m["content"]] if m["content"] else []
        fields += [c["function"]["name"] for c in m.get("tool_calls", [])]
        reasoning = m.get("reasoning_content")
        if reasoning and reasoning in text:
            fields.insert(0, reasoning)
        for field in fields:
            assert field in run, (field, run)
            named_in_schema = any(field == t["function"]["name"] for t in tools or ())
            assert named_in_schema or field not in untrained, (field, untrained)
        head = run[: min(run.index(f) for f in fields)].lower()
        assert not any(h in head for h in HEADERS), run
        assert not any(o in run for o in others), run
        assert any(run.rstrip().endswith(t) for t in SPECIAL.findall(run)), run
    for o in others:
        assert o in untrained
    final = replies[-1].get("reasoning_content")
    assert not final or final in text, "the final reply's reasoning was lost"


@pytest.mark.parametrize("name", stock_names())
@pytest.mark.parametrize("conv", ["chat", "no_system", "tools"])
def test_stock_template_masks_are_exact(base, name: str, conv: str) -> None:
    tok = tokenizer_for(base, name)
    messages, tools = {
        "chat": (CHAT, None),
        "no_system": (NO_SYSTEM, None),
        "tools": (TOOL_CHAT, TOOLS),
    }[conv]
    refusal = REFUSALS.get((name, conv))
    if refusal is None:
        check_masks(tok, messages, tools)
        return
    with pytest.raises(TemplateError, match=refusal) as err:
        check_masks(tok, messages, tools)
    assert name in str(err.value) and "\n" not in str(err.value)


def test_the_suggested_fix_for_dropped_reasoning_works(base) -> None:
    tok = tokenizer_for(base, "deepseekv3")
    rec = {"id": "r", "kind": "sft", "messages": CHAT}
    out = tokenize_batch([rec], tok, bind(tok, "tokenizer"), reasoning="none")[0]
    assert len(runs(out.labels)) == 3


def test_reasoning_is_inlined_for_templates_that_only_read_content(base) -> None:
    tok = tokenizer_for(base, "deepseek_r1_distill")
    renderer = bind(tok, "tokenizer")
    assert not renderer.reads_reasoning
    text = renderer.render(CHAT)[0]
    assert "<｜Assistant｜><think>\nReason three theta.\n</think>\n\nReply three eta." in text
    rec = tokenize_batch([{"id": "r", "kind": "sft", "messages": CHAT}], tok, renderer)[0]
    a, b = runs(rec.labels)[-1]
    run = tok._tokenizer.decode(rec.input_ids[a:b].tolist(), skip_special_tokens=False)
    assert run == "Reason three theta.\n</think>\n\nReply three eta.<｜end▁of▁sentence｜>"


def test_renderer_pickles_for_worker_processes(base) -> None:
    import pickle

    tok = tokenizer_for(base, "qwen3")
    renderer = bind(tok, "tokenizer")
    clone = pickle.loads(pickle.dumps(renderer))
    assert clone.render(CHAT) == renderer.render(CHAT)


@pytest.mark.parametrize("name", [n for n in stock_names() if n not in IMAGE_ONLY])
def test_stock_template_pairs_and_prompts(base, name) -> None:
    tok = tokenizer_for(base, name)
    renderer = bind(tok, "tokenizer")
    prompt = NO_SYSTEM[:3]
    chosen = [{"role": "assistant", "content": "Chosen pi.", "reasoning_content": "Why rho."}]
    rejected = [{"role": "assistant", "content": "Rejected sigma."}]
    pair = {"id": "p", "kind": "preference", "messages": prompt, "chosen": chosen}
    pair["rejected"] = rejected
    keep = "none" if name == "deepseekv3" else "all"  # it drops reasoning (see REFUSALS)
    out, ask = tokenize_batch(
        [pair, {"id": "q", "kind": "prompt", "messages": prompt}], tok, renderer, reasoning=keep
    )

    def text(ids) -> str:
        return tok._tokenizer.decode(ids.tolist(), skip_special_tokens=False)

    head, good, bad = text(out.prompt_ids), text(out.chosen_ids), text(out.rejected_ids)
    assert "Question two delta?" in head and "Reply one alpha." in head
    assert "Chosen pi." in good and "Rejected sigma." in bad
    assert "Chosen" not in head + bad and "Rejected" not in head + good
    assert keep == "none" or "Why rho." in good
    for side in (good, bad):
        assert any(side.endswith(t) for t in SPECIAL.findall(side)), side
    assert text(ask.input_ids).startswith(head.rstrip())


def test_reply_without_string_content_is_a_clear_error(base) -> None:
    tok = tokenizer_for(base, "qwen3")  # renders non-string content as ''
    blocks = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": [{"type": "text"}]},
    ]
    with pytest.raises(TemplateError, match="reply 1 has no text"):
        bind(tok, "tokenizer").render(blocks)
