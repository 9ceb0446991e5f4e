"""Run the tests the floor venv can run, there: `python -m tests.compat.floor_subset`.

CI builds `.venv-floor` with every core dependency and the `report` extra at
their declared floors (`tests/compat/floors.py`), then runs this there, so the floors are
tested, not just declared. Left out: what needs an extra it lacks (trl, torch)
and fails, rather than skips, without it. Tests that skip cleanly stay in.
Extra arguments go to pytest; its exit status is this module's.
"""

from __future__ import annotations

import sys

import pytest

NEEDS_EXTRAS = (
    # train: trl / torch / peft, imported at collection or by the command under test
    "--ignore=tests/train",
    "--ignore=tests/formats/test_kto.py",
    "--ignore=tests/writers/test_kto_trl.py",
    "--ignore=tests/writers/test_tool_outputs.py",
    "--deselect=tests/cli/test_cli.py::test_training_on_a_missing_dir_is_one_line",
    "--deselect=tests/reliability/test_remote_code.py::test_model_with_auto_map_is_refused_and_its_code_never_runs",
    # train: the stock chat templates ship with trl (tests/templates/stock.py fails without it)
    "--ignore=tests/templates/test_stock.py",
    "--ignore=tests/templates/test_stock_real.py",
    "--deselect=tests/templates/test_sandbox.py::test_stock_template_errors_name_the_template",
    "--deselect=tests/templates/test_sandbox.py::test_sandbox_renders_like_transformers",
    "--deselect=tests/templates/test_tools.py::test_qwen_renders_tools_like_qwen2_5",
    "--deselect=tests/templates/test_tools.py::test_qwen_renders_tools_and_final_reasoning_like_qwen3",
    "--deselect=tests/tokenize/test_options.py::test_which_turns_keep_their_reasoning[qwen3]",
    "--deselect=tests/tokenize/test_options.py::test_reasoning_tokens_untrained[qwen3]",
)

if __name__ == "__main__":
    sys.exit(pytest.main(["tests", *NEEDS_EXTRAS, *sys.argv[1:]]))
