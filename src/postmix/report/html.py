"""`report.html`: one self-contained page (CSS inline, charts as base64 PNG data URIs)."""

from __future__ import annotations

import importlib
from typing import Any

from postmix.report import examples
from postmix.report.context import Report, environment


def _figures(report: Report) -> dict[str, Any] | None:
    """Charts as data URIs; None without matplotlib (the `report` extra): tables still show."""
    try:
        figures = importlib.import_module("postmix.report.figures")
    except ImportError:
        return None

    def distribution(name: str) -> str | None:
        dist = report.sample.sources.get(name)
        image = figures.distribution_figure(dist, report.sources[name]) if dist else None
        return figures.data_uri(image) if image else None

    packing = figures.packing_figure(report.sample.packed) if report.sample.packed else None
    return {
        "funnel": figures.data_uri(figures.funnel_figure(report.funnel)),
        "mix": figures.data_uri(figures.mix_figure(report.mix)),
        "distributions": {name: distribution(name) for name in report.sources},
        "packing": figures.data_uri(packing) if packing else None,
    }


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested stats (packing) as `a.b: value` lines."""
    if not isinstance(value, dict):
        return {prefix: value}
    out: dict[str, Any] = {}
    for key, inner in value.items():
        out.update(_flat(inner, f"{prefix}.{key}" if prefix else str(key)))
    return out


def render(report: Report) -> str:
    template = environment(autoescape=True).get_template("report.html.jinja")
    packing = report.manifest.get("packing")
    return template.render(
        r=report,
        figures=_figures(report),
        packing=_flat(packing) if packing else None,
        bucket_kind=examples.bucket_kind,
        bucket_count=examples.bucket_count,
    )
