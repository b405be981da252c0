"""Charts as inline SVG strings, so report.html needs no script, font or image from anywhere.

Every piece of text and every attribute value goes through ``html.escape`` (in ``_el``): model
names, domains and run ids come from files a user (or a model) wrote.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape
from itertools import pairwise
from typing import Any

WIDTH = 760
LABEL_CHARS = 34
TITLE_SPACE = 26  # room for the visible chart title


def _attr(value: object) -> str:
    return f"{value:.1f}" if isinstance(value, float) else escape(str(value), quote=True)


def _el(tag: str, text: str | None = None, *, tip: str | None = None, **attrs: Any) -> str:
    """One SVG element; ``text`` and ``tip`` (a hover title) are escaped, as are attributes."""
    head = " ".join([tag, *(f'{k.rstrip("_").replace("_", "-")}="{_attr(v)}"' for k, v in attrs.items())])
    inner = (f"<title>{escape(tip)}</title>" if tip else "") + (escape(text) if text else "")
    return f"<{head}>{inner}</{tag}>" if inner else f"<{head}/>"


def _short(label: str, limit: int = LABEL_CHARS) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def _color(value: float) -> str:
    """Red (0) through yellow (0.5) to green (1): the usual reading of a score."""
    stops = ((0.0, (215, 48, 39)), (0.5, (254, 224, 139)), (1.0, (26, 152, 80)))
    v = min(1.0, max(0.0, value))
    for (x0, c0), (x1, c1) in pairwise(stops):
        if v <= x1:
            f = (v - x0) / (x1 - x0)
            r, g, b = (round(a + f * (z - a)) for a, z in zip(c0, c1, strict=True))
            return f"#{r:02x}{g:02x}{b:02x}"
    return "#1a9850"


def _svg(height: float, body: list[str], title: str, width: float = WIDTH) -> str:
    """The chart with its title visible on top (and as the accessible name)."""
    heading = _el("text", title, x=8, y=17, font_size=14, font_weight="bold")
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width:.0f}" '
        f'height="{height + TITLE_SPACE:.0f}" aria-label="{_attr(title)}">'
        f'{heading}<g transform="translate(0 {TITLE_SPACE})">{"".join(body)}</g></svg>'
    )


@dataclass(frozen=True)
class HeatCell:
    value: float  # 0..1
    n: int | None
    ci: tuple[float, float] | None
    n_questions: int | None = None


def heatmap(
    title: str, rows: Sequence[str], columns: Sequence[str], cells: dict[tuple[str, str], HeatCell]
) -> str:
    """Rows (models) x columns (domains); colour and text give the value, hover gives n and CI."""
    left, top, cell_h = 250.0, 80.0, 30.0
    cell_w = float(max(56, min(90, (WIDTH - 260) // max(1, len(columns)))))
    width = max(WIDTH, left + cell_w * len(columns) + 10)
    body: list[str] = []
    for j, col in enumerate(columns):
        x, y = left + j * cell_w + cell_w / 2, top - 8
        body.append(
            _el(
                "text",
                _short(col, 22),
                tip=col,
                x=x,
                y=y,
                font_size=12,
                transform=f"rotate(-35 {x:.0f} {y:.0f})",
            )
        )
    for i, row in enumerate(rows):
        y = top + i * cell_h
        body.append(_el("text", _short(row), tip=row, x=left - 8, y=y + 19, text_anchor="end", font_size=12))
        for j, col in enumerate(columns):
            x = left + j * cell_w
            cell = cells.get((row, col))
            box: dict[str, Any] = {"x": x, "y": y, "width": cell_w - 2, "height": cell_h - 2}
            centre: dict[str, Any] = {
                "x": x + cell_w / 2,
                "y": y + 19,
                "text_anchor": "middle",
                "font_size": 12,
            }
            if cell is None:
                body.append(_el("rect", tip=f"{row} · {col}: no data", fill="#eeeeee", **box))
                body.append(_el("text", "—", fill="#888", **centre))
                continue
            ci = f", 95% CI [{100 * cell.ci[0]:.1f}, {100 * cell.ci[1]:.1f}]" if cell.ci else ""
            questions = "" if cell.n_questions is None else f", {cell.n_questions} questions"
            tip = f"{row} · {col}: {100 * cell.value:.1f}% (n={cell.n}{questions}{ci})"
            body.append(_el("rect", tip=tip, fill=_color(cell.value), **box))
            body.append(_el("text", f"{100 * cell.value:.0f}", **centre))
    return _svg(top + cell_h * len(rows) + 10, body, title, width)


@dataclass(frozen=True)
class Point:
    label: str
    x: float
    y: float
    x_ci: tuple[float, float] | None = None
    y_ci: tuple[float, float] | None = None
    flagged: bool = False


@dataclass(frozen=True)
class Axis:
    label: str
    low: float
    high: float
    fmt: Callable[[float], str]


def percent_axis(label: str) -> Axis:
    return Axis(label, 0.0, 1.0, lambda v: f"{100 * v:.0f}%")


def scatter(
    title: str, points: Sequence[Point], x_axis: Axis, y_axis: Axis, *, diagonal: bool = False
) -> str:
    """Points with 95% interval whiskers; ``diagonal`` draws y = x (MC acc = generation score)."""
    left, right, top, bottom, height = 70.0, 230.0, 10.0, 50.0, 370.0
    plot_w, plot_h = WIDTH - left - right, height - top - bottom

    def sx(v: float) -> float:
        return left + (v - x_axis.low) / (x_axis.high - x_axis.low) * plot_w

    def sy(v: float) -> float:
        return top + plot_h - (v - y_axis.low) / (y_axis.high - y_axis.low) * plot_h

    body = [_el("rect", x=left, y=top, width=plot_w, height=plot_h, fill="#fafafa", stroke="#999")]
    for k in range(5):
        fx = x_axis.low + k * (x_axis.high - x_axis.low) / 4
        fy = y_axis.low + k * (y_axis.high - y_axis.low) / 4
        body.append(
            _el("text", x_axis.fmt(fx), x=sx(fx), y=top + plot_h + 16, text_anchor="middle", font_size=11)
        )
        body.append(_el("text", y_axis.fmt(fy), x=left - 6, y=sy(fy) + 4, text_anchor="end", font_size=11))
    middle_y = top + plot_h / 2
    body.append(
        _el("text", x_axis.label, x=left + plot_w / 2, y=height - 10, text_anchor="middle", font_size=12)
    )
    body.append(
        _el(
            "text",
            y_axis.label,
            x=14,
            y=middle_y,
            text_anchor="middle",
            font_size=12,
            transform=f"rotate(-90 14 {middle_y:.0f})",
        )
    )
    if diagonal:
        ends: dict[str, Any] = {
            "x1": sx(x_axis.low),
            "y1": sy(y_axis.low),
            "x2": sx(x_axis.high),
            "y2": sy(y_axis.high),
        }
        body.append(_el("line", stroke="#bbb", stroke_dasharray="4 3", **ends))
    for i, p in enumerate(points):
        color = "#c0392b" if p.flagged else "#2c6fbb"
        if p.x_ci:
            body.append(
                _el(
                    "line",
                    x1=sx(p.x_ci[0]),
                    y1=sy(p.y),
                    x2=sx(p.x_ci[1]),
                    y2=sy(p.y),
                    stroke=color,
                    stroke_opacity=0.5,
                )
            )
        if p.y_ci:
            body.append(
                _el(
                    "line",
                    x1=sx(p.x),
                    y1=sy(p.y_ci[0]),
                    x2=sx(p.x),
                    y2=sy(p.y_ci[1]),
                    stroke=color,
                    stroke_opacity=0.5,
                )
            )
        tip = f"{p.label}: {x_axis.label} {x_axis.fmt(p.x)}, {y_axis.label} {y_axis.fmt(p.y)}"
        body.append(_el("circle", tip=tip, cx=sx(p.x), cy=sy(p.y), r=5, fill=color))
        body.append(_el("text", str(i + 1), x=sx(p.x) + 7, y=sy(p.y) - 6, font_size=11))
        legend = f"{i + 1}. {_short(p.label, 30)}"
        body.append(
            _el(
                "text",
                legend,
                tip=p.label,
                x=WIDTH - right + 12,
                y=top + 14 + 16 * i,
                font_size=11,
                fill=color,
            )
        )
    return _svg(height, body, title)


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    ci: tuple[float, float] | None = None
    reference: float | None = None  # a tick, e.g. the labels' own share of 回复1


def interval_bars(
    title: str, bars: Sequence[Bar], *, midline: float | None = None, axis_label: str = ""
) -> str:
    """Horizontal bars on 0–100% with interval whiskers, an optional reference tick per bar."""
    left, top, bar_h = 260.0, 20.0, 26.0
    plot_w = WIDTH - left - 30
    bottom = top + bar_h * len(bars)

    def sx(v: float) -> float:
        return left + min(1.0, max(0.0, v)) * plot_w

    body: list[str] = []
    for k in range(5):
        x = sx(k / 4)
        body.append(_el("line", x1=x, y1=top - 4, x2=x, y2=bottom, stroke="#e3e3e3"))
        body.append(_el("text", f"{25 * k}%", x=x, y=top - 8, text_anchor="middle", font_size=11))
    for i, bar in enumerate(bars):
        y = top + i * bar_h
        body.append(
            _el(
                "text",
                _short(bar.label),
                tip=bar.label,
                x=left - 8,
                y=y + 17,
                text_anchor="end",
                font_size=12,
            )
        )
        ci = f" [{100 * bar.ci[0]:.1f}, {100 * bar.ci[1]:.1f}]" if bar.ci else ""
        tip = f"{bar.label}: {100 * bar.value:.1f}%{ci}"
        body.append(
            _el(
                "rect",
                tip=tip,
                x=left,
                y=y + 5,
                width=sx(bar.value) - left,
                height=bar_h - 10,
                fill="#5b8cc6",
            )
        )
        if bar.ci:
            mid = y + bar_h / 2
            body.append(
                _el(
                    "line",
                    x1=sx(bar.ci[0]),
                    y1=mid,
                    x2=sx(bar.ci[1]),
                    y2=mid,
                    stroke="#222",
                    stroke_width=1.5,
                )
            )
        if bar.reference is not None:
            x = sx(bar.reference)
            tip = f"reference {100 * bar.reference:.1f}%"
            body.append(
                _el("line", tip=tip, x1=x, y1=y + 2, x2=x, y2=y + bar_h - 2, stroke="#e67e22", stroke_width=2)
            )
    if midline is not None:
        x = sx(midline)
        body.append(_el("line", x1=x, y1=top - 4, x2=x, y2=bottom, stroke="#555", stroke_dasharray="3 3"))
    if axis_label:
        body.append(
            _el("text", axis_label, x=left + plot_w / 2, y=bottom + 26, text_anchor="middle", font_size=12)
        )
    return _svg(bottom + 34, body, title)
