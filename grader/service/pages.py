"""Pages and the JSON API.

  GET  /health                                  the database answers; queue and outbox counts
  GET  /submissions/{id}                        the student's page: the latest grading's report
                                                (grader/render/html.py, hidden checks reduced),
                                                with the submission, its gradings and the
                                                grade's passback above it
  GET  /api/submissions/{id}                    the same as JSON
  POST /api/submissions/{id}/regrade            instructor: a new job (?force=1: grade again
                                                even under the same versions)
  GET  /courses/{course}                        instructor: the assignments, the queue
  GET  /courses/{course}/assignments/{name}     instructor: a row per student (latest
                                                submission, score, status, passback, links)
  GET  .../class-report, .../reports/{id}.html  the batch's class report and full reports
  GET  /api/courses/{course}/assignments/{name} the instructor's table as JSON
  GET|POST /login                               the instructor's token, for a cookie

A submission's id is 128 random bits: its link is the student's only way in (nothing lists
submissions without an instructor's token). Instructor pages take the course's
instructor_token as a bearer token, or a cookie made from it by /login (HttpOnly,
SameSite=Lax: a form of another site cannot regrade).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader
from sqlalchemy import func, select, text

from grader import __version__
from grader.render import html as report_html
from grader.render.plaintext import printable_value
from grader.report import GradeReport
from grader.service.config import Course
from grader.service.context import Service
from grader.service.db import Job, Passback, Submission

router = APIRouter()

_environment = Environment(loader=PackageLoader("grader.service"), autoescape=True,
                           finalize=printable_value, trim_blocks=True, lstrip_blocks=True)
_environment.filters["points"] = lambda number: f"{number:g}" if number is not None else ""
_environment.filters["when"] = lambda stamp: datetime.fromtimestamp(stamp, UTC).strftime(
    "%Y-%m-%d %H:%M:%S UTC") if stamp else ""


def render_page(template: str, **values) -> str:
    service = values.get("service")
    values.setdefault("base", service.config.base_url if service else "")
    values.setdefault("title", "ipc-grader")
    values.setdefault("refresh", None)
    return _environment.get_template(template).render(**values)


def _service(request: Request) -> Service:
    return request.app.state.service


# ---- health ----------------------------------------------------------------------------------

@router.get("/health")
def health(request: Request):
    service = _service(request)
    try:
        with service.db.session() as session:
            session.execute(text("SELECT 1"))
            jobs = dict(session.execute(select(Job.state, func.count()).group_by(Job.state))
                        .all())
            outbox = dict(session.execute(select(Passback.state, func.count())
                                          .group_by(Passback.state)).all())
    except Exception as error:
        return JSONResponse({"ok": False, "database": f"{type(error).__name__}: {error}"}, 503)
    pool = service.pool
    return {"ok": True, "version": __version__, "workers": pool.count if pool else 0,
            "jobs": jobs, "passbacks": outbox}


# ---- a submission ----------------------------------------------------------------------------

def _submission_view(service: Service, submission_id: str) -> dict:
    with service.db.session() as session:
        submission = session.get(Submission, submission_id)
        if submission is None:
            raise HTTPException(404, "no such submission")
        jobs = list(session.scalars(select(Job).where(Job.submission_id == submission_id)
                                    .order_by(Job.id)))
        passbacks = list(session.scalars(
            select(Passback).join(Job, Job.id == Passback.job_id)
            .where(Job.submission_id == submission_id).order_by(Passback.id)))
        others = list(session.scalars(
            select(Submission).where(Submission.course == submission.course,
                                     Submission.assignment == submission.assignment,
                                     Submission.student == submission.student,
                                     Submission.id != submission_id)
            .order_by(Submission.received_at.desc()).limit(20)))
        session.expunge_all()
    graded = [j for j in jobs if j.state == "done" and j.report]
    course = service.config.course(submission.course)
    return {"submission": submission, "jobs": jobs, "passbacks": passbacks, "others": others,
            "latest": jobs[-1] if jobs else None, "graded": graded[-1] if graded else None,
            "lms": bool(course and course.lti)}


@router.get("/submissions/{submission_id}", response_class=HTMLResponse)
def submission_page(request: Request, submission_id: str):
    service = _service(request)
    view = _submission_view(service, submission_id)
    return HTMLResponse(_submission_html(service, view, student=True),
                        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})


def _submission_html(service: Service, view: dict, student: bool) -> str:
    """The report page of the latest graded job with the service's panel in it, or the panel
    alone while nothing is graded yet."""
    latest = view["latest"]
    busy = latest is not None and latest.state != "done"
    try:
        title = service.assignment(view["submission"].assignment_id).title
    except Exception:
        title = view["submission"].assignment_id
    panel = render_page("panel.html.j2", service=service, title=title, **view)
    if view["graded"] is None:
        return render_page("submission.html.j2", service=service, title=title,
                           refresh=5 if busy else None, **view)
    report = GradeReport.from_dict(json.loads(view["graded"].report))
    page = report_html.render(report.for_student() if student else report)
    style = f"<style>{_environment.get_template('service.css.j2').render()}</style>"
    page = page.replace("</head>", f"{style}\n{_refresh(busy)}</head>", 1)
    return page.replace("</header>", f"</header>\n{panel}", 1)


def _refresh(busy: bool) -> str:
    return '<meta http-equiv="refresh" content="5">\n' if busy else ""


@router.get("/api/submissions/{submission_id}")
def submission_json(request: Request, submission_id: str):
    service = _service(request)
    view = _submission_view(service, submission_id)
    return JSONResponse(_submission_dict(service, view, student=True))


def _submission_dict(service: Service, view: dict, student: bool) -> dict:
    submission = view["submission"]
    graded = view["graded"]
    report = None
    if graded is not None:
        report = GradeReport.from_dict(json.loads(graded.report))
        report = (report.for_student() if student else report).to_dict()
    return {
        "id": submission.id, "url": service.link(submission.id), "course": submission.course,
        "assignment": submission.assignment, "assignment_id": submission.assignment_id,
        "student": submission.student, "source": submission.source,
        "origin": submission.origin, "commit": submission.commit, "ref": submission.ref,
        "received_at": submission.received_at, "state": submission.state,
        "verdict": submission.verdict, "content_hash": submission.content_hash,
        "jobs": [{"id": j.id, "attempt": j.attempt, "reason": j.reason, "state": j.state,
                  "status": j.status, "verdict": j.verdict, "score": j.score,
                  "max_score": j.max_score, "graded_at": j.graded_at,
                  "reused_from": j.reused_from, "grader_version": j.grader_version,
                  "assignment_version": j.assignment_version, "image": j.image,
                  "selection": j.selection, "created_at": j.created_at,
                  "owner": j.owner, "tries": j.tries, "stalls": j.stalls,
                  "retries": j.retries,
                  "started_at": j.started_at, "finished_at": j.finished_at}
                 for j in view["jobs"]],
        "passbacks": [{"job": p.job_id, "state": p.state, "score_given": p.score_given,
                       "score_maximum": p.score_maximum, "timestamp": p.timestamp,
                       "attempts": p.attempts, "last_status": p.last_status,
                       "answer": p.answer, "created_at": p.created_at,
                       "sent_at": p.sent_at} for p in view["passbacks"]],
        "report": report,
    }


# ---- the instructor --------------------------------------------------------------------------

def _cookie_name(course: str) -> str:
    return f"grader_{course.replace('.', '_')}"


def _cookie_value(course: Course) -> str:
    return hashlib.sha256(f"ipc-grader:{course.name}:{course.instructor_token}".encode()
                          ).hexdigest()


def instructor(request: Request, course_name: str) -> Course:
    """The course, if the request carries its instructor's token (or cookie); else 401, or a
    redirect to /login for a page."""
    service = _service(request)
    course = service.config.course(course_name)
    if course is None:
        raise HTTPException(404, "no such course")
    if course.instructor_token:
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer ") and hmac.compare_digest(
                auth[7:].strip().encode(), course.instructor_token.encode()):
            return course
        cookie = request.cookies.get(_cookie_name(course.name), "")
        if cookie and hmac.compare_digest(cookie.encode(), _cookie_value(course).encode()):
            return course
    wants_page = "text/html" in request.headers.get("accept", "") and \
        not request.url.path.startswith("/api/")
    if wants_page:
        target = quote(request.url.path)
        raise HTTPException(303, "log in", headers={
            "Location": f"{service.config.base_url}/login?course={course.name}&next={target}"})
    raise HTTPException(401, "this needs the course's instructor token (Authorization: "
                             "Bearer, or /login)")


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, course: str = "", next: str = ""):
    return render_page("login.html.j2", service=_service(request), course=course, next=next,
                       error=None, title="login")


@router.post("/login")
async def login(request: Request):
    service = _service(request)
    form = await request.form()
    name, token = str(form.get("course", "")), str(form.get("token", ""))
    target = str(form.get("next", "")) or f"/courses/{name}"
    course = service.config.course(name)
    if course is None or not course.instructor_token or not hmac.compare_digest(
            token.encode(), course.instructor_token.encode()):
        return HTMLResponse(render_page("login.html.j2", service=service, course=name,
                                        next=target, error="wrong course or token",
                                        title="login"), 401)
    if not target.startswith("/") or target.startswith("//"):
        target = f"/courses/{name}"
    response = RedirectResponse(f"{service.config.base_url}{target}", 303)
    response.set_cookie(_cookie_name(name), _cookie_value(course), httponly=True,
                        samesite="lax", secure=service.config.base_url.startswith("https:"),
                        max_age=12 * 3600)
    return response


@router.get("/courses/{course_name}", response_class=HTMLResponse)
def course_page(request: Request, course_name: str):
    course = instructor(request, course_name)
    service = _service(request)
    rows = []
    with service.db.session() as session:
        for entry in course.assignments.values():
            count, students = session.execute(
                select(func.count(Submission.id), func.count(Submission.student.distinct()))
                .where(Submission.course == course.name,
                       Submission.assignment == entry.name)).one()
            rows.append({"name": entry.name, "assignment": entry.assignment,
                         "submissions": count, "students": students,
                         "lineitem": entry.lineitem})
        jobs = dict(session.execute(
            select(Job.state, func.count()).join(Submission, Submission.id == Job.submission_id)
            .where(Submission.course == course.name).group_by(Job.state)).all())
        outbox = dict(session.execute(select(Passback.state, func.count())
                                      .where(Passback.course == course.name)
                                      .group_by(Passback.state)).all())
    counts = {"queued": jobs.get("queued", 0), "running": jobs.get("running", 0),
              **{k: outbox.get(k, 0) for k in ("pending", "waiting", "failed")}}
    return render_page("course.html.j2", service=service, course=course, rows=rows,
                       counts=counts, title=course.name)


def _entry(course: Course, name: str):
    entry = course.assignments.get(name)
    if entry is None:
        raise HTTPException(404, f"course {course.name} has no assignment {name!r}")
    return entry


def _rows(service: Service, course: Course, entry) -> list[dict]:
    """One row per student: their latest submission, its latest job, its latest passback."""
    with service.db.session() as session:
        submissions = list(session.scalars(
            select(Submission).where(Submission.course == course.name,
                                     Submission.assignment == entry.name)
            .order_by(Submission.received_at)))
        latest: dict[str, Submission] = {}
        counts: dict[str, int] = {}
        for submission in submissions:
            latest[submission.student] = submission
            counts[submission.student] = counts.get(submission.student, 0) + 1
        rows = []
        for student in sorted(latest, key=str.lower):
            submission = latest[student]
            job = session.scalar(select(Job).where(Job.submission_id == submission.id)
                                 .order_by(Job.id.desc()).limit(1))
            passback = session.scalar(
                select(Passback).where(Passback.course == course.name,
                                       Passback.assignment == entry.name,
                                       Passback.student == student)
                .order_by(Passback.stamp.desc()).limit(1))
            status = submission.state if submission.state == "refused" else \
                (job.status or job.state) if job else "none"
            verdict = submission.verdict if submission.state == "refused" else \
                (job.verdict if job and job.status != "graded" else "")
            rows.append({"student": student, "submission": submission, "job": job,
                         "passback": passback, "status": status, "verdict": verdict,
                         "count": counts[student]})
        session.expunge_all()
    return rows


@router.get("/courses/{course_name}/assignments/{name}", response_class=HTMLResponse)
def assignment_page(request: Request, course_name: str, name: str):
    course = instructor(request, course_name)
    service = _service(request)
    entry = _entry(course, name)
    return render_page("assignment.html.j2", service=service, course=course, entry=entry,
                       rows=_rows(service, course, entry),
                       title=service.assignment(entry.assignment).title)


@router.get("/api/courses/{course_name}/assignments/{name}")
def assignment_json(request: Request, course_name: str, name: str):
    course = instructor(request, course_name)
    service = _service(request)
    entry = _entry(course, name)
    out = []
    for row in _rows(service, course, entry):
        job, passback = row["job"], row["passback"]
        out.append({"student": row["student"], "submission": row["submission"].id,
                    "url": service.link(row["submission"].id), "submissions": row["count"],
                    "status": row["status"], "verdict": row["verdict"],
                    "score": job.score if job else None,
                    "max_score": job.max_score if job else None,
                    "passback": passback.state if passback else None,
                    "passback_answer": passback.answer if passback else None})
    return {"course": course.name, "assignment": entry.name, "students": out}


@router.get("/courses/{course_name}/assignments/{name}/reports/{submission_id}.html",
            response_class=HTMLResponse)
def instructor_report(request: Request, course_name: str, name: str, submission_id: str):
    instructor(request, course_name)
    service = _service(request)
    view = _submission_view(service, submission_id)
    if view["submission"].course != course_name:
        raise HTTPException(404, "no such submission in this course")
    return HTMLResponse(_submission_html(service, view, student=False))


@router.get("/courses/{course_name}/assignments/{name}/class-report",
            response_class=HTMLResponse)
def class_report(request: Request, course_name: str, name: str):
    """The batch's class report (grader/batch/classreport.py) over each student's latest
    graded submission; its links (reports/<key>.html) land on the route above."""
    from grader.batch.classreport import render
    from grader.batch.identity import Identity
    from grader.batch.store import GRADED, Result, identity_dict

    course = instructor(request, course_name)
    service = _service(request)
    entry = _entry(course, name)
    assignment = service.assignment(entry.assignment)
    checks = assignment.select(entry.only)
    results = []
    for row in _rows(service, course, entry):
        job, submission = row["job"], row["submission"]
        report = json.loads(job.report) if job and job.report else None
        graded = job is not None and job.status == "graded"
        results.append(Result(
            key=submission.id, student=identity_dict(Identity(key=row["student"])),
            members=[], sources=[submission.origin], status=GRADED if graded else
            (submission.state if submission.state == "refused" else "error"),
            verdict=row["verdict"] or (job.verdict if job else "not graded yet"),
            notes=[], run_key={}, graded_at=job.graded_at if job else "",
            duration_s=(report or {}).get("duration_s", 0.0),
            score=job.score or 0.0 if graded else 0.0,
            max_score=job.max_score or 0.0 if job else 0.0, report=report,
            checks={c["id"]: c["earned"] for c in report["checks"]} if report else {}))
    return Response(render(assignment, results, checks, [], None), media_type="text/html")


@router.post("/api/submissions/{submission_id}/regrade")
async def regrade(request: Request, submission_id: str, force: bool = False):
    from grader.service.intake import enqueue

    service = _service(request)
    form = await request.form() if "form" in request.headers.get("content-type", "") else {}

    def queue() -> tuple[Course, str, int, bool]:
        with service.db.session() as session:
            submission = session.get(Submission, submission_id)
            if submission is None:
                raise HTTPException(404, "no such submission")
            course = instructor(request, submission.course)
            job, created = enqueue(service, session, submission_id, reason="regrade",
                                   force=force)
            return course, submission.assignment, job.id, created

    course, assignment, job_id, created = await run_in_threadpool(queue)
    service.queued()
    if form.get("back"):
        return RedirectResponse(f"{service.config.base_url}/courses/{course.name}/assignments/"
                                f"{assignment}", 303)
    # A second click while the first regrade waits: the same job, not a second one.
    return JSONResponse({"submission": submission_id, "job": job_id,
                         "already_queued": not created}, 202)
