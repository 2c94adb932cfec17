"""Indexes on Optuna's trials table for the service's per-study counts and trial pages.

Optuna indexes ``trials`` by ``study_id`` alone, so counting a study's trials by state or
reading one page of them in number order reads every row of the study. These indexes are
additive (Optuna neither reads nor changes them) and carry the service's prefix.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("rnntune_ix_trials_study_state", "trials", ["study_id", "state", "number"])
    op.create_index("rnntune_ix_trials_study_number", "trials",
                    ["study_id", "number", "trial_id"])


def downgrade() -> None:
    op.drop_index("rnntune_ix_trials_study_number", table_name="trials")
    op.drop_index("rnntune_ix_trials_study_state", table_name="trials")
