"""Charts drawn on the server as SVG shapes: bars and lines with their labels, computed here and
written by the template, so the dashboard needs no script and no outside CDN."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

WIDTH, HEIGHT = 560.0, 220.0
# Room for the labels: left (values), bottom (categories), top.
LEFT, BOTTOM, TOP = 48.0, 36.0, 12.0
PALETTE = ("#2563eb", "#16a34a", "#d97706", "#dc2626", "#7c3aed", "#0891b2", "#be185d", "#4b5563")


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    title: str
    color: str


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    title: str


@dataclass(frozen=True)
class Line:
    name: str
    color: str
    points: tuple[Point, ...]

    @property
    def path(self) -> str:
        return " ".join(f"{p.x:.1f},{p.y:.1f}" for p in self.points)


@dataclass
class Chart:
    """One chart: its shapes, the axis labels and the legend."""

    name: str
    title: str
    bars: list[Bar] = field(default_factory=list)
    lines: list[Line] = field(default_factory=list)
    x_labels: list[tuple[float, str]] = field(default_factory=list)
    y_labels: list[tuple[float, str]] = field(default_factory=list)
    # (series name, colour) of the bars, in order.
    legend: list[tuple[str, str]] = field(default_factory=list)
    width: float = WIDTH
    height: float = HEIGHT

    @property
    def empty(self) -> bool:
        return not self.bars and not any(line.points for line in self.lines)


def _scale(top: float) -> tuple[float, list[tuple[float, str]], float]:
    """A round maximum for the axis, its labels and the plot height."""
    plot = HEIGHT - TOP - BOTTOM
    top = max(top, 1.0)
    step = 10 ** max(0, len(str(int(top))) - 1)
    ceiling = ((int(top) // step) + 1) * step if top % step or top < step else top
    labels = [(TOP + plot - plot * i / 4, _short(ceiling * i / 4)) for i in range(5)]
    return float(ceiling), labels, plot


def _short(value: float) -> str:
    if value >= 1_000_000:
        return f"{value / 1_000_000:.1f}M"
    if value >= 1000:
        return f"{value / 1000:.1f}k"
    return f"{value:g}"


def bar_chart(name: str, title: str, groups: Sequence[tuple[str, Sequence[tuple[str, float]]]],
              unit: str = "") -> Chart:  # fmt: skip
    """Bars in groups: each group a category label and its (series, value) bars."""
    chart = Chart(name, title)
    values = [value for _, bars in groups for _, value in bars]
    ceiling, chart.y_labels, plot = _scale(max(values, default=0.0))
    slot = (WIDTH - LEFT) / max(len(groups), 1)
    for index, (label, bars) in enumerate(groups):
        width = slot * 0.7 / max(len(bars), 1)
        start = LEFT + slot * index + slot * 0.15
        for k, (series, value) in enumerate(bars):
            if (series, PALETTE[k % len(PALETTE)]) not in chart.legend:
                chart.legend.append((series, PALETTE[k % len(PALETTE)]))
            height = plot * value / ceiling
            chart.bars.append(Bar(
                x=start + width * k, y=TOP + plot - height, width=width * 0.92, height=height,
                label=label, title=f"{label} {series}: {_short(value)}{unit}".strip(),
                color=PALETTE[k % len(PALETTE)],
            ))  # fmt: skip
        chart.x_labels.append((LEFT + slot * index + slot / 2, label))
    return chart


def line_chart(name: str, title: str, x_labels: Sequence[str],
               series: dict[str, Sequence[float]]) -> Chart:  # fmt: skip
    """One line per series over the x labels, a point per value."""
    chart = Chart(name, title)
    values = [value for points in series.values() for value in points]
    ceiling, chart.y_labels, plot = _scale(max(values, default=0.0))
    step = (WIDTH - LEFT - 48) / max(len(x_labels) - 1, 1)
    for index, (series_name, points) in enumerate(series.items()):
        chart.lines.append(Line(series_name, PALETTE[index % len(PALETTE)], tuple(
            Point(LEFT + 8 + step * i, TOP + plot - plot * value / ceiling,
                  f"{series_name}, {x_labels[i]}: {_short(value)}")
            for i, value in enumerate(points)
        )))  # fmt: skip
    every = max(1, len(x_labels) // 8)
    chart.x_labels = [(LEFT + 8 + step * i, label) for i, label in enumerate(x_labels)
                      if i % every == 0]  # fmt: skip
    return chart
