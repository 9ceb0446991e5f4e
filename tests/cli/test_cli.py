"""The `postmix` command as a user meets it: version, verbosity, exit codes, one-line errors."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import yaml
from typer.main import get_command
from typer.testing import CliRunner

from postmix.cli import app
from tests.outputs import sft_rows, write_jsonl

runner = CliRunner()


def recipe(tmp: Path, source: str = "chats.jsonl") -> Path:
    write_jsonl(tmp / "chats.jsonl", sft_rows(20))
    path = tmp / "r.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "metadata": {"phase": "t"},
                "datasets": [{"name": "chats", "source": source, "format_converter": "messages"}],
                "output": {"dir": str(tmp / "out")},
            }
        )
    )
    return path


def one_line_error(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    assert "Traceback" not in output and len(lines) == 1, output
    return lines[0]


def test_version() -> None:
    from postmix import __version__

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"postmix {__version__}"


@pytest.mark.parametrize(
    "args", [["--num-proc", "0"], ["--num-proc", "-3"], ["--limit", "-5"], ["--limit", "0"]]
)
def test_cli_numbers_are_validated(tmp_path: Path, args: list[str]) -> None:
    result = runner.invoke(app, ["prepare", str(recipe(tmp_path)), *args])
    assert result.exit_code == 2 and args[0] in result.output
    assert not (tmp_path / "out").exists()


def test_a_missing_recipe_is_one_line(tmp_path: Path) -> None:
    result = runner.invoke(app, ["prepare", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 1
    assert "no such recipe" in one_line_error(result.output)


def test_a_missing_source_names_the_file_and_yaml_path(tmp_path: Path) -> None:
    result = runner.invoke(app, ["prepare", str(recipe(tmp_path, "missing.jsonl"))])
    assert result.exit_code == 2, result.output
    assert "missing.jsonl" in result.output and "Traceback" not in result.output


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    result = runner.invoke(app, ["prepare", str(tmp_path / "nope.yaml"), "--debug"])
    assert isinstance(result.exception, FileNotFoundError)
    result = runner.invoke(app, ["--debug", "prepare", str(tmp_path / "nope.yaml")])
    assert isinstance(result.exception, FileNotFoundError)


def test_inspect_of_a_dir_without_manifest_is_one_line(tmp_path: Path) -> None:
    result = runner.invoke(app, ["inspect", str(tmp_path)])
    assert result.exit_code != 0 and "manifest.json" in one_line_error(result.output)
    result = runner.invoke(app, ["inspect", str(tmp_path / "nope")])
    assert result.exit_code == 1 and "no such output" in one_line_error(result.output)


def test_training_on_a_missing_dir_is_one_line(tmp_path: Path) -> None:
    result = runner.invoke(app, ["sft", "--model", "m", "--data", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert "manifest.json" in one_line_error(result.output)


def test_quiet_prints_nothing_and_verbose_logs(tmp_path: Path) -> None:
    path = recipe(tmp_path)
    result = runner.invoke(app, ["prepare", str(path), "-q", "--no-report"])
    assert result.exit_code == 0 and result.output.strip() == "", result.output
    assert logging.getLogger("postmix").level == logging.ERROR
    result = runner.invoke(app, ["prepare", str(path), "-v", "--no-report"])
    said = " ".join(result.output.split())  # rich wraps log lines at the terminal width
    assert result.exit_code == 0 and "already holds this recipe's output" in said
    assert logging.getLogger("postmix").level == logging.INFO
    result = runner.invoke(app, ["prepare", str(path), "-vv", "--no-report", "--force"])
    assert result.exit_code == 0 and "where every record went" in result.output
    assert logging.getLogger("postmix").level == logging.DEBUG


def test_prepare_takes_the_engine_options(tmp_path: Path) -> None:
    path = recipe(tmp_path)
    spill = tmp_path / "spill"
    spill.mkdir()
    args = ["prepare", str(path), "--executor", "local", "--spill-dir", str(spill), "--force"]
    result = runner.invoke(app, [*args, "--no-report"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["prepare", str(path), "--executor", "spark"])
    assert result.exit_code == 2 and "--executor" in result.output


def commands() -> list[tuple[list[str], object]]:
    root = get_command(app)
    found = []
    for name, cmd in root.commands.items():
        subs = getattr(cmd, "commands", None)
        for sub_name, sub in (subs or {name: cmd}).items():
            found.append(([name, sub_name] if subs else [name], sub))
    return found


def test_every_option_is_in_help_and_every_command_takes_q_v_debug() -> None:
    for path, cmd in commands():
        result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0, (path, result.output)
        for param in cmd.params:
            for opt in getattr(param, "opts", []):
                if opt.startswith("--"):
                    assert opt in result.output, (path, opt)
        for flag in ("--quiet", "--verbose", "--debug"):
            assert flag in result.output, (path, flag)
    help_text = runner.invoke(app, ["sft", "--help"], env={"COLUMNS": "200"}).output
    assert all(flag in help_text for flag in ("--data", "--weights", "--resume"))


@pytest.mark.parametrize(
    ("module", "extra"),
    [("trl", "train"), ("peft", "train"), ("faiss", "decontam"), ("matplotlib", "report")],
)
def test_a_missing_extra_is_named_with_its_install_command(module: str, extra: str) -> None:
    """Without an extra, a command names the extra to install, not just the module."""
    from postmix.clikit import one_line

    text = one_line(ModuleNotFoundError(f"No module named {module!r}", name=module))
    assert f"pip install 'postmix[{extra}]'" in text


def test_an_error_prints_its_brackets(capsys: pytest.CaptureFixture[str]) -> None:
    """The error line is text, not rich markup: `postmix[train]` keeps its brackets."""
    import typer

    from postmix.clikit import command_errors

    @command_errors
    def sft() -> None:
        raise ModuleNotFoundError("No module named 'trl'", name="trl")

    with pytest.raises(typer.Exit):
        sft()
    assert "pip install 'postmix[train]'" in capsys.readouterr().err
