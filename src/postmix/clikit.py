"""What every `postmix` command shares: -q / -v / --debug, logging, one-line errors.

Every command takes `-q` (errors only), `-v` / `-vv` (info / debug logging)
and `--debug`; the root command takes them too (`postmix -v prepare ...`).
`@command_errors` turns an expected failure (a recipe, config or data mistake,
a missing or unreadable file) into one line on stderr and an exit code; the
traceback is shown only with `--debug`. Programming errors (TypeError, ...)
keep their traceback: they are bugs to report, not mistakes to fix.
"""

from __future__ import annotations

import functools
import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

console = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])

Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Print errors only.")]
Verbose = Annotated[
    int, typer.Option("--verbose", "-v", count=True, help="More detail: -v info, -vv debug.")
]
Debug = Annotated[bool, typer.Option("--debug", help="Show the full traceback of an error.")]

# Failures a user fixes (exit 2: the invocation, recipe or config is wrong) and failures of
# the run (exit 1: data, files, environment), matched by class name so that importing this
# module stays cheap (no pydantic models, torch or datasets).
USAGE_ERRORS = {"RecipeError", "ConfigError", "DataError", "BadParameter", "UsageError"}
EXPECTED = (ValueError, LookupError, OSError, RuntimeError, ImportError)
LIBRARIES = ("transformers", "datasets", "trl", "accelerate", "peft", "urllib3", "filelock")


@dataclass
class State:
    """Flags given to the root command, read by every sub-command."""

    quiet: bool = False
    verbose: int = 0
    debug: bool = False


STATE = State()


def level(quiet: bool, verbose: int) -> int:
    if quiet:
        return logging.ERROR
    return {0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG)


def setup_logging(quiet: bool = False, verbose: int = 0) -> int:
    """Route postmix's loggers and Python warnings to stderr at the chosen level; quiet the
    libraries' own info chatter unless -vv. Returns the level."""
    from rich.logging import RichHandler

    lvl = level(quiet or STATE.quiet, max(verbose, STATE.verbose))
    root = logging.getLogger("postmix")
    root.handlers[:] = [RichHandler(console=console, show_time=False, show_path=False)]
    root.setLevel(lvl)
    root.propagate = False
    logging.captureWarnings(True)
    py_warnings = logging.getLogger("py.warnings")
    py_warnings.handlers[:] = root.handlers
    py_warnings.setLevel(logging.ERROR if lvl > logging.WARNING else logging.WARNING)
    py_warnings.propagate = False
    for name in LIBRARIES:
        logging.getLogger(name).setLevel(max(lvl, logging.WARNING) if lvl > logging.DEBUG else lvl)
    if lvl >= logging.ERROR:
        warnings.simplefilter("ignore")
    return lvl


def quiet() -> bool:
    return logging.getLogger("postmix").level >= logging.ERROR


def one_line(exc: BaseException) -> str:
    """The message of an expected failure, without the exception's class noise."""
    text = str(exc).strip() or type(exc).__name__
    if isinstance(exc, FileNotFoundError) and exc.filename and str(exc.filename) not in text:
        text = f"{exc.filename}: {text}"
    if isinstance(exc, ImportError) and getattr(exc, "name", None):
        from postmix.dependencies import extra_providing  # reads metadata: only on this error

        extra = extra_providing(exc.name.split(".")[0])
        if extra:
            text += f" (pip install 'postmix[{extra}]')"
        else:
            text += f" (install the package that provides {exc.name!r})"
    return text


def exit_code(exc: BaseException) -> int:
    return 2 if type(exc).__name__ in USAGE_ERRORS else 1


def command_errors(func: F) -> F:
    """Set up logging from the command's -q / -v, run it, and end an expected failure with
    one line (`error: ...`) and exit code 1 or 2; `--debug` re-raises with the traceback."""

    @functools.wraps(func)
    def run(*args: Any, **kwargs: Any) -> Any:
        setup_logging(kwargs.get("quiet", False), kwargs.get("verbose", 0))
        debug = kwargs.get("debug", False) or STATE.debug
        try:
            return func(*args, **kwargs)
        except (typer.Exit, typer.Abort, SystemExit):
            raise
        except KeyboardInterrupt as exc:
            console.print("[red]interrupted[/red]")
            raise typer.Exit(130) from exc
        except EXPECTED as exc:
            if debug:
                raise
            console.print(
                f"[red]error:[/red] {escape(one_line(exc))}", highlight=False, soft_wrap=True
            )
            raise typer.Exit(exit_code(exc)) from exc

    return run  # type: ignore[return-value]
