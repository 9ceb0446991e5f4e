"""The report of tokenized outputs: token and trained-token lengths, packing, marked examples;
a funnel whose kept/train/validation stay in view; share ticks that read what they mark."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from postmix.report.summary import funnel_table
from tests.outputs import recipe_text, sft_rows, write_jsonl
from tests.report.pages import build, read_page
from tests.tiny import bpe_tokenizer


class Marks(HTMLParser):
    """Text inside <mark class="trained"> and <span class="context"> of the examples."""

    def __init__(self) -> None:
        super().__init__()
        self.trained: list[str] = []
        self.context: list[str] = []
        self.sides: list[str] = []
        self._into: list[str] | None = None
        self._in_examples = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "section":
            self._in_examples = a.get("id") == "examples"
        if not self._in_examples:
            return
        if tag == "mark" and a.get("class") == "trained":
            self._into = self.trained
        elif tag == "span" and a.get("class") == "context":
            self._into = self.context
        elif tag == "span" and a.get("class") == "pair-label":
            self._into = self.sides

    def handle_endtag(self, tag: str) -> None:
        if tag in ("mark", "span"):
            self._into = None

    def handle_data(self, data: str) -> None:
        if self._into is not None:
            self._into.append(data)


@pytest.fixture(scope="module")
def tok_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tok")
    bpe_tokenizer(path)
    return path


def tokenized_report(tmp: Path, tok_dir: Path, kind: str = "sft", **top: object) -> Path:
    from tests.outputs import SOURCES

    rows = sft_rows(40, tools=False) if kind == "sft" else SOURCES[kind][0](24)
    src = write_jsonl(tmp / "src.jsonl", rows)
    settings = {"tokenizer": str(tok_dir), "template": "chatml", **top}
    out, _ = build(tmp, recipe_text(src, kind, "tokenized", "parquet", tmp / "out", **settings))
    return out


def test_packed_rows_get_token_lengths_packing_and_marked_examples(
    tmp_path: Path, tok_dir: Path
) -> None:
    out = tokenized_report(tmp_path, tok_dir, packing=True, max_seq_length=512)
    html = (out / "report.html").read_text()
    page = read_page(out / "report.html")
    dist = page.cells["distribution-table"]["sft"]
    assert float(dist["sampled"].replace(",", "")) == 40  # records, not packed rows
    mean, trained = (float(dist[k].replace(",", "")) for k in ("len.mean", "trained.mean"))
    assert 0 < trained < mean
    assert re.search(r'id="packing-figure" src="data:image/png;base64,', html)
    assert f'load_dataset("{out}")' in html and "staging" not in html  # the committed dir
    marks = Marks()
    marks.feed(html)
    trained_text, context = "".join(marks.trained), "".join(marks.context)
    assert "It flows to the sea" in trained_text and "Question" not in trained_text
    assert "Question" in context and "<|im_start|>user" in context


def test_token_pairs_show_prompt_and_marked_replies(tmp_path: Path, tok_dir: Path) -> None:
    out = tokenized_report(tmp_path, tok_dir, "preference")
    marks = Marks()
    marks.feed((out / "report.html").read_text())
    assert {"prompt", "chosen", "rejected"} <= set(marks.sides)
    assert "Blue, the colour of the sea" in "".join(marks.trained)
    assert "Name a colour" in "".join(marks.context)


def test_funnel_keeps_kept_train_validation_first_at_any_number_of_reasons() -> None:
    reasons = {f"structure:reason_number_{i}": 1 for i in range(15)}
    source = {"read": 100, "invalid": 1, "dropped": reasons, "duplicates": 2, "kept": 82}
    source["mix"] = {"unique": 82, "achieved": 82, "train": 70, "validation": 12}
    keys = [c.key for c in funnel_table({"sources": {"s": source}}).columns]
    assert keys[:4] == ["read", "kept", "mix.train", "mix.validation"]


@pytest.mark.parametrize("top", [0.03, 0.012, 0.3])
def test_mix_chart_share_ticks_read_what_they_mark(top: float) -> None:
    from postmix.report.figures import mix_chart
    from postmix.report.summary import mix_table

    n = 40  # many sources, each a small share
    sources = {
        f"s{i}": {
            "read": 10,
            "kept": 10,
            "mix": {"ratio": 1.0, "target": 10, "achieved": 10, "train": 9, "validation": 1},
        }
        for i in range(n)
    }
    sources["s0"]["mix"]["ratio"] = top * n
    fig = mix_chart(mix_table({"sources": sources}))
    fig.canvas.draw()
    left = fig.axes[0]
    for tick in left.get_xticklabels():
        text = tick.get_text().replace("−", "-").rstrip("%")
        if text:
            assert float(text) / 100 == pytest.approx(tick.get_position()[0], abs=1e-9)
