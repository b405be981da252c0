"""Writing a report directory: report.html, report.md, leaderboard.csv, leaderboard.json."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from cvalues.core.files import _atomic_write, write_json
from cvalues.report.build import Report
from cvalues.report.html_report import render_html
from cvalues.report.leaderboard import COLUMNS
from cvalues.report.markdown_report import render_markdown


def leaderboard_csv(report: Report) -> str:
    """One row per model; for every column its value, interval and n. A missing cell is empty."""
    header = ["model", "spec", "variant"]
    for c in COLUMNS:
        header += [c.key, f"{c.key}_ci_low", f"{c.key}_ci_high", f"{c.key}_n"]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for row in report.board.rows:
        line: list[object] = [row.label, row.spec, ";".join(f"{k}={v}" for k, v in row.variant.items())]
        for c in COLUMNS:
            cell = row.cells.get(c.key)
            if cell is None:
                line += ["", "", "", ""]
            else:
                low, high = cell.ci if cell.ci else ("", "")
                line += [cell.value, low, high, "" if cell.n is None else cell.n]
        writer.writerow(line)
    return buffer.getvalue()


def write_report(report: Report, out_dir: Path) -> dict[str, Path]:
    """Write the four files; return them by name."""
    paths = {
        "html": out_dir / "report.html",
        "markdown": out_dir / "report.md",
        "csv": out_dir / "leaderboard.csv",
        "json": out_dir / "leaderboard.json",
    }
    write_json(paths["json"], report.to_json())
    _atomic_write(paths["csv"], leaderboard_csv(report))
    _atomic_write(paths["markdown"], render_markdown(report))
    _atomic_write(paths["html"], render_html(report))
    return paths
