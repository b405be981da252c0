"""What the drills share: a description of the machine, and recording a result."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
from pathlib import Path

HERE = Path(__file__).resolve().parent


def machine() -> dict[str, object]:
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_average_1m": round(load[0], 2) if load else None,
    }


def record_section(name: str, report: dict[str, object], markdown: str) -> Path:
    """Write ``results/<name>-<time>.json`` and append a section to RESULTS.md."""
    now = dt.datetime.now(dt.UTC)
    out = HERE / "results" / f"{name}-{now:%Y%m%d-%H%M%S}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    box = report["machine"]
    assert isinstance(box, dict)
    header = (
        f"\n## Drill: {name} ({now:%Y-%m-%d %H:%M} UTC)\n\n"
        f"Machine: {box['cpus']} CPUs, {box['platform']}, Python {box['python']}, "
        f"load average {box['load_average_1m']} at the end (shared with other jobs). "
        f"Raw: `{out.relative_to(HERE)}`.\n\n"
    )
    with (HERE / "RESULTS.md").open("a", encoding="utf-8") as f:
        f.write(header + markdown + "\n")
    return out
