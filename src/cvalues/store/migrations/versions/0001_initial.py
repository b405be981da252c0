"""The first schema: datasets, items, runs, responses, run_items.

Revision ID: 0001
Revises:
Create Date: 2026-11-25

Written out in full rather than importing ``cvalues.store.tables``, so that this revision keeps
creating the same schema however the models change later.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _utc_datetime() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "datasets",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("n_items", sa.Integer(), nullable=False),
        sa.Column("created", _utc_datetime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_datasets")),
        sa.UniqueConstraint("name", "sha256", name=op.f("uq_datasets_name_sha256")),
    )
    op.create_table(
        "items",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("item_key", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("domain", sa.String(length=255), nullable=True),
        sa.Column("scenario", sa.String(length=255), nullable=True),
        sa.Column("pair_id", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["dataset_id"], ["datasets.id"], name=op.f("fk_items_dataset_id_datasets"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_items")),
        sa.UniqueConstraint("dataset_id", "item_key", name=op.f("uq_items_dataset_id_item_key")),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("task", sa.String(length=32), nullable=False),
        sa.Column("model_spec", sa.JSON(), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=True),
        sa.Column("out_dir", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created", _utc_datetime(), nullable=False),
        sa.Column("updated", _utc_datetime(), nullable=False),
        sa.ForeignKeyConstraint(["dataset_id"], ["datasets.id"], name=op.f("fk_runs_dataset_id_datasets")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runs")),
    )
    op.create_index(op.f("ix_runs_out_dir"), "runs", ["out_dir"], unique=False)
    op.create_table(
        "responses",
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("model_key", sa.Text(), nullable=False),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("response", sa.JSON(), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("input_tokens", sa.Integer(), nullable=True),
        sa.Column("output_tokens", sa.Integer(), nullable=True),
        sa.Column("latency_s", sa.Float(), nullable=True),
        sa.Column("created", _utc_datetime(), nullable=False),
        sa.PrimaryKeyConstraint("request_hash", name=op.f("pk_responses")),
    )
    op.create_index(op.f("ix_responses_model_key"), "responses", ["model_key"], unique=False)
    op.create_table(
        "run_items",
        sa.Column("run_id", sa.String(length=255), nullable=False),
        sa.Column("item_key", sa.String(length=255), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("parsed", sa.JSON(), nullable=False),
        sa.Column("score", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("updated", _utc_datetime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_run_items_run_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("run_id", "item_key", name=op.f("pk_run_items")),
    )
    op.create_index(op.f("ix_run_items_request_hash"), "run_items", ["request_hash"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_run_items_request_hash"), table_name="run_items")
    op.drop_table("run_items")
    op.drop_index(op.f("ix_responses_model_key"), table_name="responses")
    op.drop_table("responses")
    op.drop_index(op.f("ix_runs_out_dir"), table_name="runs")
    op.drop_table("runs")
    op.drop_table("items")
    op.drop_table("datasets")
