"""Annotation tasks can be closed: ``annotation_tasks.closed`` (when, or NULL while open).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04

A closed task is hidden from annotators and refuses new labels; its labels, agreement and exports
stay. A column rather than a status string: reopening sets it back to NULL.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # batch mode: SQLite cannot ALTER a table's columns in place (adding one it can, dropping not).
    with op.batch_alter_table("annotation_tasks") as batch:
        batch.add_column(sa.Column("closed", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("annotation_tasks") as batch:
        batch.drop_column("closed")
