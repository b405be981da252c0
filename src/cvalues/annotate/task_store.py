"""Annotation tasks in the store: creating them with their assignments, serving an annotator's
items in their order (resuming at the first unlabelled one), saving labels, adjudications."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, select, update

from cvalues.annotate.accounts import User
from cvalues.annotate.assigning import plan_assignments
from cvalues.annotate.db import (
    ADJUDICATIONS,
    ANNOTATIONS,
    ANNOTATORS,
    ASSIGNMENTS,
    ITEMS,
    TASKS,
    upsert_insert,
    writing,
)
from cvalues.annotate.ids import check_task_id
from cvalues.annotate.records import AssignmentView, ItemRecord, LabelRow, Progress, TaskRecord
from cvalues.annotate.run_sources import TaskSource
from cvalues.annotate.user_errors import UserInputError
from cvalues.core.errors import InputError
from cvalues.store.tables import utcnow


class TaskClosed(Exception):
    """A label sent to a task an admin has closed (the app answers 409; nothing is stored)."""


class TaskStore:
    """Tasks, items, assignments, labels and adjudications in the store behind ``engine``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- tasks -------------------------------------------------------------------------------

    def create_task(
        self,
        task_id: str,
        kind: str,
        role: str,
        per_item: int,
        seed: int,
        source: TaskSource,
        annotators: Sequence[User],
    ) -> TaskRecord:
        """Store a task, its items, and the assignment of each item to ``per_item`` annotators."""
        check_task_id(task_id, flag="--name")
        if self.get_task(task_id) is not None:
            raise UserInputError("task_exists", flag="--name", task=task_id)
        if per_item < 1:
            raise UserInputError("per_item_min", flag="--per-item", value=per_item)
        names = list(dict.fromkeys(user.name for user in annotators))
        if per_item > len(names):
            raise UserInputError(
                "not_enough_annotators", flag="--per-item", per_item=per_item, available=len(names), role=role
            )
        plan = plan_assignments(len(source.items), names, per_item, seed)
        by_name = {user.name: user for user in annotators}
        meta = {"models": source.models, "run_ids": source.run_ids, "skipped": source.skipped}
        now = utcnow()
        record = TaskRecord(task_id, kind, role, per_item, seed, source.source, meta, now)
        with writing(self.engine) as conn:
            conn.execute(TASKS.insert().values(**record.__dict__))
            conn.execute(
                ITEMS.insert(),
                [
                    {"task_id": task_id, "item_key": item.key, "payload": item.payload}
                    for item in source.items
                ],
            )
            ids = dict(
                conn.execute(select(ITEMS.c.item_key, ITEMS.c.id).where(ITEMS.c.task_id == task_id)).all()
            )
            rows = [
                {
                    "task_id": task_id,
                    "item_id": ids[source.items[index].key],
                    "annotator_id": by_name[name].id,
                    "position": position,
                    "created": now,
                }
                for name, indexes in plan.items()
                for position, index in enumerate(indexes)
            ]
            if rows:
                conn.execute(ASSIGNMENTS.insert(), rows)
        return record

    def get_task(self, task_id: str) -> TaskRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(TASKS).where(TASKS.c.id == task_id)).mappings().first()
        return TaskRecord(**row) if row is not None else None

    def require_task(self, task_id: str) -> TaskRecord:
        task = self.get_task(task_id)
        if task is None:
            raise InputError(
                f"no annotation task {task_id!r} in the store (see `cvalues annotate tasks`)", flag="TASK"
            )
        return task

    def list_tasks(self) -> list[TaskRecord]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(TASKS).order_by(TASKS.c.created, TASKS.c.id)).mappings().all()
        return [TaskRecord(**row) for row in rows]

    def set_closed(self, task_id: str, closed: bool) -> bool:
        """Close a task (hidden from annotators, no new labels; labels, agreement and exports stay)
        or reopen it. False if there is no such task. Closing a closed task keeps its first date."""
        condition = TASKS.c.id == task_id
        if closed:
            condition = condition & TASKS.c.closed.is_(None)
        with writing(self.engine) as conn:
            conn.execute(update(TASKS).where(condition).values(closed=utcnow() if closed else None))
            return conn.execute(select(TASKS.c.id).where(TASKS.c.id == task_id)).first() is not None

    def items(self, task_id: str) -> list[ItemRecord]:
        query = select(ITEMS.c.id, ITEMS.c.item_key, ITEMS.c.payload).where(ITEMS.c.task_id == task_id)
        with self.engine.connect() as conn:
            return [
                ItemRecord(int(r.id), r.item_key, r.payload) for r in conn.execute(query.order_by(ITEMS.c.id))
            ]

    def get_item(self, task_id: str, item_id: int) -> ItemRecord | None:
        query = select(ITEMS.c.id, ITEMS.c.item_key, ITEMS.c.payload).where(
            ITEMS.c.task_id == task_id, ITEMS.c.id == item_id
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return ItemRecord(int(row.id), row.item_key, row.payload) if row is not None else None

    def ensure_item(self, task_id: str, key: str, payload: dict[str, Any]) -> int:
        """The id of item ``key`` of a task, created with ``payload`` if new (imports)."""
        statement = upsert_insert(self.engine, ITEMS).values(task_id=task_id, item_key=key, payload=payload)
        with writing(self.engine) as conn:
            conn.execute(statement.on_conflict_do_nothing(index_elements=["task_id", "item_key"]))
            return int(
                conn.execute(
                    select(ITEMS.c.id).where(ITEMS.c.task_id == task_id, ITEMS.c.item_key == key)
                ).scalar_one()
            )

    def insert_task(self, record: TaskRecord) -> None:
        """Store a task record without items (imports add the items one by one)."""
        check_task_id(record.id)
        with writing(self.engine) as conn:
            conn.execute(TASKS.insert().values(**record.__dict__))

    # -- an annotator's work -----------------------------------------------------------------

    def progress_for_user(self, user: User) -> list[Progress]:
        """The open tasks ``user`` has assignments in, with how many they labelled."""
        return self._progress((ASSIGNMENTS.c.annotator_id == user.id) & TASKS.c.closed.is_(None))

    def progress_for_task(self, task_id: str) -> list[Progress]:
        """Each annotator's progress in a task."""
        return self._progress(ASSIGNMENTS.c.task_id == task_id)

    def _progress(self, condition: Any) -> list[Progress]:
        query = (
            select(
                TASKS.c.id,
                TASKS.c.kind,
                ANNOTATORS.c.name,
                func.count(ANNOTATIONS.c.assignment_id).label("done"),
                func.count(ASSIGNMENTS.c.id).label("total"),
            )
            .select_from(ASSIGNMENTS)
            .join(TASKS, TASKS.c.id == ASSIGNMENTS.c.task_id)
            .join(ANNOTATORS, ANNOTATORS.c.id == ASSIGNMENTS.c.annotator_id)
            .outerjoin(ANNOTATIONS, ANNOTATIONS.c.assignment_id == ASSIGNMENTS.c.id)
            .where(condition)
            .group_by(TASKS.c.id, TASKS.c.kind, ANNOTATORS.c.name, TASKS.c.created)
            .order_by(TASKS.c.created, TASKS.c.id, ANNOTATORS.c.name)
        )
        with self.engine.connect() as conn:
            return [Progress(r.id, r.kind, r.name, int(r.done), int(r.total)) for r in conn.execute(query)]

    def next_position(self, task_id: str, user: User) -> int | None:
        """Where ``user`` resumes: their first unlabelled position, or None when all are done."""
        query = (
            select(func.min(ASSIGNMENTS.c.position))
            .outerjoin(ANNOTATIONS, ANNOTATIONS.c.assignment_id == ASSIGNMENTS.c.id)
            .where(
                ASSIGNMENTS.c.task_id == task_id,
                ASSIGNMENTS.c.annotator_id == user.id,
                ANNOTATIONS.c.assignment_id.is_(None),
            )
        )
        with self.engine.connect() as conn:
            position = conn.execute(query).scalar()
        return int(position) if position is not None else None

    def assignment_at(self, task_id: str, user: User, position: int) -> AssignmentView | None:
        """``user``'s item at ``position`` of their order; None if they have no such assignment."""
        task = self.get_task(task_id)
        if task is None:
            return None
        query = (
            select(ITEMS.c.id, ITEMS.c.item_key, ITEMS.c.payload, ANNOTATIONS.c.label, ANNOTATIONS.c.comment)
            .select_from(ASSIGNMENTS)
            .join(ITEMS, ITEMS.c.id == ASSIGNMENTS.c.item_id)
            .outerjoin(ANNOTATIONS, ANNOTATIONS.c.assignment_id == ASSIGNMENTS.c.id)
            .where(
                ASSIGNMENTS.c.task_id == task_id,
                ASSIGNMENTS.c.annotator_id == user.id,
                ASSIGNMENTS.c.position == position,
            )
        )
        counts = (
            select(func.count(ASSIGNMENTS.c.id), func.count(ANNOTATIONS.c.assignment_id))
            .outerjoin(ANNOTATIONS, ANNOTATIONS.c.assignment_id == ASSIGNMENTS.c.id)
            .where(ASSIGNMENTS.c.task_id == task_id, ASSIGNMENTS.c.annotator_id == user.id)
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
            total, done = conn.execute(counts).one()
        if row is None:
            return None
        item = ItemRecord(int(row.id), row.item_key, row.payload)
        return AssignmentView(task, position, int(total), int(done), item, row.label, row.comment)

    def save_label(
        self, task_id: str, user: User, position: int, label: dict[str, Any], comment: str | None
    ) -> bool:
        """Record (or replace) ``user``'s label at ``position``; False if they have no such assignment,
        ``TaskClosed`` if the task is closed (checked in the same transaction as the write)."""
        with writing(self.engine) as conn:
            if conn.execute(select(TASKS.c.closed).where(TASKS.c.id == task_id)).scalar() is not None:
                raise TaskClosed(task_id)
            found = conn.execute(
                select(ASSIGNMENTS.c.id, ASSIGNMENTS.c.item_id).where(
                    ASSIGNMENTS.c.task_id == task_id,
                    ASSIGNMENTS.c.annotator_id == user.id,
                    ASSIGNMENTS.c.position == position,
                )
            ).first()
            if found is None:
                return False
            self._upsert_annotation(conn, int(found.id), task_id, int(found.item_id), user.id, label, comment)
        return True

    def _upsert_annotation(
        self,
        conn: Any,
        assignment_id: int,
        task_id: str,
        item_id: int,
        annotator_id: int,
        label: dict[str, Any],
        comment: str | None,
        updated: datetime | None = None,
    ) -> None:
        now = updated or utcnow()
        statement = upsert_insert(self.engine, ANNOTATIONS).values(
            assignment_id=assignment_id,
            task_id=task_id,
            item_id=item_id,
            annotator_id=annotator_id,
            label=label,
            comment=comment,
            created=now,
            updated=now,
        )
        conn.execute(
            statement.on_conflict_do_update(
                index_elements=["assignment_id"], set_={"label": label, "comment": comment, "updated": now}
            )
        )

    def ensure_assignment(self, task_id: str, item_id: int, user: User, position: int | None = None) -> int:
        """The id of ``user``'s assignment to an item; a missing one is added at ``position`` when
        that place in their order is free, else at the end."""
        with writing(self.engine) as conn:
            return self._ensure_assignment(conn, task_id, item_id, user, position)

    def _ensure_assignment(
        self, conn: Any, task_id: str, item_id: int, user: User, position: int | None = None
    ) -> int:
        found = conn.execute(
            select(ASSIGNMENTS.c.id).where(
                ASSIGNMENTS.c.item_id == item_id, ASSIGNMENTS.c.annotator_id == user.id
            )
        ).scalar()
        if found is not None:
            return int(found)
        mine = (ASSIGNMENTS.c.task_id == task_id, ASSIGNMENTS.c.annotator_id == user.id)
        taken = (
            position is None
            or conn.execute(select(ASSIGNMENTS.c.id).where(*mine, ASSIGNMENTS.c.position == position)).first()
        )
        if taken:
            last = conn.execute(select(func.max(ASSIGNMENTS.c.position)).where(*mine)).scalar()
            position = 0 if last is None else int(last) + 1
        values = {
            "task_id": task_id,
            "item_id": item_id,
            "annotator_id": user.id,
            "position": position,
            "created": utcnow(),
        }
        return int(conn.execute(ASSIGNMENTS.insert().values(**values)).inserted_primary_key[0])

    def import_label(
        self,
        task_id: str,
        item_id: int,
        user: User,
        label: dict[str, Any],
        comment: str | None,
        updated: datetime | None,
    ) -> None:
        """Record an imported label, adding the assignment (at the end of the user's order) if missing."""
        with writing(self.engine) as conn:
            assignment_id = self._ensure_assignment(conn, task_id, item_id, user)
            self._upsert_annotation(conn, assignment_id, task_id, item_id, user.id, label, comment, updated)

    # -- everyone's labels (admins, agreement, exports) ----------------------------------------

    def assignment_rows(self, task_id: str) -> list[tuple[int, str, int, LabelRow | None]]:
        """Every assignment as (item id, annotator, position, their label or None), by item then annotator."""
        query = (
            select(
                ASSIGNMENTS.c.item_id,
                ASSIGNMENTS.c.position,
                ITEMS.c.item_key,
                ANNOTATORS.c.name,
                ANNOTATIONS.c.label,
                ANNOTATIONS.c.comment,
                ANNOTATIONS.c.updated,
            )
            .join(ITEMS, ITEMS.c.id == ASSIGNMENTS.c.item_id)
            .join(ANNOTATORS, ANNOTATORS.c.id == ASSIGNMENTS.c.annotator_id)
            .outerjoin(ANNOTATIONS, ANNOTATIONS.c.assignment_id == ASSIGNMENTS.c.id)
            .where(ASSIGNMENTS.c.task_id == task_id)
            .order_by(ASSIGNMENTS.c.item_id, ANNOTATORS.c.name)
        )
        with self.engine.connect() as conn:
            return [
                (
                    int(r.item_id),
                    r.name,
                    int(r.position),
                    None
                    if r.label is None
                    else LabelRow(int(r.item_id), r.item_key, r.name, r.label, r.comment, r.updated),
                )
                for r in conn.execute(query)
            ]

    def labels(self, task_id: str) -> list[LabelRow]:
        query = (
            select(
                ANNOTATIONS.c.item_id,
                ITEMS.c.item_key,
                ANNOTATORS.c.name,
                ANNOTATIONS.c.label,
                ANNOTATIONS.c.comment,
                ANNOTATIONS.c.updated,
            )
            .join(ITEMS, ITEMS.c.id == ANNOTATIONS.c.item_id)
            .join(ANNOTATORS, ANNOTATORS.c.id == ANNOTATIONS.c.annotator_id)
            .where(ANNOTATIONS.c.task_id == task_id)
            .order_by(ANNOTATIONS.c.item_id, ANNOTATORS.c.name)
        )
        with self.engine.connect() as conn:
            return [
                LabelRow(int(r.item_id), r.item_key, r.name, r.label, r.comment, r.updated)
                for r in conn.execute(query)
            ]

    def count_labels(self, task_id: str | None = None) -> int:
        query = select(func.count()).select_from(ANNOTATIONS)
        if task_id is not None:
            query = query.where(ANNOTATIONS.c.task_id == task_id)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def adjudicate(
        self, task_id: str, item_id: int, label: dict[str, Any], note: str | None, admin: User | None
    ) -> None:
        now = utcnow()
        values = {"label": label, "note": note, "admin_id": admin.id if admin else None, "updated": now}
        statement = upsert_insert(self.engine, ADJUDICATIONS).values(
            item_id=item_id, task_id=task_id, **values
        )
        with writing(self.engine) as conn:
            conn.execute(statement.on_conflict_do_update(index_elements=["item_id"], set_=values))

    def adjudications(self, task_id: str) -> dict[int, tuple[dict[str, Any], str | None]]:
        """Item id -> (final label, note) set by an admin."""
        query = select(ADJUDICATIONS.c.item_id, ADJUDICATIONS.c.label, ADJUDICATIONS.c.note).where(
            ADJUDICATIONS.c.task_id == task_id
        )
        with self.engine.connect() as conn:
            return {int(r.item_id): (r.label, r.note) for r in conn.execute(query)}
