"""Grade passback over LTI 1.3 Assignment and Grade Services, through an outbox.

A graded job gets one outbox row (plan(), in the job's own transaction) holding the score
exactly as it will be posted, its timestamp included, so a retry after any failure or a
server killed mid-request posts the very same score again (platforms.md §4, trap 1):
  - the timestamp is the grading's, made monotonic per student and line item and at least
    a second past the previous one (Moodle compares whole seconds and refuses an equal one);
  - a job of a submission that is no longer the student's latest is not posted ("skipped");
  - without the student's LTI user id or the assignment's line item (no roster entry, no
    launch yet) the row waits, and a launch that brings them releases it.

The sender (Outbox) posts due rows: POST {lineitem}/scores (inserted before any query
string: Moodle's line items carry ?type_id=N), Content-Type
application/vnd.ims.lis.v1.score+json, with userId, scoreGiven, scoreMaximum, activityProgress
Completed, gradingProgress FullyGraded, a comment with the report's link, the timestamp.
Answers:
  2xx                          sent
  401                          the token is dropped and fetched again, once, at once
  409, or 400 about timestamps a same-or-newer score is on record (Moodle 409, Canvas 400):
                               superseded, not retried
  5xx, 429, timeout, network   retried with exponential backoff (retry_base_s doubled up to
                               retry_max_s), for a day; then failed
  other 4xx                    failed, with the platform's answer, on the status page

The access token: client credentials with a client assertion (RFC 7523), a JWT signed by the
tool's key (RS256, kid), iss = sub = client id, aud = the token URL (or the configured
audience), a short exp and a unique jti; cached per course until shortly before expires_in
(not forever, as pylti1p3 does).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from urllib.parse import urlsplit, urlunsplit

import httpx
import jwt
from sqlalchemy import func, select

from grader.service.config import Course
from grader.service.context import Service
from grader.service.db import Job, LtiLineitem, LtiUser, Passback, Submission, now

log = logging.getLogger("grader.service.passback")

SCORE_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
SCORE_TYPE = "application/vnd.ims.lis.v1.score+json"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
GIVE_UP_S = 24 * 3600     # a passback still failing with 5xx after a day is failed
HTTP_TIMEOUT_S = 15.0


def scores_url(lineitem: str) -> str:
    """{lineitem}/scores, inserted into the path (before a query string)."""
    parts = urlsplit(lineitem)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/scores"))


# ---- planning: the outbox row of a graded job ---------------------------------------------

def plan(session, service: Service, job: Job, submission: Submission) -> Passback | None:
    """The outbox row of a graded job (None when the course has no LMS)."""
    from grader.service.jobs import iso

    course = service.config.course(submission.course)
    if course is None or course.lti is None or job.score is None:
        return None
    last = session.scalar(select(func.max(Passback.stamp)).where(
        Passback.course == submission.course, Passback.assignment == submission.assignment,
        Passback.student == submission.student))
    stamp = job.finished_at or now()
    if last is not None and stamp < last + 1.0:
        stamp = last + 1.0
    title = service.assignment(submission.assignment_id).title
    row = Passback(job_id=job.id, course=submission.course, assignment=submission.assignment,
                   student=submission.student, score_given=job.score,
                   score_maximum=job.max_score or 0.0, stamp=stamp, timestamp=iso(stamp),
                   comment=f"{job.score:g}/{job.max_score:g} for {title} (ipc-grader). "
                           f"Your report: {service.link(submission.id)}")
    newer = session.scalar(select(Submission.id).where(
        Submission.course == submission.course, Submission.assignment == submission.assignment,
        Submission.student == submission.student, Submission.state != "refused",
        Submission.received_at > submission.received_at).limit(1))
    if newer is not None:
        row.state, row.answer = "skipped", f"a newer submission ({newer}) is the one graded"
    else:
        fill(session, course, row)
    session.add(row)
    return row


def fill(session, course: Course, row: Passback) -> None:
    """The row's LTI user id and line item, from the config, or what launches taught us;
    pending when both are known, waiting otherwise."""
    if not row.user_id:
        student = course.students.get(row.student)
        row.user_id = student.lti_user_id if student and student.lti_user_id else ""
        if not row.user_id:
            known = session.scalar(select(LtiUser).where(LtiUser.course == row.course,
                                                         LtiUser.student == row.student))
            row.user_id = known.user_id if known else ""
    if not row.lineitem:
        entry = course.assignments.get(row.assignment)
        row.lineitem = entry.lineitem if entry and entry.lineitem else ""
        if not row.lineitem:
            known = session.scalar(select(LtiLineitem).where(
                LtiLineitem.course == row.course, LtiLineitem.assignment == row.assignment))
            row.lineitem = known.lineitem if known else ""
    missing = [what for what, value in (("the student's LTI user id", row.user_id),
                                        ("the assignment's line item", row.lineitem))
               if not value]
    if missing:
        row.state = "waiting"
        row.answer = (f"waiting for {' and '.join(missing)} (a roster entry in grader.toml, or "
                      f"an LTI launch by the student)")
    else:
        row.state, row.answer, row.next_at = "pending", "", 0.0


def release_waiting(session, course: Course) -> int:
    """Rows that waited for a user id or line item a launch just brought: now pending."""
    released = 0
    for row in session.scalars(select(Passback).where(Passback.course == course.name,
                                                      Passback.state == "waiting")):
        fill(session, course, row)
        released += row.state == "pending"
    return released


# ---- the AGS client --------------------------------------------------------------------------

class TokenError(Exception):
    def __init__(self, message: str, status: int | None) -> None:
        super().__init__(message)
        self.status = status


class AgsClient:
    """Access tokens (cached per course) and score posts."""

    def __init__(self, service: Service, http: httpx.Client | None = None) -> None:
        self.service = service
        self.http = http or httpx.Client(timeout=HTTP_TIMEOUT_S, follow_redirects=False)
        self.tokens: dict[str, tuple[str, float]] = {}
        self._key = None

    @property
    def key(self):
        if self._key is None:
            from grader.service.keys import ToolKey

            if self.service.config.private_key is None:
                raise TokenError("grader.toml has no tool.private_key to sign with", None)
            self._key = ToolKey.load(self.service.config.private_key)
        return self._key

    def assertion(self, course: Course) -> str:
        lti = course.lti
        issued = int(time.time())
        claims = {"iss": lti.client_id, "sub": lti.client_id,
                  "aud": lti.audience or lti.token_url, "iat": issued, "exp": issued + 300,
                  "jti": uuid.uuid4().hex}
        return jwt.encode(claims, self.key.private, algorithm="RS256",
                          headers={"kid": self.key.kid})

    def token(self, course: Course, fresh: bool = False) -> str:
        cached = self.tokens.get(course.name)
        if cached and not fresh and cached[1] > time.time() + 30:
            return cached[0]
        form = {"grant_type": "client_credentials", "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": self.assertion(course), "scope": SCORE_SCOPE}
        try:
            answer = self.http.post(course.lti.token_url, data=form,
                                    headers={"Accept": "application/json"})
        except httpx.HTTPError as error:
            raise TokenError(f"token request: {type(error).__name__}: {error}", None) from None
        if answer.status_code != 200:
            raise TokenError(f"token request: HTTP {answer.status_code}: "
                             f"{answer.text[:500]}", answer.status_code)
        try:
            data = answer.json()
            token = data["access_token"]
            expires = float(data.get("expires_in", 3600))
        except (ValueError, KeyError, TypeError):
            raise TokenError(f"token request: not a token: {answer.text[:300]}",
                             answer.status_code) from None
        self.tokens[course.name] = (token, time.time() + expires)
        return token

    def post_score(self, course: Course, row: Passback, token: str) -> httpx.Response:
        body = {"userId": row.user_id, "scoreGiven": row.score_given,
                "scoreMaximum": row.score_maximum, "activityProgress": "Completed",
                "gradingProgress": "FullyGraded", "timestamp": row.timestamp,
                "comment": row.comment}
        return self.http.post(scores_url(row.lineitem), content=json.dumps(body),
                              headers={"Authorization": f"Bearer {token}",
                                       "Content-Type": SCORE_TYPE})


# ---- the outbox sender ---------------------------------------------------------------------

class Outbox:
    def __init__(self, service: Service, client: AgsClient | None = None) -> None:
        self.service = service
        self.client = client or AgsClient(service)
        self.wake = threading.Event()
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        self.thread = threading.Thread(target=self._loop, name="outbox", daemon=True)
        self.thread.start()

    def notify(self) -> None:
        self.wake.set()

    def stop(self) -> None:
        self.wake.set()
        if self.thread is not None:
            self.thread.join(HTTP_TIMEOUT_S * 2 + 5)

    def _loop(self) -> None:
        while not self.service.stopping.is_set():
            try:
                self.send_due()
            except Exception:
                log.exception("the outbox failed")
            self.wake.wait(self._pause())
            self.wake.clear()

    def _pause(self) -> float:
        """Until the next row is due (at most 5 s)."""
        try:
            with self.service.db.session() as session:
                due = session.scalar(select(func.min(Passback.next_at))
                                     .where(Passback.state == "pending"))
        except Exception:
            return 5.0
        return 5.0 if due is None else min(5.0, max(0.05, due - now()))

    def send_due(self) -> int:
        """Post every row that is due; returns how many were tried."""
        with self.service.db.session() as session:
            due = list(session.scalars(select(Passback.id).where(
                Passback.state == "pending", Passback.next_at <= now())
                .order_by(Passback.stamp, Passback.id)))
        for row_id in due:
            if self.service.stopping.is_set():
                break
            self.send(row_id)
        return len(due)

    def send(self, row_id: int) -> str:
        """Post one row and record the outcome; returns its new state."""
        with self.service.db.session() as session:
            row = session.get(Passback, row_id)
            if row is None or row.state != "pending":
                return row.state if row else "gone"
            session.expunge(row)
        course = self.service.config.course(row.course)
        if course is None or course.lti is None:
            return self._record(row_id, "failed", None, f"course {row.course} has no LTI "
                                "platform in grader.toml any more")
        try:
            answer = self._post(course, row)
        except TokenError as error:
            if error.status is not None and 400 <= error.status < 500 and error.status != 429:
                return self._retry(row, None, f"{error} (check the platform's registration "
                                   f"of the tool: client id, keys, token URL)")
            return self._retry(row, error.status, str(error))
        except httpx.HTTPError as error:
            return self._retry(row, None, f"{type(error).__name__}: {error}")
        status, text = answer.status_code, answer.text[:2000]
        if 200 <= status < 300:
            return self._record(row_id, "sent", status, text)
        if status == 409 or (status == 400 and "timestamp" in text.lower()):
            return self._record(row_id, "superseded", status, f"the platform holds a "
                                f"same-or-newer score: {text}")
        if status == 429 or status >= 500:
            return self._retry(row, status, text)
        return self._record(row_id, "failed", status, text)

    def _post(self, course: Course, row: Passback) -> httpx.Response:
        answer = self.client.post_score(course, row, self.client.token(course))
        if answer.status_code == 401:  # the token expired or was revoked: once more, fresh
            answer = self.client.post_score(course, row, self.client.token(course, fresh=True))
        return answer

    def _retry(self, row: Passback, status: int | None, text: str) -> str:
        config = self.service.config
        delay = min(config.retry_base_s * 2 ** row.attempts, config.retry_max_s)
        if now() - row.created_at > GIVE_UP_S:
            return self._record(row.id, "failed", status, f"still failing after a day: {text}")
        return self._record(row.id, "pending", status, text, next_at=now() + delay)

    def _record(self, row_id: int, state: str, status: int | None, text: str,
                next_at: float = 0.0) -> str:
        with self.service.db.session() as session:
            row = session.get(Passback, row_id)
            row.state, row.last_status, row.answer = state, status, text[:4000]
            row.attempts += 1
            row.next_at = next_at
            if state == "sent":
                row.sent_at = now()
        if state != "pending":
            log.info("passback %s: %s (%s)", row_id, state, status)
        return state
