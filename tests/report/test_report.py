"""The report and card of real `prepare` runs: every section, image and funnel number checked."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from postmix.report import write_card, write_report
from postmix.report.summary import lookup
from tests.conftest import shared_file
from tests.report.pages import Page, build, card_header, md_table, number, png_size, read_page

SECTIONS = ["summary", "funnel", "mix", "distributions", "examples", "outputs", "recipe"]
FUNNEL_KEYS = ["read", "invalid", "duplicates", "contaminated", "kept", "mix.unique"]
FUNNEL_KEYS += ["mix.achieved", "mix.upsampling", "mix.train", "mix.validation"]


def sft_recipe(root: Path) -> str:
    files = {
        "alpaca": shared_file(root, "hiyouga__LLaMA-Factory/alpaca_en_demo.json"),
        "glaive": shared_file(root, "hiyouga__LLaMA-Factory/glaive_toolcall_en_demo.json"),
        "dolly": shared_file(
            root, "yogarajjsoshua__FlaskApplication/databricks-dolly-15k.head19.jsonl"
        ),
    }
    return f"""
metadata: {{phase: sft_mix, kind: sft}}
datasets:
  - name: alpaca
    source: {files["alpaca"]}
    format_converter: alpaca
    mix_ratio: 0.6
    filters: [{{type: length, min_length: 50, max_length: 4000}}]
  - name: glaive
    source: {files["glaive"]}
    format_converter: sharegpt
    mix_ratio: 0.3
  - name: dolly
    source: {files["dolly"]}
    format_converter: dolly
    mix_ratio: 0.1
validation: {{ratio: 0.1}}
"""


def pairs_recipe(root: Path) -> str:
    dpo = shared_file(root, "hiyouga__LLaMA-Factory/dpo_en_demo.json")
    oasst = shared_file(root, "Open-Paws__Datasets/oasst2_filtered.jsonl")
    return f"""
metadata: {{phase: pairs, kind: preference}}
datasets:
  - name: dpo
    source: {dpo}
    format_converter: sharegpt_preference
  - name: oasst
    source: {oasst}
    format_converter: oasst
    filters: [{{type: length, max_length: 3000}}]
validation: {{ratio: 0.1}}
output: {{file_format: parquet}}
"""


def own_recipe(tmp: Path, file_format: str, schema: str) -> str:
    """Files the test writes itself: an Alpaca file with known defects and a chat file."""
    lines = [
        orjson.dumps({"instruction": f"Explain topic {i} in two sentences.", "output": "x" * 80})
        for i in range(30)
    ]
    lines += [lines[0], lines[1]]  # two exact duplicates
    lines.append(orjson.dumps({"instruction": "Hi", "output": "Hello."}))  # too short
    lines.append(orjson.dumps({"instruction": "no output field"}))  # malformed
    lines.append(b"{not json")  # unreadable
    (tmp / "a.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    chats = [
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                *[
                    m
                    for t in range(1 + i % 3)
                    for m in (
                        {"role": "user", "content": f"Question {i}.{t} about a subject?"},
                        {"role": "assistant", "content": f"Answer {i}.{t}, short and clear."},
                    )
                ],
            ]
        }
        for i in range(10)
    ]
    (tmp / "b.jsonl").write_bytes(b"".join(orjson.dumps(c) + b"\n" for c in chats))
    return f"""
metadata: {{phase: own, kind: sft}}
datasets:
  - name: alpaca_own
    source: {tmp / "a.jsonl"}
    format_converter: alpaca
    mix_ratio: 1
    filters: [{{type: length, min_length: 20}}]
  - name: chats_own
    source: {tmp / "b.jsonl"}
    format_converter: messages
    mix_ratio: 1
validation: {{ratio: 0.2}}
output: {{file_format: {file_format}, schema: {schema}}}
"""


def report_of(tmp: Path, recipe: str) -> tuple[Path, dict[str, Any], Page]:
    out, manifest = build(tmp, recipe)
    paths = write_report(out, manifest)
    assert [p.name for p in paths] == ["report.html", "report.md", "README.md"]
    assert all(p.stat().st_size > 0 for p in paths)
    assert not list(out.glob(".*.tmp-*")), "temporary files left behind"
    return out, manifest, read_page(out / "report.html")


@pytest.fixture(scope="module")
def sft(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    return report_of(tmp_path_factory.mktemp("sft"), sft_recipe(shared_data))


@pytest.fixture(scope="module")
def pairs(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    return report_of(tmp_path_factory.mktemp("pairs"), pairs_recipe(shared_data))


def check_funnel(manifest: dict[str, Any], page: Page, report_md: str) -> None:
    """Every funnel cell, in HTML and Markdown, is the manifest's number."""
    cells = page.cells["funnel-table"]
    sources = manifest["sources"]
    assert list(cells) == [*sources, "total"]
    reasons = {r for s in sources.values() for r in s["dropped"]}
    md = md_table(report_md, "source")
    for name, s in sources.items():
        keys = set(cells[name])
        assert {f"dropped:{r}" for r in reasons} | set(FUNNEL_KEYS) <= keys
        for key, text in cells[name].items():
            expected = lookup(s, key)
            assert number(text) == pytest.approx(expected, abs=0.005), (name, key)
        assert [number(c) for c in md[name]] == pytest.approx(
            [number(cells[name][k]) for k in cells[name]], abs=0.005
        )
        # The buckets add up: every record read ends in exactly one.
        assert s["read"] == s["invalid"] + sum(s["dropped"].values()) + s["duplicates"] + s[
            "contaminated"
        ] + number(cells[name]["kept"])
    for key, text in cells["total"].items():
        if key != "mix.upsampling":
            assert number(text) == sum(lookup(s, key) or 0 for s in sources.values()), key
    assert number(cells["total"]["read"]) == manifest["totals"]["read"]
    assert number(cells["total"]["mix.train"]) == manifest["totals"]["train"]


def check_page(out: Path, manifest: dict[str, Any], page: Page) -> None:
    facts = any(
        "pairs" in s or "reasoning" in s or "notes" in s for s in manifest["sources"].values()
    )
    expected = [
        *SECTIONS[:3],
        *(["facts"] if facts or manifest.get("warnings") else []),
        *SECTIONS[3:],
    ]
    assert page.sections == expected
    by_section = [section for section, _ in page.images]
    with_rows = [n for n, s in manifest["sources"].items() if s["mix"]["achieved"]]
    assert by_section == ["funnel", "mix", *["distributions"] * len(with_rows)]
    for _, src in page.images:
        width, height = png_size(src)
        assert width > 800 and height > 150
    # Self-contained: nothing is fetched, no link leaves the page.
    assert page.links and all(link.startswith(("#", "data:image/png")) for link in page.links)
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "@import" not in html and "url(" not in html
    assert set(page.buckets) == set(manifest["sources"])


def check_card(out: Path, manifest: dict[str, Any], tmp: Path) -> dict[str, Any]:
    """The YAML header parses, lists every split, and `load_dataset(out)` loads them all."""
    from datasets import load_dataset

    header = card_header(out / "README.md")
    outputs = {o["split"]: o for o in manifest["outputs"]}
    (config,) = header["configs"]
    assert {f["split"] for f in config["data_files"]} == set(outputs)
    splits = {s["name"]: s["num_examples"] for s in header["dataset_info"]["splits"]}
    assert splits == {k: o["rows"] for k, o in outputs.items()}
    assert header["task_categories"] == ["text-generation"]
    loaded = load_dataset(str(out), cache_dir=str(tmp / "hf-cache"))
    assert {k: len(v) for k, v in loaded.items()} == splits
    sources = set(loaded["train"]["source"]) | set(loaded["validation"]["source"])
    assert sources == {n for n, s in manifest["sources"].items() if s["mix"]["achieved"]}
    return header


def test_sft_report_real_files(sft: Any) -> None:
    out, manifest, page = sft
    check_page(out, manifest, page)
    check_funnel(manifest, page, (out / "report.md").read_text(encoding="utf-8"))
    s = manifest["sources"]
    assert s["alpaca"]["duplicates"] == 14  # the file's known exact duplicates
    assert s["dolly"]["mix"]["upsampling"] > 1
    assert page.cells["funnel-table"]["dolly"]["mix.upsampling"].startswith("×")


def test_sft_mix_shares(sft: Any) -> None:
    _, manifest, page = sft
    mix = page.cells["mix-table"]
    achieved = {n: s["mix"]["achieved"] for n, s in manifest["sources"].items()}
    for name, weight in (("alpaca", 0.6), ("glaive", 0.3), ("dolly", 0.1)):
        assert number(mix[name]["planned_share"]) == pytest.approx(weight, abs=0.0005)
        share = achieved[name] / sum(achieved.values())
        assert number(mix[name]["achieved_share"]) == pytest.approx(share, abs=0.0005)
        assert number(mix[name]["mix.validation"]) == manifest["sources"][name]["mix"]["validation"]


def test_sft_distributions_and_examples(sft: Any) -> None:
    _, manifest, page = sft
    dist = page.cells["distribution-table"]
    train = manifest["sources"]["glaive"]["mix"]["achieved"]
    assert number(dist["glaive"]["sampled"]) == train  # small outputs: every row is read
    assert number(dist["alpaca"]["turns"]) == 1.0
    assert number(dist["glaive"]["turns"]) > 1.5  # tool-use chats have several turns
    assert "open_qa" in dist["dolly"]["categories"]
    assert page.buckets["alpaca"][:3] == ["kept", "dropped:length", "duplicate"]
    assert "pair" in page.classes["alpaca"]  # a duplicate shown beside the record it repeats
    assert "calls" in page.classes["glaive"]  # tool calls rendered
    assert {"role-user", "role-assistant"} <= set(page.classes["dolly"])
    text = "".join(page.text)
    assert "chars &lt; min 50" not in text and "chars < min 50" in text  # detail, escaped once


def test_sft_card(sft: Any, tmp_path: Path) -> None:
    out, manifest, _ = sft
    header = check_card(out, manifest, tmp_path)
    assert header["license"] == ["apache-2.0", "cc-by-sa-3.0"]  # LLaMA-Factory files, Dolly
    assert header["pretty_name"] == "sft_mix"
    assert header["size_categories"] == ["1K<n<10K"]
    body = (out / "README.md").read_text(encoding="utf-8")
    for heading in ("## Sources", "## Mix", "## Filters", "## Deduplication", "## Licenses"):
        assert heading in body
    (alpaca,) = [line for line in body.splitlines() if line.startswith("- **alpaca**")]
    assert "`length` (" in alpaca and "min_length=50" in alpaca and "max_length=4000" in alpaca
    assert "Dropped: length 1." in alpaca


def test_pairs_report_real_files(pairs: Any, tmp_path: Path) -> None:
    out, manifest, page = pairs
    check_page(out, manifest, page)
    check_funnel(manifest, page, (out / "report.md").read_text(encoding="utf-8"))
    oasst = manifest["sources"]["oasst"]
    # OASST trees: input rows differ from records read, and the converter's skips are buckets.
    assert number(page.cells["funnel-table"]["oasst"]["rows"]) == oasst["rows"] != oasst["read"]
    assert "dropped:no_ranked_siblings" in page.buckets["oasst"]
    dist = page.cells["distribution-table"]
    for name in ("dpo", "oasst"):
        share = manifest["sources"][name]["length_bias"]["chosen_longer_share"]
        assert number(dist[name]["chosen_longer"]) == pytest.approx(share, abs=0.0005)
    assert dist["oasst"]["languages"].startswith("en ")
    assert "alternatives" in page.classes["dpo"]  # chosen and rejected side by side
    header = check_card(out, manifest, tmp_path)
    assert header["language"][0] == "en"
    assert header["tags"] == ["postmix", "preference", "dpo"]
    assert header["license"] == ["apache-2.0", "other"]  # the Open-Paws OASST copy is unknown
    features = {f["name"] for f in header["dataset_info"]["features"]}
    assert {"prompt", "chosen", "rejected", "id", "source"} <= features


@pytest.mark.parametrize(
    ("file_format", "schema"),
    [("jsonl", "messages"), ("parquet", "sharegpt"), ("disk", "alpaca")],
)
def test_own_files(tmp_path: Path, file_format: str, schema: str) -> None:
    out, manifest, page = report_of(tmp_path, own_recipe(tmp_path, file_format, schema))
    check_page(out, manifest, page)
    check_funnel(manifest, page, (out / "report.md").read_text(encoding="utf-8"))
    a = manifest["sources"]["alpaca_own"]
    assert (a["read"], a["invalid"], a["dropped"], a["duplicates"], a["kept"]) == (
        35,
        2,
        {"length": 1},
        2,
        30,
    )
    assert page.buckets["alpaca_own"] == ["kept", "dropped:length", "duplicate", "invalid"]
    assert page.buckets["chats_own"] == ["kept"]
    assert "role-system" in page.classes["chats_own"]
    turns = page.cells["distribution-table"]["chats_own"]["turns"]
    assert number(turns) == pytest.approx(2.0, abs=0.5)
    check_card(out, manifest, tmp_path)


def test_without_examples_file(tmp_path: Path) -> None:
    """No examples.jsonl: kept rows come from the outputs, drops as their removed.jsonl entries."""
    out, manifest = build(tmp_path, own_recipe(tmp_path, "jsonl", "messages"))
    (out / "examples.jsonl").unlink()
    write_report(out, manifest)
    page = read_page(out / "report.html")
    assert page.buckets["alpaca_own"] == ["kept", "dropped:length", "duplicate", "invalid"]
    text = "".join(page.text)
    assert "a.jsonl, row 32" in text  # the short row, by position
    assert "Only its location is recorded" in text
    check_funnel(manifest, page, (out / "report.md").read_text(encoding="utf-8"))


def test_contaminated_record_beside_benchmark_item(tmp_path: Path) -> None:
    out, manifest = build(tmp_path, own_recipe(tmp_path, "jsonl", "messages"))
    item = "Natalia sold clips to 48 of her friends in April."
    line = {
        "source": "alpaca_own",
        "bucket": "contaminated:gsm8k",
        "record": {"messages": [{"role": "user", "content": item}], "id": "x", "source": "a"},
        "detail": "13-gram overlap",
        "of": None,
        "match": {"benchmark": "gsm8k", "item_id": "test/0", "text": item},
    }
    with open(out / "examples.jsonl", "ab") as fh:
        fh.write(orjson.dumps(line) + b"\n")
    manifest["sources"]["alpaca_own"]["contaminated"] = 1
    write_report(out, manifest)
    page = read_page(out / "report.html")
    assert page.buckets["alpaca_own"][-2:] == ["contaminated:gsm8k", "invalid"]
    text = "".join(page.text)
    assert "gsm8k · test/0" in text and text.count(item) == 2
    assert "13-gram overlap" in (out / "report.md").read_text(encoding="utf-8")


def test_tokens_and_packing_shown(tmp_path: Path) -> None:
    """A tokenized build's per-source token counts and packing stats reach the report."""
    out, manifest = build(tmp_path, own_recipe(tmp_path, "jsonl", "messages"))
    manifest["sources"]["alpaca_own"]["tokens"] = {"total": 9000, "trainable": 3000}
    manifest["sources"]["chats_own"]["tokens"] = {"total": 4000, "trainable": 1000}
    manifest["packing"] = {"sequences": 12, "efficiency": 0.93}
    write_report(out, manifest)
    page = read_page(out / "report.html")
    mix = page.cells["mix-table"]
    assert number(mix["alpaca_own"]["tokens.trainable"]) == 3000
    assert number(mix["chats_own"]["trainable_share"]) == pytest.approx(0.25, abs=0.0005)
    assert number(mix["total"]["tokens.total"]) == 13000
    text = "".join(page.text)
    assert "trainable tokens" in text and "efficiency" in text and "0.93" in text


def test_parquet_rows_keep_their_system_prompt(tmp_path: Path) -> None:
    from datasets import load_dataset

    out, _ = build(tmp_path, own_recipe(tmp_path, "parquet", "sharegpt"))
    write_card(out, orjson.loads((out / "manifest.json").read_bytes()))
    train = load_dataset(str(out), cache_dir=str(tmp_path / "hf-cache"))["train"]
    chats = [row for row in train if row["source"] == "chats_own"]
    assert chats and all(row["system"] == "Be brief." for row in chats)


def test_tables_without_matplotlib(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """matplotlib is the `report` extra: without it the page keeps every table, no charts."""
    monkeypatch.delitem(sys.modules, "postmix.report.figures", raising=False)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    out, manifest = build(tmp_path, own_recipe(tmp_path, "jsonl", "messages"))
    write_report(out, manifest)
    page = read_page(out / "report.html")
    assert page.images == [] and page.sections == SECTIONS
    assert "pip install" in "".join(page.text)
    check_funnel(manifest, page, (out / "report.md").read_text(encoding="utf-8"))
