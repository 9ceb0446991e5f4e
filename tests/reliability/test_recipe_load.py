"""The recipe loader refuses what `prepare` would trip on, before any data is read
(issue 10, items 8, 11, 12, 13): duplicate keys, alias bombs, yes/no numbers, seeds
out of range, all-zero ratios, missing sources, unusable or overlapping outputs."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from postmix.recipe import RecipeError, load, parse

REPO = Path(__file__).resolve().parents[2]
SOURCE = "datasets: [{name: a, source: hub/id}]\n"

# 9 levels of 9 aliases: 707 bytes of YAML that expand to 9**9 strings.
ALIAS_BOMB = (
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    + "".join(f"{c}: &{c} [{','.join([f'*{p}'] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi"))
    + SOURCE
)


def error(text: str) -> str:
    with pytest.raises(RecipeError) as info:
        parse(text, origin="mix.yaml")
    return str(info.value)


def test_duplicate_top_level_key_names_both_lines() -> None:
    msg = error(
        "datasets:\n  - {name: a, source: hub/a}\nseed: 1\n"
        "datasets:\n  - {name: b, source: hub/b}\n"
    )
    assert "datasets (line 4): duplicate key 'datasets' (first on line 1)" in msg


def test_duplicate_nested_key_names_its_path() -> None:
    msg = error("datasets:\n  - name: a\n    source: hub/a\n    name: b\n")
    assert "datasets[0].name (line 4): duplicate key 'name' (first on line 2)" in msg


def test_merge_keys_may_override() -> None:
    text = "datasets:\n  - &d {name: a, source: hub/a, mix_ratio: 1}\n  - {<<: *d, name: b}\n"
    assert [d.name for d in parse(text).datasets] == ["a", "b"]


def test_alias_bomb_fails_fast_in_bounded_memory() -> None:
    assert len(ALIAS_BOMB.encode()) < 800
    code = textwrap.dedent(
        f"""
        import resource, sys
        resource.setrlimit(resource.RLIMIT_AS, (1 << 31, 1 << 31))
        from postmix.recipe import RecipeError, parse
        try:
            parse({ALIAS_BOMB!r}, origin="bomb.yaml")
        except RecipeError as exc:
            print(exc)
            sys.exit(3)
        """
    )
    got = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert got.returncode == 3, got.stderr[-2000:]
    assert "aliases expand to more than" in got.stdout


@pytest.mark.parametrize("value", ["yes", "no", "true", "on"])
def test_yes_no_is_not_a_ratio(value: str) -> None:
    msg = error(f"datasets: [{{name: a, source: hub/a, mix_ratio: {value}}}]\n")
    assert "datasets[0].mix_ratio (line 1)" in msg and "not yes/no" in msg


def test_numbers_written_as_yaml_strings_still_parse() -> None:
    recipe = parse("datasets: [{name: a, source: hub/a, mix_ratio: 1e-3}]\n")
    assert recipe.datasets[0].mix_ratio == pytest.approx(0.001)


def test_all_zero_ratios_are_refused() -> None:
    msg = error(
        "datasets:\n  - {name: a, source: hub/a, mix_ratio: 0}\n"
        "  - {name: b, source: hub/b, mix_ratio: 0.0}\n"
    )
    assert "every mix_ratio is 0" in msg


@pytest.mark.parametrize("seed", ["123456789012345678901234567890", "-1", str(2**64)])
def test_seeds_must_fit_in_64_bits(seed: str) -> None:
    assert "seed (line 1)" in error(f"seed: {seed}\n{SOURCE}")
    assert "validation.seed (line 1)" in error(f"validation: {{seed: {seed}}}\n{SOURCE}")


def test_largest_seed_passes() -> None:
    assert parse(f"seed: {2**64 - 1}\n{SOURCE}").seed == 2**64 - 1


def write_recipe(folder: Path, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "mix.yaml"
    path.write_text(body)
    return path


def test_missing_local_sources_and_empty_globs_are_named(tmp_path: Path) -> None:
    path = write_recipe(
        tmp_path / "r",
        "datasets:\n"
        "  - {name: gone, source: data/missing.jsonl}\n"
        "  - {name: none, source: 'data/*.jsonl'}\n"
        "  - {name: hub, source: databricks/databricks-dolly-15k}\n",
    )
    with pytest.raises(RecipeError) as info:
        load(path)
    msg = str(info.value)
    assert "2 problem(s)" in msg
    assert "datasets[0].source (line 2): no such file or directory" in msg
    assert "datasets[1].source (line 3): no files match" in msg


def test_output_dir_resolves_against_the_recipe_folder(tmp_path: Path) -> None:
    folder = tmp_path / "recipes"
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "a.jsonl").write_text('{"text": "x"}\n')
    body = "datasets: [{name: a, source: data/a.jsonl}]\noutput: {dir: out/mix}\n"
    recipe = load(write_recipe(folder, body))
    assert Path(recipe.output.dir) == folder / "out" / "mix"


def test_output_path_that_is_a_file_or_a_foreign_dir(tmp_path: Path) -> None:
    folder = tmp_path / "r"
    folder.mkdir()
    (folder / "a.jsonl").write_text('{"text": "x"}\n')
    (folder / "taken").write_text("not a dir")
    body = "datasets: [{name: a, source: a.jsonl}]\noutput: {dir: taken}\n"
    with pytest.raises(RecipeError, match=r"output\.dir \(line 2\): .*is a file"):
        load(write_recipe(folder, body))
    (folder / "home").mkdir()
    (folder / "home" / "notes.txt").write_text("mine")
    body = "datasets: [{name: a, source: a.jsonl}]\noutput: {dir: home}\n"
    with pytest.raises(RecipeError, match=r"output\.dir \(line 2\): .*not a postmix output"):
        load(write_recipe(folder, body))
    assert load(write_recipe(folder, body), output=folder / "fresh").datasets


def test_sources_inside_the_output_dir_are_refused(tmp_path: Path) -> None:
    folder = tmp_path / "r"
    (folder / "out").mkdir(parents=True)
    (folder / "out" / "sft_train.jsonl").write_text('{"text": "x"}\n')
    body = (
        "metadata: {phase: sft}\n"
        "datasets: [{name: prev, source: out/sft_train.jsonl}]\noutput: {dir: out}\n"
    )
    with pytest.raises(RecipeError, match=r"datasets\[0\]\.source \(line 2\): .*output dir"):
        load(write_recipe(folder, body))
    body = "datasets: [{name: all, source: '**/*.jsonl'}]\noutput: {dir: out2}\n"
    (folder / "a.jsonl").write_text('{"text": "x"}\n')
    with pytest.raises(RecipeError, match=r"reads .*out2.*train\.jsonl"):
        load(write_recipe(folder, body))


def test_everything_is_reported_at_once(tmp_path: Path) -> None:
    folder = tmp_path / "r"
    folder.mkdir()
    (folder / "taken").write_text("x")
    body = "datasets:\n  - {name: a, source: nope.jsonl}\noutput: {dir: taken}\n"
    with pytest.raises(RecipeError, match=r"2 problem\(s\)"):
        load(write_recipe(folder, body))


def test_tokenizer_paths_resolve_against_the_recipe_folder_and_must_exist(tmp_path: Path) -> None:
    folder = tmp_path / "r"
    (folder / "tok").mkdir(parents=True)
    (folder / "a.jsonl").write_text('{"text": "x"}\n')
    body = "tokenizer: tok\ndatasets: [{name: a, source: a.jsonl}]\n"
    assert load(write_recipe(folder, body)).tokenizer == str(folder / "tok")
    body = "tokenizer: ./gone\ndatasets: [{name: a, source: a.jsonl}]\n"
    with pytest.raises(RecipeError, match=r"tokenizer \(line 1\): no such file or directory"):
        load(write_recipe(folder, body))
    body = "tokenizer: Qwen/Qwen3-0.6B\ndatasets: [{name: a, source: a.jsonl}]\n"
    assert load(write_recipe(folder, body)).tokenizer == "Qwen/Qwen3-0.6B"  # a hub id
