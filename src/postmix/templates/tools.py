"""The tools schema in the built-in templates: the Hermes / Qwen2.5 `<tools>` block.

Every built-in template writes tool calls as Hermes-style `<tool_call>` JSON
(`spec.reply_text`), so each also describes the available functions the way
that convention does: a `# Tools` block with one OpenAI-form function schema
per line inside `<tools></tools>`, appended to the system prompt (which
templates without a system turn merge into the first user turn). With a
system message this is byte for byte what Qwen2.5's own chat template
renders.
"""

from __future__ import annotations

import json
from typing import Any

HEAD = (
    "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
    "You are provided with function signatures within <tools></tools> XML tags:\n<tools>"
)
TAIL = (
    "\n</tools>\n\nFor each function call, return a json object with function name and "
    "arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n"
    '{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>'
)


def openai_tool(tool: dict[str, Any]) -> dict[str, Any]:
    """A tool schema in OpenAI function form (`{"type": "function", "function": {...}}`)."""
    return tool if "function" in tool else {"type": "function", "function": tool}


def tools_block(tools: list[dict[str, Any]]) -> str:
    """The `# Tools` text describing `tools`."""
    lines = "".join("\n" + json.dumps(openai_tool(t), ensure_ascii=False) for t in tools)
    return HEAD + lines + TAIL


def with_tools(
    messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None, default_system: str
) -> list[dict[str, Any]]:
    """The messages with the tools block in their system prompt (unchanged without tools)."""
    if not tools:
        return messages
    block = tools_block(tools)
    if messages and messages[0]["role"] == "system":
        system = messages[0]["content"]
        rest = messages[1:]
    else:
        system, rest = default_system, messages
    content = system + "\n\n" + block if system else block
    return [{"role": "system", "content": content}, *rest]


def jinja_prelude(default_system: str) -> str:
    """The Jinja twin of `with_tools`: rebinds `messages` when `tools` is given."""
    default = json.dumps(default_system)
    return (
        "{%- if tools -%}"
        "{%- set tb = namespace(text=" + json.dumps(HEAD) + ") -%}"
        "{%- for tool in tools -%}"
        "{%- set schema = tool if tool.function is defined "
        "else {'type': 'function', 'function': tool} -%}"
        "{%- set tb.text = tb.text + '\\n' + (schema | tojson) -%}"
        "{%- endfor -%}"
        "{%- set tb.text = tb.text + " + json.dumps(TAIL) + " -%}"
        "{%- if messages and messages[0]['role'] == 'system' -%}"
        "{%- set system = messages[0]['content'] -%}{%- set rest = messages[1:] -%}"
        "{%- else -%}{%- set system = " + default + " -%}{%- set rest = messages -%}"
        "{%- endif -%}"
        "{%- set content = system + '\\n\\n' + tb.text if system else tb.text -%}"
        "{%- set messages = [{'role': 'system', 'content': content}] + rest -%}"
        "{%- endif -%}"
    )
