"""Agreement of a task's annotators, per labelled dimension, and the items they disagree on.

The figures come from ``cvalues.scoring.agreement``: Cohen's kappa for each pair of annotators
(quadratic-weighted over 1-10 for scores), Fleiss' kappa (categories), Krippendorff's alpha
(nominal for categories, interval and ordinal for scores). The CLI and the admin page both print
``format_figure`` of the same numbers, so they show the same text.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from cvalues.annotate.kinds import DIMENSIONS, SCORE_DISAGREEMENT_GAP, SCORE_RANGE, Dimension, label_summary
from cvalues.annotate.records import LabelRow
from cvalues.annotate.task_store import TaskStore
from cvalues.scoring.agreement import (
    PairAgreement,
    disagreements,
    fleiss_kappa,
    krippendorff_alpha,
    pairwise_cohen_kappas,
    percent_agreement,
    ratings_table,
    units_of,
)

SCORE_CATEGORIES = tuple(range(SCORE_RANGE[0], SCORE_RANGE[1] + 1))


@dataclass(frozen=True)
class DimensionAgreement:
    name: str
    scale: str
    n_items_multiply_rated: int
    percent_agreement: float | None
    fleiss_kappa: float | None
    krippendorff_alpha: float | None
    krippendorff_alpha_ordinal: float | None
    mean_cohen_kappa: float | None
    cohen_pairs: list[PairAgreement] = field(default_factory=list)


@dataclass(frozen=True)
class TaskAgreement:
    task_id: str
    kind: str
    n_items: int
    n_labels: int
    annotators: list[str]
    dimensions: list[DimensionAgreement]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DisagreementRow:
    item_id: int
    item_key: str
    labels: dict[str, str]  # annotator -> label summary (English words, as the CLI prints)
    adjudicated: str | None
    raw_labels: dict[str, dict[str, Any]] = field(default_factory=dict)  # pages word them themselves
    raw_adjudicated: dict[str, Any] | None = None


def format_figure(value: float | None) -> str:
    """Three decimals, or an em dash for an undefined figure (e.g. everyone chose one category)."""
    return "—" if value is None else f"{value:.3f}"


def _table(rows: list[LabelRow], dimension: Dimension) -> dict[str, dict[str, Any]]:
    return ratings_table(
        (row.item_key, row.annotator, row.label[dimension.name])
        for row in rows
        if row.label.get(dimension.name) is not None
    )


def _dimension_agreement(rows: list[LabelRow], dimension: Dimension) -> DimensionAgreement:
    table = _table(rows, dimension)
    units = units_of(table)
    interval = dimension.scale == "interval"
    pairs = pairwise_cohen_kappas(
        table, weights="quadratic" if interval else None, categories=SCORE_CATEGORIES if interval else None
    )
    kappas = [pair.kappa for pair in pairs if pair.kappa is not None]
    return DimensionAgreement(
        name=dimension.name,
        scale=dimension.scale,
        n_items_multiply_rated=sum(len(unit) >= 2 for unit in units),
        percent_agreement=percent_agreement(units),
        fleiss_kappa=None if interval else fleiss_kappa(units),
        krippendorff_alpha=krippendorff_alpha(units, level="interval" if interval else "nominal"),
        krippendorff_alpha_ordinal=krippendorff_alpha(units, level="ordinal") if interval else None,
        mean_cohen_kappa=sum(kappas) / len(kappas) if kappas else None,
        cohen_pairs=pairs,
    )


def task_agreement(tasks: TaskStore, task_id: str) -> TaskAgreement:
    """Agreement figures of a task's labels so far."""
    task = tasks.require_task(task_id)
    rows = tasks.labels(task_id)
    return TaskAgreement(
        task_id=task_id,
        kind=task.kind,
        n_items=len(tasks.items(task_id)),
        n_labels=len(rows),
        annotators=sorted({row.annotator for row in rows}),
        dimensions=[_dimension_agreement(rows, dimension) for dimension in DIMENSIONS[task.kind]],
    )


@dataclass(frozen=True)
class AgreementFigure:
    """One line of the agreement table: ``name`` is the CLI's (English) text, ``stat`` and
    ``dimension`` let a page name it in its own language."""

    name: str
    stat: str
    dimension: str | None
    value: str


# stat key -> the CLI's English name of the statistic.
_STAT_NAMES = {
    "percent_agreement": "percent agreement",
    "fleiss_kappa": "Fleiss kappa",
    "krippendorff_nominal": "Krippendorff alpha (nominal)",
    "mean_cohen": "mean Cohen kappa",
    "krippendorff_interval": "Krippendorff alpha (interval)",
    "krippendorff_ordinal": "Krippendorff alpha (ordinal)",
    "mean_cohen_quadratic": "mean Cohen kappa (quadratic)",
}


def agreement_figures(report: TaskAgreement) -> list[AgreementFigure]:
    """The figures shown by both the CLI and the admin page, in order."""
    figures = [
        AgreementFigure("items", "items", None, str(report.n_items)),
        AgreementFigure("labels", "labels", None, str(report.n_labels)),
    ]
    for dim in report.dimensions:
        values: list[tuple[str, float | None]] = [("percent_agreement", dim.percent_agreement)]
        if dim.scale == "nominal":
            values += [
                ("fleiss_kappa", dim.fleiss_kappa),
                ("krippendorff_nominal", dim.krippendorff_alpha),
                ("mean_cohen", dim.mean_cohen_kappa),
            ]
        else:
            values += [
                ("krippendorff_interval", dim.krippendorff_alpha),
                ("krippendorff_ordinal", dim.krippendorff_alpha_ordinal),
                ("mean_cohen_quadratic", dim.mean_cohen_kappa),
            ]
        figures += [
            AgreementFigure(f"{dim.name} {_STAT_NAMES[stat]}", stat, dim.name, format_figure(value))
            for stat, value in values
        ]
    return figures


def agreement_lines(report: TaskAgreement) -> list[tuple[str, str]]:
    """(name, value) lines as the CLI prints them."""
    return [(figure.name, figure.value) for figure in agreement_figures(report)]


def disagreement_rows(tasks: TaskStore, task_id: str) -> list[DisagreementRow]:
    """Items whose annotators differ on any dimension (scores: by ``SCORE_DISAGREEMENT_GAP`` or more)."""
    task = tasks.require_task(task_id)
    rows = tasks.labels(task_id)
    flagged: set[str] = set()
    for dimension in DIMENSIONS[task.kind]:
        tolerance = SCORE_DISAGREEMENT_GAP - 1 if dimension.scale == "interval" else 0
        flagged.update(d.item_id for d in disagreements(_table(rows, dimension), tolerance=tolerance))
    adjudicated = tasks.adjudications(task_id)
    by_item: dict[str, list[LabelRow]] = {}
    for row in rows:
        if row.item_key in flagged:
            by_item.setdefault(row.item_key, []).append(row)
    result: list[DisagreementRow] = []
    for key in sorted(by_item):
        item_rows = by_item[key]
        item_id = item_rows[0].item_id
        final = adjudicated.get(item_id)
        result.append(
            DisagreementRow(
                item_id=item_id,
                item_key=key,
                labels={row.annotator: label_summary(task.kind, row.label) for row in item_rows},
                adjudicated=label_summary(task.kind, final[0]) if final else None,
                raw_labels={row.annotator: row.label for row in item_rows},
                raw_adjudicated=final[0] if final else None,
            )
        )
    return result
