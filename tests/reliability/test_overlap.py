"""Sources may not overlap the output dir, and a phase is a plain name (issue 10, items 2, 4)."""

from __future__ import annotations

from pathlib import Path

import pytest

from postmix import recipe
from postmix.writers.overlap import OverlapError, check_sources_outside

OUTPUTS = ["sft_train.jsonl", "sft_validation.jsonl", "quarantine.jsonl", "manifest.json"]


def test_a_source_named_like_an_output_inside_the_output_dir(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "sft_train.jsonl").write_text('{"a": 1}\n')
    with pytest.raises(OverlapError, match=r"source 'mine' .* inside the output dir"):
        check_sources_outside(out, [("mine", str(out / "sft_train.jsonl"))], OUTPUTS)


def test_a_glob_that_would_reread_previous_outputs(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.jsonl").write_text('{"a": 1}\n')
    out = data / "out"  # not written yet: the glob would match the outputs of this run
    with pytest.raises(OverlapError, match=r"reads .*sft_train\.jsonl"):
        check_sources_outside(out, [("all", str(data / "**" / "*.jsonl"))], OUTPUTS)
    with pytest.raises(OverlapError):  # output dir == the glob's folder
        check_sources_outside(data, [("flat", str(data / "*.jsonl"))], OUTPUTS)
    check_sources_outside(out, [("flat", str(data / "*.jsonl"))], OUTPUTS)  # one level only
    check_sources_outside(tmp_path / "elsewhere", [("all", str(data / "**/*.jsonl"))], OUTPUTS)


def test_a_source_folder_holding_the_output_dir(tmp_path: Path) -> None:
    data = tmp_path / "dataset"
    data.mkdir()
    with pytest.raises(OverlapError, match="folder that holds the output dir"):
        check_sources_outside(data / "out", [("dir", str(data))], OUTPUTS)


def test_symlinked_paths_and_hub_ids(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "x.jsonl").write_text("{}\n")
    link = tmp_path / "link"
    link.symlink_to(out)
    with pytest.raises(OverlapError):
        check_sources_outside(out, [("via-link", str(link / "x.jsonl"))], OUTPUTS)
    check_sources_outside(out, [("hub", "databricks/databricks-dolly-15k")], OUTPUTS)


@pytest.mark.parametrize("phase", ["../x", "/tmp/x", "a/b", ".hidden", "..", "", "a\\b"])
def test_phase_must_be_a_plain_file_name_stem(phase: str) -> None:
    text = f"metadata: {{phase: {phase!r}}}\ndatasets: [{{name: a, source: a.jsonl}}]\n"
    with pytest.raises(recipe.RecipeError, match=r"metadata\.phase .*plain file-name stem"):
        recipe.parse(text)


def test_ordinary_phases_pass() -> None:
    for phase in ("sft_general", "dpo-v2", "mid.train.3"):
        text = f"metadata: {{phase: {phase}}}\ndatasets: [{{name: a, source: a.jsonl}}]\n"
        assert recipe.parse(text).metadata.phase == phase
