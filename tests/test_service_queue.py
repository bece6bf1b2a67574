"""The job queue, in-process, on SQLite and on PostgreSQL: one job for a double click (our
check, and procrastinate's queueing lock when two requests race), one grading per key
(the unique `gradings` row), stalled jobs found by heartbeat and retried then failed, the
metrics, `grade serve --check`. No grading runs here (tests/test_service_e2e.py grades in
docker): a job's end is played by the Grader's own _finish.
"""
# ruff: noqa: F811 (fixtures imported from tests/service_db.py are parameters here)

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select, text

from grader.service.db import Grading, Job, Submission
from grader.service.jobs import MAX_RETRIES, Grader, Retry
from tests.service_config import INSTRUCTOR_TOKEN
from tests.service_db import database, postgres_url  # noqa: F401 (fixtures)
from tests.test_service import SOURCES, platform, served, tool_key, zip_of  # noqa: F401

AUTH = {"Authorization": f"Bearer {INSTRUCTOR_TOKEN}"}
KEY = {"content_hash": "c" * 64, "grader_version": "0.1.0", "assignment_version": "v1",
       "image": "sha256:x", "selection": "all"}


def upload(served, student: str = "ada") -> tuple[str, int]:
    answer = served.upload(zip_of(SOURCES), student=student)
    assert answer.status_code == 202, answer.text
    return answer.json()["submission"], answer.json()["job"]


def tasks(served) -> list[tuple[int, str, str]]:
    """procrastinate's tasks: (job id, status, queueing lock)."""
    with served.service.db.session() as session:
        rows = session.execute(text(
            "SELECT (args->>'job_id')::int, status::text, coalesce(queueing_lock, '') "
            "FROM procrastinate_jobs WHERE task_name = 'ipc_grader.grade' ORDER BY id"))
        return [tuple(row) for row in rows]


def test_double_click_queues_one_job(served):
    submission, first = upload(served)
    one = served.client.post(f"/api/submissions/{submission}/regrade", headers=AUTH).json()
    two = served.client.post(f"/api/submissions/{submission}/regrade", headers=AUTH).json()
    # The upload's job still waits: a regrade is that job; a double click too.
    assert (one["job"], one["already_queued"]) == (first, True)
    assert (two["job"], two["already_queued"]) == (first, True)
    assert served.count(Job) == 1
    if served.service.queue is not None:
        assert tasks(served) == [(first, "todo", f"submission:{submission}")]


def test_racing_requests_meet_the_queueing_lock(served):
    """Two requests past our "already queued?" check at once (two transactions): on
    PostgreSQL procrastinate's queueing lock lets one job through, the other request gets
    it back; on SQLite the IMMEDIATE transactions run one after the other."""
    from grader.service.intake import enqueue

    submission, first = upload(served)
    with served.service.db.session() as session:  # the upload's job is taken: none waits
        session.get(Job, first).state = "running"
        if served.service.queue is not None:
            session.execute(text("UPDATE procrastinate_jobs SET status = 'doing'"))
    results, inside = [], threading.Barrier(2, timeout=10)

    def request() -> None:
        with served.service.db.session() as session:
            if served.service.queue is not None:
                inside.wait()  # both transactions open before either inserts
            job, created = enqueue(served.service, session, submission, reason="regrade")
            results.append((job.id, created))
            time.sleep(0.3)  # the other one meets our uncommitted task meanwhile

    threads = [threading.Thread(target=request) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(created for _, created in results) == [False, True], results
    assert len({job for job, _ in results}) == 1
    assert served.count(Job) == 2  # the upload's, and one regrade
    if served.service.queue is not None:
        assert [t[1] for t in tasks(served)] == ["doing", "todo"]


def _job(served, submission: str, **fields) -> Job:
    with served.service.db.session() as session:
        job = Job(submission_id=submission, state="running", **fields)
        session.add(job)
        session.flush()
        session.expunge(job)
        return job


def test_one_grading_per_key_even_while_it_runs(served):
    """The unique row per (assignment, content hash, versions): the first job of a key
    grades it, a twin waits while it runs and then reuses it; a forced regrade asked
    before that grading finished reuses it too, one asked after grades round 1."""
    submission, _ = upload(served)
    grader = Grader(served.service)

    def take(job: Job, force: bool = False) -> Grading:
        with served.service.db.session() as session:
            row = session.get(Job, job.id)
            grading = grader._take(session, row, "assignment1", KEY, force)
            session.expunge(grading)
            return grading

    first, twin = _job(served, submission), _job(served, submission)
    early_force = _job(served, submission, force=1)
    assert take(first).job_id == first.id
    assert take(first).job_id == first.id  # its own, when a retry of it comes back
    with pytest.raises(Retry, match=f"waiting for job {first.id}"):
        take(twin)
    with pytest.raises(Retry):
        take(early_force, force=True)
    report = _report()
    grader._finish(first.id, status="graded", report=report)
    assert take(twin).job_id == first.id
    assert take(early_force, force=True).job_id == first.id
    time.sleep(0.01)
    late_force = _job(served, submission, force=1)
    again = take(late_force, force=True)
    assert (again.job_id, again.round) == (late_force.id, 1)
    with served.service.db.session() as session:
        assert session.scalar(select(Grading.state).where(Grading.round == 0)) == "graded"


def _report():
    from grader.report import BuildResult, CheckResult, GradeReport, Status

    return GradeReport("assignment1", "sum server", "s", BuildResult(True, "make"),
                       [CheckResult("sums_rounds", "sums", 6, 6, Status.PASSED)])


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_stalled_job_is_retried_then_failed(served):
    """A worker that dies mid-job (its heartbeat stops) leaves its task "doing": the
    periodic reaper retries it, MAX_RETRIES times; the next time the job is failed, with
    its reason on the instructor's page. (PostgreSQL only: on SQLite the pool retakes a
    dead server's jobs at start, as test_service_e2e shows.)"""
    queue = served.service.queue
    submission, job_id = upload(served)

    def die_while_grading() -> None:
        """What a worker does when it takes the job, then what its SIGKILL leaves."""
        with served.service.db.session() as session:
            worker = session.execute(text(
                "INSERT INTO procrastinate_workers (last_heartbeat) VALUES "
                "(now() - interval '1 hour') RETURNING id")).scalar()
            session.execute(text(
                "UPDATE procrastinate_jobs SET status = 'doing', worker_id = :w "
                "WHERE status = 'todo' AND (args->>'job_id')::int = :j"),
                {"w": worker, "j": job_id})
        assert Grader(served.service).claim(job_id)

    async def reap() -> str:
        app = queue.worker_app(pool_size=2)
        async with app.open_async():
            return await queue.reap(app)

    for attempt in range(1, MAX_RETRIES + 1):
        die_while_grading()
        assert asyncio.run(reap()) == f"{job_id}:retry"
        with served.service.db.session() as session:
            job = session.get(Job, job_id)
            assert (job.state, job.stalls) == ("queued", attempt)
            assert "no heartbeat" in job.verdict
        assert [t[1] for t in tasks(served)] == ["todo"]
    die_while_grading()
    assert asyncio.run(reap()) == f"{job_id}:failed"
    assert [t[1] for t in tasks(served)] == ["failed"]
    assert asyncio.run(reap()) == "nothing stalled"
    table = served.client.get("/api/courses/os101/assignments/hw1", headers=AUTH).json()
    row = table["students"][0]
    assert row["status"] == "failed" and "retried 3 times" in row["verdict"]
    page = served.client.get("/courses/os101/assignments/hw1", headers=AUTH)
    assert "retried 3 times" in page.text
    with served.service.db.session() as session:
        assert session.get(Submission, submission).state == "ready"


def test_metrics(served):
    submission, _ = upload(served)
    grader = Grader(served.service)
    for seconds in (2.0, 4.0):
        job = _job(served, submission)
        with served.service.db.session() as session:
            session.add(Grading(assignment_id="assignment1", **{**KEY, "content_hash":
                                str(seconds)}, job_id=job.id, started_at=time.time() -
                                seconds))
        grader._finish(job.id, status="graded", report=_report())
    with served.service.db.session() as session:
        session.get(Job, job.id).stalls = 2
        session.get(Job, job.id).retries = 3
    answer = served.client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(answer.text)
               for s in family.samples}
    assert samples[("ipc_grader_queue_depth", ())] == 1  # the upload's job
    assert samples[("ipc_grader_jobs_finished_total", (("status", "graded"),))] == 2
    assert samples[("ipc_grader_jobs_per_minute", ())] == pytest.approx(2 / 5)
    assert samples[("ipc_grader_grading_seconds_count", ())] == 2
    assert samples[("ipc_grader_grading_seconds", (("quantile", "0.5"),))] == \
        pytest.approx(3.0, abs=0.1)
    assert samples[("ipc_grader_jobs_stalled_total", ())] == 2
    assert samples[("ipc_grader_jobs_retried_total", ())] == 3
    assert ("ipc_grader_workers", ()) in samples or served.service.queue is None


def test_serve_check(served, capsys):
    from grader.cli import main

    upload(served)
    code = main(["serve", "--check", "--config", str(served.service.config.path)])
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines()}
    assert set(lines) == {"database", "queue", "docker"}, out
    assert " ok " in lines["database"] and "schema current" in lines["database"]
    assert "grader:grader@" not in out  # no password shown
    if served.service.queue is not None:
        assert "procrastinate: 1 task(s) waiting" in lines["queue"]
    else:
        assert "in-process pool" in lines["queue"]
    assert code == (0 if " ok " in lines["docker"] or " -  " in lines["docker"] else 1)


def test_worker_needs_postgresql(tmp_path, capsys):
    from grader.cli import main
    from tests.service_config import write_config

    code = main(["worker", "--config", str(write_config(tmp_path))])
    assert code == 2
    assert "needs PostgreSQL" in capsys.readouterr().err
