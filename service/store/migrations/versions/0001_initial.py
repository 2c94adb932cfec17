"""Studies and checkpoints.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rnntune_studies",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("name", sa.String(128), nullable=False, unique=True),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("stop_reason", sa.String(256), nullable=True),
        sa.Column("spec", sa.JSON, nullable=False),
        sa.Column("n_trials", sa.Integer, nullable=False),
        sa.Column("claimed", sa.Integer, nullable=False),
        sa.Column("in_flight", sa.Integer, nullable=False),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("max_parallel", sa.Integer, nullable=True),
        sa.Column("last_claim_at", sa.DateTime, nullable=True),
        sa.Column("deadline", sa.DateTime, nullable=True),
        sa.Column("timeout_s", sa.Float, nullable=True),
        sa.Column("baseline", sa.JSON, nullable=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("started_at", sa.DateTime, nullable=True),
        sa.Column("completed_at", sa.DateTime, nullable=True),
    )
    op.create_table(
        "rnntune_checkpoints",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("study_id", sa.Integer, nullable=False, index=True),
        sa.Column("epoch", sa.Integer, nullable=False),
        sa.Column("state", sa.LargeBinary, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("rnntune_checkpoints")
    op.drop_table("rnntune_studies")
