"""The databases of the `grade serve` tests: SQLite (a file in the test's folder) and
PostgreSQL (deploy/start-postgres.sh makes one answer on 127.0.0.1, as .ci/run does).

On PostgreSQL each test gets a database of its own, copied from a template that this test
process migrated once (CREATE DATABASE ... TEMPLATE: tens of milliseconds, where the
migrations take most of a second), and dropped after it.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DATABASES = ["sqlite", "postgresql"]


def _admin(url: str):
    import psycopg

    from grader.service.queue import conninfo

    return psycopg.connect(conninfo(url), autocommit=True)


def with_name(url: str, name: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(database=name).render_as_string(hide_password=False)


def start_postgres() -> str:
    """The base URL of the PostgreSQL that deploy/start-postgres.sh starts (or finds running):
    a role that may create databases."""
    done = subprocess.run(["bash", str(REPO / "deploy" / "start-postgres.sh")],
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, f"deploy/start-postgres.sh failed:\n{done.stderr[-3000:]}"
    return done.stdout.strip().splitlines()[-1]


def migrated_template(base: str, name: str) -> str:
    """A database `name`, made anew and migrated to head: the template that fresh_postgres
    copies (for the tests and the benchmarks alike)."""
    with _admin(base) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    from grader.service.db import Database

    database = Database(with_name(base, name))
    database.migrate()
    database.dispose()
    return with_name(base, name)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL role that may create databases, and a template migrated to head."""
    with open("/tmp/ipc-grader-tests-postgres.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # test workers in parallel (xdist) start it once
        base = start_postgres()
    template = f"grader_tmpl_{os.getpid()}"
    yield migrated_template(base, template)
    with _admin(base) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)')


def fresh_postgres(template_url: str) -> str:
    """A new database, a copy of the migrated template; drop_postgres() when done."""
    from sqlalchemy.engine import make_url

    template = make_url(template_url).database
    name = f"grader_t_{os.getpid()}_{secrets.token_hex(4)}"
    with _admin(template_url) as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return with_name(template_url, name)


def drop_postgres(url: str) -> None:
    from sqlalchemy.engine import make_url

    name = make_url(url).database
    with _admin(with_name(url, "postgres")) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=DATABASES)
def database(request) -> Iterator[str | None]:
    """The test's database URL: None for SQLite (grader.toml's default, a file in DATA),
    or a PostgreSQL database of its own."""
    if request.param == "sqlite":
        yield None
        return
    url = fresh_postgres(request.getfixturevalue("postgres_url"))
    try:
        yield url
    finally:
        drop_postgres(url)
