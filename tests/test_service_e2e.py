"""`grade serve` end to end, as a course runs it: the real server (a process of its own, the
docker backend), the simulated LTI platform, a git daemon on 127.0.0.1, signed deliveries.

Each grading is real (docker) but cut to two checks of assignment1 (tests/service_config.py
CHECKS): what is tested here is the path from a push or an upload to the gradebook, and what
survives a SIGKILL of the server.

Scale-out (PostgreSQL, issue 18): `grade serve` and `grade worker` processes on one database;
a worker SIGKILLed mid-grading, a worker stopped by SIGTERM. Gradings cut to one quick check
(QUICK): these tests are about the queue.
"""
# ruff: noqa: F811 (fixtures imported from tests/service_db.py are parameters here)

from __future__ import annotations

import contextlib
import io
import shutil
import subprocess
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from grader.assignment import ROOT
from grader.service.keys import new_key
from tests.service_config import INSTRUCTOR_TOKEN, UPLOAD_SECRET, WEBHOOK_SECRET, write_config
from tests.service_db import drop_postgres, fresh_postgres, postgres_url  # noqa: F401
from tests.service_sims import (
    GitServer,
    Platform,
    Server,
    WebhookSender,
    Worker,
    free_port,
    signed_upload,
)

BUGGY = "empty_round_no_reply"  # fails sums_rounds (6 of the 10 points)
STUDENTS = {f"s{n}": f"lti-s{n}" for n in range(1, 7)}


@pytest.fixture
def course(tmp_path, tree1, docker_image) -> Iterator[dict]:
    """A running course: platform, git server, tool key, grade serve (2 workers)."""
    key = tmp_path / "tool-key.pem"
    new_key(key)
    listen = f"127.0.0.1:{free_port()}"
    url = f"http://{listen}"
    with Platform() as platform, GitServer(tmp_path / "git") as git:
        platform.tool_jwks_url = f"{url}/.well-known/jwks.json"
        config = write_config(tmp_path, platform=platform, git_base_url=git.base_url,
                              listen=listen, key=key, workers=2, students=STUDENTS,
                              retry_base_s=0.5)
        server = Server(config, tree1, tmp_path / "serve.log")
        try:
            yield {"platform": platform, "git": git, "server": server.start(url), "url": url,
                   "hooks": WebhookSender(f"{url}/webhooks/github", WEBHOOK_SECRET)}
        finally:
            server.stop()
            print(server.tail())


def sources(reference1: Path, where: Path, *, mutant: str | None = None, tag: str = ""
            ) -> Path:
    """The reference's sources (with a mutant's patch), made distinct by a comment."""
    folder = where / f"src-{mutant or 'reference'}-{tag}"
    folder.mkdir(parents=True)
    for name in ("server.c", "client.c", "Makefile"):
        if (reference1 / name).is_file():
            shutil.copy(reference1 / name, folder / name)
    if mutant:
        patch = ROOT / "reference" / "assignment1" / "mutants" / mutant / "change.patch"
        subprocess.run(["patch", "-s", "-p1", "-i", str(patch)], cwd=folder, check=True)
    if tag:
        with open(folder / "server.c", "a") as handle:
            handle.write(f"/* {tag} */\n")
    return folder


def zipped(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.iterdir()):
            archive.write(path, path.name)
    return buffer.getvalue()


def wait_for(condition, seconds: float, what: str, server: Server):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what} did not happen within {seconds} s\n{server.tail()}")


def settled(server: Server) -> bool:
    """No job queued or running, no passback pending."""
    health = server.health()
    return not ({"queued", "running"} & set(health["jobs"])) and \
        "pending" not in health["passbacks"]


def test_push_and_upload_reach_the_gradebook(course, reference1, tmp_path):
    platform, git, server, hooks = (course[k] for k in ("platform", "git", "server", "hooks"))
    lineitem = "/lineitems/1/lineitem"

    good = git.push("hw1-s1", sources(reference1, tmp_path))
    bad = git.push("hw1-s2", sources(reference1, tmp_path, mutant=BUGGY))
    for repo, sha in (("hw1-s1", good), ("hw1-s2", bad)):
        answer = hooks.send(hooks.payload(repo, sha), delivery=f"delivery-{repo}")
        assert answer.status_code == 202, answer.text
    upload = signed_upload(f"{course['url']}/api/submissions", UPLOAD_SECRET,
                           zipped(sources(reference1, tmp_path, tag="s3")), assignment="hw1",
                           student="s3")
    assert upload.status_code == 202, upload.text
    twin_sources = sources(reference1, tmp_path, tag="twins")  # pushed twice
    same = hooks.send(hooks.payload("hw1-s5", git.push("hw1-s5", twin_sources)))

    # What must leave no job, against the real server too.
    assert hooks.send(hooks.payload("hw1-s1", good), delivery="delivery-hw1-s1"
                      ).status_code == 200  # a redelivery
    assert hooks.send(hooks.payload("hw1-s4", good), signature="sha256=" + "0" * 64
                      ).status_code == 401
    old = signed_upload(f"{course['url']}/api/submissions", UPLOAD_SECRET, zipped(
        sources(reference1, tmp_path, tag="old")), assignment="hw1", student="s4",
        timestamp=time.time() - 600)
    assert old.status_code == 401
    broken = signed_upload(f"{course['url']}/api/submissions", UPLOAD_SECRET, b"PK\x03\x04!",
                           assignment="hw1", student="s4")
    assert broken.status_code == 422

    for user in ("lti-s1", "lti-s2", "lti-s3", "lti-s5"):
        wait_for(lambda user=user: platform.grade(user, lineitem), 240, f"{user}'s grade",
                 server)
    # The same content again (another student's push of it): graded once, reused.
    twin = git.push("hw1-s6", twin_sources)
    reused = hooks.send(hooks.payload("hw1-s6", twin)).json()["submission"]
    wait_for(lambda: platform.grade("lti-s6", lineitem), 120, "s6's grade", server)
    wait_for(lambda: settled(server), 60, "the queue settling", server)
    jobs = httpx.get(f"{course['url']}/api/submissions/{reused}").json()["jobs"]
    first = httpx.get(f"{course['url']}/api/submissions/{same.json()['submission']}").json()
    assert jobs[0]["reused_from"] == first["jobs"][0]["id"]
    assert jobs[0]["image"].startswith("sha256:") and jobs[0]["assignment_version"]
    scores = {user: platform.grade(user, lineitem) for user in ("lti-s1", "lti-s2", "lti-s3")}
    assert {u: (s["scoreGiven"], s["scoreMaximum"]) for u, s in scores.items()} == \
        {"lti-s1": (10, 10), "lti-s2": (4, 10), "lti-s3": (10, 10)}
    assert all(s["gradingProgress"] == "FullyGraded" and s["activityProgress"] == "Completed"
               for s in scores.values())
    assert sum(server.health()["jobs"].values()) == 5
    assert platform.count("lti-s4") == 0

    link = scores["lti-s2"]["comment"].rpartition("Your report: ")[2]
    page = httpx.get(link)
    assert page.status_code == 200 and "sums a round" in page.text and "4</strong>" in page.text
    table = httpx.get(f"{course['url']}/api/courses/os101/assignments/hw1",
                      headers={"Authorization": f"Bearer {INSTRUCTOR_TOKEN}"}).json()
    assert {(s["student"], s["score"], s["passback"]) for s in table["students"]} >= \
        {("s1", 10, "sent"), ("s2", 4, "sent"), ("s3", 10, "sent")}


def test_sigkill_with_jobs_running_and_passbacks_pending(course, reference1, tmp_path,
                                                         docker_engine):
    platform, git, server, hooks = (course[k] for k in ("platform", "git", "server", "hooks"))
    lineitem = "/lineitems/1/lineitem"
    platform.fail_next = [503] * 10_000  # every grade waits in the outbox
    users = [f"s{n}" for n in range(1, 7)]
    submissions = {}
    for user in users:
        sha = git.push(f"hw1-{user}", sources(reference1, tmp_path, tag=user))
        answer = hooks.send(hooks.payload(f"hw1-{user}", sha))
        assert answer.status_code == 202
        submissions[user] = answer.json()["submission"]

    def midway() -> bool:
        health = server.health()
        return health["jobs"].get("running", 0) >= 1 and \
            health["passbacks"].get("pending", 0) >= 1
    wait_for(midway, 240, "a grading running beside a pending passback", server)
    server.kill()

    platform.fail_next = []
    server.start(course["url"])
    for user in users:
        wait_for(lambda user=user: platform.grade(f"lti-{user}", lineitem), 240,
                 f"{user}'s grade after the restart", server)
    wait_for(lambda: settled(server), 60, "the queue settling", server)
    assert {u: platform.count(f"lti-{u}") for u in users} == {u: 1 for u in users}
    for user, submission in submissions.items():
        data = httpx.get(f"{course['url']}/api/submissions/{submission}").json()
        assert [j["state"] for j in data["jobs"]] == ["done"], data["jobs"]
        assert data["jobs"][0]["status"] == "graded"
        # sent; or superseded when the kill fell between the platform's 200 and our
        # record of it: the retry then met Moodle's 409, and the grade was there once.
        assert [p["state"] for p in data["passbacks"]] in (["sent"], ["superseded"])
        left = docker_engine.containers.list(
            all=True, filters={"label": f"ipc-grader.run=assignment1-{submission}"})
        assert left == [], f"{user}: containers left: {left}"


# ---- scale-out: PostgreSQL, `grade worker` processes ------------------------------------------

QUICK = ("client_no_server",)  # one check: a build and a few seconds in docker
FAST_QUEUE = {"heartbeat_s": 1, "stalled_after_s": 4, "reap_every_s": 1}


@pytest.fixture
def scaled(tmp_path, tree1, docker_image, postgres_url) -> Iterator[dict]:
    """`grade serve` on a PostgreSQL database of its own (gradings by workers the test
    starts), the LTI platform, 20 students on the roster."""
    key = tmp_path / "tool-key.pem"
    new_key(key)
    listen = f"127.0.0.1:{free_port()}"
    url = f"http://{listen}"
    database = fresh_postgres(postgres_url)
    students = {f"p{n}": f"lti-p{n}" for n in range(1, 21)}
    workers: list[Worker] = []
    with Platform() as platform:
        platform.tool_jwks_url = f"{url}/.well-known/jwks.json"
        config = write_config(tmp_path, platform=platform, listen=listen, key=key,
                              students=students, retry_base_s=0.5, checks=QUICK,
                              database=database, server=FAST_QUEUE)
        server = Server(config, tree1, tmp_path / "serve.log")

        def worker(name: str, **kwargs) -> Worker:
            started = Worker(config, tree1, tmp_path / f"{name}.log", **kwargs).start()
            workers.append(started)
            return started

        try:
            yield {"platform": platform, "server": server.start(url), "url": url,
                   "worker": worker, "students": students}
        finally:
            for started in workers:
                started.kill() if started.proc.poll() is None else None
            server.stop()
            print(server.tail())
            for started in workers:
                print(started.tail())
            drop_postgres(database)


def upload(scaled, reference1: Path, where: Path, student: str) -> str:
    answer = signed_upload(f"{scaled['url']}/api/submissions", UPLOAD_SECRET,
                           zipped(sources(reference1, where, tag=student)), assignment="hw1",
                           student=student)
    assert answer.status_code == 202, answer.text
    return answer.json()["submission"]


def jobs_of(scaled, submission: str) -> list[dict]:
    return httpx.get(f"{scaled['url']}/api/submissions/{submission}").json()["jobs"]


def running_under(scaled, submissions: dict[str, str], worker: Worker) -> str | None:
    """A submission whose job the worker (its pid) is grading now."""
    for user, submission in submissions.items():
        with contextlib.suppress(httpx.HTTPError):
            for job in jobs_of(scaled, submission):
                if job["state"] == "running" and f":{worker.pid}-" in job["owner"]:
                    return user
    return None


def test_worker_killed_mid_grading(scaled, reference1, tmp_path, docker_engine):
    """Two workers, 20 submissions; one worker SIGKILLed while it grades: its job is found
    stalled by heartbeat, retried, and every submission ends graded exactly once, in the
    database and in the LMS; no container is left."""
    platform, server = scaled["platform"], scaled["server"]
    first, second = scaled["worker"]("w1"), scaled["worker"]("w2")
    submissions = {user: upload(scaled, reference1, tmp_path, user)
                   for user in scaled["students"]}
    victim = wait_for(lambda: running_under(scaled, submissions, first), 120,
                      "worker 1 grading", server)
    first.kill()
    lineitem = "/lineitems/1/lineitem"
    for user in submissions:
        wait_for(lambda user=user: platform.grade(f"lti-{user}", lineitem), 300,
                 f"{user}'s grade", server)
    wait_for(lambda: settled(server), 60, "the queue settling", server)
    assert second.proc.poll() is None, second.tail()
    assert {u: platform.count(f"lti-{u}") for u in submissions} == \
        {u: 1 for u in submissions}
    for user, submission in submissions.items():
        jobs = jobs_of(scaled, submission)
        assert [(j["state"], j["status"], j["reused_from"]) for j in jobs] == \
            [("done", "graded", None)], (user, jobs)
        assert jobs[0]["stalls"] == (1 if user == victim else 0), (user, jobs)
        left = docker_engine.containers.list(
            all=True, filters={"label": f"ipc-grader.run=assignment1-{submission}"})
        assert left == [], f"{user}: containers left: {left}"
    metrics = httpx.get(f"{scaled['url']}/metrics").text
    assert "ipc_grader_jobs_stalled_total 1.0" in metrics
    assert 'ipc_grader_jobs_finished_total{status="graded"} 20.0' in metrics


def test_worker_sigterm_lets_its_grading_finish(scaled, reference1, tmp_path):
    """SIGTERM: the grading under way finishes (graded, not torn down), no new job is
    taken, the worker exits 0."""
    server = scaled["server"]
    worker = scaled["worker"]("w1", shutdown_timeout=120)
    submissions = {user: upload(scaled, reference1, tmp_path, user) for user in ("p1", "p2")}
    busy = wait_for(lambda: running_under(scaled, submissions, worker), 120,
                    "the worker grading", server)
    assert worker.stop(wait=150) == 0, worker.tail()
    other = "p2" if busy == "p1" else "p1"
    assert [(j["state"], j["status"]) for j in jobs_of(scaled, submissions[busy])] == \
        [("done", "graded")], worker.tail()
    assert [j["state"] for j in jobs_of(scaled, submissions[other])] == ["queued"]
    assert "taking no new job" in worker.tail()
