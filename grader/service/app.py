"""The FastAPI application and the life of `grade serve`.

Start: the config is read; the grading backend checked (docker, or local only as root, where
it jails student code: the batch's rule, grader/batch/runner.py); the tool's key read when a
course has an LMS; the data folder locked (one server per SQLite database) and its work/
emptied; the migrations applied; the jobs of a dead server queued again; then the worker
pool, the outbox, and uvicorn on the configured address (one process: the workers are
threads, each grading in a process of its own).

With PostgreSQL (`database = "postgresql+psycopg://..."`) `grade serve` grades nothing
itself: it defers each job as a procrastinate task (queue.py) that `grade worker`s take, on
any number of machines (worker.py); it still sends the grades (the outbox) and serves the
pages. It then needs no docker engine of its own.

Stop (Ctrl-C, SIGTERM): uvicorn stops taking requests, the gradings under way are stopped
(their sandboxes destroyed) and their jobs queued again for the next start. SIGKILL: the
grading processes die with the server (parent-death signal) and their containers with them;
at the next start their jobs are taken again, and the outbox posts what it had not.
"""

from __future__ import annotations

import logging
import stat
import sys
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from grader import __version__
from grader.sandbox import SandboxError
from grader.service.config import Config, ConfigError, load_config
from grader.service.context import Service, ServiceError
from grader.service.db import Database

log = logging.getLogger("grader.service")


def create_app(service: Service, *, background: bool = True) -> FastAPI:
    """The application. With `background`, the worker pool and the outbox run while it is
    served (a test may drive them itself)."""
    from grader.service import intake, lti, metrics, pages
    from grader.service.jobs import WorkerPool
    from grader.service.passback import Outbox

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if background:
            service.outbox = Outbox(service)
            if service.queue is None:
                service.pool = WorkerPool(service, service.config.worker_count,
                                          on_graded=service.outbox.notify)
                service.pool.start()
            service.outbox.start()
            if service.pool is not None:
                log.info("grade serve %s: %d grading workers, %s backend, on %s", __version__,
                         service.pool.count, service.config.backend, service.config.base_url)
            else:
                log.info("grade serve %s: gradings by `grade worker`s (PostgreSQL), on %s",
                         __version__, service.config.base_url)
        try:
            yield
        finally:
            service.stopping.set()
            if service.pool is not None:
                service.pool.stop()
            if service.outbox is not None:
                service.outbox.stop()

    app = FastAPI(title="ipc-grader", version=__version__, lifespan=lifespan,
                  docs_url=None, redoc_url=None, openapi_url=None)
    app.state.service = service
    for module in (intake, lti, pages, metrics):
        app.include_router(module.router)
    return app


def prepare(config: Config, *, check_backend: bool = True, grades: bool = False) -> Service:
    """Everything before serving (or working): checks, lock, migrations, the queue.
    ServiceError says what is wrong. The backend is checked where gradings happen: here on
    SQLite, in each `grade worker` (grades=True) on PostgreSQL."""
    if check_backend and (grades or not config.is_postgresql):
        from grader.service.jobs import check_backend as check

        try:
            check(config.backend)
        except SandboxError as error:
            raise ServiceError(f"cannot grade: {error}") from None
    if not grades and any(c.lti for c in config.courses.values()):
        from grader.service.keys import ToolKey, ToolKeyError

        if config.private_key is None:
            raise ServiceError(f"{config.path}: tool.private_key: missing (a course has an "
                               f"LTI platform: make a key with `grade serve keys --new "
                               f"tool-key.pem`)")
        try:
            ToolKey.load(config.private_key)
        except ToolKeyError as error:
            raise ServiceError(str(error)) from None
    mode = config.path.stat().st_mode
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        log.warning("%s is readable by other users and may hold secrets: chmod 600 it",
                    config.path)
    service = Service(config, Database(config.database))
    service.open()
    try:
        service.db.migrate()
    except Exception as error:
        service.close()
        raise ServiceError(f"{shown_url(config.database)}: the migrations failed: {error}"
                           ) from None
    if config.is_postgresql:
        from grader.service.queue import Queue

        service.queue = Queue(service)
    return service


def shown_url(url: str) -> str:
    """A database URL without its password, for messages."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def check(config_path: Path) -> int:
    """`grade serve --check`: does the database answer (and is its schema current), the
    queue (procrastinate's tables, the workers' heartbeats; or the in-process pool), a
    docker engine? One line each; exit 0 when all answer."""
    from sqlalchemy import text

    try:
        config = load_config(config_path)
    except ConfigError as error:
        print(f"grade serve: {error}", file=sys.stderr)
        return 2
    results: list[tuple[str, bool | None, str]] = []
    database = Database(config.database)
    service = Service(config, database)
    try:
        with database.session() as session:
            session.execute(text("SELECT 1"))
        from alembic.migration import MigrationContext
        from alembic.script import ScriptDirectory

        from grader.service.migrations import alembic_config

        with database.engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
        head = ScriptDirectory.from_config(alembic_config()).get_current_head()
        state = "schema current" if current == head else \
            f"schema at {current or 'nothing'}, {head} applied at the next start"
        results.append(("database", True, f"{shown_url(config.database)} answers ({state})"))
        db_ok = True
    except Exception as error:
        results.append(("database", False, f"{shown_url(config.database)}: "
                        f"{type(error).__name__}: {str(error).splitlines()[0][:300]}"))
        db_ok = False
    if not config.is_postgresql:
        results.append(("queue", db_ok, f"the in-process pool of `grade serve` "
                        f"({config.worker_count} workers; SQLite)"))
    elif db_ok:
        from grader.service.queue import check as check_queue

        try:
            results.append(("queue", True, f"procrastinate: {check_queue(service)}"))
        except Exception as error:
            results.append(("queue", False, f"procrastinate: {error}"))
    else:
        results.append(("queue", False, "procrastinate: the database does not answer"))
    try:
        import docker

        client = docker.from_env(timeout=10)
        info = client.version()
        client.close()
        results.append(("docker", True, f"engine {info.get('Version', '?')} answers"))
    except Exception as error:
        why = f"{type(error).__name__}: {str(error).splitlines()[0][:200] if str(error) else ''}"
        if config.is_postgresql:  # this server grades nothing: its workers need one
            results.append(("docker", None, f"none here ({why}): needed on the machines "
                            f"of `grade worker`, not by this server"))
        else:
            results.append(("docker", config.backend != "docker", why))
    database.dispose()
    for name, ok, line in results:
        print(f"{name:9} {'ok  ' if ok else '-   ' if ok is None else 'FAIL'} {line}")
    return 0 if all(ok is not False for _, ok, _ in results) else 1


def serve(config_path: Path) -> int:
    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        config = load_config(config_path)
        service = prepare(config)
    except (ConfigError, ServiceError) as error:
        print(f"grade serve: {error}", file=sys.stderr)
        return 2
    try:
        server = uvicorn.Server(uvicorn.Config(create_app(service), host=config.host,
                                               port=config.port, log_level="info",
                                               timeout_graceful_shutdown=10))
        server.run()
    finally:
        service.close()
    return 0


def keys(config_path: Path, new: Path | None) -> int:
    """Print the tool's public JWKS (what the platform is given); --new makes the key."""
    import json

    from grader.service.keys import ToolKey, ToolKeyError, new_key

    try:
        if new is not None:
            if new.exists():
                print(f"grade serve keys: {new} exists: not replaced", file=sys.stderr)
                return 2
            key = new_key(new)
        else:
            config = load_config(config_path)
            if config.private_key is None:
                print(f"grade serve keys: {config.path}: tool.private_key: missing (make one "
                      f"with `grade serve keys --new tool-key.pem`)", file=sys.stderr)
                return 2
            key = ToolKey.load(config.private_key)
    except (ConfigError, ToolKeyError, OSError) as error:
        print(f"grade serve keys: {error}", file=sys.stderr)
        return 2
    print(json.dumps(key.jwks(), indent=2))
    return 0
