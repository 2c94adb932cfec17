"""Uploaded data sets; baselines and the final evaluation of each study.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rnntune_datasets",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("format", sa.String(8), nullable=False),
        sa.Column("size_bytes", sa.Integer, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("meta", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("owner_key_id", sa.Integer, nullable=True, index=True),
        sa.Column("content", sa.LargeBinary, nullable=False),
    )
    with op.batch_alter_table("rnntune_studies") as batch:
        batch.add_column(sa.Column("baselines", sa.JSON, nullable=True))
        batch.add_column(sa.Column("eval_status", sa.String(16), nullable=True))
        batch.add_column(sa.Column("eval_owner", sa.String(128), nullable=True))
        batch.add_column(sa.Column("eval_lease_until", sa.DateTime, nullable=True))
        batch.add_column(
            sa.Column("eval_attempts", sa.Integer, nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("evaluation", sa.JSON, nullable=True))
        batch.create_index("ix_rnntune_studies_eval_status", ["eval_status"])


def downgrade() -> None:
    with op.batch_alter_table("rnntune_studies") as batch:
        batch.drop_index("ix_rnntune_studies_eval_status")
        for column in ("evaluation", "eval_attempts", "eval_lease_until", "eval_owner",
                       "eval_status", "baselines"):
            batch.drop_column(column)
    op.drop_table("rnntune_datasets")
