"""procrastinate's schema (PostgreSQL only: the job queue of `grade worker`)

Revision ID: 0003
Revises: 0002

The schema of the procrastinate release pinned in pyproject.toml (3.10), as its
SchemaManager gives it (`procrastinate schema --apply` does the same). A later procrastinate
minor release that ships files in procrastinate/sql/migrations/ needs a migration of ours that
runs them, before the pin is raised. On SQLite (one machine, the in-process pool) nothing.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    from procrastinate.schema import SchemaManager

    exists = bind.exec_driver_sql("SELECT to_regclass('procrastinate_jobs')").scalar()
    if exists is None:  # `procrastinate schema --apply` may have been run by hand
        # On the driver's cursor, without parameters: the schema's '%' are not placeholders.
        with bind.connection.dbapi_connection.cursor() as cursor:
            cursor.execute(SchemaManager.get_schema())


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    bind.exec_driver_sql(
        "DROP TABLE IF EXISTS procrastinate_periodic_defers, procrastinate_events, "
        "procrastinate_jobs, procrastinate_workers CASCADE")
