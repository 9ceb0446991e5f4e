"""The report's charts, drawn with matplotlib's object API on the Agg canvas, as PNG bytes.

Figures are built from the same tables the report prints (summary.py), so a
bar can never disagree with the number beside it. No pyplot: nothing global
is touched and no GUI backend is ever loaded.
"""

from __future__ import annotations

import base64
import io
from collections import Counter
from typing import Any

import numpy as np
from matplotlib import rc_context
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator, PercentFormatter

from postmix.report.stats import Distribution
from postmix.report.summary import Table

KEPT = "#3a9a6b"
DUPLICATE = "#7c93b8"
CONTAMINATED = "#9467bd"
INVALID = "#c94c4c"
DROPS = ("#f0a04b", "#e07a3f", "#f6c86b", "#c8622f", "#f2b880", "#a85a2e", "#e9c46a")
PLANNED = "#b8c3d4"
ACHIEVED = "#2f6db5"
TOKENS = "#e3933b"
VALIDATION = "#9cc0ea"
INK = "#2b2f36"
MUTED = "#6b7280"

STYLE = {
    "font.size": 9,
    "font.family": "DejaVu Sans",
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "axes.titlepad": 8,
    "axes.labelcolor": MUTED,
    "axes.edgecolor": "#c7ccd4",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.axisbelow": True,
    "grid.color": "#eceef1",
    "grid.linewidth": 0.8,
    "xtick.color": MUTED,
    "ytick.color": INK,
    "xtick.major.size": 0,
    "ytick.major.size": 0,
    "legend.frameon": False,
    "legend.fontsize": 8.5,
    "text.color": INK,
}
MAX_REASONS = len(DROPS)  # more drop reasons than colours: the rest share one segment
NAME_WIDTH = 28
WIDTH = 11  # inches, every figure: the page scales them all alike


def png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=130, facecolor="white")
    return buf.getvalue()


def data_uri(image: bytes) -> str:
    """A PNG inlined in the HTML, so the report opens from disk with no other file."""
    return "data:image/png;base64," + base64.b64encode(image).decode("ascii")


def _short(name: str) -> str:
    return name if len(name) <= NAME_WIDTH else name[: NAME_WIDTH - 1] + "…"


def _count(value: float, _pos: Any = None) -> str:
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= size:
            return f"{value / size:.3g}{unit}"
    return f"{value:.0f}"


def _segments(table: Table) -> list[tuple[str, str, list[str]]]:
    """(label, colour, funnel keys) of each stacked segment, left to right."""
    reasons = [c.key for c in table.columns if c.key.startswith("dropped:")]
    shown, rest = reasons[: MAX_REASONS - 1], reasons[MAX_REASONS - 1 :]
    if len(rest) == 1:
        shown, rest = reasons, []
    segs = [("kept", KEPT, ["kept"]), ("duplicates", DUPLICATE, ["duplicates"])]
    segs.append(("contaminated", CONTAMINATED, ["contaminated"]))
    segs += [(k.removeprefix("dropped:"), DROPS[i], [k]) for i, k in enumerate(shown)]
    if rest:
        segs.append((f"{len(rest)} other filters", DROPS[-1], rest))
    segs.append(("invalid", INVALID, ["invalid"]))
    return segs


def funnel_figure(table: Table) -> bytes:
    """Where each source's records went (share of read), and kept vs mixed counts."""
    names = [name for name, _ in table.rows]
    n = len(names)
    y = np.arange(n)
    with rc_context(STYLE):
        fig = Figure(figsize=(WIDTH, 1.6 + 0.55 * n), layout="constrained")
        left, right = fig.subplots(1, 2, width_ratios=[3, 2], sharey=True)
        read = np.array([float(c["read"] or 0) for _, c in table.rows])
        start = np.zeros(n)
        for label, colour, keys in _segments(table):
            counts = np.array([sum(float(c[k] or 0) for k in keys) for _, c in table.rows])
            if not counts.any():
                continue
            share = np.divide(counts, read, out=np.zeros(n), where=read > 0)
            left.barh(y, share, left=start, color=colour, height=0.62, label=label)
            for yi, (s0, s) in enumerate(zip(start, share)):
                if s >= 0.09:
                    left.text(
                        s0 + s / 2,
                        yi,
                        f"{s:.0%}",
                        ha="center",
                        va="center",
                        fontsize=8,
                        color="white" if colour in (KEPT, INVALID, CONTAMINATED) else INK,
                    )
            start += share
        left.set_xlim(0, 1)
        left.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        left.set_yticks(y, [_short(x) for x in names])
        left.invert_yaxis()
        left.grid(axis="y", visible=False)
        left.set_title("Where the records went (share of read)")
        if left.get_legend_handles_labels()[0]:
            left.legend(loc="upper left", bbox_to_anchor=(0, -0.06), ncol=5, handlelength=1)
        _kept_vs_mixed(right, table, y)
    return png(fig)


def _kept_vs_mixed(ax: Axes, table: Table, y: np.ndarray) -> None:
    kept = np.array([float(c["kept"] or 0) for _, c in table.rows])
    mixed = np.array([float(c["mix.achieved"] or 0) for _, c in table.rows])
    ax.barh(y - 0.17, kept, height=0.32, color=KEPT, alpha=0.45, label="kept")
    ax.barh(y + 0.17, mixed, height=0.32, color=ACHIEVED, label="mixed (train + validation)")
    top = max(float(kept.max(initial=0)), float(mixed.max(initial=0))) or 1.0
    for yi, (_, cells) in enumerate(table.rows):
        factor = cells.get("mix.upsampling")
        if factor:
            ax.text(
                mixed[yi] + top * 0.015,
                yi + 0.17,
                f"×{factor:.2f}",
                va="center",
                fontsize=8,
                color=ACHIEVED if factor > 1 else MUTED,
            )
    ax.set_xlim(0, top * 1.18)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.xaxis.set_major_formatter(FuncFormatter(_count))
    ax.grid(axis="y", visible=False)
    ax.set_title("Kept vs mixed (upsampling factor)")
    ax.legend(loc="upper left", bbox_to_anchor=(0, -0.06), ncol=2, handlelength=1)


def shares(ax: Axes) -> None:
    """Share ticks as percentages with as many decimals as the tick spacing needs (a fixed
    0 decimals labels 2.5% as "2%" when every share is small)."""
    ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=None))


def mix_figure(table: Table) -> bytes:
    return png(mix_chart(table))


def mix_chart(table: Table) -> Figure:
    """Planned vs achieved share per source, and train/validation sizes."""
    names = [name for name, _ in table.rows]
    n = len(names)
    y = np.arange(n)
    keys = {c.key for c in table.columns}
    bars = [("planned_share", "planned", PLANNED), ("achieved_share", "achieved (rows)", ACHIEVED)]
    bars += [
        (k, label, TOKENS)
        for k, label in (
            ("token_share", "achieved (tokens)"),
            ("trainable_share", "trainable tokens"),
        )
        if k in keys
    ][:1]
    height = 0.8 / len(bars)
    with rc_context(STYLE):
        fig = Figure(figsize=(WIDTH, 1.6 + 0.5 * n * (len(bars) / 2) ** 0.5), layout="constrained")
        left, right = fig.subplots(1, 2, width_ratios=[3, 2], sharey=True)
        for i, (key, label, colour) in enumerate(bars):
            values = np.array([float(c.get(key) or 0) for _, c in table.rows])
            offset = (i - (len(bars) - 1) / 2) * height
            left.barh(y + offset, values, height=height * 0.92, color=colour, label=label)
            for yi, v in enumerate(values):
                left.text(
                    v + 0.005, yi + offset, f"{v:.1%}", va="center", fontsize=7.5, color=MUTED
                )
        shares(left)
        top = max(float(c.get(k) or 0) for _, c in table.rows for k, _, _ in bars)
        left.set_xlim(0, min(1.0, top * 1.2) or 1.0)
        left.set_yticks(y, [_short(x) for x in names])
        left.invert_yaxis()
        left.grid(axis="y", visible=False)
        left.set_title("Share of the mixture: planned vs achieved")
        left.legend(loc="upper left", bbox_to_anchor=(0, -0.06), ncol=3, handlelength=1)
        train = np.array([float(c["mix.train"] or 0) for _, c in table.rows])
        val = np.array([float(c["mix.validation"] or 0) for _, c in table.rows])
        right.barh(y, train, height=0.6, color=ACHIEVED, label="train")
        right.barh(y, val, left=train, height=0.6, color=VALIDATION, label="validation")
        right.xaxis.set_major_locator(MaxNLocator(integer=True))
        right.xaxis.set_major_formatter(FuncFormatter(_count))
        right.grid(axis="y", visible=False)
        right.set_title("Rows per split")
        right.legend(loc="upper left", bbox_to_anchor=(0, -0.06), ncol=2, handlelength=1)
    return fig


def _bins(values: np.ndarray) -> tuple[np.ndarray, bool]:
    """Log-spaced bins when lengths span orders of magnitude (they usually do)."""
    lo, hi = max(float(values.min()), 1.0), max(float(values.max()), 2.0)
    if hi / lo > 30:
        return np.geomspace(lo, hi * 1.01, 40), True
    if hi - values.min() < 30:  # a narrow range: one bin per integer
        return np.arange(values.min() - 0.5, max(hi, values.min() + 9) + 1.5), False
    return np.linspace(float(values.min()), hi, 30), False


def _histogram(ax: Axes, values: list[int], unit: str, trained: list[int] | None = None) -> None:
    """Lengths per record; with `trained`, the tokens that carry loss on the same bins."""
    arr = np.asarray(values, dtype=np.float64)
    both = np.concatenate([arr, np.asarray(trained or [], dtype=np.float64)])
    bins, log = _bins(both)  # one axis for both, so trained counts are not clipped
    label = "tokens" if trained else None
    ax.hist(
        np.clip(arr, bins[0], None),
        bins=bins,
        color=ACHIEVED,
        alpha=0.85,
        edgecolor="white",
        linewidth=0.4,
        label=label,
    )
    if trained:
        inner = np.clip(np.asarray(trained, dtype=np.float64), bins[0], None)
        ax.hist(inner, bins=bins, color=TOKENS, alpha=0.75, label="trained tokens")
        ax.legend(loc="upper right", handlelength=1)
    if log:
        ax.set_xscale("log")
    med = float(np.median(arr))
    ax.axvline(med, color=INK, linestyle="--", linewidth=1)
    ax.text(med, ax.get_ylim()[1] * 0.97, f" median {med:,.0f}", va="top", fontsize=8)
    if not log:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.xaxis.set_major_formatter(FuncFormatter(_count))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(f"{unit.capitalize()} per record")
    ax.set_ylabel("records")


def _turns(ax: Axes, counts: Counter[int]) -> None:
    cap = 10
    merged: Counter[int] = Counter()
    for k, v in counts.items():
        merged[min(k, cap)] += v
    # At least five positions, so one dominant count does not fill the panel.
    ks = list(range(min(merged), max(max(merged), min(min(merged) + 4, cap)) + 1))
    ax.bar(ks, [merged.get(k, 0) for k in ks], color=ACHIEVED, width=0.7)
    ax.set_xticks(ks, [f"{k}+" if k == cap else str(k) for k in ks])
    ax.grid(axis="x", visible=False)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title("User turns per conversation")
    ax.set_ylabel("records")


def _top_bars(ax: Axes, counts: dict[str, int], title: str, n: int = 8) -> None:
    ranked = sorted(counts.items(), key=lambda kv: -kv[1])
    if len(ranked) > n:
        ranked = [*ranked[: n - 1], ("other", sum(v for _, v in ranked[n - 1 :]))]
    total = sum(v for _, v in ranked) or 1
    labels = [_short(str(k)) for k, _ in ranked]
    shares = [v / total for _, v in ranked]
    ax.barh(range(len(ranked)), shares, color=ACHIEVED, height=0.65)
    ax.set_yticks(range(len(ranked)), labels)
    ax.invert_yaxis()
    ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.grid(axis="y", visible=False)
    ax.set_title(title)


def _pairs(ax: Axes, chosen: list[int], rejected: list[int], share: float | None) -> None:
    c = np.maximum(np.asarray(chosen, dtype=np.float64), 1)
    r = np.maximum(np.asarray(rejected, dtype=np.float64), 1)
    longer = c > r
    ax.scatter(
        r[longer], c[longer], s=7, color=TOKENS, alpha=0.6, label="chosen longer", linewidths=0
    )
    ax.scatter(
        r[~longer],
        c[~longer],
        s=7,
        color=ACHIEVED,
        alpha=0.6,
        label="rejected longer",
        linewidths=0,
    )
    lo, hi = min(c.min(), r.min()), max(c.max(), r.max())
    ax.plot([lo, hi], [lo, hi], color=MUTED, linewidth=0.8, linestyle="--")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("rejected (chars)")
    ax.set_ylabel("chosen (chars)")
    shown = share if share is not None else float(longer.mean())
    ax.set_title(f"Pair lengths: chosen longer in {shown:.0%}")
    ax.legend(loc="upper left", handlelength=1, markerscale=2)


def distribution_figure(dist: Distribution, source: dict[str, Any]) -> bytes | None:
    """Length histogram, turns, languages, categories and pair lengths of one source."""
    panels: list[Any] = []
    lengths, unit = (dist.tokens, "tokens") if dist.tokens else (dist.chars, "characters")
    if lengths:
        trained = dist.trainable if dist.tokens else None
        panels.append(lambda ax: _histogram(ax, lengths, unit, trained))
    if dist.user_turns:
        panels.append(lambda ax: _turns(ax, dist.user_turns))
    if dist.chosen:
        share = (source.get("length_bias") or {}).get("chosen_longer_share")
        panels.append(lambda ax: _pairs(ax, dist.chosen, dist.rejected, share))
    if source.get("languages"):
        panels.append(lambda ax: _top_bars(ax, source["languages"], "Languages (kept)"))
    if source.get("categories"):
        panels.append(lambda ax: _top_bars(ax, source["categories"], "Categories (kept)"))
    if not panels:
        return None
    cols = 2 if len(panels) in (2, 4) else min(3, len(panels))
    nrows = -(-len(panels) // cols)
    with rc_context(STYLE):
        fig = Figure(figsize=(WIDTH, 3.0 * nrows), layout="constrained")
        axes = np.atleast_1d(fig.subplots(nrows, cols)).ravel()
        for ax, draw in zip(axes, panels):
            draw(ax)
        for ax in axes[len(panels) :]:
            ax.set_visible(False)
    return png(fig)


def packing_figure(packed: list[tuple[int, int]]) -> bytes:
    """Packed rows: how full each is (tokens per row) and how many records it holds."""
    tokens = np.array([t for t, _ in packed], dtype=np.float64)
    records = Counter(n for _, n in packed)
    with rc_context(STYLE):
        fig = Figure(figsize=(WIDTH, 3.0), layout="constrained")
        left, right = fig.subplots(1, 2)
        _histogram(left, tokens.astype(int).tolist(), "tokens")
        left.set_title("Tokens per packed row")
        left.set_ylabel("rows")
        ks = list(range(min(records), max(records) + 1))
        right.bar(ks, [records.get(k, 0) for k in ks], color=ACHIEVED, width=0.7)
        right.set_xticks(ks, [str(k) for k in ks])
        right.grid(axis="x", visible=False)
        right.yaxis.set_major_locator(MaxNLocator(integer=True))
        right.set_title("Records per packed row")
        right.set_ylabel("rows")
    return png(fig)
