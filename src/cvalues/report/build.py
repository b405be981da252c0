"""Everything a report shows, assembled once from the runs; every output format reads this."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cvalues.core.version import __version__
from cvalues.report.breakdowns import DEFAULT_MIN_N, Breakdown, Weakness, build_breakdowns, weakest_groups
from cvalues.report.examples import FailureExample, failure_examples
from cvalues.report.findings import build_findings
from cvalues.report.gap import GAP_THRESHOLD, GapPoint, mc_generation_gaps
from cvalues.report.identity import evaluated_model, level_name
from cvalues.report.leaderboard import COLUMNS, Leaderboard, build_leaderboard
from cvalues.report.loading import Run, SkippedRun, Verification, dict_block, load_runs, verify_run

LEADERBOARD_SCHEMA_VERSION = 1


@dataclass
class Report:
    generated: datetime
    runs: list[Run]
    skipped: list[SkippedRun]
    board: Leaderboard
    breakdowns: list[Breakdown]
    weakest: list[Weakness]
    gaps: list[GapPoint]
    examples: list[FailureExample]
    verifications: dict[Path, Verification] = field(default_factory=dict)
    min_n: int = DEFAULT_MIN_N
    findings: list[str] = field(default_factory=list)

    @property
    def failed_verifications(self) -> list[tuple[Run, Verification]]:
        return [
            (r, v) for r in self.runs if (v := self.verifications.get(r.path)) is not None and v.ok is False
        ]

    def run_summary(self, run: Run) -> dict[str, Any]:
        """What the report says about one run: identity, settings, dataset, verification."""
        ident = self.board.identities[run.path]
        model = evaluated_model(run.results)
        dataset = dict_block(run.results, "dataset")
        verification = self.verifications.get(run.path)
        judge = run.results.get("judge")
        return {
            "path": str(run.path),
            "run_id": run.run_id,
            "task": run.task,
            "model": ident.label,
            "level": level_name(ident.level) if ident.level else None,
            "created": run.created.isoformat(timespec="seconds"),
            "dataset": {k: dataset.get(k) for k in ("name", "sha256", "n_items")},
            "mode": model.get("mode"),
            "template": (model.get("template") or {}).get("source")
            if isinstance(model.get("template"), dict)
            else None,
            "settings": dict_block(model, "settings"),
            "judge": judge.get("spec") if isinstance(judge, dict) else judge,
            "n_failed": (run.results.get("execution") or {}).get("n_failed"),
            "verification": None
            if verification is None
            else {
                "ok": verification.ok,
                "detail": verification.detail,
                "mismatches": list(verification.mismatches),
            },
            "warnings": list(run.warnings),
        }

    def to_json(self) -> dict[str, Any]:
        """leaderboard.json: every number the other outputs show, with where it came from."""
        return {
            "schema_version": LEADERBOARD_SCHEMA_VERSION,
            "cvalues_version": __version__,
            "generated": self.generated.isoformat(timespec="seconds"),
            "findings": self.findings,
            "columns": [{"key": c.key, "label": c.label, "kind": c.kind, "main": c.main} for c in COLUMNS],
            "column_datasets": self.board.references,
            "rows": [row.to_dict() for row in self.board.rows],
            "weakest_groups": {"min_n": self.min_n, "groups": [w.to_dict() for w in self.weakest]},
            "mc_vs_generation": {"threshold": GAP_THRESHOLD, "points": [g.to_dict() for g in self.gaps]},
            "breakdowns": [b.to_dict() for b in self.breakdowns],
            "runs": [self.run_summary(run) for run in self.runs],
            "skipped": [{"path": str(s.path), "reason": s.reason} for s in self.skipped],
        }


def build_report(
    paths: Iterable[Path],
    *,
    group_by: str = "settings",
    min_n: int = DEFAULT_MIN_N,
    verify: bool = True,
    examples_per_run: int = 3,
) -> Report:
    loaded = load_runs(paths)
    board = build_leaderboard(loaded.runs, group_by=group_by)
    breakdowns = build_breakdowns(board)
    gaps = mc_generation_gaps(board)
    return Report(
        generated=datetime.now(UTC),
        runs=sorted(loaded.runs, key=lambda r: (r.created, str(r.path))),
        skipped=loaded.skipped,
        board=board,
        breakdowns=breakdowns,
        weakest=weakest_groups(breakdowns, min_n=min_n),
        gaps=gaps,
        examples=failure_examples(board, per_run=examples_per_run),
        verifications={run.path: verify_run(run) for run in loaded.runs} if verify else {},
        min_n=min_n,
        findings=build_findings(board, gaps),
    )
