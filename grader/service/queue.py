"""The job queue on PostgreSQL: procrastinate (../shared/research/platforms.md §6).

Our `jobs` table stays the record of every grading (state, tries, report, the instructor's
page); procrastinate only carries "grade job N" to a worker on some machine:

  ipc_grader.grade(job_id)   queue "grading". Deferred in the very transaction that queues
                             our job (Service.dispatch: procrastinate's defer on our own
                             connection), so a job row and its task are committed together or
                             not at all. A new request carries the queueing lock
                             "submission:<id>": a second request for a submission whose job
                             still waits raises AlreadyEnqueued and is answered with the
                             waiting job (intake.enqueue). A queueing lock covers waiting jobs
                             only; once the first runs, the unique `gradings` row of its key
                             (jobs.py) makes the second reuse it instead of grading again.
                             The task claims our job (still queued?) and runs jobs.Grader.run,
                             the very code of the pool of `grade serve` on SQLite.
  ipc_grader.reap(timestamp) queue "maintenance", periodic (every reap_every_s). procrastinate
                             retries nothing by itself: a worker killed mid-job leaves its
                             job "doing" forever. This finds the jobs of workers whose
                             heartbeat is older than stalled_after_s (get_stalled_jobs, the
                             heartbeats of procrastinate >= 3.1) and retries them
                             (retry_job), our job back to queued first; a job found stalled
                             more than MAX_RETRIES times is failed instead (jobs.stalled).
                             Queueing lock and lock "reap": one at a time, however many
                             workers defer it.

Jobs are at-least-once (a worker may die after our commit and before procrastinate's): the
task does nothing for a job that is no longer queued, and the reaper finishes a stalled task
whose job is done.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from sqlalchemy.engine import make_url

from grader.service.context import Service
from grader.service.db import Job, now

log = logging.getLogger("grader.service.queue")

GRADE = "ipc_grader.grade"
REAP = "ipc_grader.reap"
GRADING = "grading"
MAINTENANCE = "maintenance"


def conninfo(url: str) -> str:
    """psycopg's connection string for SQLAlchemy's postgresql+psycopg://... URL."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def cron_every(seconds: float) -> str:
    """A cron line for "every `seconds`" (croniter's sixth field is seconds)."""
    seconds = max(1, round(seconds))
    if seconds < 60:
        return f"* * * * * */{seconds}"
    return f"*/{max(1, seconds // 60)} * * * *"


class Queue:
    """procrastinate for one process: `app` defers on our own connections (never opened);
    worker_app() is the app a `grade worker` runs, with its own connection pool."""

    def __init__(self, service: Service) -> None:
        from procrastinate import App, SyncPsycopgConnector

        self.service = service
        self.grader = None    # jobs.Grader, in a process that grades (`grade worker`)
        self.app = App(connector=SyncPsycopgConnector(conninfo=conninfo(service.db.url)))
        self._register(self.app)

    def worker_app(self, pool_size: int):
        from procrastinate import App, PsycopgConnector

        app = App(connector=PsycopgConnector(conninfo=conninfo(self.service.db.url),
                                             min_size=1, max_size=pool_size))
        self._register(app)
        return app

    def _register(self, app) -> None:
        config = self.service.config

        @app.task(name=GRADE, queue=GRADING)
        def grade(job_id: int) -> str:
            return self.grade(job_id)

        @app.periodic(cron=cron_every(config.reap_every_s), periodic_id="reap")
        @app.task(name=REAP, queue=MAINTENANCE, queueing_lock="reap", lock="reap",
                  pass_context=True)
        async def reap(context, timestamp: int) -> str:
            return await self.reap(context.app)

    # ---- deferring -----------------------------------------------------------------------------

    def defer(self, session, job: Job, lock: str | None = None) -> None:
        """Defer "grade job N" in the caller's transaction (raises AlreadyEnqueued for a
        queueing lock already held by a waiting job)."""
        connection = session.connection().connection.dbapi_connection
        options = {"connection": connection, "queueing_lock": lock}
        if job.not_before > now():
            options["schedule_at"] = datetime.fromtimestamp(job.not_before, UTC)
        self.app.configure_task(name=GRADE, queue=GRADING, **options).defer(job_id=job.id)

    # ---- the tasks -------------------------------------------------------------------------------

    def grade(self, job_id: int) -> str:
        grader = self.grader
        if grader is None:
            raise RuntimeError("this process does not grade (no Grader)")
        if not grader.claim(job_id):
            return "not queued any more (done, or taken by another worker)"
        grader.run(job_id)
        return "done"

    async def reap(self, app) -> str:
        """Retry the grading tasks of dead workers (or fail them after MAX_RETRIES)."""
        from procrastinate.jobs import Status

        config = self.service.config
        found = await app.job_manager.get_stalled_jobs(
            task_name=GRADE, seconds_since_heartbeat=config.stalled_after_s)
        outcomes = []
        for task in found:
            job_id = task.task_kwargs.get("job_id")
            why = (f"its worker (procrastinate worker {task.worker_id}) sent no heartbeat for "
                   f"{config.stalled_after_s:g} s: killed, or its machine lost")
            decision = await asyncio.to_thread(self._stalled, job_id, why)
            if decision == "retry":
                await app.job_manager.retry_job(task)
            else:
                status = Status.SUCCEEDED if decision == "done" else Status.FAILED
                await app.job_manager.finish_job(task, status=status, delete_job=False)
            log.warning("job %s: stalled task %s: %s", job_id, task.id, decision)
            outcomes.append(f"{job_id}:{decision}")
        return ", ".join(outcomes) or "nothing stalled"

    def _stalled(self, job_id, why: str) -> str:
        """Our side of a stalled task: "retry" (the job queued again), "failed" (too many
        retries), or "done" (the job had finished: only procrastinate did not know)."""
        from grader.service.jobs import stalled

        service = self.service
        with service.db.session() as session:
            job = session.get(Job, job_id, with_for_update=True) if job_id else None
            if job is None or job.state == "done":
                return "done"
            if job.state == "queued":  # a reaper that died between our commit and its retry
                return "retry"
            return "retry" if stalled(session, service, job, why) else "failed"


def check(service: Service) -> str:
    """One line: procrastinate's tables answer, and how many tasks wait (or an exception)."""
    from sqlalchemy import text

    with service.db.session() as session:
        if session.execute(text("SELECT to_regclass('procrastinate_jobs')")).scalar() is None:
            raise RuntimeError("procrastinate's schema is missing (the migrations were not "
                               "applied)")
        waiting = session.execute(text(
            "SELECT count(*) FROM procrastinate_jobs WHERE status = 'todo'")).scalar()
        workers = session.execute(text(
            "SELECT count(*) FROM procrastinate_workers WHERE last_heartbeat > "
            "now() - make_interval(secs => :s)"), {"s": service.config.stalled_after_s}
        ).scalar()
    return f"{waiting} task(s) waiting, {workers} procrastinate worker(s) alive"
