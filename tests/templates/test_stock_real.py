"""Real tool-use conversations (LLaMA-Factory's glaive sample) on stock and built-in templates."""

from __future__ import annotations

import json

import numpy as np
import pytest

from postmix.templates import SpecRenderer, bind, get
from postmix.templates.tools import HEAD
from postmix.tokenize import IGNORE, tokenize_batch
from tests.conftest import shared_file
from tests.templates.stock import tokenizer_for
from tests.tiny import bpe_tokenizer

TOOL_TEMPLATES = ("qwen2_5", "qwen3", "qwen3_instruct_2507", "glm4moe", "gptoss", "nemotron_3_nano")


@pytest.fixture(scope="module")
def glaive(shared_data):
    from postmix.formats.base import ConvertContext
    from postmix.formats.sharegpt import CONVERTER

    path = shared_file(shared_data, "hiyouga__LLaMA-Factory/glaive_toolcall_en_demo.json")
    ctx = ConvertContext(kind="sft", options=None, seed=0, source="glaive")
    recs = [r for row in json.loads(path.read_text()) for r in CONVERTER.convert(row, ctx)]
    for i, r in enumerate(recs):
        r["id"] = i
    return recs[:60]


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return bpe_tokenizer(tmp_path_factory.mktemp("bpe"))


@pytest.mark.parametrize("name", TOOL_TEMPLATES)
def test_real_tool_conversations_on_stock_templates(base, glaive, name) -> None:
    tok = tokenizer_for(base, name)
    out = tokenize_batch(glaive, tok, bind(tok, "tokenizer"))
    assert sum(1 for r in glaive if r.get("tools")) > 30
    for rec, got in zip(glaive, out):
        if isinstance(got, str):
            assert got == "empty_reply"
            continue
        mask = np.concatenate(([False], got.labels != IGNORE, [False]))
        n_runs = int(np.count_nonzero(np.diff(mask.astype(int)) == 1))
        assert n_runs == sum(m["role"] == "assistant" for m in rec["messages"])


def test_builtin_templates_carry_the_tool_schema_of_real_rows(glaive) -> None:
    with_tools = [r for r in glaive if r.get("tools")]
    renderer = SpecRenderer(get("qwen"))
    for rec in with_tools:
        text = renderer.render(rec["messages"], False, rec["tools"])[0]
        assert HEAD in text
        for tool in rec["tools"]:
            name = (tool.get("function") or tool)["name"]
            assert f'"name": "{name}"' in text.split("\n</tools>")[0]
