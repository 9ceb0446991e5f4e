"""The built-in chat formats, as data (see `spec.TemplateSpec`).

Every reply starts right after a newline, a special token or a space that the
tokenizer joins to the reply's first word, so the reply begins on a clean token
boundary for byte-level BPE and SentencePiece alike. Roles a format has no
name for (tools in most of them) get the closest plain label.
"""

from __future__ import annotations

from postmix.templates.spec import TemplateSpec

VICUNA_SYSTEM = (
    "A chat between a curious user and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the user's questions."
)
ALPACA_SYSTEM = (
    "Below is an instruction that describes a task. "
    "Write a response that appropriately completes the request."
)


def _chatml(role: str) -> tuple[str, str]:
    return f"<|im_start|>{role}\n", "<|im_end|>\n"


def _llama3(role: str) -> tuple[str, str]:
    return f"<|start_header_id|>{role}<|end_header_id|>\n\n", "<|eot_id|>"


def _bagel(role: str) -> tuple[str, str]:
    return "{bos}" + role + "\n", "\n{eos}"


CHATML_TOKENS = ("<|im_start|>", "<|im_end|>")

SPECS: tuple[TemplateSpec, ...] = (
    TemplateSpec(
        name="chatml",
        system=_chatml("system"),
        user=_chatml("user"),
        assistant=("<|im_start|>assistant\n", "<|im_end|>"),
        after_reply="\n",
        tool=_chatml("tool"),
        special_tokens=CHATML_TOKENS,
        description="OpenAI ChatML: <|im_start|>role ... <|im_end|>",
    ),
    TemplateSpec(
        name="qwen",
        system=_chatml("system"),
        user=_chatml("user"),
        assistant=("<|im_start|>assistant\n", "<|im_end|>"),
        after_reply="\n",
        tool=("<|im_start|>user\n<tool_response>\n", "\n</tool_response><|im_end|>\n"),
        default_system="You are a helpful assistant.",
        special_tokens=CHATML_TOKENS,
        description="Qwen2: ChatML with a default system prompt and tool responses as user turns",
    ),
    TemplateSpec(
        name="llama-2",
        user=("{bos}[INST] ", " [/INST]"),
        assistant=(" ", " {eos}"),
        system_in_user=("<<SYS>>\n", "\n<</SYS>>\n\n"),
        generation_prompt="",
        description="Llama 2 chat: <s>[INST] <<SYS>>...<</SYS>> user [/INST] reply </s>",
    ),
    TemplateSpec(
        name="llama-3",
        begin="{bos}",
        system=_llama3("system"),
        user=_llama3("user"),
        assistant=("<|start_header_id|>assistant<|end_header_id|>\n\n", "<|eot_id|>"),
        tool=_llama3("ipython"),
        special_tokens=("<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"),
        description="Llama 3 instruct: header ids and <|eot_id|>",
    ),
    TemplateSpec(
        name="mistral",
        begin="{bos}",
        user=("[INST] ", " [/INST]"),
        assistant=(" ", "{eos}"),
        generation_prompt="",
        special_tokens=("[INST]", "[/INST]"),
        description="Mistral instruct: <s>[INST] user [/INST] reply</s>, system in the user turn",
    ),
    TemplateSpec(
        name="vicuna",
        begin="{bos}",
        system=("", " "),
        user=("USER: ", " "),
        assistant=("ASSISTANT: ", "{eos}"),
        tool=("TOOL: ", " "),
        default_system=VICUNA_SYSTEM,
        generation_prompt="ASSISTANT:",
        description="Vicuna v1.1: system USER: ... ASSISTANT: ...</s>",
    ),
    TemplateSpec(
        name="alpaca",
        begin="{bos}",
        system=("", "\n\n"),
        user=("### Instruction:\n", "\n\n"),
        assistant=("### Response:\n", "{eos}"),
        after_reply="\n\n",
        tool=("### Input:\n", "\n\n"),
        default_system=ALPACA_SYSTEM,
        description="Stanford Alpaca: preamble, ### Instruction: / ### Response:",
    ),
    TemplateSpec(
        name="zephyr",
        system=("<|system|>\n", "{eos}\n"),
        user=("<|user|>\n", "{eos}\n"),
        assistant=("<|assistant|>\n", "{eos}"),
        after_reply="\n",
        tool=("<|tool|>\n", "{eos}\n"),
        description="Zephyr: <|user|>\\n...</s> with plain-text role tags",
    ),
    TemplateSpec(
        name="gemma",
        begin="{bos}",
        user=("<start_of_turn>user\n", "<end_of_turn>\n"),
        assistant=("<start_of_turn>model\n", "<end_of_turn>"),
        after_reply="\n",
        tool=("<start_of_turn>tool\n", "<end_of_turn>\n"),
        special_tokens=("<start_of_turn>", "<end_of_turn>"),
        description="Gemma: <start_of_turn>user|model, system merged into the first user turn",
    ),
    TemplateSpec(
        name="phi-3",
        system=("<|system|>\n", "<|end|>\n"),
        user=("<|user|>\n", "<|end|>\n"),
        assistant=("<|assistant|>\n", "<|end|>"),
        after_reply="\n",
        tool=("<|tool|>\n", "<|end|>\n"),
        special_tokens=("<|system|>", "<|user|>", "<|assistant|>", "<|end|>"),
        description="Phi-3: <|user|>\\n...<|end|>",
    ),
    TemplateSpec(
        name="instruct",
        system=("", "\n\n"),
        user=("### Instruction:\n", "\n\n"),
        assistant=("### Response:\n", "{eos}"),
        after_reply="\n\n",
        tool=("### Input:\n", "\n\n"),
        description="Plain instruction format for small models: ### Instruction: / ### Response:",
    ),
    TemplateSpec(
        name="chat",
        system=("System: ", "\n"),
        user=("Human: ", "\n"),
        assistant=("Assistant: ", "{eos}"),
        after_reply="\n",
        tool=("Tool: ", "\n"),
        generation_prompt="Assistant:",
        description="Plain dialogue for small models: Human: / Assistant:",
    ),
    TemplateSpec(
        name="chatml_plain",
        system=_bagel("system"),
        user=_bagel("user"),
        assistant=("{bos}assistant\n", "\n{eos}"),
        tool=_bagel("tool"),
        description="bagel's ChatML without special tokens: {bos}role\\ntext\\n{eos}",
    ),
)
