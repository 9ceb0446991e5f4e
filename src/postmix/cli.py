"""The `postmix` command: validate, prepare and inspect datasets."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
# Piped output gets a wide console: funnel tables have a dozen numeric columns.
WIDTH = None if sys.stderr.isatty() else 160
console = Console(stderr=True, width=WIDTH)


def _load(recipe_path: Path):
    from postmix.recipe import RecipeError, load

    try:
        return load(recipe_path)
    except RecipeError as exc:
        console.print(f"[red]recipe error[/red] {exc}", markup=True, highlight=False)
        raise typer.Exit(2) from exc
    except FileNotFoundError as exc:
        console.print(f"[red]no such recipe[/red]: {recipe_path}")
        raise typer.Exit(2) from exc


@app.command()
def validate(recipe: Annotated[Path, typer.Argument(help="Recipe YAML file")]) -> None:
    """Check a recipe without reading any data; errors name the YAML path and the fix."""
    r = _load(recipe)
    console.print(
        f"[green]ok[/green] {recipe}: {len(r.datasets)} dataset(s), kind {r.metadata.kind}, "
        f"schema {r.output.schema_}, output {r.output.dir}"
    )


@app.command()
def prepare(
    recipe: Annotated[Path, typer.Argument(help="Recipe YAML file")],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Output dir (overrides output.dir)")
    ] = None,
    limit: Annotated[int | None, typer.Option(help="Read at most N rows per source")] = None,
    strict: Annotated[
        bool, typer.Option(help="Fail on the first malformed row instead of quarantining")
    ] = False,
    num_proc: Annotated[
        int | None, typer.Option(help="Worker processes (default: all cores)")
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show progress bars")] = True,
    report: Annotated[bool, typer.Option(help="Write report.html / report.md")] = True,
    push_to_hub: Annotated[
        str | None, typer.Option(help="Upload outputs and card to ORG/NAME")
    ] = None,
) -> None:
    """Build the recipe's dataset: convert, filter, dedup, mix, split, write, manifest."""
    from postmix.prepare import StrictError
    from postmix.prepare import prepare as run_prepare

    r = _load(recipe)
    try:
        manifest = run_prepare(
            r,
            output,
            limit=limit,
            strict=strict,
            num_proc=num_proc,
            progress=progress and sys.stderr.isatty(),
            report=report,
        )
    except StrictError as exc:
        console.print(f"[red]strict:[/red] {exc}")
        raise typer.Exit(1) from exc
    except (ValueError, LookupError, FileNotFoundError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    from postmix.inspect import manifest_table

    console.print(manifest_table(manifest))
    out = output or Path(r.output.dir)
    console.print(
        f"wrote {', '.join(o['path'] for o in manifest['outputs'])} and manifest.json to {out}"
    )


@app.command()
def inspect(
    path: Annotated[
        Path, typer.Argument(help="An output dir (with manifest.json) or a JSONL/Parquet file")
    ],
    sample: Annotated[int, typer.Option(help="Show N records")] = 3,
    source: Annotated[str | None, typer.Option(help="Only records of this source")] = None,
    tokens: Annotated[bool, typer.Option(help="Colour trained tokens of tokenized rows")] = False,
    tokenizer: Annotated[
        str | None, typer.Option(help="Tokenizer for --tokens (default: DIR/tokenizer)")
    ] = None,
) -> None:
    """Counts, length stats and a few rendered samples of a prepared dataset."""
    from postmix.inspect import inspect_path

    out = Console(width=None if sys.stdout.isatty() else 160)
    inspect_path(
        path, sample=sample, source=source, console=out, tokens=tokens, tokenizer=tokenizer
    )


def _mount() -> None:
    """Sub-commands that live beside the code they drive (imported lazily: no torch here)."""
    from postmix.templates.cli import template_app
    from postmix.train.cli import train_app

    app.add_typer(template_app, name="template", help="Show and list chat templates.")
    app.add_typer(train_app)  # sft, dpo, grpo, eval, demo at the top level


_mount()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
