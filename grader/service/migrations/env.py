"""alembic's environment: migrate the engine `grade serve` hands over (see __init__.py)."""

from alembic import context

from grader.service.db import Base

config = context.config
engine = config.attributes["engine"]

with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata,
                      render_as_batch=True)  # SQLite alters tables by copying them
    with context.begin_transaction():
        context.run_migrations()
