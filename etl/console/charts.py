"""SVG chart geometry, computed here and drawn by the templates (so every label goes through autoescape).

A bar chart per (account, currency) of daily spend, and a stacked bar per account of the delivery funnel.
No JavaScript: the SVG is part of the page.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

WIDTH, HEIGHT, PAD = 640, 180, 28
FUNNEL_PARTS = ("delivered", "failed", "pending", "expired", "not_found")


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    value: str


@dataclass(frozen=True)
class BarChart:
    title: str
    bars: list[Bar]
    maximum: str
    width: int = WIDTH
    height: int = HEIGHT


def bar_chart(title: str, points: list[tuple[str, Decimal]]) -> BarChart:
    """One bar per (label, value); heights relative to the largest value."""
    top = max((value for _, value in points), default=Decimal(0))
    inner_w, inner_h = WIDTH - 2 * PAD, HEIGHT - 2 * PAD
    step = inner_w / max(len(points), 1)
    bars = []
    for i, (label, value) in enumerate(points):
        h = float(value / top) * inner_h if top > 0 else 0.0
        bars.append(Bar(round(PAD + i * step + step * 0.1, 2), round(PAD + inner_h - h, 2), round(step * 0.8, 2),
                        round(h, 2), label, f"{value.normalize():f}"))
    return BarChart(title, bars, f"{top.normalize():f}")


@dataclass(frozen=True)
class Segment:
    x: float
    width: float
    part: str
    count: int


def funnel_segments(counts: dict[str, int]) -> list[Segment]:
    """The funnel as one horizontal bar split by share of recipients."""
    total = sum(counts.get(p, 0) for p in FUNNEL_PARTS)
    out, x = [], float(PAD)
    for part in FUNNEL_PARTS:
        n = counts.get(part, 0)
        w = (WIDTH - 2 * PAD) * n / total if total else 0.0
        out.append(Segment(round(x, 2), round(w, 2), part, n))
        x += w
    return out
