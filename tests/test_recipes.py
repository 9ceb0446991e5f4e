"""Shipped recipes validate, and recipe mistakes come back with their YAML path, line and fix."""

from __future__ import annotations

from itertools import takewhile
from pathlib import Path

import pytest

from postmix import formats
from postmix.recipe import RecipeError, load, parse

REPO = Path(__file__).resolve().parents[1]
SHIPPED = sorted((REPO / "recipes").rglob("*.yaml"))
PACKAGE_DEMO = REPO / "src" / "postmix" / "demo" / "recipe.yaml"
EXPECTED = {
    "sft/general.yaml",
    "sft/code.yaml",
    "sft/reasoning.yaml",
    "sft/dolly_oasst_alpaca.yaml",
    "sft/smoltalk_style.yaml",
    "dpo/helpfulness.yaml",
    "dpo/safety.yaml",
    "rlaif/ppo.yaml",
    "grpo.yaml",
    "spo.yaml",
    "demo.yaml",
}


def _ids(paths: list[Path]) -> list[str]:
    return [str(p.relative_to(REPO)) for p in paths]


def test_every_recipe_is_shipped() -> None:
    assert {str(p.relative_to(REPO / "recipes")) for p in SHIPPED} >= EXPECTED


@pytest.mark.parametrize("path", [*SHIPPED, PACKAGE_DEMO], ids=_ids([*SHIPPED, PACKAGE_DEMO]))
def test_shipped_recipe_validates(path: Path) -> None:
    recipe = load(path)
    assert recipe.datasets
    for ds in recipe.datasets:
        # Every shipped source names its converter: inference needs the data, validation does not.
        assert ds.converter_name in formats.NAMES, ds.name


@pytest.mark.parametrize("path", [*SHIPPED, PACKAGE_DEMO], ids=_ids([*SHIPPED, PACKAGE_DEMO]))
def test_shipped_recipe_has_a_header(path: Path) -> None:
    """What it builds and where its ratios come from, before the first key."""
    lines = path.read_text(encoding="utf-8").splitlines()
    header = list(takewhile(lambda line: line.startswith("#"), lines))
    assert len([h for h in header if len(h) > 10]) >= 3, path


def test_demo_recipes_read_local_files_that_exist() -> None:
    for path in (REPO / "recipes" / "demo.yaml", PACKAGE_DEMO):
        for ds in load(path).datasets:
            assert Path(ds.source).is_file(), (path, ds.source)


def test_package_demo_recipe_matches_the_repo_one() -> None:
    """Same recipe, paths relative to each file: they must point at the same data."""
    repo_demo = load(REPO / "recipes" / "demo.yaml").model_dump()
    package_demo = load(PACKAGE_DEMO).model_dump()
    for dumped in (repo_demo, package_demo):
        for ds in dumped["datasets"]:
            ds["source"] = str(Path(ds["source"]).resolve())
        dumped["output"].pop("dir")  # relative to each recipe's folder: a different place
    assert repo_demo == package_demo


def _error(text: str) -> str:
    with pytest.raises(RecipeError) as info:
        parse(text, origin="mix.yaml")
    return str(info.value)


def test_misspelled_key_names_path_line_and_fix() -> None:
    msg = _error(
        "metadata: {kind: sft}\n"
        "datasets:\n"
        "  - name: dolly\n"
        "    source: dolly.jsonl\n"
        "    mix_ration: 0.5\n"
    )
    assert msg.startswith("mix.yaml: 1 problem(s)")
    assert "datasets[0].mix_ration (line 5)" in msg
    assert "did you mean 'mix_ratio'?" in msg


def test_misspelled_top_level_key() -> None:
    msg = _error("datasets:\n  - {name: a, source: a.jsonl}\noutptu: {dir: out}\n")
    assert "outptu (line 3): unknown key 'outptu': did you mean 'output'?" in msg


def test_every_mistake_is_listed_at_once() -> None:
    msg = _error(
        "datasets:\n"
        "  - name: a\n"
        "    source: a.jsonl\n"
        "    splitz: [train]\n"
        "  - name: b\n"
        "    source: b.jsonl\n"
        "    format_converter: sharegtp\n"
    )
    assert msg.startswith("mix.yaml: 2 problem(s)")
    assert "datasets[0].splitz (line 4)" in msg and "did you mean 'splits'?" in msg
    assert "datasets[1].format_converter (line 7)" in msg


def test_unknown_converter_suggests_the_close_one() -> None:
    msg = _error("datasets:\n  - name: a\n    source: a.jsonl\n    format_converter: alpacca\n")
    assert "datasets[0].format_converter (line 4)" in msg
    assert "unknown converter 'alpacca' (did you mean 'alpaca'?)" in msg
    assert "known: alpaca, dolly" in msg


def test_unknown_converter_option_names_its_path() -> None:
    msg = _error(
        "datasets:\n"
        "  - name: trees\n"
        "    source: trees.jsonl\n"
        "    format_converter: oasst\n"
        "    options: {langs: [en]}\n"
    )
    assert "datasets[0].options.langs (line 5)" in msg
    assert "did you mean 'lang'?" in msg


def test_bad_filter_type_names_path_line_and_choices() -> None:
    msg = _error(
        "datasets:\n"
        "  - name: a\n"
        "    source: a.jsonl\n"
        "    filters:\n"
        "      - {type: length, max_length: 100}\n"
        "      - {type: lenght, max_length: 100}\n"
    )
    assert "datasets[0].filters[1] (line 6)" in msg
    assert "'lenght'" in msg and "'length'" in msg and "'language'" in msg


def test_bad_filter_type_suggests_the_close_one() -> None:
    msg = _error("datasets:\n  - name: a\n    source: a.jsonl\n    filters: [{type: lenght}]\n")
    assert "did you mean 'length'?" in msg


def test_misspelled_filter_option_names_path_and_fix() -> None:
    msg = _error(
        "datasets:\n"
        "  - name: a\n"
        "    source: a.jsonl\n"
        "    filters:\n"
        "      - {type: length, max_lenght: 100}\n"
    )
    assert "datasets[0].filters[0].max_lenght (line 5)" in msg
    assert "did you mean 'max_length'?" in msg


def test_bad_filter_value_is_reported() -> None:
    msg = _error(
        "datasets:\n"
        "  - name: a\n"
        "    source: a.jsonl\n"
        "    filters: [{type: length, min_length: 500, max_length: 100}]\n"
    )
    assert "datasets[0].filters[0]" in msg
    assert "min_length 500 > max_length 100" in msg


def test_kind_the_converter_cannot_emit() -> None:
    msg = _error(
        "metadata: {kind: preference}\n"
        "datasets:\n"
        "  - name: alpaca\n"
        "    source: alpaca.json\n"
        "    format_converter: alpaca\n"
    )
    assert "datasets[0].format_converter" in msg
    assert "converter 'alpaca' cannot emit kind 'preference'; it emits sft, prompt" in msg


def test_kind_per_dataset_is_checked_too() -> None:
    msg = _error(
        "metadata: {kind: sft}\n"
        "datasets:\n"
        "  - {name: pairs, source: p.jsonl, format_converter: hh_rlhf}\n"
        "  - {name: docs, source: d.jsonl, format_converter: text, kind: sft}\n"
    )
    assert "datasets[1].format_converter" in msg
    assert "converter 'text' cannot emit kind 'sft'; it emits text" in msg
    assert "datasets[0]" not in msg


def test_mix_ratio_on_some_datasets_only() -> None:
    msg = _error(
        "datasets:\n"
        "  - {name: a, source: a.jsonl, mix_ratio: 0.7}\n"
        "  - {name: b, source: b.jsonl}\n"
        "  - {name: c, source: c.jsonl}\n"
    )
    assert "mix_ratio is set on some datasets but not on b, c" in msg
    assert "give every dataset a mix_ratio, or none" in msg


def test_schema_that_cannot_hold_the_kind() -> None:
    msg = _error(
        "metadata: {kind: preference}\n"
        "datasets: [{name: a, source: a.jsonl, format_converter: hh_rlhf}]\n"
        "output: {schema: alpaca}\n"
    )
    assert "output.schema 'alpaca' cannot hold kind 'preference' records" in msg


def test_token_budget_needs_a_tokenizer() -> None:
    msg = _error(
        "metadata: {total_tokens: 1000000}\n"
        "datasets: [{name: a, source: a.jsonl, format_converter: alpaca}]\n"
    )
    assert "metadata.total_tokens counts tokens: set `tokenizer:`" in msg


def test_older_format_key_is_accepted_but_not_with_format_converter() -> None:
    legacy = parse("datasets: [{name: a, source: a.jsonl, format: dolly}]\n")
    assert legacy.datasets[0].converter_name == "dolly"
    msg = _error(
        "datasets: [{name: a, source: a.jsonl, format: dolly, format_converter: alpaca}]\n"
    )
    assert "give either `format_converter` or the older `format`, not both" in msg


def test_not_yaml_and_not_a_mapping() -> None:
    assert "not valid YAML" in _error("datasets: [unclosed\n")
    assert "a recipe is a mapping" in _error("- just\n- a list\n")
