"""Record text reaches report.md and the dataset card as text, never as HTML (issue 10,
item 13): a hub viewer or a Markdown renderer must not run a record's <script> or <img>."""

from __future__ import annotations

from pathlib import Path

from postmix.report import write_report
from postmix.report.context import md_cell
from tests.outputs import build, sft_rows

HOSTILE = [
    "<script>alert('x')</script>",
    '<img src=x onerror="alert(1)">',
    "<iframe src='https://example.invalid'></iframe>",
]


def hostile_rows() -> list[dict]:
    rows = sft_rows(24)
    for i, row in enumerate(rows):
        row["messages"][-2]["content"] += " " + HOSTILE[i % len(HOSTILE)]
        row["messages"][-1]["content"] = HOSTILE[(i + 1) % len(HOSTILE)] + f" answer {i}"
    return rows


def test_markdown_cells_escape_html() -> None:
    assert md_cell("<b>a|b</b> & c") == "&lt;b&gt;a\\|b&lt;/b&gt; &amp; c"


def test_report_md_and_card_carry_no_raw_html_from_records(tmp_path: Path) -> None:
    out, manifest = build(tmp_path, "sft", rows=hostile_rows())
    write_report(out, manifest)
    for name in ("report.md", "README.md"):
        text = (out / name).read_text(encoding="utf-8")
        for tag in ("<script", "<img", "<iframe"):
            assert tag not in text, (name, tag)
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "&lt;script&gt;alert" in report  # shown as text, not dropped
