"""`grade worker [--config grader.toml] [--concurrency N]`: gradings on any machine that
reaches the PostgreSQL database (README "Scale-out").

It takes "grade job N" tasks from procrastinate (queue.py), grades each in the docker backend
with the very code of `grade serve`'s own pool (jobs.Grader.run), stores the report and
queues the passback (the outbox row; `grade serve` sends it). Two procrastinate workers
run in its event loop: "grading" (N at once) and "maintenance" (the periodic reaper of
stalled jobs), so that the reaper never waits behind gradings.

Signals (its own: `grade`'s main() turns SIGTERM into KeyboardInterrupt, which would tear the
sandboxes down at once):
  SIGTERM or Ctrl-C   no new job is taken; the gradings under way finish, up to
                      shutdown_timeout_s (grader.toml) or --shutdown-timeout; then they
                      are stopped (sandboxes destroyed) and their jobs queued again for
                      another worker; exit 0
  a second one        the same at once
  SIGKILL, power      the gradings die with it (parent-death signal, their containers
                      with them); the reaper of another worker retries their jobs once
                      this one's heartbeat is stalled_after_s old
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from pathlib import Path

from grader.service.config import ConfigError, load_config
from grader.service.context import ServiceError

log = logging.getLogger("grader.service.worker")


def work(config_path: Path, concurrency: int = 1, shutdown_timeout: float | None = None
         ) -> int:
    from grader.service.app import prepare
    from grader.service.jobs import Grader

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    if concurrency < 1:
        print("grade worker: --concurrency must be 1 or more", file=sys.stderr)
        return 2
    try:
        config = load_config(config_path)
        if not config.is_postgresql:
            raise ConfigError(f"{config.path}: server.database: `grade worker` needs "
                              f"PostgreSQL (postgresql+psycopg://...); on SQLite `grade "
                              f"serve` grades by itself")
        service = prepare(config, grades=True)
    except (ConfigError, ServiceError) as error:
        print(f"grade worker: {error}", file=sys.stderr)
        return 2
    grader = Grader(service)
    service.queue.grader = grader
    timeout = config.shutdown_timeout_s if shutdown_timeout is None else shutdown_timeout
    try:
        asyncio.run(_run(service, grader, concurrency, timeout))
    finally:
        service.close()
    return 0


async def _run(service, grader, concurrency: int, timeout: float) -> None:
    from procrastinate.worker import Worker

    from grader.service.queue import GRADING, MAINTENANCE

    config = service.config
    app = service.queue.worker_app(pool_size=concurrency + 6)
    loop = asyncio.get_running_loop()
    async with app.open_async():
        common = {"install_signal_handlers": False, "delete_jobs": "successful",
                  "update_heartbeat_interval": config.heartbeat_s,
                  "stalled_worker_timeout": config.stalled_after_s,
                  "fetch_job_polling_interval": 2.0}
        workers = [Worker(app, queues=[GRADING], concurrency=concurrency, name="grading",
                          **common),
                   Worker(app, queues=[MAINTENANCE], concurrency=1, name="maintenance",
                          **common)]
        signals = {"count": 0}

        def halt() -> None:
            """The deadline (or a second signal): stop the gradings, requeue their jobs."""
            if not service.stopping.is_set():
                log.warning("stopping the gradings under way: their jobs go back to the queue")
                service.stopping.set()
                grader.stop_gradings()

        def on_signal(number: int) -> None:
            signals["count"] += 1
            if signals["count"] == 1:
                running = len(grader.procs)
                log.info("%s: taking no new job; %d grading(s) under way may finish within "
                         "%g s", signal.Signals(number).name, running, timeout)
                for worker in workers:
                    worker.stop()
                loop.call_later(timeout, halt)
            else:
                halt()

        for number in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(number, on_signal, number)
        log.info("grade worker: %d grading(s) at once, %s backend, database %s", concurrency,
                 config.backend, service.db.engine.url.render_as_string(hide_password=True))
        try:
            await asyncio.gather(*(worker.run() for worker in workers))
        finally:
            for number in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(number)
    log.info("grade worker stopped")
