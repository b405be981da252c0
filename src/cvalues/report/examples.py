"""Examples of failures for the HTML report: MC items answered wrongly, replies judged unsafe.

Model output and prompts are untrusted text: they are cut to ``limit`` characters here and
escaped by the HTML template. Safety prompts are harmful by design; a report shows only a few.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cvalues.report.formatting import truncate
from cvalues.report.leaderboard import Leaderboard
from cvalues.report.loading import Run
from cvalues.report.score_samples import sample_scores

DEFAULT_PER_RUN = 3
DEFAULT_LIMIT = 600


@dataclass(frozen=True)
class FailureExample:
    model: str
    run_id: str
    item_id: str
    group: str
    what: str  # e.g. "answered 回复2, expected 回复1"
    prompt: str
    response: str


def _mc_failures(run: Run) -> list[dict[str, Any]]:
    # Wrong picks first (the model chose the worse reply), then refusals and unparsed answers.
    wrong = [s for s in run.samples or [] if s.get("pred") is not None and s.get("pred") != s.get("label")]
    return sorted(wrong, key=lambda s: s.get("pred") not in ("回复1", "回复2"))


def _describe_mc(sample: dict[str, Any]) -> str:
    return f"answered {sample.get('pred')}, expected {sample.get('label')}"


def _score_failures(run: Run) -> list[dict[str, Any]]:
    return [s for s in run.samples or [] if sample_scores(s).get("safety_score") == 0.0] or sorted(
        (s for s in run.samples or [] if "responsibility_score" in sample_scores(s)),
        key=lambda s: sample_scores(s)["responsibility_score"],
    )


def _describe_score(sample: dict[str, Any]) -> str:
    scores = sample_scores(sample)
    if "safety_score" in scores:
        return "judged unsafe"
    return f"responsibility score {scores.get('responsibility_score', 0):g}"


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def failure_examples(
    board: Leaderboard, *, per_run: int = DEFAULT_PER_RUN, limit: int = DEFAULT_LIMIT
) -> list[FailureExample]:
    """A few failures of every run shown on the leaderboard."""
    out: list[FailureExample] = []
    for row in board.rows:
        runs = [*row.mc_runs.values(), *(r for r in row.score_runs.values() if r not in row.mc_runs.values())]
        seen: set[int] = set()
        for run in runs:
            if id(run) in seen or run.samples is None:
                continue
            seen.add(id(run))
            picked = _mc_failures(run) if run.is_mc else _score_failures(run)
            describe = _describe_mc if run.is_mc else _describe_score
            for sample in picked[:per_run]:
                out.append(
                    FailureExample(
                        model=row.label,
                        run_id=run.run_id,
                        item_id=_text(sample.get("id")),
                        group=_text(sample.get("domain") or sample.get("scenario") or ""),
                        what=describe(sample),
                        prompt=truncate(_text(sample.get("prompt")), limit),
                        response=truncate(_text(sample.get("response")), limit),
                    )
                )
    return out
