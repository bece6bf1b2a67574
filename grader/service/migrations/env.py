"""alembic's environment: migrate the engine `grade serve` hands over (see __init__.py).

On PostgreSQL the server and every `grade worker` migrate at start, perhaps at the same
moment (a compose file starting them together): the migration runs under a transaction-level
advisory lock, so one migrates and the others find the schema at head. procrastinate's own
tables (applied by migration 0003) are not ours to compare.
"""

from alembic import context
from sqlalchemy import text

from grader.service.db import Base
from grader.service.migrations import include_object

MIGRATION_LOCK = 0x67726164  # pg_advisory_xact_lock key: "grad"

config = context.config
engine = config.attributes["engine"]


with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata,
                      render_as_batch=True,  # SQLite alters tables by copying them
                      include_object=include_object)
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(text(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})"))
        context.run_migrations()
