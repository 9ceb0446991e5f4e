"""Built-in templates render the tools schema, as the tool-aware stock templates do."""

from __future__ import annotations

import json

import pytest

from postmix.templates import TEMPLATES, SpecRenderer, get, jinja_template
from postmix.templates.sandbox import compile_template, render
from postmix.templates.tools import HEAD
from tests.templates.stock import TOOL_CHAT, TOOLS, stock_dir

SYSTEM = [{"role": "system", "content": "Be brief."}]
BARE = [t["function"] for t in TOOLS]  # {name, description, parameters} without the wrapper


def stock(name: str, messages, tools, gen: bool = False) -> str:
    source = (stock_dir() / f"{name}.jinja").read_text()
    return render(compile_template(source, name), name, messages, gen, tools)


def no_reasoning(messages):
    return [{k: v for k, v in m.items() if k != "reasoning_content"} for m in messages]


def test_qwen_renders_tools_like_qwen2_5() -> None:
    messages = no_reasoning(SYSTEM + TOOL_CHAT)
    renderer = SpecRenderer(get("qwen"))
    assert renderer.render(messages, False, TOOLS)[0] == stock("qwen2_5", messages, TOOLS)
    prompt = messages[:-1]
    assert renderer.render(prompt, True, TOOLS)[0] == stock("qwen2_5", prompt, TOOLS, True)


def test_qwen_renders_tools_and_final_reasoning_like_qwen3() -> None:
    messages = SYSTEM + TOOL_CHAT  # reasoning on the final reply only
    assert SpecRenderer(get("qwen")).render(messages, False, TOOLS)[0] == stock(
        "qwen3", messages, TOOLS
    )


@pytest.mark.parametrize("name", list(TEMPLATES))
@pytest.mark.parametrize("system", [True, False])
def test_every_builtin_renders_the_schema_and_its_jinja_twin_agrees(name, system) -> None:
    messages = (SYSTEM if system else []) + TOOL_CHAT
    renderer = SpecRenderer(get(name), "<s>", "</s>")
    text, spans = renderer.render(messages, False, TOOLS)
    assert HEAD in text and json.dumps(TOOLS[0], ensure_ascii=False) in text
    assert text.index("Weather in Paris iota?") > text.index(HEAD)
    assert all(HEAD not in text[s.start : s.end] for s in spans)  # never trained
    assert renderer.render(messages, False, BARE)[0] == text  # bare schemas: OpenAI form
    template = compile_template(jinja_template(get(name)), name)
    for tools in (TOOLS, BARE):
        jinja = render(template, name, messages, False, tools, bos_token="<s>", eos_token="</s>")
        assert jinja == text
    without = renderer.render(messages, False, None)[0]
    assert HEAD not in without
