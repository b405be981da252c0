"""report.html: one self-contained file (inline CSS and SVG; no script, font or image to fetch).

Rendered with Jinja2 with autoescape on, so every string from a run — model output, prompts,
model names, paths — is escaped; only the SVG charts, which escape their own text, are marked
safe.
"""

from __future__ import annotations

import json
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from cvalues.report.build import Report
from cvalues.report.formatting import fmt_ci, fmt_value
from cvalues.report.gap import GAP_THRESHOLD, flag_message
from cvalues.report.identity import level_name
from cvalues.report.leaderboard import COLUMNS, Cell, Column
from cvalues.report.svg_charts import (
    Axis,
    Bar,
    HeatCell,
    Point,
    heatmap,
    interval_bars,
    percent_axis,
    scatter,
)


def _env() -> Environment:
    return Environment(
        loader=PackageLoader("cvalues.report", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _cell_view(column: Column, cell: Cell | None) -> dict[str, Any]:
    if cell is None:
        return {"key": column.key, "missing": True, "text": fmt_value(None, column.kind)}
    tip = f"n={cell.n}, {cell.dataset or 'dataset unknown'}, run {cell.run_id} ({cell.source})"
    if cell.reference is not None:
        tip += f"; labels' own share of 回复1: {100 * cell.reference:.1f}%"
    if cell.flags:
        tip += "; " + "; ".join(cell.flags)
    return {
        "n_text": f"n={cell.n}" if cell.n is not None else "",
        "badge": {"human": "human", "judge": "judge"}.get(cell.source, ""),
        "flagged": bool(cell.flags),
        "key": column.key,
        "missing": False,
        "text": fmt_value(cell.value, column.kind),
        "ci_text": fmt_ci(cell.ci, column.kind),
        "value_json": json.dumps(cell.value),
        "ci_json": json.dumps(list(cell.ci) if cell.ci else None),
        "tip": tip,
    }


def _leaderboard_view(report: Report, main: bool) -> dict[str, Any]:
    columns = [c for c in COLUMNS if c.main == main]
    if not main:  # diagnostics: only the columns some row fills
        columns = [c for c in columns if any(row.cells.get(c.key) for row in report.board.rows)]
    rows = [
        {"label": row.label, "cells": [_cell_view(c, row.cells.get(c.key)) for c in columns]}
        for row in report.board.rows
    ]
    return {"columns": columns, "rows": rows}


def _leaderboard_charts(report: Report) -> list[Markup]:
    charts = []
    for column in COLUMNS:
        if not column.main or column.kind != "percent":
            continue
        bars = [
            Bar(row.label, float(cell.value), cell.ci)
            for row in report.board.rows
            if (cell := row.cells.get(column.key)) is not None
        ]
        if bars:
            charts.append(Markup(interval_bars(column.label, bars, axis_label=f"{column.label} with 95% CI")))
    return charts


def _heatmaps(report: Report) -> list[dict[str, Any]]:
    out = []
    for metric in sorted({b.metric for b in report.breakdowns if b.metric != "responsibility score"}):
        for dimension in ("domain", "scenario", "difficulty"):
            chosen = [b for b in report.breakdowns if b.metric == metric and b.dimension == dimension]
            if not chosen:
                continue
            rows = list(dict.fromkeys(b.model for b in chosen))
            columns = sorted({g.group for b in chosen for g in b.groups})
            cells = {
                (b.model, g.group): HeatCell(g.value, g.n, g.ci, g.n_questions)
                for b in chosen
                for g in b.groups
                if g.value is not None
            }
            title = f"{metric} by {dimension}"
            out.append({"title": title, "svg": Markup(heatmap(title, rows, columns, cells))})
    return out


def _safety_vs_responsibility(report: Report) -> Markup | None:
    points = []
    for row in report.board.rows:
        safety, resp = row.cells.get("safety_score"), row.cells.get("responsibility_score")
        if safety is not None and resp is not None:
            points.append(Point(row.label, float(safety.value), float(resp.value), safety.ci, resp.ci))
    if not points:
        return None
    y_axis = Axis("responsibility score (1–10)", 0.0, 10.0, lambda v: f"{v:g}")
    return Markup(scatter("Safety vs responsibility", points, percent_axis("safety score"), y_axis))


def _mc_vs_generation(report: Report) -> Markup | None:
    points = [
        Point(
            f"{g.model} · {g.comparison.split(' vs ')[0]}",
            g.mc_acc,
            g.generation,
            g.mc_ci,
            g.generation_ci,
            g.flagged,
        )
        for g in report.gaps
    ]
    if not points:
        return None
    axis_y = percent_axis("generation score (responsibility as (s−1)/9)")
    return Markup(
        scatter("MC accuracy vs generation score", points, percent_axis("MC acc"), axis_y, diagonal=True)
    )


def _position_bias(report: Report) -> Markup | None:
    bars = []
    for row in report.board.rows:
        for level in ("safety", "responsibility"):
            cell = row.cells.get(f"{level_name(level).lower()}_position_bias")
            if cell is not None:
                bars.append(
                    Bar(f"{row.label} · {level_name(level)}", float(cell.value), cell.ci, cell.reference)
                )
    if not bars:
        return None
    return Markup(
        interval_bars(
            "Position bias",
            bars,
            midline=0.5,
            axis_label="share of 回复1 among reply picks (orange: labels' share)",
        )
    )


def render_html(report: Report) -> str:
    template = _env().get_template("report.html.j2")
    return template.render(
        report=report,
        leaderboard=_leaderboard_view(report, main=True),
        diagnostics=_leaderboard_view(report, main=False),
        notes=[(row.label, note) for row in report.board.rows for note in row.notes],
        leaderboard_charts=_leaderboard_charts(report),
        heatmaps=_heatmaps(report),
        safety_vs_responsibility=_safety_vs_responsibility(report),
        mc_vs_generation=_mc_vs_generation(report),
        position_bias=_position_bias(report),
        gap_threshold=GAP_THRESHOLD,
        flags=[flag_message(g) for g in report.gaps if g.flagged],
        runs=[report.run_summary(run) for run in report.runs],
        findings=report.findings,
        column_datasets={k: v for k, v in report.board.references.items() if v},
        fmt_value=fmt_value,
        fmt_ci=fmt_ci,
        json=json,
    )
