"""What the task store hands out: plain records of tasks, items, labels and progress."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class TaskRecord:
    id: str
    kind: str
    role: str
    per_item: int
    seed: int
    source: str
    meta: dict[str, Any]
    created: datetime
    # When an admin closed the task; None while it is open.
    closed: datetime | None = None

    @property
    def is_open(self) -> bool:
        return self.closed is None


@dataclass(frozen=True)
class ItemRecord:
    id: int
    key: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class Progress:
    """How far one annotator is in one task."""

    task_id: str
    kind: str
    annotator: str
    done: int
    total: int

    @property
    def finished(self) -> bool:
        return self.done >= self.total


@dataclass(frozen=True)
class AssignmentView:
    """An annotator's item at one position of their order, with their own label if any."""

    task: TaskRecord
    position: int
    total: int
    done: int
    item: ItemRecord
    label: dict[str, Any] | None
    comment: str | None


@dataclass(frozen=True)
class LabelRow:
    item_id: int
    item_key: str
    annotator: str
    label: dict[str, Any]
    comment: str | None
    updated: datetime
