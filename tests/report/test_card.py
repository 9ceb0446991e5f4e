"""Licenses and size buckets of the dataset card."""

from __future__ import annotations

import pytest

from postmix.report.card import license_of, size_category


@pytest.mark.parametrize(
    ("dataset", "expected"),
    [
        ({"source": "databricks/databricks-dolly-15k"}, ("cc-by-sa-3.0", "known hub dataset")),
        ({"source": "OpenAssistant/oasst1"}, ("apache-2.0", "known hub dataset")),
        ({"source": "tatsu-lab/alpaca"}, ("cc-by-nc-4.0", "known hub dataset")),
        ({"source": "/data/hiyouga/alpaca_en_demo.json"}, ("apache-2.0", "known file")),
        ({"source": "x/databricks-dolly-15k.head19.jsonl"}, ("cc-by-sa-3.0", "known file")),
        ({"source": "someone/unknown-set"}, ("other", "unknown")),
        ({"source": "someone/unknown-set", "license": "MIT"}, ("mit", "recipe")),
    ],
)
def test_license_of(dataset: dict[str, str], expected: tuple[str, str]) -> None:
    lic = license_of(dataset)
    assert (lic.id, lic.basis) == expected


@pytest.mark.parametrize(
    ("rows", "bucket"),
    [(0, "n<1K"), (999, "n<1K"), (1000, "1K<n<10K"), (123_456, "100K<n<1M"), (10**7, "10M<n<100M")],
)
def test_size_category(rows: int, bucket: str) -> None:
    assert size_category(rows) == bucket
