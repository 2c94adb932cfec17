"""API keys, and the key that submitted each study.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rnntune_api_keys",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("revoked_at", sa.DateTime, nullable=True),
    )
    with op.batch_alter_table("rnntune_studies") as batch:
        batch.add_column(sa.Column("owner_key_id", sa.Integer, nullable=True))
        batch.create_index("ix_rnntune_studies_owner_key_id", ["owner_key_id"])


def downgrade() -> None:
    with op.batch_alter_table("rnntune_studies") as batch:
        batch.drop_index("ix_rnntune_studies_owner_key_id")
        batch.drop_column("owner_key_id")
    op.drop_table("rnntune_api_keys")
