"""The store's tables (SQLAlchemy 2.0 declarative), portable to SQLite and PostgreSQL.

Later capabilities add tables here (judgments, annotations, ...) together with a new Alembic
revision in ``store/migrations/versions``; existing tables are not reshaped.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Explicit constraint names, so that later migrations can alter them by name on every backend
# (SQLite's batch mode and PostgreSQL both need a name to drop a constraint).
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

RUN_STATUSES: tuple[str, ...] = ("running", "finished", "interrupted", "failed")
ITEM_KINDS: tuple[str, ...] = ("mc", "prompt", "pair")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend.

    SQLite has no time zone type and hands back naive values; storing UTC and re-attaching
    the zone on read keeps comparisons and arithmetic correct across SQLite and PostgreSQL.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the store keeps timezone-aware UTC times")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {  # noqa: RUF012 - SQLAlchemy reads this class attribute
        dict[str, Any]: JSON,
        datetime: UTCDateTime,
    }


class Dataset(Base):
    """A named set of items, identified by name and the sha256 of the bytes it was read from."""

    __tablename__ = "datasets"
    __table_args__ = (UniqueConstraint("name", "sha256"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(255))
    source: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    n_items: Mapped[int] = mapped_column(Integer)
    created: Mapped[datetime] = mapped_column(default=utcnow)


class Item(Base):
    """One item of a dataset; ``payload`` is the whole item as JSON (Chinese kept as is)."""

    __tablename__ = "items"
    __table_args__ = (UniqueConstraint("dataset_id", "item_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    item_key: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    domain: Mapped[str | None] = mapped_column(String(255))
    scenario: Mapped[str | None] = mapped_column(String(255))
    pair_id: Mapped[str | None] = mapped_column(String(64))


class Run(Base):
    """Task x dataset x model x settings. ``status`` is one of ``RUN_STATUSES``."""

    __tablename__ = "runs"
    __table_args__ = (Index(None, "out_dir"),)

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    task: Mapped[str] = mapped_column(String(32))
    model_spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON)
    dataset_id: Mapped[int | None] = mapped_column(ForeignKey("datasets.id"))
    out_dir: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    created: Mapped[datetime] = mapped_column(default=utcnow)
    updated: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Response(Base):
    """A model's answer to one request, keyed by the request hash and shared across runs.

    ``response`` is the full ``ModelResponse``; text, error, tokens and latency are copied into
    columns so that reports can query them without parsing JSON.
    """

    __tablename__ = "responses"
    __table_args__ = (Index(None, "model_key"),)

    request_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    model_key: Mapped[str] = mapped_column(Text)
    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    response: Mapped[dict[str, Any]] = mapped_column(JSON)
    text: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    input_tokens: Mapped[int | None] = mapped_column(Integer)
    output_tokens: Mapped[int | None] = mapped_column(Integer)
    latency_s: Mapped[float | None] = mapped_column(Float)
    created: Mapped[datetime] = mapped_column(default=utcnow)


class RunItem(Base):
    """What a run made of one item: which response it used, the parsed answer and its score."""

    __tablename__ = "run_items"
    __table_args__ = (Index(None, "request_hash"),)

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    item_key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    parsed: Mapped[dict[str, Any]] = mapped_column(JSON)
    # SQL NULL (not JSON 'null') for "not scored", so that `score IS NULL` finds them.
    score: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    updated: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Judgment(Base):
    """What a judge (an LLM with a rubric, or a guard model) made of one reply.

    One row per (judge run, item, sample of the reply, variant); ``variant`` is ``""`` for a single
    reply and ``"ab"`` / ``"ba"`` for the two orders of a pairwise comparison. ``response_hash`` is
    the sha256 of the judged text, so the same reply judged in several runs can be found again.
    ``request_hash`` is the judge request of the first judge sample; ``raw`` keeps every sample's
    raw output and request hash. An unparsed judgment has ``parsed`` false and no label or score.
    """

    __tablename__ = "judgments"
    __table_args__ = (
        UniqueConstraint("run_id", "item_key", "sample_index", "variant"),
        Index(None, "response_hash"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    item_key: Mapped[str] = mapped_column(String(255))
    sample_index: Mapped[int] = mapped_column(Integer)
    variant: Mapped[str] = mapped_column(String(16))
    response_hash: Mapped[str] = mapped_column(String(64))
    judge_key: Mapped[str] = mapped_column(Text)
    rubric: Mapped[str] = mapped_column(String(255))
    rubric_version: Mapped[str] = mapped_column(String(64))
    request_hash: Mapped[str] = mapped_column(String(64))
    raw: Mapped[dict[str, Any]] = mapped_column(JSON)
    label: Mapped[str | None] = mapped_column(String(32))
    score: Mapped[float | None] = mapped_column(Float)
    parsed: Mapped[bool] = mapped_column(Boolean)
    created: Mapped[datetime] = mapped_column(default=utcnow)
