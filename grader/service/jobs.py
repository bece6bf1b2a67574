"""Grading jobs: the one job logic (Grader), and the worker pool inside `grade serve` that
runs it on one machine (SQLite). `grade worker` (worker.py) runs the very same Grader.run
from procrastinate tasks (queue.py) on any number of machines (PostgreSQL).

A job is claimed (the pool: the oldest queued job, SELECT ... FOR UPDATE SKIP LOCKED where
the database has it, an IMMEDIATE transaction on SQLite; a procrastinate task: its own job,
if it is still queued), then Grader.run:
  1. a pushed submission is fetched first (fetch.py) and becomes immutable sources with a
     content hash, or is refused with the batch's verdict (unsafe, too large, no sources);
  2. the job's key is (assignment, content hash, grader version, assignment version, image
     digest, checks selected), and its grading is a row of `gradings`, unique per key and
     round: the job that inserts it grades; a job of the same key waits while it runs
     (a redelivered webhook, a double click, the same code pushed twice, on any machine:
     graded once) and reuses its report when it is graded; a forced regrade reuses only a
     grading that finished after it was asked for, else grades round + 1;
  3. `python -m grader.batch.worker` grades it (the batch's own worker: its own process and
     sandbox, killed with us by its parent-death signal, its container with it) with an
     environment of a few names (ENVIRONMENT): no secret of the server's reaches it;
  4. the job's report, its grading's state and its outbox row (passback.plan) are committed
     together: a grade is never lost between the two, nor posted twice by us
     (platforms.md, trap 3).

A job whose worker died (SIGKILL, a machine lost) stays "running". The pool takes such
jobs again at start (SQLite: one server per database, so every running job is a dead
server's); on PostgreSQL a periodic task finds them by the worker's heartbeat (queue.py).
Either way through stalled(): a job found stalled more than MAX_RETRIES times is failed,
with the reason, on the instructor's page.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from grader import __version__
from grader.batch.runner import (
    STOP_GRACE_S,
    WORKER_SLACK_S,
    batch_backend,
    load_report,
    terminate_group,
)
from grader.batch.store import assignment_version
from grader.batch.unpack import SUBMISSION_CAPS, Budget, Refused, content_hash, prepare
from grader.grading import run_budget
from grader.report import GradeReport
from grader.sandbox import SandboxError
from grader.service.context import Service
from grader.service.db import Grading, Job, Submission, now
from grader.service.fetch import FetchError, fetch_commit

log = logging.getLogger("grader.service.jobs")

HEARTBEAT_S = 5.0
STALE_S = 60.0
MAX_TRIES = 3     # a job that fails to start its grading (fetch, sandbox) this often: error
MAX_RETRIES = 3   # a job whose worker died under it is retried this often, then failed
WAIT_S = 2.0      # a job waiting for its twin's grading looks again after this
FETCH_RETRY_S = 30.0
ENVIRONMENT = ("PATH", "LANG", "LC_ALL", "HOME", "GRADER_ROOT", "GRADER_IMAGE", "DOCKER_HOST",
               "DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY", "VIRTUAL_ENV", "PYTHONPATH")
"""What a grading process inherits: where the grader, its assignments and the docker engine
are. Not the server's secrets ("env:NAME" values of grader.toml), nor anything else."""


def iso(stamp: float) -> str:
    """Unix seconds as ISO 8601 with milliseconds and an offset (what AGS asks)."""
    return datetime.fromtimestamp(stamp, UTC).isoformat(timespec="milliseconds")


class Retry(Exception):
    """Put the job back in the queue, to be taken again after `delay` seconds."""

    def __init__(self, delay: float, why: str, counts: bool = True) -> None:
        super().__init__(why)
        self.delay = delay
        self.counts = counts  # a try of the job's own (not: waiting for a twin)


class Grader:
    """The job logic, whoever runs it: the pool's threads here, procrastinate's tasks in
    `grade worker`. run() takes a claimed job to its end (or back to the queue)."""

    def __init__(self, service: Service, on_graded=None) -> None:
        self.service = service
        self.on_graded = on_graded    # called (no argument) after a job is done
        self.procs: dict[int, subprocess.Popen] = {}
        self.lock = threading.Lock()

    def stop_gradings(self) -> None:
        """Stop the gradings under way (their sandboxes destroyed); their jobs go back to
        the queue (service.stopping must be set first)."""
        with self.lock:
            procs = list(self.procs.values())
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)

    def claim(self, job_id: int) -> bool:
        """Take this job if it is still queued (a procrastinate task's job: a second
        delivery of it finds it taken or done)."""
        with self.service.db.session() as session:
            taken = session.execute(
                update(Job).where(Job.id == job_id, Job.state == "queued")
                .values(state="running", owner=self.service.owner, started_at=now(),
                        heartbeat_at=now(), tries=Job.tries + 1))
            return bool(taken.rowcount)

    def run(self, job_id: int) -> None:
        """Grade a claimed job, reuse its twin's result, or put it back in the queue."""
        service = self.service
        try:
            with service.db.session() as session:
                job = session.get(Job, job_id)
                submission = session.get(Submission, job.submission_id)
                tries, force = job.tries, bool(job.force)
                session.expunge(submission)
            try:
                self._grade(job_id, submission, force)
            except Retry as retry:
                if service.stopping.is_set() or tries < MAX_TRIES or not retry.counts:
                    self.requeue(job_id, retry)
                else:
                    self._finish(job_id, status="error", verdict=str(retry))
        except Exception:
            log.exception("job %s failed", job_id)
            with contextlib.suppress(Exception):
                self._finish(job_id, status="error", verdict="the server failed on this job "
                             "(see its log)")

    def requeue(self, job_id: int, retry: Retry) -> None:
        service = self.service
        with service.db.session() as session:
            job = session.get(Job, job_id)
            job.state, job.owner = "queued", ""
            job.not_before = now() + retry.delay
            job.verdict = str(retry)
            if service.stopping.is_set() or not retry.counts:
                job.tries -= 1  # stopped on purpose, or waiting: not the job's fault
            else:
                job.retries += 1
            service.dispatch(session, job)

    def _grade(self, job_id: int, submission: Submission, force: bool) -> None:
        service = self.service
        assignment = service.assignment(submission.assignment_id)
        course = service.config.course(submission.course)
        entry = course.assignments.get(submission.assignment) if course else None
        only = entry.only if entry else None
        if submission.state == "received":
            submission = self._fetch(submission, course, assignment)
        if submission.state == "refused":
            self._finish(job_id, status="refused", verdict=submission.verdict)
            return
        try:
            backend, image = batch_backend(service.config.backend)
        except Exception as error:  # no engine now: wait for it
            raise Retry(60.0, f"no grading backend: {error}") from None
        selection = ",".join(sorted(only)) if only is not None else "all"
        key = {"content_hash": submission.content_hash, "grader_version": __version__,
               "assignment_version": assignment_version(assignment), "image": image,
               "selection": selection}
        with service.db.session() as session:
            job = session.get(Job, job_id)
            for name, value in key.items():
                setattr(job, name, value)
            grading = self._take(session, job, submission.assignment_id, key, force)
            reused = None
            if grading.job_id != job_id:
                reused = grading.job_id, session.get(Job, grading.job_id).report
        if reused is not None:
            report = GradeReport.from_dict(json.loads(reused[1]))
            report.submission = submission.id
            self._finish(job_id, status="graded", report=report, reused_from=reused[0])
            return
        sources = service.sources_of(submission)
        report, why = self._run_grading(job_id, submission, sources, assignment, backend, only)
        if report is None:
            if service.stopping.is_set():
                raise Retry(0.0, "the server stopped during the grading")
            self._finish(job_id, status="error", verdict=why)
            return
        self._finish(job_id, status="graded", report=report)

    def _take(self, session, job: Job, assignment_id: str, key: dict, force: bool
              ) -> Grading:
        """This job's grading: its own (inserted now, or left running by a try of it that
        died), or a graded twin's to reuse; Retry while a twin grades the same key."""
        same = (Grading.assignment_id == assignment_id,
                *(getattr(Grading, k) == v for k, v in key.items()))
        latest = session.scalar(select(Grading).where(*same).order_by(Grading.round.desc())
                                .limit(1).with_for_update())
        if latest is not None:
            if latest.state == "running":
                if latest.job_id == job.id:
                    return latest
                raise Retry(WAIT_S, f"waiting for job {latest.job_id}, which grades the same "
                                    f"content", counts=False)
            if latest.state == "graded" and (not force or
                                             (latest.finished_at or 0) >= job.created_at):
                return latest
        grading = Grading(assignment_id=assignment_id, **key, job_id=job.id, state="running",
                          round=latest.round + 1 if latest is not None else 0,
                          started_at=now())
        try:
            with session.begin_nested():  # the unique key: one job of a key inserts it
                session.add(grading)
        except IntegrityError:
            raise Retry(0.2, "another job began grading the same content", counts=False
                        ) from None
        return grading

    def _fetch(self, submission: Submission, course, assignment) -> Submission:
        """The pushed commit into DATA/sources/<id>/, once; the submission then immutable."""
        service = self.service
        final = service.sources / submission.id
        notes: list[str] = []
        with tempfile.TemporaryDirectory(prefix=f"fetch-{submission.id}-",
                                         dir=service.work) as tmp:
            staged = Path(tmp) / "staged"
            budget = Budget(SUBMISSION_CAPS)
            repository = submission.origin.rpartition("/")[2]
            try:
                if course is None:
                    raise FetchError(f"course {submission.course} is no longer configured")
                fetch_commit(course.git_base_url, repository, submission.commit,
                             submission.ref, staged, budget)
                unpacked = prepare(staged, budget, assignment.programs)
            except FetchError as error:
                raise Retry(FETCH_RETRY_S, str(error)) from None
            except Refused as refusal:
                state, verdict, digest = "refused", f"{refusal.status}: {refusal}", None
            else:
                if final.exists():
                    shutil.rmtree(final)
                unpacked.folder.rename(final)
                state, verdict, digest = "ready", "", content_hash(final)
                notes = unpacked.notes
        with service.db.session() as session:
            row = session.get(Submission, submission.id)
            row.state, row.verdict, row.content_hash = state, verdict, digest
            row.notes = json.dumps(notes)
            if state == "ready":
                service.keep_sources(session, submission.id, final)
            session.flush()
            session.expunge(row)
        return row

    def _run_grading(self, job_id: int, submission: Submission, sources: Path, assignment,
                     backend: str, only) -> tuple[GradeReport | None, str]:
        service = self.service
        folder = Path(tempfile.mkdtemp(prefix=f"job-{job_id}-", dir=service.work))
        out, log_path = folder / "report.json", folder / "grading.log"
        argv = ["setpriv", "--pdeathsig", "KILL", sys.executable, "-m", "grader.batch.worker",
                str(assignment.folder), str(sources), str(out),
                "--backend", backend, "--parent", str(os.getpid())]
        if only is not None:
            argv += ["--only", ",".join(sorted(only))]
        env = grading_environment(folder)
        budget = run_budget(assignment, only) + WORKER_SLACK_S
        started = time.monotonic()
        code: int | None = None
        try:
            with open(log_path, "wb") as err:
                with self.lock:
                    if service.stopping.is_set():
                        return None, "stopped"
                    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                            stdout=subprocess.DEVNULL, stderr=err, env=env,
                                            start_new_session=True)
                    self.procs[job_id] = proc
                try:
                    while True:
                        try:
                            code = proc.wait(HEARTBEAT_S)
                            break
                        except subprocess.TimeoutExpired:
                            self._heartbeat(job_id)
                            if time.monotonic() - started > budget:
                                terminate_group(proc)
                                code = None
                                break
                finally:
                    with self.lock:
                        self.procs.pop(job_id, None)
            report = load_report(out)
            if report is not None:
                report.submission = submission.id
                notes = json.loads(submission.notes or "[]")
                report.notes[:0] = notes
                return report, ""
            tail = log_path.read_text(errors="replace").strip()[-1500:]
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        if code == 2 and "grade:" in tail:  # the sandbox could not start: try again later
            raise Retry(60.0, f"the grading could not start: {tail}")
        if code is None:
            why = f"the grading did not finish within {budget:.0f} s and was stopped"
        elif code < 0:
            why = f"the grading process was killed by {signal.Signals(-code).name}"
        else:
            why = f"the grading process failed (exit code {code})"
        return None, f"{why}: {tail}" if tail else why

    def _heartbeat(self, job_id: int) -> None:
        with contextlib.suppress(Exception), self.service.db.session() as session:
            session.execute(update(Job).where(Job.id == job_id).values(heartbeat_at=now()))

    def _finish(self, job_id: int, *, status: str, verdict: str = "",
                report: GradeReport | None = None, reused_from: int | None = None) -> None:
        """The job done, its grading's state, and its passback queued, in one transaction."""
        finished = now()
        with self.service.db.session() as session:
            job = session.get(Job, job_id)
            finish(session, self.service, job, status=status, verdict=verdict, report=report,
                   reused_from=reused_from, finished=finished)
        if self.on_graded is not None:
            self.on_graded()


def finish(session, service: Service, job: Job, *, status: str, verdict: str = "",
           report: GradeReport | None = None, reused_from: int | None = None,
           finished: float | None = None) -> None:
    """A job done (graded | error | refused | failed), in the caller's transaction: its
    report, the grading it held (graded, or failed: its twins then grade themselves), and
    the outbox row of a graded job."""
    from grader.service.passback import plan

    finished = finished or now()
    job.state, job.status, job.finished_at = "done", status, finished
    job.reused_from = reused_from
    job.graded_at = iso(finished)
    if report is not None:
        job.report = report.to_json()
        job.score, job.max_score = report.score, report.max_score
        job.verdict = f"{report.score:g}/{report.max_score:g}"
    else:
        job.verdict = verdict[:4000]
    session.execute(update(Grading).where(Grading.job_id == job.id,
                                          Grading.state == "running")
                    .values(state="graded" if status == "graded" and reused_from is None
                            else "failed", finished_at=finished))
    if status == "graded":
        submission = session.get(Submission, job.submission_id)
        plan(session, service, job, submission)


def stalled(session, service: Service, job: Job, why: str) -> bool:
    """A job whose worker died under it: back to the queue (True), or failed when that
    already happened MAX_RETRIES times (False). In the caller's transaction."""
    if job.stalls >= MAX_RETRIES:
        finish(session, service, job, status="failed",
               verdict=f"not tried again: its grading was retried {job.stalls} times and "
                       f"its worker died each time (a submission that kills its grader, or "
                       f"machines lost); the last time: {why}")
        return False
    job.state, job.owner, job.not_before = "queued", "", 0.0
    job.stalls += 1
    job.retries += 1
    job.verdict = f"retried ({job.stalls} of {MAX_RETRIES}): {why}"
    return True


class WorkerPool(Grader):
    """`grade serve`'s own gradings (SQLite, one machine): `count` threads claiming jobs."""

    def __init__(self, service: Service, count: int, on_graded=None) -> None:
        super().__init__(service, on_graded)
        self.count = count
        self.threads: list[threading.Thread] = []
        self.wake = threading.Condition()

    # ---- life ---------------------------------------------------------------------------------

    def recover(self) -> int:
        """Queue again the jobs a dead server left running; returns how many."""
        service = self.service
        taken = 0
        with service.db.session() as session:
            query = select(Job).where(Job.state == "running")
            if not service.db.is_sqlite:
                query = query.where(Job.heartbeat_at < now() - STALE_S)
            for job in session.scalars(query.with_for_update(skip_locked=True)):
                taken += stalled(session, service, job, "the server stopped during the "
                                 "grading (killed, or the machine lost)")
        return taken

    def start(self) -> None:
        taken = self.recover()
        if taken:
            log.info("%d job(s) of a server that stopped are queued again", taken)
        for number in range(self.count):
            thread = threading.Thread(target=self._loop, name=f"grader-{number}", daemon=True)
            thread.start()
            self.threads.append(thread)

    def notify(self) -> None:
        with self.wake:
            self.wake.notify_all()

    def stop(self) -> None:
        """Stop the gradings under way (their sandboxes destroyed) and put their jobs back."""
        self.service.stopping.set()
        self.notify()
        self.stop_gradings()
        for thread in self.threads:
            thread.join(STOP_GRACE_S + 5)

    # ---- one worker ---------------------------------------------------------------------------

    def _loop(self) -> None:
        service = self.service
        while not service.stopping.is_set():
            try:
                job_id = self.next_job()
            except Exception:  # the database is busy or gone for a moment
                log.exception("claiming a job failed")
                job_id = None
            if job_id is None:
                with self.wake:
                    self.wake.wait(1.0)
                continue
            self.run(job_id)

    def next_job(self) -> int | None:
        with self.service.db.session() as session:
            job = session.scalar(select(Job).where(Job.state == "queued",
                                                   Job.not_before <= now())
                                 .order_by(Job.id).limit(1)
                                 .with_for_update(skip_locked=True))
            if job is None:
                return None
            job.state, job.owner = "running", self.service.owner
            job.started_at = job.heartbeat_at = now()
            job.tries += 1
            return job.id


def grading_environment(tmp: Path) -> dict[str, str]:
    """The environment of a grading process: ENVIRONMENT's names, and its own TMPDIR."""
    env = {k: os.environ[k] for k in ENVIRONMENT if k in os.environ}
    env.update(TMPDIR=str(tmp), PYTHONDONTWRITEBYTECODE="1")
    return env


def check_backend(requested: str) -> tuple[str, str]:
    """The backend and image `grade serve` grades with, or SandboxError with the reason
    (docker; local only as root, where it jails student code: grader/batch/runner.py)."""
    from grader.batch.runner import BatchError

    try:
        return batch_backend(requested)
    except BatchError as error:
        raise SandboxError(str(error)) from None
