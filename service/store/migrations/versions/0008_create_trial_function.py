"""PostgreSQL: a function that creates a new RUNNING trial in one statement.

Optuna numbers a new trial under a row lock on its study, in a transaction of several round
trips; with many workers on few cores, the worker holding the lock waits for CPU between
them while every other worker of the study waits for the lock. The function takes the same
lock, numbers and inserts the trial and counts it in the study's counters row inside the
server, so the lock is held for the statement alone (called outside a transaction). SQLite
serialises writers on its file lock anyway and keeps Optuna's path.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# Each statement of a PL/pgSQL function takes a new snapshot (read committed): the highest
# number is read after the study's lock is held, so two calls never read the same one.
CREATE = """
CREATE OR REPLACE FUNCTION rnntune_create_trial(p_study integer, p_start timestamp)
RETURNS TABLE (new_trial_id integer, new_number integer) LANGUAGE plpgsql AS $$
DECLARE
    next_number integer;
BEGIN
    PERFORM 1 FROM studies WHERE study_id = p_study FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'No study with study_id % exists.', p_study
            USING ERRCODE = 'no_data_found';
    END IF;
    SELECT COALESCE(MAX(t.number) + 1, 0) INTO next_number
        FROM trials t WHERE t.study_id = p_study;
    INSERT INTO trials (number, study_id, state, datetime_start)
        VALUES (next_number, p_study, 'RUNNING', p_start)
        RETURNING trials.trial_id INTO new_trial_id;
    UPDATE rnntune_study_counters SET running = running + 1 WHERE study_id = p_study;
    new_number := next_number;
    RETURN NEXT;
END $$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(CREATE)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS rnntune_create_trial(integer, timestamp)")
