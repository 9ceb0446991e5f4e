"""`postmix template list | show NAME`: the chat formats, and what a rendered sample trains on."""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from postmix.clikit import Debug, Quiet, Verbose, command_errors
from postmix.templates import TEMPLATES, SpecRenderer, bind, get, jinja_template, names

template_app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
console = Console()
TRAINED = "bold black on green"

SAMPLE: list[dict[str, Any]] = [
    {"role": "system", "content": "You are a concise assistant."},
    {"role": "user", "content": "What is the capital of France?"},
    {"role": "assistant", "content": "Paris."},
    {"role": "user", "content": "And the weather there?"},
    {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {"type": "function", "function": {"name": "weather", "arguments": {"city": "Paris"}}}
        ],
    },
    {"role": "tool", "content": '{"sky": "clear", "celsius": 21}'},
    {"role": "assistant", "content": "Clear skies, 21 °C."},
]


@template_app.command("list")
@command_errors
def list_templates(quiet: Quiet = False, verbose: Verbose = 0, debug: Debug = False) -> None:
    """The built-in templates (and `tokenizer`: the tokenizer's own chat template)."""
    table = Table("name", "special tokens", "format")
    for spec in TEMPLATES.values():
        table.add_row(spec.name, Text(" ".join(spec.special_tokens) or "-"), Text(spec.description))
    table.add_row("tokenizer", "-", "the tokenizer's own chat_template")
    console.print(table)


def _highlight_chars(text: str, spans: list[tuple[int, int]]) -> Text:
    out = Text(text)
    for start, end in spans:
        out.stylize(TRAINED, start, end)
    return out


def _highlight_tokens(tok: Any, text: str, labels: Any) -> Text:
    """Each token's text, styled when it carries a label."""
    enc = tok._tokenizer.encode(text, add_special_tokens=False)
    out = Text()
    cursor = 0
    for (a, b), label in zip(enc.offsets, labels.tolist()):
        out.append(text[cursor:a])
        out.append(text[a:b], style=TRAINED if label != -100 else "")
        cursor = b
    out.append(text[cursor:])
    return out


@template_app.command()
@command_errors
def show(
    name: Annotated[str, typer.Argument(help=f"One of: {', '.join(names())}")],
    tokenizer: Annotated[
        Optional[str],  # noqa: UP045 (typer reads the annotation at runtime on 3.10)
        typer.Option(
            help="Tokenizer dir, hub id or SentencePiece .model: highlight trained tokens"
        ),
    ] = None,
    special_tokens: Annotated[str, typer.Option(help="text | add")] = "text",
    jinja: Annotated[bool, typer.Option(help="Also print the Jinja chat template")] = False,
    quiet: Quiet = False,
    verbose: Verbose = 0,
    debug: Debug = False,
) -> None:
    """Render a sample conversation with the trained part highlighted."""
    if name not in names():
        console.print(Text(f"unknown template {name!r}; known: {', '.join(names())}", "red"))
        raise typer.Exit(2)
    if special_tokens not in ("text", "add"):
        console.print(Text("--special-tokens must be text or add", "red"))
        raise typer.Exit(2)
    if tokenizer:
        from postmix.tokenize import tokenize_batch
        from postmix.tokenizer import load_tokenizer

        tok = load_tokenizer(tokenizer)
        renderer = bind(tok, name, special_tokens)  # type: ignore[arg-type]
        text = renderer.render(SAMPLE)[0]
        rec = tokenize_batch([{"id": "sample", "kind": "sft", "messages": SAMPLE}], tok, renderer)
        body = _highlight_tokens(tok, text, rec[0].labels)  # type: ignore[union-attr]
        template = tok.chat_template
    elif name == "tokenizer":
        console.print("[red]template tokenizer needs --tokenizer[/red]")
        raise typer.Exit(2)
    else:
        spec = get(name)
        text, spans = SpecRenderer(spec, "<s>", "</s>").render(SAMPLE)
        body = _highlight_chars(text, [(s.start, s.end) for s in spans])
        template = jinja_template(spec)
    console.print(Text("trained", style=TRAINED), "= tokens with a label (loss)")
    console.print(body)
    if jinja:
        console.rule("chat template")
        console.print(template, markup=False, highlight=False)
