"""The two ways a submission comes in, both answered at once (the grading comes later):

POST /webhooks/github   a push to a student's repository (GitHub Classroom style).
    Verified by X-Hub-Signature-256 (HMAC-SHA256 of the raw body with a course's webhook
    secret, compared in constant time: platforms.md §5), which also says which course it is
    (or /webhooks/github/{course}). Deduplicated by X-GitHub-Delivery (a redelivery keeps its
    GUID) and by the body's digest (a captured body replayed under a new GUID): either is
    answered 200 with the submission it made the first time. A ping, another event, a
    deleted branch, a push to another branch than the default one, a repository that no
    assignment's pattern names: 200 and ignored. Otherwise 202 and the submission id; the
    fetch (grader/service/fetch.py) and the grading happen in the worker pool (SQLite) or
    a `grade worker` (PostgreSQL: the job's task deferred in the same transaction).

POST /api/submissions   multipart: archive (a .zip or .tar[.gz]), assignment, student.
    Authenticated by X-Grader-Signature = "sha256=" + HMAC-SHA256(upload secret,
    X-Grader-Timestamp + "." + raw body), the timestamp within 5 minutes and each signature
    used once; or by Authorization: Bearer <API token>. The archive is unpacked here by the
    batch's rules (grader/batch/unpack.py: zip slip, links out, zip bombs, caps), so a bad
    one is refused with its reason and leaves nothing; a good one is stored and queued: 202.

Statuses: 401 unauthenticated (no or bad signature, stale timestamp, bad token), 409 a
replayed upload signature, 413 too large, 422 an archive refused (its reason), 400 a
malformed request, 404 an unknown assignment.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import shutil
import tempfile
import time
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy import delete, func, or_, select
from sqlalchemy.exc import IntegrityError
from starlette.datastructures import UploadFile

from grader.batch.identity import ARCHIVE_SUFFIXES
from grader.batch.unpack import SUBMISSION_CAPS, Budget, Refused, content_hash, prepare, unpack
from grader.service.config import Course
from grader.service.context import Service, new_id
from grader.service.db import Delivery, Job, Submission, UploadNonce, now

UPLOAD_WINDOW_S = 300   # a signed upload's timestamp may be this old (or this far ahead)
ZERO_SHA = "0" * 40

router = APIRouter()


def sign_upload(secret: str, timestamp: str, body: bytes) -> str:
    """The X-Grader-Signature of an upload (what an LMS script computes)."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def sign_github(secret: str, body: bytes) -> str:
    """X-Hub-Signature-256, as GitHub computes it."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def enqueue(service: Service, session, submission_id: str, reason: str = "submitted",
            force: bool = False) -> tuple[Job, bool]:
    """A grading job for a submission (its attempt number the next one), and True; or the
    job of that submission already waiting to start (a double click, a redelivery) and
    False. On PostgreSQL the job's task is deferred in this transaction with the queueing
    lock "submission:<id>", which also catches two requests racing past this check."""
    waiting = select(Job).where(Job.submission_id == submission_id, Job.state == "queued",
                                Job.force >= int(force)).order_by(Job.id).limit(1)
    if (found := session.scalar(waiting)) is not None:
        return found, False
    attempts = session.scalar(select(func.count()).select_from(Job)
                              .where(Job.submission_id == submission_id)) or 0
    job = Job(submission_id=submission_id, attempt=attempts + 1, reason=reason,
              force=int(force), state="queued")
    session.add(job)
    session.flush()
    if service.queue is None:
        return job, True
    from procrastinate.exceptions import AlreadyEnqueued

    try:
        with session.begin_nested():
            service.queue.defer(session, job, lock=f"submission:{submission_id}")
    except AlreadyEnqueued:
        session.delete(job)
        session.flush()
        session.expire_all()
        found = session.scalar(select(Job).where(Job.submission_id == submission_id,
                                                 Job.state == "queued").order_by(Job.id)
                               .limit(1))
        if found is not None:
            return found, False
        # The lock's holder is no longer queued on our side (it started meanwhile): this
        # request is a new job after all.
        job = Job(submission_id=submission_id, attempt=attempts + 1, reason=reason,
                  force=int(force), state="queued")
        session.add(job)
        session.flush()
        service.queue.defer(session, job)
    return job, True


async def read_capped(request: Request, limit: int) -> bytes:
    """The raw body, or 413 past `limit` bytes (told by Content-Length or counted)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"the request is larger than {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, f"the request is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


# ---- GitHub webhooks ------------------------------------------------------------------------

@router.post("/webhooks/github")
async def github_webhook(request: Request):
    return await _github(request, None)


@router.post("/webhooks/github/{course_name}")
async def github_webhook_course(request: Request, course_name: str):
    return await _github(request, course_name)


async def _github(request: Request, course_name: str | None):
    service: Service = request.app.state.service
    body = await read_capped(request, service.config.webhook_max_bytes)
    signature = request.headers.get("x-hub-signature-256", "")
    candidates = [c for c in service.config.courses.values()
                  if c.webhook_secret and (course_name is None or c.name == course_name)]
    course = _signed_by(candidates, lambda c: sign_github(c.webhook_secret, body), signature)
    if course is None:
        raise HTTPException(401, "X-Hub-Signature-256 is missing or does not match")
    event = request.headers.get("x-github-event", "")
    delivery = request.headers.get("x-github-delivery", "")
    if event == "ping":
        return {"ok": True, "course": course.name, "event": "ping"}
    if not delivery:
        raise HTTPException(400, "X-GitHub-Delivery is missing")
    try:
        payload = _payload(body, request.headers.get("content-type", ""))
    except ValueError as error:
        raise HTTPException(400, f"the payload is not JSON: {error}") from None
    return await run_in_threadpool(_accept_push, service, course, event, delivery, body,
                                   payload)


def _signed_by(courses: list[Course], expected, given: str) -> Course | None:
    """The course whose secret made `given` (every candidate compared in constant time)."""
    found = None
    for course in courses:
        if hmac.compare_digest(expected(course).encode(), given.encode()):
            found = course
    return found


def _payload(body: bytes, content_type: str) -> dict:
    if content_type.startswith("application/x-www-form-urlencoded"):
        from urllib.parse import parse_qs

        body = parse_qs(body.decode("utf-8")).get("payload", [""])[0].encode()
    data = json.loads(body)
    if not isinstance(data, dict):
        raise ValueError("not an object")
    return data


def _accept_push(service: Service, course: Course, event: str, delivery: str, body: bytes,
                 payload: dict):
    try:
        return _record_push(service, course, event, delivery, body, payload)
    except IntegrityError:  # a concurrent twin of this delivery was recorded first
        return JSONResponse({"duplicate": True, "delivery": delivery}, 200)


def _record_push(service: Service, course: Course, event: str, delivery: str, body: bytes,
                 payload: dict):
    digest = hashlib.sha256(body).hexdigest()
    with service.db.session() as session:
        seen = session.scalar(select(Delivery).where(
            or_((Delivery.course == course.name) & (Delivery.delivery_id == delivery),
                Delivery.body_sha256 == digest)))
        if seen is not None:
            return JSONResponse({"duplicate": True, "delivery": seen.delivery_id,
                                 "submission": seen.submission_id, "outcome": seen.outcome})
        record = Delivery(course=course.name, delivery_id=delivery[:128], body_sha256=digest,
                          event=event[:64])
        session.add(record)
        ignored = _ignored(course, event, payload)
        if ignored is not None:
            record.outcome = f"ignored: {ignored}"
            return JSONResponse({"ignored": ignored}, 200)
        entry, login = _assignment_of(course, payload["repository"]["name"])
        student = course.student_by_github(login)
        submission = Submission(
            id=new_id(), course=course.name, assignment=entry.name,
            assignment_id=service.assignment(entry.assignment).id, student=student.key,
            source="github", origin=str(payload["repository"].get("full_name", ""))[:500],
            commit=payload["after"], ref=payload["ref"], state="received")
        session.add(submission)
        session.flush()
        job, _ = enqueue(service, session, submission.id)
        record.submission_id, record.outcome = submission.id, "queued"
        answer = {"submission": submission.id, "job": job.id,
                  "url": service.link(submission.id)}
    service.queued()
    return JSONResponse(answer, 202)


def _ignored(course: Course, event: str, payload: dict) -> str | None:
    """Why a verified delivery makes no submission, or None for a push to grade."""
    if event != "push":
        return f"event {event!r} (only push is graded)"
    repository = payload.get("repository")
    after, ref = payload.get("after"), payload.get("ref")
    if not isinstance(repository, dict) or not isinstance(repository.get("name"), str) or \
            not isinstance(after, str) or not isinstance(ref, str):
        return "not a push payload (repository.name, ref, after)"
    if payload.get("deleted") or after == ZERO_SHA:
        return f"{ref} was deleted"
    if not ref.startswith("refs/heads/"):
        return f"{ref} is not a branch"
    default = repository.get("default_branch")
    if isinstance(default, str) and default and ref != f"refs/heads/{default}":
        return f"a push to {ref}, not to the default branch {default}"
    if _assignment_of(course, repository["name"]) is None:
        return f"repository {repository['name']!r} is no assignment's of {course.name}"
    if not course.git_base_url:
        return f"course {course.name} has no git_base_url to fetch from"
    from grader.service.fetch import SHA

    if not SHA.match(after):
        return f"after={after[:80]!r} is not a commit id"
    return None


def _assignment_of(course: Course, repository: str):
    for entry in course.assignments.values():
        login = entry.match(repository)
        if login is not None:
            return entry, login
    return None


# ---- signed uploads -------------------------------------------------------------------------

@router.post("/api/submissions")
async def upload(request: Request):
    service: Service = request.app.state.service
    config = service.config
    body = await read_capped(request, config.max_upload_bytes + (64 << 10))
    course, nonce = _authenticate(service, request, body)
    replay = Request(request.scope, _replayer(body))
    try:
        form = await replay.form(max_files=1, max_fields=16)
    except Exception as error:  # a malformed multipart body
        raise HTTPException(400, f"not a multipart/form-data body: {error}") from None
    archive, assignment, student = (form.get(k) for k in ("archive", "assignment", "student"))
    if not isinstance(archive, UploadFile) or not isinstance(assignment, str) or \
            not isinstance(student, str) or not student.strip() or len(student) > 128:
        raise HTTPException(400, "expected multipart fields: archive (a file), assignment, "
                                 "student")
    if isinstance(form.get("course"), str) and form["course"] != course.name:
        raise HTTPException(401, f"the credentials are not course {form['course']!r}'s")
    entry = service.course_assignment(course, assignment)
    if entry is None:
        raise HTTPException(404, f"course {course.name} has no assignment {assignment!r}")
    if (archive.size or 0) > config.max_upload_bytes:
        raise HTTPException(413, f"the archive is larger than {config.max_upload_bytes} bytes")
    data = await archive.read()
    result = await run_in_threadpool(_store_upload, service, course, entry, student.strip(),
                                     archive.filename or "upload", data, nonce)
    await form.close()
    return JSONResponse(result, 202)


def _replayer(body: bytes):
    sent = False

    async def receive():
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


def _authenticate(service: Service, request: Request, body: bytes) -> tuple[Course, str | None]:
    """The course an upload is for, by its bearer token or its signature (and then the
    signature, to be used once)."""
    courses = list(service.config.courses.values())
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        token = auth[7:].strip().encode()
        found = None
        for course in courses:
            for known in course.api_tokens:
                if known and hmac.compare_digest(known.encode(), token):
                    found = course
        if found is None:
            raise HTTPException(401, "the bearer token is not valid")
        return found, None
    stamp = request.headers.get("x-grader-timestamp", "")
    signature = request.headers.get("x-grader-signature", "")
    if not stamp or not signature:
        raise HTTPException(401, "unauthenticated: send X-Grader-Timestamp and "
                                 "X-Grader-Signature, or Authorization: Bearer")
    course = _signed_by([c for c in courses if c.upload_secret],
                        lambda c: sign_upload(c.upload_secret, stamp, body), signature)
    if course is None:
        raise HTTPException(401, "X-Grader-Signature does not match")
    try:
        age = time.time() - float(stamp)
    except ValueError:
        raise HTTPException(401, "X-Grader-Timestamp is not Unix seconds") from None
    if abs(age) > UPLOAD_WINDOW_S:
        raise HTTPException(401, f"X-Grader-Timestamp is {age:.0f} s off: a signed upload "
                                 f"is valid for {UPLOAD_WINDOW_S} s (a replay, or a clock "
                                 f"to set right)")
    nonce = hashlib.sha256(signature.encode()).hexdigest()
    with service.db.session() as session:
        session.execute(delete(UploadNonce).where(
            UploadNonce.received_at < now() - 2 * UPLOAD_WINDOW_S))
        if session.get(UploadNonce, nonce) is not None:
            raise HTTPException(409, "this signed upload was already received (a replay)")
    return course, nonce


def _store_upload(service: Service, course: Course, entry, student: str, filename: str,
                  data: bytes, nonce: str | None) -> dict:
    assignment = service.assignment(entry.assignment)
    suffix = next((s for s in ARCHIVE_SUFFIXES if filename.lower().endswith(s)), "")
    submission_id = new_id()
    with tempfile.TemporaryDirectory(prefix="upload-", dir=service.work) as tmp:
        archive = Path(tmp) / f"upload{suffix}"
        archive.write_bytes(data)
        staged = Path(tmp) / "staged"
        budget = Budget(SUBMISSION_CAPS)
        try:
            unpack(archive, staged, budget)
            unpacked = prepare(staged, budget, assignment.programs)
        except Refused as refusal:
            status = 413 if refusal.status == "too_large" else 422
            raise HTTPException(status, f"{refusal.status}: {refusal}") from None
        digest = content_hash(unpacked.folder)
        final = service.sources / submission_id
        shutil.move(str(unpacked.folder), final)
        kept = service.archives / f"{submission_id}{suffix or '.bin'}"
        shutil.move(str(archive), kept)
    try:
        with service.db.session() as session:
            if nonce is not None:
                session.add(UploadNonce(signature=nonce))
            session.add(Submission(
                id=submission_id, course=course.name, assignment=entry.name,
                assignment_id=assignment.id, student=student, source="upload",
                origin=filename[:500], state="ready", content_hash=digest,
                notes=json.dumps(unpacked.notes)))
            session.flush()
            job, _ = enqueue(service, session, submission_id)
            job_id = job.id
    except IntegrityError:
        shutil.rmtree(final, ignore_errors=True)
        kept.unlink(missing_ok=True)
        raise HTTPException(409, "this signed upload was already received (a replay)"
                            ) from None
    service.queued()
    return {"submission": submission_id, "job": job_id, "content_hash": digest,
            "url": service.link(submission_id), "notes": unpacked.notes}
