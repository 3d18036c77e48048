"""Small inline SVG charts for the dashboard (no JS framework, no image files): axes with readable
ticks, points, lines and labelled guide lines. Pure functions of numbers; text is escaped."""
from __future__ import annotations

import math
from dataclasses import dataclass
from dataclasses import field

from markupsafe import Markup
from markupsafe import escape

WIDTH, HEIGHT = 560, 320
LEFT, RIGHT, TOP, BOTTOM = 64, 24, 16, 48


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About `count` round tick values (1, 2, 2.5 or 5 times a power of ten) covering low..high."""
    if high <= low:
        high = low + (abs(low) or 1.0)
    raw = (high - low) / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first = math.floor(low / step) * step
    ticks = []
    value = first
    while value <= high + step * 1e-9:
        ticks.append(round(value, 10))
        value += step
    if ticks[-1] < high:
        ticks.append(round(value, 10))
    return ticks


def _label(value: float) -> str:
    return f"{value:g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.1e}"


@dataclass
class Series:
    name: str
    points: list[tuple[float, float]]
    css: str                   # class of the line and its markers
    line: bool = True          # joined (a step line when `step`)
    step: bool = False
    labels: list[str] = field(default_factory=list)  # one per point, drawn beside it


@dataclass
class Guide:
    """A dashed line at x= or y= a value (a gate), labelled."""

    axis: str   # "x" or "y"
    value: float
    label: str


@dataclass
class Chart:
    title: str
    description: str
    x_label: str
    y_label: str
    series: list[Series]
    guides: list[Guide] = field(default_factory=list)
    css: str = "chart"
    origin: bool = False  # both axes start at 0 (counts over time)


def _scale(values: list[float], pad: float) -> tuple[float, float]:
    low, high = min(values), max(values)
    span = (high - low) or abs(high) or 1.0
    return low - span * pad, high + span * pad


def render(chart: Chart, chart_id: str) -> Markup:
    xs = [x for s in chart.series for x, _ in s.points] + [g.value for g in chart.guides if g.axis == "x"]
    ys = [y for s in chart.series for _, y in s.points] + [g.value for g in chart.guides if g.axis == "y"]
    if not xs or not ys:
        return Markup("")
    if chart.origin:
        x_ticks, y_ticks = nice_ticks(0, max(xs)), nice_ticks(0, max(ys))
    else:
        x_ticks, y_ticks = nice_ticks(*_scale(xs, 0.05)), nice_ticks(*_scale(ys, 0.05))
    x0, x1 = min(x_ticks[0], min(xs)), max(x_ticks[-1], max(xs))
    y0, y1 = min(y_ticks[0], min(ys)), max(y_ticks[-1], max(ys))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def px(x: float) -> float:
        return round(LEFT + (x - x0) / ((x1 - x0) or 1) * plot_w, 1)

    def py(y: float) -> float:
        return round(TOP + plot_h - (y - y0) / ((y1 - y0) or 1) * plot_h, 1)

    parts = [f'<svg class="{chart.css}" id="{chart_id}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
             f'aria-labelledby="{chart_id}-title {chart_id}-desc" preserveAspectRatio="xMinYMin meet">',
             f'<title id="{chart_id}-title">{escape(chart.title)}</title>',
             f'<desc id="{chart_id}-desc">{escape(chart.description)}</desc>',
             f'<g class="axis"><line x1="{LEFT}" y1="{TOP + plot_h}" x2="{LEFT + plot_w}" y2="{TOP + plot_h}"/>'
             f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_h}"/>']
    for t in x_ticks:
        parts.append(f'<line class="grid" x1="{px(t)}" y1="{TOP}" x2="{px(t)}" y2="{TOP + plot_h}"/>'
                     f'<text x="{px(t)}" y="{TOP + plot_h + 16}" text-anchor="middle">{escape(_label(t))}</text>')
    for t in y_ticks:
        parts.append(f'<line class="grid" x1="{LEFT}" y1="{py(t)}" x2="{LEFT + plot_w}" y2="{py(t)}"/>'
                     f'<text x="{LEFT - 6}" y="{py(t) + 4}" text-anchor="end">{escape(_label(t))}</text>')
    parts.append(f'<text class="label" x="{LEFT + plot_w / 2}" y="{HEIGHT - 8}" text-anchor="middle">'
                 f'{escape(chart.x_label)}</text>'
                 f'<text class="label" transform="translate(14 {TOP + plot_h / 2}) rotate(-90)" '
                 f'text-anchor="middle">{escape(chart.y_label)}</text></g>')
    for g in chart.guides:
        if g.axis == "x":
            parts.append(f'<g class="guide" data-guide="{escape(g.label)}"><line x1="{px(g.value)}" y1="{TOP}" '
                         f'x2="{px(g.value)}" y2="{TOP + plot_h}"/><text x="{px(g.value) - 4}" y="{TOP + 12}" '
                         f'text-anchor="end">{escape(g.label)}</text></g>')
        else:
            parts.append(f'<g class="guide" data-guide="{escape(g.label)}"><line x1="{LEFT}" y1="{py(g.value)}" '
                         f'x2="{LEFT + plot_w}" y2="{py(g.value)}"/><text x="{LEFT + plot_w - 4}" '
                         f'y="{py(g.value) - 4}" text-anchor="end">{escape(g.label)}</text></g>')
    for s in chart.series:
        points = s.points
        if s.line and len(points) > 1:
            path = []
            for i, (x, y) in enumerate(points):
                if s.step and i:
                    path.append(f"{px(x)},{py(points[i - 1][1])}")
                path.append(f"{px(x)},{py(y)}")
            parts.append(f'<polyline class="{s.css}" data-series="{escape(s.name)}" points="{" ".join(path)}"/>')
        for i, (x, y) in enumerate(points):
            parts.append(f'<circle class="{s.css}" data-series="{escape(s.name)}" cx="{px(x)}" cy="{py(y)}" r="4"/>')
            if i < len(s.labels):
                # alternate above and below so that neighbouring names do not run together
                dy = -8 if i % 2 == 0 else 16
                near_right = px(x) > LEFT + plot_w - 80  # keep the name inside the chart
                anchor, dx = ("end", -6) if near_right else ("start", 6)
                parts.append(f'<text class="point-label" x="{px(x) + dx}" y="{py(y) + dy}" text-anchor="{anchor}">'
                             f'{escape(s.labels[i])}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
