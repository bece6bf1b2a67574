"""`grade serve` in-process: intake (webhooks, uploads), the outbox against the simulated LTI
platform, the LTI launch, the pages. The app runs in this process (FastAPI's TestClient);
no grading happens here (tests/test_service_e2e.py grades in docker): a job's end is played
by the worker pool's own _finish with a report made here.
"""
# ruff: noqa: F811 (fixtures imported from tests/service_db.py are parameters here)

from __future__ import annotations

import contextlib
import io
import json
import tarfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from grader.report import BuildResult, CheckResult, GradeReport, Status
from grader.service.app import create_app, prepare
from grader.service.config import ConfigError, load_config
from grader.service.context import Service
from grader.service.db import Job, Passback, Submission
from grader.service.jobs import WorkerPool
from grader.service.keys import ToolKey, new_key
from grader.service.passback import Outbox, scores_url
from tests.service_config import (
    API_TOKEN,
    INSTRUCTOR_TOKEN,
    UPLOAD_SECRET,
    WEBHOOK_SECRET,
    write_config,
)
from tests.service_db import database, postgres_url  # noqa: F401 (fixtures)
from tests.service_sims import GitServer, Platform, WebhookSender, form_fields, signed_upload

SHA = "a" * 40
BASE = "http://testserver"


@pytest.fixture(scope="module")
def tool_key(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("key") / "tool-key.pem"
    new_key(path)
    return path


@pytest.fixture
def platform(tool_key) -> Iterator[Platform]:
    with Platform() as sim:
        sim.tool_jwks = ToolKey.load(tool_key).jwks()
        yield sim


class Served:
    """The app in this process, and what a test looks at."""

    def __init__(self, service: Service, client: TestClient) -> None:
        self.service, self.client = service, client
        self.webhooks = WebhookSender(f"{BASE}/webhooks/github", WEBHOOK_SECRET)
        self.webhooks.client = client
        self.outbox = Outbox(service)
        self.pool = WorkerPool(service, 0)

    def count(self, model) -> int:
        with self.service.db.session() as session:
            return session.scalar(select(func.count()).select_from(model))

    def upload(self, archive: bytes, **kwargs):
        kwargs.setdefault("assignment", "hw1")
        kwargs.setdefault("student", "ada")
        return signed_upload(f"{BASE}/api/submissions", UPLOAD_SECRET, archive,
                             client=self.client, **kwargs)

    def graded(self, student: str, score: float, *, submission: str | None = None) -> int:
        """A submission of `student` graded `score`/10 (the job's end as the pool does it)."""
        with self.service.db.session() as session:
            if submission is None:
                submission = f"sub-{student}-{time.monotonic_ns()}"
                session.add(Submission(id=submission, course="os101", assignment="hw1",
                                       assignment_id="assignment1", student=student,
                                       source="upload", state="ready", content_hash="x"))
                session.flush()
            job = Job(submission_id=submission, state="running")
            session.add(job)
            session.flush()
            job_id = job.id
        report = GradeReport("assignment1", "sum server", submission, BuildResult(True, "make"),
                             [CheckResult("sums_rounds", "sums", 6, 6 if score >= 6 else 0,
                                          Status.PASSED if score >= 6 else Status.FAILED),
                              CheckResult("client_no_server", "client", 4, score % 6,
                                          Status.PASSED)])
        self.pool._finish(job_id, status="graded", report=report)
        return job_id

    def passback(self, job_id: int) -> Passback:
        with self.service.db.session() as session:
            row = session.scalar(select(Passback).where(Passback.job_id == job_id))
            session.expunge(row)
            return row

    def drain(self, seconds: float = 10.0) -> None:
        """Run the outbox until nothing is pending (or `seconds` pass)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.outbox.send_due()
            with self.service.db.session() as session:
                pending = session.scalar(select(func.count()).select_from(Passback)
                                         .where(Passback.state == "pending"))
            if not pending:
                return
            time.sleep(0.02)


@pytest.fixture
def served(tmp_path, tool_key, platform, database) -> Iterator[Served]:
    """The app on SQLite, and again on PostgreSQL (tests/service_db.py)."""
    with serving(tmp_path, tool_key=tool_key, platform=platform, database=database,
                 students={"ada": "lti-ada", "bob": "lti-bob"}) as running:
        yield running


NOWHERE = "git://127.0.0.1:9"  # the course's git server: never reached in these tests


@contextlib.contextmanager
def serving(folder: Path, **kwargs) -> Iterator[Served]:
    """The app on a grader.toml of write_config(**kwargs) (database: a PostgreSQL URL, or
    None for SQLite)."""
    kwargs.setdefault("git_base_url", NOWHERE)
    config = load_config(write_config(folder, key=kwargs.pop("tool_key"), **kwargs))
    service = prepare(config, check_backend=False)
    app = create_app(service, background=False)
    try:
        with TestClient(app, base_url=BASE) as client:
            yield Served(service, client)
    finally:
        service.close()


def zip_of(files: dict[str, str | bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


SOURCES = {"server.c": "int main(void) { return 0; }\n", "client.c": "int main(void){}\n"}


# ---- webhooks ---------------------------------------------------------------------------------

def test_webhook_push_is_queued_once(served):
    payload = served.webhooks.payload("hw1-ada", SHA)
    answer = served.webhooks.send(payload, delivery="d-1")
    assert answer.status_code == 202, answer.text
    submission = answer.json()["submission"]
    assert len(submission) >= 20  # the link is the secret
    assert served.count(Job) == 1

    again = served.webhooks.send(payload, delivery="d-1")  # GitHub's redelivery: same GUID
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert again.json()["submission"] == submission
    replayed = served.webhooks.send(payload, delivery="d-forged")  # same body, new GUID
    assert replayed.status_code == 200 and replayed.json()["duplicate"] is True
    assert served.count(Job) == 1

    with served.service.db.session() as session:
        row = session.get(Submission, submission)
        assert (row.student, row.assignment, row.commit, row.state) == \
            ("ada", "hw1", SHA, "received")
    page = served.client.get(f"/submissions/{submission}")  # before any grading
    assert page.status_code == 200 and "Grading queued" in page.text
    assert 'http-equiv="refresh"' in page.text


@pytest.mark.parametrize("case", ["bad signature", "no signature", "other secret"])
def test_webhook_refused_without_the_secret(served, case):
    payload = served.webhooks.payload("hw1-ada", SHA)
    kwargs = {"bad signature": {"signature": "sha256=" + "0" * 64},
              "no signature": {"signature": ""},
              "other secret": {"secret": "not the course's"}}[case]
    answer = served.webhooks.send(payload, **kwargs)
    assert answer.status_code == 401, answer.text
    assert served.count(Job) == 0 and served.count(Submission) == 0


def test_webhook_github_test_vector(served):
    """The signature GitHub documents for its test payload is what we compute."""
    from grader.service.intake import sign_github

    assert sign_github("It's a Secret to Everybody", b"Hello, World!") == \
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


@pytest.mark.parametrize("case", ["deleted", "zeros", "ping", "tag", "other branch",
                                  "other repository"])
def test_webhook_ignored(served, case):
    sender = served.webhooks
    payload = {"deleted": sender.payload("hw1-ada", "0" * 40, before=SHA, deleted=True),
               "zeros": sender.payload("hw1-ada", "0" * 40, before=SHA),
               "ping": {"zen": "Design for failure.", "hook_id": 1},
               "tag": sender.payload("hw1-ada", SHA, ref="refs/tags/v1"),
               "other branch": sender.payload("hw1-ada", SHA, ref="refs/heads/draft"),
               "other repository": sender.payload("lab2-ada", SHA)}[case]
    answer = sender.send(payload, event="ping" if case == "ping" else "push")
    assert answer.status_code == 200, answer.text
    assert served.count(Job) == 0


def test_webhook_malformed_and_oversized(served):
    answer = served.webhooks.send(b"{not json")
    assert answer.status_code == 400
    config = served.service.config
    big = b"{" + b" " * (config.webhook_max_bytes + 1) + b"}"
    assert served.webhooks.send(big).status_code == 413
    assert served.count(Job) == 0


# ---- uploads ----------------------------------------------------------------------------------

def test_signed_upload_is_stored_and_queued(served):
    answer = served.upload(zip_of({"hw/server.c": SOURCES["server.c"],
                                   "hw/client.c": SOURCES["client.c"],
                                   "hw/server.o": b"\x7fELF..."}))
    assert answer.status_code == 202, answer.text
    data = answer.json()
    assert served.count(Job) == 1
    sources = served.service.sources / data["submission"]
    assert sorted(p.name for p in sources.iterdir()) == ["client.c", "server.c"]
    assert any("removed 1 compiled" in n for n in data["notes"])
    assert data["url"].endswith(f"/submissions/{data['submission']}")


def test_bearer_token_upload(served):
    body = zip_of(SOURCES)
    files = {"archive": ("hw.zip", body)}
    fields = {"assignment": "assignment1", "student": "bob"}  # the grader's id works too
    good = served.client.post("/api/submissions", files=files, data=fields,
                              headers={"Authorization": f"Bearer {API_TOKEN}"})
    assert good.status_code == 202, good.text
    bad = served.client.post("/api/submissions", files=files, data=fields,
                             headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401
    assert served.count(Job) == 1


def _bomb() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("server.c", SOURCES["server.c"])
        archive.writestr("big.txt", b"\0" * (80 << 20))
    return buffer.getvalue()


def _tar_with_link() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        data = SOURCES["server.c"].encode()
        info = tarfile.TarInfo("server.c")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("secret")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/shadow"
        archive.addfile(link)
    return buffer.getvalue()


@pytest.mark.parametrize(("case", "status"), [
    ("old timestamp", 401), ("future timestamp", 401), ("bad signature", 401),
    ("unsigned", 401), ("corrupt archive", 422), ("zip slip", 422), ("link out", 422),
    ("no sources", 422), ("zip bomb", 413), ("oversized", 413), ("unknown assignment", 404),
])
def test_upload_refused(served, case, status):
    archive = {"corrupt archive": lambda: b"PK\x03\x04 this is not a zip",
               "zip slip": lambda: zip_of({"../../evil.c": "x", **SOURCES}),
               "link out": _tar_with_link,
               "no sources": lambda: zip_of({"notes.txt": "hello"}),
               "zip bomb": _bomb,
               "oversized": lambda: b"PK" + b"x" * (2 << 20)}.get(case, lambda: zip_of(SOURCES))()
    kwargs = {"old timestamp": {"timestamp": time.time() - 301},
              "future timestamp": {"timestamp": time.time() + 3600},
              "unknown assignment": {"assignment": "hw9"}}.get(case, {})
    if case in ("bad signature", "unsigned"):
        headers = {"X-Grader-Timestamp": str(int(time.time()))}
        if case == "bad signature":
            headers["X-Grader-Signature"] = "sha256=" + "1" * 64
        answer = served.client.post("/api/submissions", files={"archive": ("a.zip", archive)},
                                    data={"assignment": "hw1", "student": "ada"},
                                    headers=headers)
    else:
        answer = served.upload(archive, filename="a.tar.gz" if case == "link out" else "a.zip",
                               **kwargs)
    assert answer.status_code == status, answer.text
    assert served.count(Job) == 0 and served.count(Submission) == 0
    assert list(served.service.sources.iterdir()) == []


def test_replayed_upload_is_refused(served):
    body = zip_of(SOURCES)
    first = served.upload(body, timestamp=time.time())
    assert first.status_code == 202
    request = first.request  # the very same bytes and headers, sent again
    again = served.client.post("/api/submissions", content=request.content,
                               headers=dict(request.headers))
    assert again.status_code == 409, again.text
    assert served.count(Job) == 1


# ---- fetching a pushed commit -----------------------------------------------------------------

def test_fetch_from_the_course_git_server(tmp_path):
    from grader.batch.unpack import SUBMISSION_CAPS, Budget
    from grader.service.fetch import FetchError, fetch_commit

    with GitServer(tmp_path / "git") as git:
        first = git.push("hw1-ada", {"server.c": "int main(){}\n", "sub/x.h": "#pragma once\n"})
        second = git.push("hw1-ada", {"server.c": "int main(){return 1;}\n"})
        fetch_commit(git.base_url, "hw1-ada", first, "refs/heads/main", tmp_path / "a",
                     Budget(SUBMISSION_CAPS))
        assert (tmp_path / "a" / "sub" / "x.h").is_file()  # the first commit, not the head
        fetch_commit(git.base_url, "hw1-ada", second, "refs/heads/main", tmp_path / "b",
                     Budget(SUBMISSION_CAPS))
        assert not (tmp_path / "b" / "sub").exists()
        with pytest.raises(FetchError):
            fetch_commit(git.base_url, "hw1-ada", "b" * 40, "refs/heads/main",
                         tmp_path / "c", Budget(SUBMISSION_CAPS))


# ---- passback ---------------------------------------------------------------------------------

def test_scores_url_goes_before_the_query():
    assert scores_url("https://lms/mod/lti/services.php/2/lineitems/7/lineitem?type_id=1") == \
        "https://lms/mod/lti/services.php/2/lineitems/7/lineitem/scores?type_id=1"
    assert scores_url("https://canvas/api/lti/courses/1/line_items/2") == \
        "https://canvas/api/lti/courses/1/line_items/2/scores"


def test_score_reaches_the_gradebook(served, platform):
    job = served.graded("ada", 10)
    served.drain()
    row = served.passback(job)
    assert row.state == "sent", row.answer
    taken = platform.accepted[-1]
    assert (taken["userId"], taken["scoreGiven"], taken["scoreMaximum"]) == ("lti-ada", 10, 10)
    assert taken["activityProgress"] == "Completed"
    assert taken["gradingProgress"] == "FullyGraded"
    assert taken["timestamp"] == row.timestamp and "+00:00" in row.timestamp
    assert "/submissions/" in taken["comment"]


def test_503_three_times_then_200_gets_the_grade_once(served, platform):
    platform.fail_next = [503, 503, 503]
    job = served.graded("ada", 4)
    served.drain()
    row = served.passback(job)
    assert (row.state, row.attempts) == ("sent", 4)
    assert platform.count("lti-ada") == 1
    stamps = {r["score"]["timestamp"] for r in platform.requests if "score" in r}
    assert stamps == {row.timestamp}  # the same timestamp every time


def test_409_for_an_older_timestamp_is_not_retried(served, platform):
    """The platform holds a newer score (another grading, an edit): 409, superseded."""
    job = served.graded("ada", 4)
    row = served.passback(job)
    from datetime import datetime, timedelta

    newer = datetime.fromisoformat(row.timestamp) + timedelta(minutes=5)
    platform.stored[("/lineitems/1/lineitem", "lti-ada")] = {"stamp": newer}
    served.drain()
    row = served.passback(job)
    assert (row.state, row.attempts, row.last_status) == ("superseded", 1, 409)
    assert served.outbox.send_due() == 0  # nothing left to try
    assert platform.count("lti-ada") == 0


def test_canvas_400_for_an_older_timestamp_is_superseded(served, platform):
    platform.mode = "canvas"
    first = served.graded("ada", 10)
    row = served.passback(first)
    from datetime import datetime, timedelta

    platform.stored[("/lineitems/1/lineitem", "lti-ada")] = {
        "stamp": datetime.fromisoformat(row.timestamp) + timedelta(seconds=30)}
    served.drain()
    assert served.passback(first).state == "superseded"


def test_regrade_posts_a_newer_timestamp(served, platform):
    first = served.graded("bob", 4)
    served.drain()
    with served.service.db.session() as session:
        submission = session.get(Job, first).submission_id
    second = served.graded("bob", 10, submission=submission)  # within the same second
    served.drain()
    one, two = served.passback(first), served.passback(second)
    assert (one.state, two.state) == ("sent", "sent"), two.answer
    assert two.stamp >= one.stamp + 1.0  # Moodle compares whole seconds
    assert platform.count("lti-bob") == 2
    assert platform.grade("lti-bob", "/lineitems/1/lineitem")["scoreGiven"] == 10


def test_token_refreshed_on_401(served, platform):
    served.graded("ada", 10)
    served.drain()
    platform.revoke()
    served.graded("bob", 10)
    served.drain()
    assert platform.count("lti-bob") == 1
    assert platform.token_requests == 2


def test_other_4xx_fails_with_the_platform_answer(tmp_path, tool_key, platform, database):
    broken = f"{platform.url}/no/such/lineitem"
    with serving(tmp_path, tool_key=tool_key, platform=platform, lineitem=broken,
                 database=database,
                 students={"ada": "lti-ada"}) as served:
        job = served.graded("ada", 10)
        served.drain()
        row = served.passback(job)
        page = served.client.get("/courses/os101/assignments/hw1",
                                 headers={"Authorization": f"Bearer {INSTRUCTOR_TOKEN}"})
    assert (row.state, row.last_status) == ("failed", 404)
    assert "not found" in row.answer
    assert page.status_code == 200 and "failed" in page.text and "not found" in page.text


def test_an_older_submission_graded_late_is_not_posted(served, platform):
    with served.service.db.session() as session:
        for name, when in (("old", 1.0), ("new", 2.0)):
            session.add(Submission(id=name, course="os101", assignment="hw1",
                                   assignment_id="assignment1", student="ada",
                                   source="upload", state="ready", received_at=when))
    job = served.graded("ada", 10, submission="old")
    assert served.passback(job).state == "skipped"


# ---- LTI launch -------------------------------------------------------------------------------

def test_lti_launch_learns_the_user_and_line_item(tmp_path, tool_key, platform, database):
    with serving(tmp_path, tool_key=tool_key, platform=platform, lineitem="",
                 database=database) as served:
        _launch(served, platform)


def _launch(served: Served, platform: Platform) -> None:
    job = served.graded("carol", 10)
    assert served.passback(job).state == "waiting"  # no user id, no line item yet

    hint = json.dumps({"custom": {"student": "carol", "assignment": "hw1"},
                       "lineitem": platform.lineitem(7)})
    start = served.client.get("/lti/login", params={
        "iss": platform.issuer, "client_id": platform.client_id, "login_hint": "lti-carol",
        "lti_message_hint": hint, "target_link_uri": f"{BASE}/lti/launch"},
        follow_redirects=False)
    assert start.status_code == 302
    location = start.headers["location"]
    assert location.startswith(f"{platform.url}/auth?")
    for field in ("scope=openid", "response_type=id_token", "response_mode=form_post",
                  "prompt=none"):
        assert field in location
    import httpx

    form = form_fields(httpx.get(location).text)
    done = served.client.post("/lti/launch", data={"id_token": form["id_token"],
                                                   "state": form["state"]})
    assert done.status_code == 200, done.text
    assert "carol" in done.text

    row = served.passback(job)
    assert (row.state, row.user_id, row.lineitem) == ("pending", "lti-carol",
                                                       platform.lineitem(7))
    served.drain()
    assert platform.count("lti-carol") == 1

    again = served.client.post("/lti/launch", data={"id_token": form["id_token"],
                                                    "state": form["state"]})
    assert again.status_code == 400  # a state is used once


@pytest.mark.parametrize("case", ["nonce", "audience", "deployment", "signature", "expired"])
def test_lti_launch_refuses_a_bad_id_token(served, platform, case):
    start = served.client.get("/lti/login", params={"iss": platform.issuer,
                                                    "login_hint": "u1"},
                              follow_redirects=False)
    from urllib.parse import parse_qs, urlsplit

    query = {k: v[0] for k, v in parse_qs(urlsplit(start.headers["location"]).query).items()}
    changes = {"nonce": {"nonce": "another"}, "audience": {"aud": "someone-else"},
               "deployment": {"https://purl.imsglobal.org/spec/lti/claim/deployment_id": "9"},
               "expired": {"exp": int(time.time()) - 3600}, "signature": {}}[case]
    token = platform.id_token(**{"nonce": query["nonce"], "sub": "u1", **changes})
    if case == "signature":
        head, body, sig = token.split(".")
        token = f"{head}.{body}.{sig[::-1]}"
    answer = served.client.post("/lti/launch", data={"id_token": token,
                                                     "state": query["state"]})
    assert answer.status_code == 401, answer.text


# ---- pages ------------------------------------------------------------------------------------

def test_pages(served, platform):
    job = served.graded("ada", 4)
    served.drain()
    with served.service.db.session() as session:
        submission = session.get(Job, job).submission_id

    page = served.client.get(f"/submissions/{submission}")
    assert page.status_code == 200
    assert "4</strong>" in page.text and "sent" in page.text  # the report, the passback
    data = served.client.get(f"/api/submissions/{submission}").json()
    assert data["report"]["score"] == 4 and data["passbacks"][0]["state"] == "sent"
    assert served.client.get("/submissions/not-a-real-id").status_code == 404

    for path in ("/courses/os101", "/courses/os101/assignments/hw1",
                 "/api/courses/os101/assignments/hw1"):
        assert served.client.get(path).status_code == 401
    auth = {"Authorization": f"Bearer {INSTRUCTOR_TOKEN}"}
    table = served.client.get("/api/courses/os101/assignments/hw1", headers=auth).json()
    assert [(s["student"], s["score"], s["passback"]) for s in table["students"]] == \
        [("ada", 4, "sent")]
    report = served.client.get("/courses/os101/assignments/hw1/class-report", headers=auth)
    assert report.status_code == 200 and "<svg" in report.text
    full = served.client.get(f"/courses/os101/assignments/hw1/reports/{submission}.html",
                             headers=auth)
    assert full.status_code == 200

    login = served.client.post("/login", data={"course": "os101", "token": INSTRUCTOR_TOKEN,
                                               "next": "/courses/os101"},
                               follow_redirects=False)
    assert login.status_code == 303
    assert served.client.get("/courses/os101").status_code == 200  # the cookie
    regrade = served.client.post(f"/api/submissions/{submission}/regrade")
    assert regrade.status_code == 202
    assert served.count(Job) == 2

    health = served.client.get("/health").json()
    assert health["ok"] and health["jobs"] == {"done": 1, "queued": 1}


def test_tool_jwks_and_keys_command(served, tool_key, capsys):
    from grader.cli import main

    served_keys = served.client.get("/.well-known/jwks.json").json()
    assert main(["serve", "keys", "--config", str(served.service.config.path)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == served_keys == ToolKey.load(tool_key).jwks()
    assert printed["keys"][0]["kid"] and "d" not in printed["keys"][0]  # public only


def test_config_errors(tmp_path):
    path = tmp_path / "grader.toml"
    cases = {
        '[server]\nlisten = "nowhere"\n': "server.listen",
        '[courses.c1]\nwebhook_secret = "env:NO_SUCH_VARIABLE_HERE"\n': "NO_SUCH_VARIABLE",
        '[courses.c1.assignments.hw1]\nassignment = "assignment1"\nrepo_pattern = "hw1"\n':
            "repo_pattern",
        '[courses.c1]\ngit_base_url = "github.com/x"\n': "git_base_url",
        '[courses.c1.lti]\nissuer = "x"\n': "courses.c1.lti.client_id: missing",
    }
    for text, expected in cases.items():
        path.write_text(text)
        with pytest.raises(ConfigError, match=expected):
            load_config(path)


def test_no_secret_reaches_a_grading(tmp_path, monkeypatch):
    """Secrets given to `grade serve` through its environment ("env:NAME" in grader.toml)
    are not in a grading process's environment, nor anything else of the server's."""
    from grader.service.jobs import grading_environment

    monkeypatch.setenv("OS101_WEBHOOK", "hush")
    monkeypatch.setenv("DATABASE_URL", "postgresql://user:password@db/grader")
    env = grading_environment(tmp_path)
    assert "hush" not in env.values() and "DATABASE_URL" not in env
    assert env["TMPDIR"] == str(tmp_path) and "PATH" in env


def test_migrations_make_the_models_schema(tmp_path, request, database):
    """The alembic migrations and grader/service/db.py describe the same tables (a model
    changed without its migration fails here), on SQLite and on PostgreSQL (from an empty
    database: procrastinate's schema too)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import text

    from grader.service.db import Base, Database
    from grader.service.migrations import include_object
    from tests.service_db import drop_postgres, with_name

    url = f"sqlite:///{tmp_path / 'g.db'}"
    if database is not None:  # not the template: migrate an empty database here
        url = with_name(database, f"{database.rpartition('/')[2]}_empty")
        from tests.service_db import _admin

        with _admin(database) as admin:
            admin.execute(f'CREATE DATABASE "{url.rpartition("/")[2]}"')
    try:
        migrated = Database(url)
        migrated.migrate()
        migrated.migrate()  # at every start: nothing to do the second time
        with migrated.engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(
                connection, opts={"include_object": include_object}), Base.metadata)
            if database is not None:
                assert connection.execute(text("SELECT to_regclass('procrastinate_jobs')")
                                          ).scalar() == "procrastinate_jobs"
        migrated.dispose()
    finally:
        if database is not None:
            drop_postgres(url)
    assert differences == []


def test_local_backend_refused_unless_it_jails(tmp_path, monkeypatch):
    """Without root the local backend would run every student's code as the server's user:
    `grade serve` refuses to start, and says why."""
    from grader.service.context import ServiceError

    path = tmp_path / "grader.toml"
    path.write_text(f'[server]\nbackend = "local"\ndata = "{tmp_path / "data"}"\n')
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    with pytest.raises(ServiceError, match="only as root"):
        prepare(load_config(path))
