"""`postmix sft | dpo | grpo | eval | demo`: a Typer app, mounted with `app.add_typer(train_app)`.

`--data a b c`, `--weights 0.4 0.4 0.2` and `--resume [CKPT]` take a variable
number of values, which Typer options cannot: the commands accept extra
arguments and read those three from them (anything else there is an error).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperCommand, TyperOption

from postmix.clikit import Debug, Quiet, Verbose, command_errors, console

train_app = typer.Typer(add_completion=False)
EXTRA = {"allow_extra_args": True, "ignore_unknown_options": True}
VARIADIC = {
    "--data": (
        "DIR_OR_RECIPE ...",
        "Prepared dirs or recipes; recipes are prepared into OUTPUT/data/ (required).",
    ),
    "--weights": ("W ...", "Shares of the training mix, one per --data value."),
    "--resume": ("[CKPT]", "Continue from CKPT, or alone from the last OUTPUT/checkpoint-*."),
}


class VariadicCommand(TyperCommand):
    """A command whose help also lists the variadic options read from the extra arguments
    (shown as copies of one of its own options, so they render like every other option)."""

    def format_help(self, ctx: Any, formatter: Any) -> None:
        params = self.params
        like = next(p for p in params if isinstance(p, TyperOption) and p.name == "model")
        shown = []
        for name, (metavar, text) in VARIADIC.items():
            option = copy.copy(like)
            option.opts, option.secondary_opts, option.name = [name], [], name.lstrip("-")
            option.metavar, option.help, option.default = metavar, text, None
            shown.append(option)
        self.params = [*shown, *params]
        try:
            super().format_help(ctx, formatter)
        finally:
            self.params = params


Model = Annotated[str | None, typer.Option(help="Model dir or hub id")]
ConfigFile = Annotated[
    Path | None,
    typer.Option("--config", help="Training config YAML (defaults fit a small model)"),
]
Tokenizer = Annotated[str | None, typer.Option(help="Tokenizer dir, hub id or .model")]
Template = Annotated[str | None, typer.Option(help="Chat template: a built-in name or 'tokenizer'")]
Output = Annotated[str | None, typer.Option("--output", "-o", help="Output dir")]
Lora = Annotated[bool | None, typer.Option("--lora", help="Train a LoRA adapter")]
Merge = Annotated[bool | None, typer.Option("--merge", help="Save the adapter merged")]
GenTest = Annotated[
    bool, typer.Option("--gen-test", help="Generate for a few validation prompts at the end")
]
MaxSteps = Annotated[int | None, typer.Option(help="Optimizer steps (-1: epochs)")]
Epochs = Annotated[float | None, typer.Option(help="Epochs")]
LearningRate = Annotated[float | None, typer.Option(help="Peak learning rate")]
BatchSize = Annotated[int | None, typer.Option(min=1, help="Rows per device per step")]
GradAccum = Annotated[int | None, typer.Option(min=1, help="Gradient accumulation steps")]
Seed = Annotated[int | None, typer.Option(help="Seed")]
ReportTo = Annotated[str | None, typer.Option(help="wandb, tensorboard, none, ...")]
NoVerify = Annotated[
    bool, typer.Option("--no-verify", help="Use prepared dirs without checking their manifest")
]


def variadic(args: list[str]) -> dict[str, list[str]]:
    """The values following each of `--data`, `--weights`, `--resume` among the extra arguments."""
    found: dict[str, list[str]] = {}
    current = None
    for arg in args:
        if arg.startswith("--"):
            name, eq, value = arg.partition("=")
            if name not in VARIADIC:
                raise typer.BadParameter(f"no such option: {name}")
            current = name
            found.setdefault(name, [])
            if eq:
                found[name].append(value)
        elif current is None:
            raise typer.BadParameter(f"unexpected argument {arg!r}")
        else:
            found[current].append(arg)
    return found


def data_args(ctx: typer.Context) -> tuple[list[str], list[float] | None, str | None]:
    """(--data values, --weights as floats, --resume: None, "last" or a checkpoint)."""
    found = variadic(ctx.args)
    data = found.get("--data") or []
    if not data:
        raise typer.BadParameter("give --data DIR_OR_RECIPE [...]")
    weights = None
    if "--weights" in found:
        try:
            weights = [float(w) for w in found["--weights"]]
        except ValueError as exc:
            raise typer.BadParameter(f"--weights: {exc}") from exc
    resume = found.get("--resume")
    if resume is not None and len(resume) > 1:
        raise typer.BadParameter("--resume takes at most one checkpoint")
    if resume is not None:
        return data, weights, resume[0] if resume else "last"
    return data, weights, None


def config(path: Path | None, **flags: Any) -> Any:
    from postmix.train.config import load, with_overrides

    return with_overrides(load(path), **flags)


def report(metrics: dict[str, Any], keys: tuple[str, ...], out: Any) -> None:
    shown = ", ".join(f"{k} {metrics[k]:.4g}" for k in keys if isinstance(metrics.get(k), float))
    console.print(f"[green]done[/green] {shown}; metrics.json in {out}", highlight=False)


@train_app.command(context_settings=EXTRA, cls=VariadicCommand)
@command_errors
def sft(
    ctx: typer.Context,
    model: Model = None,
    tokenizer: Tokenizer = None,
    template: Template = None,
    lora: Lora = None,
    merge: Merge = None,
    config_file: ConfigFile = None,
    output: Output = None,
    gen_test: GenTest = False,
    max_steps: MaxSteps = None,
    epochs: Epochs = None,
    learning_rate: LearningRate = None,
    batch_size: BatchSize = None,
    grad_accum: GradAccum = None,
    seed: Seed = None,
    report_to: ReportTo = None,
    no_verify: NoVerify = False,
    quiet: Quiet = False,
    verbose: Verbose = 0,
    debug: Debug = False,
) -> None:
    """Supervised fine-tuning (full or LoRA) on postmix's tokenized, packed rows."""
    from postmix.train.sft import run_sft

    data, weights, resume = data_args(ctx)
    cfg = config(
        config_file,
        model=model,
        tokenizer=tokenizer,
        template=template,
        lora=lora,
        merge=merge,
        output=output,
        max_steps=max_steps,
        epochs=epochs,
        learning_rate=learning_rate,
        batch_size=batch_size,
        grad_accum=grad_accum,
        seed=seed,
        report_to=report_to,
        verify=False if no_verify else None,
    )
    if gen_test and not cfg.gen_test:
        cfg = cfg.model_copy(update={"gen_test": 4})
    metrics = run_sft(cfg, data, weights=weights, resume=resume)
    report(metrics, ("train_loss", "eval_loss", "tokens_per_second"), cfg.output)


@train_app.command(context_settings=EXTRA, cls=VariadicCommand)
@command_errors
def dpo(
    ctx: typer.Context,
    model: Model = None,
    beta: Annotated[float | None, typer.Option(help="DPO beta")] = None,
    loss: Annotated[
        str | None,
        typer.Option(help="TRL loss type(s), comma-separated: sigmoid, ipo, hinge, ..."),
    ] = None,
    tokenizer: Tokenizer = None,
    template: Template = None,
    lora: Lora = None,
    merge: Merge = None,
    config_file: ConfigFile = None,
    output: Output = None,
    max_steps: MaxSteps = None,
    epochs: Epochs = None,
    learning_rate: LearningRate = None,
    batch_size: BatchSize = None,
    grad_accum: GradAccum = None,
    seed: Seed = None,
    report_to: ReportTo = None,
    no_verify: NoVerify = False,
    quiet: Quiet = False,
    verbose: Verbose = 0,
    debug: Debug = False,
) -> None:
    """Direct preference optimization on pairs; the reference model is handled as TRL does."""
    from postmix.train.dpo import run_dpo

    data, weights, resume = data_args(ctx)
    cfg = config(
        config_file,
        model=model,
        beta=beta,
        loss=loss.split(",") if loss else None,
        tokenizer=tokenizer,
        template=template,
        lora=lora,
        merge=merge,
        output=output,
        max_steps=max_steps,
        epochs=epochs,
        learning_rate=learning_rate,
        batch_size=batch_size,
        grad_accum=grad_accum,
        seed=seed,
        report_to=report_to,
        verify=False if no_verify else None,
    )
    metrics = run_dpo(cfg, data, weights=weights, resume=resume)
    report(metrics, ("train_loss", "rewards/accuracies", "rewards/margins"), cfg.output)


@train_app.command(context_settings=EXTRA, cls=VariadicCommand)
@command_errors
def grpo(
    ctx: typer.Context,
    model: Model = None,
    reward: Annotated[
        list[str] | None,
        typer.Option(
            help="Reward by name (math_answer, answer_format, think_format, "
            "length_penalty) or pkg.module:function; repeat for several"
        ),
    ] = None,
    tokenizer: Tokenizer = None,
    template: Template = None,
    lora: Lora = None,
    merge: Merge = None,
    config_file: ConfigFile = None,
    output: Output = None,
    max_steps: MaxSteps = None,
    epochs: Epochs = None,
    learning_rate: LearningRate = None,
    batch_size: BatchSize = None,
    grad_accum: GradAccum = None,
    seed: Seed = None,
    report_to: ReportTo = None,
    no_verify: NoVerify = False,
    quiet: Quiet = False,
    verbose: Verbose = 0,
    debug: Debug = False,
) -> None:
    """GRPO on prompt records with reward functions (exact math answers by default)."""
    from postmix.train.grpo import run_grpo

    data, weights, resume = data_args(ctx)
    cfg = config(
        config_file,
        model=model,
        rewards=reward or None,
        tokenizer=tokenizer,
        template=template,
        lora=lora,
        merge=merge,
        output=output,
        max_steps=max_steps,
        epochs=epochs,
        learning_rate=learning_rate,
        batch_size=batch_size,
        grad_accum=grad_accum,
        seed=seed,
        report_to=report_to,
        verify=False if no_verify else None,
    )
    metrics = run_grpo(cfg, data, weights=weights, resume=resume)
    report(metrics, ("train_loss", "reward"), cfg.output)


@train_app.command("eval", context_settings=EXTRA, cls=VariadicCommand)
@command_errors
def eval_(
    ctx: typer.Context,
    model: Annotated[str, typer.Option(help="Model or adapter dir, or hub id")],
    ref_model: Annotated[
        str | None,
        typer.Option(help="Reference model for pair rewards (default: an adapter's base)"),
    ] = None,
    beta: Annotated[float | None, typer.Option(help="Beta of the pair rewards")] = None,
    generations: Annotated[
        int | None,
        typer.Option(help="Validation prompts to generate for (0: none)"),
    ] = None,
    lm_eval_tasks: Annotated[
        str | None,
        typer.Option(help="lm-evaluation-harness tasks, comma-separated (when installed)"),
    ] = None,
    tokenizer: Tokenizer = None,
    template: Template = None,
    config_file: ConfigFile = None,
    output: Output = None,
    no_verify: NoVerify = False,
    quiet: Quiet = False,
    verbose: Verbose = 0,
    debug: Debug = False,
) -> None:
    """Response-only loss and perplexity per source, pair accuracy and margin, generations."""
    from postmix.train.evaluate import run_eval

    data, _, _ = data_args(ctx)
    cfg = config(
        config_file,
        tokenizer=tokenizer,
        template=template,
        beta=beta,
        verify=False if no_verify else None,
    )
    updates = {
        "generations": generations,
        "lm_eval_tasks": lm_eval_tasks.split(",") if lm_eval_tasks else None,
    }
    cfg.eval = cfg.eval.model_copy(update={k: v for k, v in updates.items() if v is not None})
    metrics = run_eval(
        cfg,
        model,
        data,
        ref_model=ref_model,
        output=Path(output) if output else None,
    )
    report(metrics, ("loss", "perplexity", "accuracy", "margin"), output or "the eval dir")


@train_app.command()
@command_errors
def demo(
    output: Annotated[Path, typer.Option("--output", "-o", help="Output dir")] = Path("out/demo"),
    steps: Annotated[int, typer.Option(min=1, help="SFT steps")] = 40,
    quiet: Quiet = False,
    verbose: Verbose = 0,
    debug: Debug = False,
) -> None:
    """Prepare the demo recipe, build a tiny model and fine-tune it on the CPU, offline."""
    from postmix.train.demo import run_demo

    run_demo(output, steps, say=lambda line: console.print(line, highlight=False))
