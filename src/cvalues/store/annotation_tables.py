"""The human side of the store: annotators, their sessions, annotation tasks, labels, collection.

Declared on the same ``Base`` (one metadata) as ``store/tables.py``; created by migration 0003.

- ``annotators``: accounts with a role (admin, expert, annotator) and an scrypt password hash.
- ``annotation_sessions``: server-side login sessions, keyed by the sha256 of the cookie token
  (a stolen database does not give working cookies), each with its CSRF token.
- ``annotation_tasks`` / ``annotation_items``: what is to be labelled; ``payload`` holds the item
  as shown (prompt, replies) plus what annotators must not see (model names), filtered on display.
- ``assignments``: item x annotator, with the annotator's own shuffled ``position``.
- ``annotations``: one label per assignment (upserted: re-submitting replaces it).
- ``adjudications``: an admin's final label for an item, kept apart from the annotators' labels.
- ``collected_prompts``: red-team turns (prompt, target reply, verdict) and expert prompts.
- ``annotation_tasks.closed``: when an admin closed the task, NULL while open (migration 0005).
- ``login_failures``: wrong passwords (name, client address, time), shared by every serving process
  and kept across restarts, for login throttling (migration 0004).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cvalues.store.tables import Base, utcnow

ROLES: tuple[str, ...] = ("admin", "expert", "annotator")
TASK_KINDS: tuple[str, ...] = ("safety", "responsibility", "pairwise", "mc-review")
COLLECTED_KINDS: tuple[str, ...] = ("redteam", "expert")


class Annotator(Base):
    """A person who logs in to the annotation app. ``role`` is one of ``ROLES``."""

    __tablename__ = "annotators"
    __table_args__ = (UniqueConstraint("name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    # Empty for accounts created by an import: they hold labels but cannot log in.
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created: Mapped[datetime] = mapped_column(default=utcnow)


class AnnotationSession(Base):
    """A login session. Only the sha256 of the cookie's token is stored."""

    __tablename__ = "annotation_sessions"
    __table_args__ = (Index(None, "annotator_id"),)

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    annotator_id: Mapped[int] = mapped_column(ForeignKey("annotators.id", ondelete="CASCADE"))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created: Mapped[datetime] = mapped_column(default=utcnow)
    expires: Mapped[datetime]


class AnnotationTask(Base):
    """A labelling job of one kind (``TASK_KINDS``) over a set of items, for one role."""

    __tablename__ = "annotation_tasks"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    role: Mapped[str] = mapped_column(String(16))
    per_item: Mapped[int] = mapped_column(Integer)
    seed: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(Text)
    meta: Mapped[dict[str, Any]] = mapped_column(JSON)
    created: Mapped[datetime] = mapped_column(default=utcnow)
    # When an admin closed it (hidden from annotators, no new labels); NULL while open (migration 0005).
    closed: Mapped[datetime | None] = mapped_column(nullable=True, default=None)


class AnnotationItem(Base):
    """One thing to label. ``payload`` keeps model names too; the app never renders them to annotators."""

    __tablename__ = "annotation_items"
    __table_args__ = (UniqueConstraint("task_id", "item_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("annotation_tasks.id", ondelete="CASCADE"))
    item_key: Mapped[str] = mapped_column(String(255))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)


class Assignment(Base):
    """Item x annotator; ``position`` is the item's place in that annotator's shuffled order."""

    __tablename__ = "assignments"
    __table_args__ = (
        UniqueConstraint("item_id", "annotator_id"),
        UniqueConstraint("annotator_id", "task_id", "position"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("annotation_tasks.id", ondelete="CASCADE"))
    item_id: Mapped[int] = mapped_column(ForeignKey("annotation_items.id", ondelete="CASCADE"))
    annotator_id: Mapped[int] = mapped_column(ForeignKey("annotators.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    created: Mapped[datetime] = mapped_column(default=utcnow)


class Annotation(Base):
    """An annotator's label for one assignment. ``label``'s shape depends on the task kind."""

    __tablename__ = "annotations"
    __table_args__ = (Index(None, "task_id"),)

    assignment_id: Mapped[int] = mapped_column(
        ForeignKey("assignments.id", ondelete="CASCADE"), primary_key=True
    )
    # Copied from the assignment so that agreement and exports read one table.
    task_id: Mapped[str] = mapped_column(ForeignKey("annotation_tasks.id", ondelete="CASCADE"))
    item_id: Mapped[int] = mapped_column(ForeignKey("annotation_items.id", ondelete="CASCADE"))
    annotator_id: Mapped[int] = mapped_column(ForeignKey("annotators.id", ondelete="CASCADE"))
    label: Mapped[dict[str, Any]] = mapped_column(JSON)
    comment: Mapped[str | None] = mapped_column(Text)
    created: Mapped[datetime] = mapped_column(default=utcnow)
    updated: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Adjudication(Base):
    """An admin's final label for an item; it overrides the annotators' majority."""

    __tablename__ = "adjudications"
    __table_args__ = (Index(None, "task_id"),)

    item_id: Mapped[int] = mapped_column(
        ForeignKey("annotation_items.id", ondelete="CASCADE"), primary_key=True
    )
    task_id: Mapped[str] = mapped_column(ForeignKey("annotation_tasks.id", ondelete="CASCADE"))
    label: Mapped[dict[str, Any]] = mapped_column(JSON)
    note: Mapped[str | None] = mapped_column(Text)
    # SET NULL: deleting an admin account keeps the final labels they set.
    admin_id: Mapped[int | None] = mapped_column(ForeignKey("annotators.id", ondelete="SET NULL"))
    updated: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class CollectedPrompt(Base):
    """A red-team turn (prompt, the target's reply, the verdict) or an expert's question and answer."""

    __tablename__ = "collected_prompts"
    __table_args__ = (Index(None, "kind"), Index(None, "chat_id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))
    annotator_id: Mapped[int | None] = mapped_column(ForeignKey("annotators.id", ondelete="SET NULL"))
    chat_id: Mapped[str | None] = mapped_column(String(64))
    position: Mapped[int | None] = mapped_column(Integer)
    prompt: Mapped[str] = mapped_column(Text)
    # Earlier turns of a red-team chat, [{role, content}], so the attack can be replayed.
    history: Mapped[Any] = mapped_column(JSON(none_as_null=True), nullable=True)
    response: Mapped[str | None] = mapped_column(Text)
    verdict: Mapped[str | None] = mapped_column(String(16))
    scenario: Mapped[str | None] = mapped_column(String(255))
    domain: Mapped[str | None] = mapped_column(String(255))
    reference: Mapped[str | None] = mapped_column(Text)
    target: Mapped[str | None] = mapped_column(String(255))
    created: Mapped[datetime] = mapped_column(default=utcnow)


class LoginFailure(Base):
    """One wrong password: for which account name, from which client address, when."""

    __tablename__ = "login_failures"
    __table_args__ = (Index(None, "account", "at"), Index(None, "address", "at"), Index(None, "at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account: Mapped[str] = mapped_column(String(64))
    address: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(default=utcnow)
