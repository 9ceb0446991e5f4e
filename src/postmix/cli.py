"""The `postmix` command: validate, prepare and inspect datasets; train on them."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console

from postmix.clikit import STATE, Debug, Quiet, Verbose, command_errors, setup_logging
from postmix.clikit import quiet as is_quiet

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
console = Console(stderr=True)
Executor = Literal["local", "ray"]


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"postmix {version('postmix')}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
    quiet_: Quiet = False,
    verbose: Verbose = 0,
    debug: Debug = False,
) -> None:
    """Post-training data for LLMs: many public datasets into one clean, mixed training set."""
    STATE.quiet, STATE.verbose, STATE.debug = quiet_, verbose, debug
    setup_logging(quiet_, verbose)


def _load(recipe_path: Path):
    from postmix.recipe import load

    if not recipe_path.is_file():
        raise FileNotFoundError(f"no such recipe: {recipe_path}")
    return load(recipe_path)


@app.command()
@command_errors
def validate(
    recipe: Annotated[Path, typer.Argument(help="Recipe YAML file")],
    quiet: Quiet = False,
    verbose: Verbose = 0,
    debug: Debug = False,
) -> None:
    """Check a recipe without reading any data; errors name the YAML path and the fix."""
    r = _load(recipe)
    console.print(
        f"[green]ok[/green] {recipe}: {len(r.datasets)} dataset(s), kind {r.metadata.kind}, "
        f"schema {r.output.schema_}, output {r.output.dir}"
    )


@app.command()
@command_errors
def prepare(
    recipe: Annotated[Path, typer.Argument(help="Recipe YAML file")],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Output dir (overrides output.dir)")
    ] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Read at most N rows per source")] = None,
    strict: Annotated[
        bool,
        typer.Option(
            help="Fail instead of warning: on malformed rows (else quarantined), text the "
            "tokenizer cannot hold, and sources that keep nothing or lose >90% to one reason"
        ),
    ] = False,
    num_proc: Annotated[
        int | None, typer.Option(min=1, help="Worker processes (default: all cores)")
    ] = None,
    executor: Annotated[
        Executor | None,
        typer.Option(help="Where shard work runs: local processes or a Ray cluster"),
    ] = None,
    ray_address: Annotated[
        str | None,
        typer.Option(metavar="ADDR", help="Ray cluster to join (default: start a local one)"),
    ] = None,
    spill_dir: Annotated[
        Path | None,
        typer.Option(metavar="DIR", help="Scratch space for shard spills (every node reads it)"),
    ] = None,
    force: Annotated[
        bool, typer.Option(help="Rebuild even when the output's fingerprint matches")
    ] = False,
    progress: Annotated[bool, typer.Option(help="Show progress bars")] = True,
    report: Annotated[bool, typer.Option(help="Write report.html / report.md")] = True,
    push_to_hub: Annotated[
        str | None, typer.Option(metavar="ORG/NAME", help="Upload outputs and card to the Hub")
    ] = None,
    quiet: Quiet = False,
    verbose: Verbose = 0,
    debug: Debug = False,
) -> None:
    """Build the recipe's dataset: convert, filter, dedup, mix, split, write, manifest."""
    from postmix.prepare import prepare as run_prepare

    r = _load(recipe)
    manifest = run_prepare(
        r,
        output,
        limit=limit,
        strict=strict,
        num_proc=num_proc,
        executor=executor,
        ray_address=ray_address,
        spill_dir=spill_dir,
        force=force,
        progress=progress and sys.stderr.isatty() and not is_quiet(),
        report=report,
    )
    out = output or Path(r.output.dir)
    if push_to_hub:
        from postmix.report import push_to_hub as push

        push(out, push_to_hub)
    if is_quiet():
        return
    from postmix.inspect import manifest_table

    console.print(manifest_table(manifest))
    console.print(
        f"wrote {', '.join(o['path'] for o in manifest['outputs'])} and manifest.json to {out}"
    )


@app.command()
@command_errors
def inspect(
    path: Annotated[
        Path, typer.Argument(help="An output dir (with manifest.json) or a JSONL/Parquet file")
    ],
    sample: Annotated[int, typer.Option(min=0, help="Show N records")] = 3,
    source: Annotated[str | None, typer.Option(help="Only records of this source")] = None,
    tokens: Annotated[bool, typer.Option(help="Colour trained tokens of tokenized rows")] = False,
    tokenizer: Annotated[
        str | None, typer.Option(help="Tokenizer for --tokens (default: DIR/tokenizer)")
    ] = None,
    verify: Annotated[
        bool, typer.Option(help="Check the files against the manifest's sizes and sha256s")
    ] = True,
    quiet: Quiet = False,
    verbose: Verbose = 0,
    debug: Debug = False,
) -> None:
    """Counts, length stats and a few rendered samples of a prepared dataset."""
    from postmix.inspect import inspect_path

    if not path.exists():
        raise FileNotFoundError(f"no such output dir or file: {path}")
    out = Console(width=None if sys.stdout.isatty() else 100)
    inspect_path(
        path,
        sample=sample,
        source=source,
        console=out,
        tokens=tokens,
        tokenizer=tokenizer,
        verify=verify,
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
