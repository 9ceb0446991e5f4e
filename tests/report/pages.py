"""Test helpers: run the real pipeline into a temp dir, and read a report page back."""

from __future__ import annotations

import base64
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import yaml

from postmix.prepare import prepare
from postmix.recipe import parse

PNG = b"\x89PNG\r\n\x1a\n"


def build(tmp: Path, recipe_yaml: str) -> tuple[Path, dict[str, Any]]:
    """`prepare` a recipe (its `output.dir` is replaced by `tmp/out`)."""
    out = tmp / "out"
    manifest = prepare(parse(recipe_yaml), out, num_proc=1, progress=False)
    return out, manifest


class Page(HTMLParser):
    """Sections, images, table cells and example buckets of report.html."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: list[str] = []
        self.images: list[tuple[str, str]] = []  # (section id, src)
        self.links: list[str] = []  # every href/src on the page
        self.cells: dict[str, dict[str, dict[str, str]]] = {}  # table id → source → key → text
        self.buckets: dict[str, list[str]] = {}  # source → example buckets shown
        self.classes: dict[str, list[str]] = {}  # source → classes of the example elements
        self.text: list[str] = []
        self._table: str | None = None
        self._row: str | None = None
        self._cell: str | None = None
        self._details: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.links += [v or "" for k, v in attrs if k in ("href", "src", "srcset", "action")]
        if tag == "section":
            self.sections.append(a["id"] or "")
        elif tag == "img":
            self.images.append((self.sections[-1] if self.sections else "", a["src"] or ""))
        elif tag == "table" and a.get("id"):
            self._table = a["id"]
            self.cells[self._table] = {}
        elif tag == "tr" and self._table:
            self._row = a.get("data-source")
            if self._row:
                self.cells[self._table][self._row] = {}
        elif tag == "td" and self._table and self._row:
            self._cell = a.get("data-key")
            self.cells[self._table][self._row][self._cell or ""] = ""
        elif tag == "details":
            self._details = a.get("data-source")
        elif tag == "div" and a.get("data-bucket") and self._details:
            self.buckets.setdefault(self._details, []).append(a["data-bucket"] or "")
        if self._details and a.get("class"):
            self.classes.setdefault(self._details, []).extend((a["class"] or "").split())

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._table = None
        elif tag == "td":
            self._cell = None
        elif tag == "details":
            self._details = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._table and self._row and self._cell:
            self.cells[self._table][self._row][self._cell] += data.strip()


def read_page(path: Path) -> Page:
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def png_size(uri: str) -> tuple[int, int]:
    """Width and height of an inlined PNG (asserting it is one)."""
    prefix = "data:image/png;base64,"
    assert uri.startswith(prefix)
    data = base64.b64decode(uri[len(prefix) :])
    assert data[:8] == PNG
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def number(text: str) -> float:
    """A rendered cell back to a number: `1,234`, `×1.58`, `70.0%`."""
    cleaned = text.replace(",", "").replace("×", "")
    if cleaned.endswith("%"):
        return float(cleaned[:-1]) / 100
    return float(cleaned)


def card_header(readme: Path) -> dict[str, Any]:
    match = re.match(r"---\n(.*?)\n---\n", readme.read_text(encoding="utf-8"), re.S)
    assert match, "README.md has no YAML header"
    return yaml.safe_load(match.group(1))


def md_table(text: str, first_header: str) -> dict[str, list[str]]:
    """Rows (by first cell) of the Markdown table whose header row starts with `first_header`."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first_header} |"))
    header = [c.strip() for c in lines[start].strip("|").split("|")]
    rows: dict[str, list[str]] = {"": header[1:]}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [c.strip().strip("*") for c in line.strip("|").split("|")]
        rows[cells[0]] = cells[1:]
    return rows
