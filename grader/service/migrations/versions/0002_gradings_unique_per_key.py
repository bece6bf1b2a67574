"""gradings: one row per (assignment, content hash, versions, round); jobs count stalls
and retries; source_archives (the sources, for workers on other machines)

Revision ID: 0002
Revises: 0001

The gradings already done become round 0 of their key, so nothing graded before the upgrade
is graded again.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEY = ("assignment_id", "content_hash", "grader_version", "assignment_version", "image",
       "selection")


def upgrade() -> None:
    op.create_table(
        "gradings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("assignment_id", sa.String(length=64), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("grader_version", sa.String(length=32), nullable=False),
        sa.Column("assignment_version", sa.String(length=32), nullable=False),
        sa.Column("image", sa.String(length=128), nullable=False),
        sa.Column("selection", sa.Text(), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("started_at", sa.Float(), nullable=False),
        sa.Column("finished_at", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(*KEY, "round"),
    )
    with op.batch_alter_table("gradings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_gradings_finished_at"), ["finished_at"],
                              unique=False)
    op.create_table(
        "source_archives",
        sa.Column("submission_id", sa.String(length=32), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["submission_id"], ["submissions.id"]),
        sa.PrimaryKeyConstraint("submission_id"),
    )
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("stalls", sa.Integer(), nullable=False,
                                      server_default="0"))
        batch_op.add_column(sa.Column("retries", sa.Integer(), nullable=False,
                                      server_default="0"))
    # Round 0 of every key already graded: its latest original (not reused) job.
    op.execute(
        "INSERT INTO gradings (assignment_id, content_hash, grader_version, "
        "assignment_version, image, selection, round, job_id, state, started_at, "
        "finished_at) "
        "SELECT s.assignment_id, j.content_hash, j.grader_version, j.assignment_version, "
        "j.image, j.selection, 0, MAX(j.id), 'graded', MIN(COALESCE(j.started_at, 0)), "
        "MAX(COALESCE(j.finished_at, 0)) "
        "FROM jobs j JOIN submissions s ON s.id = j.submission_id "
        "WHERE j.state = 'done' AND j.status = 'graded' AND j.reused_from IS NULL "
        "AND j.content_hash != '' "
        "GROUP BY s.assignment_id, j.content_hash, j.grader_version, j.assignment_version, "
        "j.image, j.selection")


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("retries")
        batch_op.drop_column("stalls")
    op.drop_table("source_archives")
    with op.batch_alter_table("gradings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_gradings_finished_at"))
    op.drop_table("gradings")
