"""The `postmix` command: validate, prepare and inspect datasets."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
console = Console(stderr=True)


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
    limit: Annotated[Optional[int], typer.Option(help="Read at most N rows per source")] = None,  # noqa: UP045
    strict: Annotated[
        bool, typer.Option(help="Fail on the first malformed row instead of quarantining")
    ] = False,
    num_proc: Annotated[
        int | None, typer.Option(help="Worker processes (default: all cores)")
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show progress bars")] = True,
) -> None:
    """Build the recipe's dataset: convert, filter, dedup, mix, split, write, manifest."""
    from postmix.pipeline import StrictError
    from postmix.pipeline import prepare as run_prepare

    r = _load(recipe)
    try:
        manifest = run_prepare(
            r,
            output,
            limit=limit,
            strict=strict,
            num_proc=num_proc,
            progress=progress and sys.stderr.isatty(),
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
    source: Annotated[Optional[str], typer.Option(help="Only records of this source")] = None,  # noqa: UP045
) -> None:
    """Counts, length stats and a few rendered samples of a prepared dataset."""
    from postmix.inspect import inspect_path

    inspect_path(path, sample=sample, source=source, console=Console())


def main() -> None:
    app()


if __name__ == "__main__":
    main()
