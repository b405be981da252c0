"""Human evaluation: annotators, sessions, annotation tasks and items, assignments, annotations,
adjudications, collected prompts.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26

Written out in full rather than importing ``cvalues.store.annotation_tables``, so that this
revision keeps creating the same schema however the models change later.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _utc_datetime() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "annotators",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created", _utc_datetime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_annotators")),
        sa.UniqueConstraint("name", name=op.f("uq_annotators_name")),
    )
    op.create_table(
        "annotation_sessions",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("annotator_id", sa.Integer(), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created", _utc_datetime(), nullable=False),
        sa.Column("expires", _utc_datetime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["annotator_id"],
            ["annotators.id"],
            name=op.f("fk_annotation_sessions_annotator_id_annotators"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_annotation_sessions")),
    )
    op.create_index(
        op.f("ix_annotation_sessions_annotator_id"), "annotation_sessions", ["annotator_id"], unique=False
    )
    op.create_table(
        "annotation_tasks",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("per_item", sa.Integer(), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("meta", sa.JSON(), nullable=False),
        sa.Column("created", _utc_datetime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_annotation_tasks")),
    )
    op.create_table(
        "annotation_items",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("task_id", sa.String(length=64), nullable=False),
        sa.Column("item_key", sa.String(length=255), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["task_id"],
            ["annotation_tasks.id"],
            name=op.f("fk_annotation_items_task_id_annotation_tasks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_annotation_items")),
        sa.UniqueConstraint("task_id", "item_key", name=op.f("uq_annotation_items_task_id_item_key")),
    )
    op.create_table(
        "assignments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("task_id", sa.String(length=64), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("annotator_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("created", _utc_datetime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["annotator_id"],
            ["annotators.id"],
            name=op.f("fk_assignments_annotator_id_annotators"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["annotation_items.id"],
            name=op.f("fk_assignments_item_id_annotation_items"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["task_id"],
            ["annotation_tasks.id"],
            name=op.f("fk_assignments_task_id_annotation_tasks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assignments")),
        sa.UniqueConstraint(
            "annotator_id", "task_id", "position", name=op.f("uq_assignments_annotator_id_task_id_position")
        ),
        sa.UniqueConstraint("item_id", "annotator_id", name=op.f("uq_assignments_item_id_annotator_id")),
    )
    op.create_table(
        "annotations",
        sa.Column("assignment_id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.String(length=64), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("annotator_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.JSON(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("created", _utc_datetime(), nullable=False),
        sa.Column("updated", _utc_datetime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["annotator_id"],
            ["annotators.id"],
            name=op.f("fk_annotations_annotator_id_annotators"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["assignment_id"],
            ["assignments.id"],
            name=op.f("fk_annotations_assignment_id_assignments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["annotation_items.id"],
            name=op.f("fk_annotations_item_id_annotation_items"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["task_id"],
            ["annotation_tasks.id"],
            name=op.f("fk_annotations_task_id_annotation_tasks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("assignment_id", name=op.f("pk_annotations")),
    )
    op.create_index(op.f("ix_annotations_task_id"), "annotations", ["task_id"], unique=False)
    op.create_table(
        "adjudications",
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.String(length=64), nullable=False),
        sa.Column("label", sa.JSON(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("admin_id", sa.Integer(), nullable=True),
        sa.Column("updated", _utc_datetime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["admin_id"],
            ["annotators.id"],
            name=op.f("fk_adjudications_admin_id_annotators"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["annotation_items.id"],
            name=op.f("fk_adjudications_item_id_annotation_items"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["task_id"],
            ["annotation_tasks.id"],
            name=op.f("fk_adjudications_task_id_annotation_tasks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("item_id", name=op.f("pk_adjudications")),
    )
    op.create_index(op.f("ix_adjudications_task_id"), "adjudications", ["task_id"], unique=False)
    op.create_table(
        "collected_prompts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("annotator_id", sa.Integer(), nullable=True),
        sa.Column("chat_id", sa.String(length=64), nullable=True),
        sa.Column("position", sa.Integer(), nullable=True),
        sa.Column("prompt", sa.Text(), nullable=False),
        sa.Column("history", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("response", sa.Text(), nullable=True),
        sa.Column("verdict", sa.String(length=16), nullable=True),
        sa.Column("scenario", sa.String(length=255), nullable=True),
        sa.Column("domain", sa.String(length=255), nullable=True),
        sa.Column("reference", sa.Text(), nullable=True),
        sa.Column("target", sa.String(length=255), nullable=True),
        sa.Column("created", _utc_datetime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["annotator_id"],
            ["annotators.id"],
            name=op.f("fk_collected_prompts_annotator_id_annotators"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collected_prompts")),
    )
    op.create_index(op.f("ix_collected_prompts_chat_id"), "collected_prompts", ["chat_id"], unique=False)
    op.create_index(op.f("ix_collected_prompts_kind"), "collected_prompts", ["kind"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_collected_prompts_kind"), table_name="collected_prompts")
    op.drop_index(op.f("ix_collected_prompts_chat_id"), table_name="collected_prompts")
    op.drop_table("collected_prompts")
    op.drop_index(op.f("ix_adjudications_task_id"), table_name="adjudications")
    op.drop_table("adjudications")
    op.drop_index(op.f("ix_annotations_task_id"), table_name="annotations")
    op.drop_table("annotations")
    op.drop_table("assignments")
    op.drop_table("annotation_items")
    op.drop_table("annotation_tasks")
    op.drop_index(op.f("ix_annotation_sessions_annotator_id"), table_name="annotation_sessions")
    op.drop_table("annotation_sessions")
    op.drop_table("annotators")
