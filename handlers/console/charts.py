"""Charts drawn on the server as SVG: our own small builder, no library, no script.

Each chart is an ``<svg role="img">`` named by its ``<title>`` and described by its
``<desc>`` (``aria-labelledby`` both), so a screen reader announces one image with its
gist; the numbers themselves are in the table the page puts after every chart. Every
text is escaped here; colours are presentation attributes (no inline style: the
console's CSP). Sizes are in viewBox units: the page's CSS scales the picture.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

FONT = "Noto Sans CJK SC, Source Han Sans SC, PingFang SC, Microsoft YaHei, sans-serif"
INK, MUTED, GRID = "#1f2328", "#5b636e", "#e3e6ea"


@dataclass(frozen=True, slots=True)
class Series:
    """One kind of value a chart shows: its legend label and its colour."""

    label: str
    color: str


def nice_ticks(top: float, most: int = 5) -> list[float]:
    """Axis ticks from 0 past ``top``: steps of 1, 2 or 5 times a power of ten, at most
    ``most`` of them after 0 (0 and 1 when there is nothing to show)."""
    if top <= 0:
        return [0.0, 1.0]
    raw = top / most
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    if top >= 1:
        step = max(step, 1.0)
    count = math.ceil(top / step - 1e-9)
    return [round(i * step, 10) for i in range(count + 1)]


def _number(value: float) -> str:
    return f"{value:g}" if value != int(value) else str(int(value))


def shorten(text: str, most: int) -> str:
    """``text`` cut to ``most`` characters with an ellipsis (a label in a chart; the
    table beside it has it whole)."""
    return text if len(text) <= most else text[: most - 1] + "…"


class Svg:
    """An SVG document being drawn: elements appended in order, text escaped."""

    def __init__(self, chart_id: str, width: int, height: int, title: str, desc: str) -> None:
        self.id = chart_id
        self.width = width
        self.height = height
        self.title = title
        self.desc = desc
        self.parts: list[str] = []

    def rect(
        self, x: float, y: float, w: float, h: float, fill: str, tip: str | None = None
    ) -> None:
        shape = (
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(w, 0):.1f}" '
            f'height="{max(h, 0):.1f}" fill="{fill}"'
        )
        # A tooltip for mouse users (the title of a shape); the table has the same.
        self.parts.append(f"{shape}><title>{escape(tip)}</title></rect>" if tip else shape + "/>")

    def line(self, x1: float, y1: float, x2: float, y2: float, stroke: str = GRID) -> None:
        self.parts.append(
            f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
            f'stroke="{stroke}" stroke-width="1"/>'
        )

    def text(
        self,
        x: float,
        y: float,
        content: str,
        *,
        size: int = 12,
        anchor: str = "start",
        fill: str = INK,
        bold: bool = False,
    ) -> None:
        weight = ' font-weight="600"' if bold else ""
        self.parts.append(
            f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" '
            f'fill="{fill}"{weight}>{escape(content)}</text>'
        )

    def legend(self, series: Sequence[Series], x: float, y: float, size: int = 13) -> None:
        for item in series:
            self.rect(x, y - size + 2, size, size, item.color)
            self.text(x + size + 4, y, item.label, size=size, fill=MUTED)
            x += size + 4 + size * len(item.label) + 18

    def render(self, css_class: str) -> Markup:
        title_id, desc_id = f"{self.id}-title", f"{self.id}-desc"
        head = (
            f'<svg xmlns="http://www.w3.org/2000/svg" class="chart {escape(css_class)}" '
            f'id="{escape(self.id)}" viewBox="0 0 {self.width} {self.height}" role="img" '
            f'aria-labelledby="{title_id} {desc_id}" font-family="{FONT}">'
            f'<title id="{title_id}">{escape(self.title)}</title>'
            f'<desc id="{desc_id}">{escape(self.desc)}</desc>'
        )
        return Markup(head + "".join(self.parts) + "</svg>")  # noqa: S704 (every text escaped above)


def stacked_columns(
    chart_id: str,
    *,
    title: str,
    desc: str,
    labels: Sequence[str],
    series: Sequence[Series],
    values: Sequence[Sequence[int]],
    show_label: Callable[[int], bool],
    tip: Callable[[int], str],
    legend: bool = True,
) -> Markup:
    """Columns stacked by series, one per label (``values[s][i]``: series ``s`` at label
    ``i``), with a y axis and the labels ``show_label(i)`` picks under the columns; the
    legend above them unless the page shows its own (``legend=False``: it stays in
    view when the chart scrolls in its frame)."""
    width, height = 480, 250 if legend else 226
    left, right, top, bottom = 34, 8, 30 if legend else 8, 24
    plot_w, plot_h = width - left - right, height - top - bottom
    totals = [sum(column) for column in zip(*values, strict=True)] or [0]
    ticks = nice_ticks(max(totals))
    scale = plot_h / ticks[-1]
    svg = Svg(chart_id, width, height, title, desc)
    if legend:
        svg.legend(series, left, 14)
    base = top + plot_h
    for tick in ticks:
        y = base - tick * scale
        svg.line(left, y, width - right, y, GRID if tick else MUTED)
        svg.text(left - 6, y + 4, _number(tick), size=11, anchor="end", fill=MUTED)
    slot = plot_w / max(len(labels), 1)
    bar = max(slot * 0.72, 1.0)
    for i, label in enumerate(labels):
        x = left + i * slot + (slot - bar) / 2
        y = base
        for s, item in enumerate(series):
            h = values[s][i] * scale
            if h > 0:
                svg.rect(x, y - h, bar, h, item.color, tip(i))
                y -= h
        if show_label(i):
            svg.text(x + bar / 2, base + 16, label, size=11, anchor="middle", fill=MUTED)
    return svg.render("columns")


@dataclass(frozen=True, slots=True)
class BarRow:
    """One row of a bar chart: its label and a value per series (None: none to show
    yet, said as ``missing``)."""

    label: str
    values: Sequence[float | None]


def horizontal_bars(
    chart_id: str,
    *,
    title: str,
    desc: str,
    rows: Sequence[BarRow],
    series: Sequence[Series],
    unit: str = "",
    label_chars: int = 22,
    missing: str = "",
) -> Markup:
    """A bar per series for each row, its label above it and its value after it: reads
    on a phone, whatever the length of the labels."""
    width = 360
    left, right, top = 2, 60, 32 if len(series) > 1 else 6
    bar_h, gap_label, gap_row = 14, 22, 14
    row_h = gap_label + bar_h * len(series) + 3 * (len(series) - 1) + gap_row
    height = top + row_h * max(len(rows), 1)
    top_value = max((v for row in rows for v in row.values if v is not None), default=0.0)
    scale = (width - left - right) / (top_value or 1)
    svg = Svg(chart_id, width, height, title, desc)
    if len(series) > 1:
        svg.legend(series, left, 16)
    y = top
    for row in rows:
        svg.text(left, y + 15, shorten(row.label, label_chars), size=15)
        bar_y = y + gap_label
        for item, value in zip(series, row.values, strict=True):
            if value is None:
                svg.text(left, bar_y + bar_h - 2, f"{item.label}：{missing}", size=12, fill=MUTED)
            else:
                shown = f"{_number(value)}{unit}"
                tip = f"{row.label} {item.label} {shown}"
                svg.rect(left, bar_y, value * scale, bar_h, item.color, tip)
                svg.text(left + value * scale + 4, bar_y + bar_h - 2, shown, size=12, fill=MUTED)
            bar_y += bar_h + 3
        y += row_h
    return svg.render("bars")
