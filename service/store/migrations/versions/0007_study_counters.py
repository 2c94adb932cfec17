"""Per-study trial counters and retry links, kept as trials move instead of recounted.

The rows of existing studies are filled by ``StudyStore.initialize`` after the upgrade (a full
recount per study, once), not here: the recount reads Optuna's tables through the store's
own code.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rnntune_study_counters",
        sa.Column("study_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("maximize", sa.Boolean, nullable=False),
        sa.Column("running", sa.Integer, nullable=False, server_default="0"),
        sa.Column("waiting", sa.Integer, nullable=False, server_default="0"),
        sa.Column("complete", sa.Integer, nullable=False, server_default="0"),
        sa.Column("pruned", sa.Integer, nullable=False, server_default="0"),
        sa.Column("fail", sa.Integer, nullable=False, server_default="0"),
        sa.Column("retried", sa.Integer, nullable=False, server_default="0"),
        sa.Column("best_value", sa.Float(precision=53), nullable=True),
        sa.Column("best_number", sa.Integer, nullable=True),
        sa.Column("best_trial_id", sa.Integer, nullable=True),
    )
    op.create_table(
        "rnntune_retry_links",
        sa.Column("study_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("number", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("retry_number", sa.Integer, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("rnntune_retry_links")
    op.drop_table("rnntune_study_counters")
