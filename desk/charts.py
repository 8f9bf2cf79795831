"""Charts drawn on the server as SVG: no script, no external library, readable when printed.

Colours come from the desk's stylesheet through class names (the page allows no inline style).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup

ROW_HEIGHT = 30
BAR_HEIGHT = 18
LABEL_WIDTH = 170
VALUE_WIDTH = 56
LABEL_CHARS = 12


@dataclass(frozen=True)
class Series:
    """One kind of segment in a stacked bar: its legend text and CSS class."""

    label: str
    css: str


@dataclass(frozen=True)
class Bar:
    """One row of a stacked bar chart: a label, a link (optional) and a value per series."""

    label: str
    values: tuple[int, ...]
    href: str | None = None

    @property
    def total(self) -> int:
        """The sum of the row's values."""
        return sum(self.values)


def _short(text: str) -> str:
    return text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1] + "…"


def stacked_bars(bars: Sequence[Bar], series: Sequence[Series], *, title: str, width: int = 720) -> Markup:
    """Draws horizontal stacked bars, one row per bar, scaled to the largest total."""
    esc = html.escape
    height = max(1, len(bars)) * ROW_HEIGHT + 8
    biggest = max((bar.total for bar in bars), default=0) or 1
    span = width - LABEL_WIDTH - VALUE_WIDTH
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'aria-label="{esc(title)}" xmlns="http://www.w3.org/2000/svg"><title>{esc(title)}</title>'
    ]
    for row, bar in enumerate(bars):
        y = row * ROW_HEIGHT + 4
        label = f'<text class="chart-label" x="{LABEL_WIDTH - 8}" y="{y + BAR_HEIGHT - 4}" text-anchor="end">{esc(_short(bar.label))}<title>{esc(bar.label)}</title></text>'
        if bar.href:
            label = f'<a href="{esc(bar.href)}">{label}</a>'
        parts.append(label)
        parts.append(f'<rect class="chart-track" x="{LABEL_WIDTH}" y="{y}" width="{span}" height="{BAR_HEIGHT}" rx="3"/>')
        x = float(LABEL_WIDTH)
        for value, kind in zip(bar.values, series, strict=True):
            if value <= 0:
                continue
            w = span * value / biggest
            parts.append(
                f'<rect class="seg {esc(kind.css)}" x="{x:.1f}" y="{y}" width="{max(w, 1.5):.1f}" height="{BAR_HEIGHT}">'
                f"<title>{esc(bar.label)} · {esc(kind.label)}: {value}</title></rect>"
            )
            x += w
        parts.append(
            f'<text class="chart-value" x="{width - VALUE_WIDTH + 8}" y="{y + BAR_HEIGHT - 4}">{bar.total}</text>'
        )
    if not bars:
        parts.append(f'<text class="chart-empty" x="{width / 2}" y="20" text-anchor="middle">–</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def histogram(values: Sequence[tuple[str, int]], *, title: str, css: str, width: int = 360, height: int = 120) -> Markup:
    """Draws a small column chart of labelled counts (e.g. questions by age)."""
    esc = html.escape
    biggest = max((v for _label, v in values), default=0) or 1
    n = max(1, len(values))
    slot = width / n
    usable = height - 36
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="100%" role="img" aria-label="{esc(title)}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{esc(title)}</title>'
    ]
    for index, (label, value) in enumerate(values):
        h = usable * value / biggest
        x = index * slot + slot * 0.2
        y = 14 + usable - h
        parts.append(
            f'<rect class="seg {esc(css)}" x="{x:.1f}" y="{y:.1f}" width="{slot * 0.6:.1f}" height="{max(h, 1):.1f}">'
            f"<title>{esc(label)}: {value}</title></rect>"
        )
        parts.append(f'<text class="chart-value" x="{x + slot * 0.3:.1f}" y="{y - 3:.1f}" text-anchor="middle">{value}</text>')
        parts.append(
            f'<text class="chart-label" x="{x + slot * 0.3:.1f}" y="{height - 6}" text-anchor="middle">{esc(label)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))
