"""Judgments: what a judge or guard model made of each reply (label, score, or unparsed).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25

Written out in full rather than importing ``cvalues.store.tables``, so that this revision keeps
creating the same table however the models change later.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "judgments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(length=255), nullable=False),
        sa.Column("item_key", sa.String(length=255), nullable=False),
        sa.Column("sample_index", sa.Integer(), nullable=False),
        sa.Column("variant", sa.String(length=16), nullable=False),
        sa.Column("response_hash", sa.String(length=64), nullable=False),
        sa.Column("judge_key", sa.Text(), nullable=False),
        sa.Column("rubric", sa.String(length=255), nullable=False),
        sa.Column("rubric_version", sa.String(length=64), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("raw", sa.JSON(), nullable=False),
        sa.Column("label", sa.String(length=32), nullable=True),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("parsed", sa.Boolean(), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_judgments_run_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_judgments")),
        sa.UniqueConstraint(
            "run_id",
            "item_key",
            "sample_index",
            "variant",
            name=op.f("uq_judgments_run_id_item_key_sample_index_variant"),
        ),
    )
    op.create_index(op.f("ix_judgments_response_hash"), "judgments", ["response_hash"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_judgments_response_hash"), table_name="judgments")
    op.drop_table("judgments")
