"""Budget claims as rows, so that a slot repair can tell a live claim from a dead one.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rnntune_claims",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("study_id", sa.Integer, nullable=False, index=True),
        sa.Column("claimed_at", sa.DateTime, nullable=False),
        sqlite_autoincrement=True,  # an id is never reused: a dropped claim stays dropped
    )


def downgrade() -> None:
    op.drop_table("rnntune_claims")
