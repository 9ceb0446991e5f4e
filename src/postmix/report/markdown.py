"""`report.md`: the report's tables and a few examples as plain Markdown (no images)."""

from __future__ import annotations

from postmix.report import examples
from postmix.report.context import Report, environment


def render(report: Report) -> str:
    template = environment(autoescape=False).get_template("report.md.jinja")
    return template.render(
        r=report, bucket_kind=examples.bucket_kind, bucket_count=examples.bucket_count
    )
