"""Plain-document converter."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from postmix import formats
from postmix.formats.base import ConvertContext
from postmix.formats.text import CONVERTER, Options
from postmix.schema import InvalidRow, structure_problem


def convert_all(rows: list[Any], **options: Any) -> list[Any]:
    ctx = ConvertContext(kind="text", options=Options(**options))
    return [out for _, out in CONVERTER.stream(enumerate(rows), ctx)]


def test_bare_strings_and_text_objects() -> None:
    outs = convert_all(["Once upon a time.", {"text": "A document.", "url": "https://x"}])
    assert [(o["kind"], o["text"], o["messages"], o["meta"]) for o in outs] == [
        ("text", "Once upon a time.", [], {}),
        ("text", "A document.", [], {}),
    ]
    assert all(structure_problem(o) is None for o in outs)
    assert structure_problem(convert_all([" \n"])[0]) == "empty_text"


def test_custom_field() -> None:
    outs = convert_all([{"content": "Chapter 1.", "text": 3}, "bare"], field="content")
    assert [o["text"] for o in outs] == ["Chapter 1.", "bare"]


def test_malformed_rows_are_quarantined() -> None:
    outs = convert_all([{"body": "x"}, {"text": 3}, {"text": None}, ["x"], 5, "ok"])
    assert [isinstance(o, InvalidRow) for o in outs] == [True] * 5 + [False]


def test_options_reject_unknown_keys() -> None:
    with pytest.raises(ValidationError):
        Options.model_validate({"column": "body"})


def test_inference() -> None:
    assert formats.from_columns(["text"]) is CONVERTER
    assert formats.from_columns(["text", "id", "url", "timestamp"]) is CONVERTER
    assert formats.from_hub_id("roneneldan/TinyStories") is CONVERTER
