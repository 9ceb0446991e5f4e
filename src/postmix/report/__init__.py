"""What a person reads after `prepare`: `report.html`, `report.md` and the dataset card.

`write_report` writes all three from the manifest and the output dir (reading
the outputs once, as a bounded sample); `write_card` writes only the card,
which `datasets.load_dataset(OUTPUT_DIR)` and a push to the Hub need even with
`--no-report`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from postmix.report import context, html, markdown
from postmix.report.card import write_card, write_text
from postmix.report.hub import NotLoggedIn, push_to_hub

__all__ = ["NotLoggedIn", "push_to_hub", "write_card", "write_report"]


def write_report(
    out_dir: str | Path, manifest: dict[str, Any], target: Path | None = None
) -> list[Path]:
    """`report.html`, `report.md` and `README.md` in the output dir (staged in `out_dir`,
    committed to `target`); returns their paths."""
    out = Path(out_dir)
    report = context.build(out, manifest, target=target)
    return [
        write_text(out / "report.html", html.render(report)),
        write_text(out / "report.md", markdown.render(report)),
        write_card(out, manifest, target=target),
    ]
