"""The LTI 1.3 launch, as far as a grader needs it: who the student is (their LTI user id, the
AGS `userId`) and which line item their grade goes to (platforms.md §4, "Launch").

  GET|POST /lti/login    OIDC third-party login initiation from the platform (iss,
                         login_hint, target_link_uri, lti_message_hint, client_id): a state
                         and a nonce are stored (10 minutes, used once) and the browser is
                         sent to the platform's auth URL (scope openid, response_type
                         id_token, response_mode form_post, prompt none).
  POST /lti/launch       the platform's id_token and our state: the token is verified against
                         the platform's JWKS (RS256), and its iss, aud (our client id), azp,
                         exp, nonce, deployment id, LTI version and message type checked. The
                         user id (`sub`) is kept for the student, the line item of the AGS
                         endpoint claim for the assignment; outbox rows waiting for them go.
  GET /.well-known/jwks.json   the tool's public keys (the platform's "public keyset URL").

The student is named by the custom parameter `student` (set in the tool's registration:
Moodle `student=$User.username`, Canvas `student=$Canvas.user.loginId`), else by the roster's
lti_user_id, else by the LIS person sourcedid, else by `sub` itself. The assignment by the
custom parameter `assignment` (the course's name for it), else by its line item URL, else the
course's only assignment.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlencode

import jwt
from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from sqlalchemy import delete, select

from grader.service.config import Course, CourseAssignment
from grader.service.context import Service
from grader.service.db import LtiLineitem, LtiState, LtiUser, Submission, now

CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
AGS_ENDPOINT = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
STATE_TTL_S = 600

router = APIRouter()
_jwks_clients: dict[str, jwt.PyJWKClient] = {}


@router.get("/.well-known/jwks.json")
def tool_jwks(request: Request):
    service: Service = request.app.state.service
    if service.config.private_key is None:
        raise HTTPException(404, "no tool key configured (tool.private_key in grader.toml)")
    from grader.service.keys import ToolKey

    return JSONResponse(ToolKey.load(service.config.private_key).jwks())


@router.api_route("/lti/login", methods=["GET", "POST"])
async def login(request: Request):
    service: Service = request.app.state.service
    params = dict(request.query_params)
    if request.method == "POST":
        params.update({k: v for k, v in (await request.form()).items() if isinstance(v, str)})
    issuer, hint = params.get("iss", ""), params.get("login_hint", "")
    if not issuer or not hint:
        raise HTTPException(400, "an LTI login initiation needs iss and login_hint")
    course = _course_of(service, issuer, params.get("client_id"))
    if course is None or not course.lti.auth_url:
        raise HTTPException(400, f"no course here has the LTI platform {issuer!r} "
                                 f"(with an auth_url)")
    state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    await run_in_threadpool(_remember, service, state, nonce, course.name)
    query = {"scope": "openid", "response_type": "id_token", "response_mode": "form_post",
             "prompt": "none", "client_id": course.lti.client_id,
             "redirect_uri": f"{service.config.base_url}/lti/launch", "state": state,
             "nonce": nonce, "login_hint": hint}
    if "lti_message_hint" in params:
        query["lti_message_hint"] = params["lti_message_hint"]
    separator = "&" if "?" in course.lti.auth_url else "?"
    return RedirectResponse(f"{course.lti.auth_url}{separator}{urlencode(query)}", 302)


def _remember(service: Service, state: str, nonce: str, course: str) -> None:
    with service.db.session() as session:
        session.execute(delete(LtiState).where(LtiState.created_at < now() - STATE_TTL_S))
        session.add(LtiState(state=state, nonce=nonce, course=course))


def _course_of(service: Service, issuer: str, client_id: str | None) -> Course | None:
    for course in service.config.courses.values():
        if course.lti and course.lti.issuer == issuer and \
                (not client_id or course.lti.client_id == client_id):
            return course
    return None


@router.post("/lti/launch")
async def launch(request: Request):
    service: Service = request.app.state.service
    form = await request.form()
    token, state = form.get("id_token"), form.get("state")
    if not isinstance(token, str) or not isinstance(state, str):
        raise HTTPException(400, "an LTI launch needs id_token and state")
    return HTMLResponse(await run_in_threadpool(_launch, service, token, state))


def _launch(service: Service, token: str, state: str) -> str:
    """The launch's work, off the event loop (the database, the platform's JWKS)."""
    with service.db.session() as session:
        pending = session.get(LtiState, state)
        if pending is None or pending.created_at < now() - STATE_TTL_S:
            raise HTTPException(400, "unknown or expired state: start the launch again from "
                                     "the course")
        session.delete(pending)
        course_name, nonce = pending.course, pending.nonce
    course = service.config.course(course_name)
    claims = verify_id_token(course, token, nonce)
    learned = learn(service, course, claims)
    return _launch_page(service, course, learned)


def verify_id_token(course: Course, token: str, nonce: str) -> dict:
    """The id_token's claims, checked (or 401 with the reason)."""
    lti = course.lti
    try:
        client = _jwks_clients.get(lti.jwks_url)
        if client is None:
            client = _jwks_clients[lti.jwks_url] = jwt.PyJWKClient(lti.jwks_url, lifespan=300)
        key = client.get_signing_key_from_jwt(token)
        claims = jwt.decode(token, key.key, algorithms=["RS256"], audience=lti.client_id,
                            issuer=lti.issuer, leeway=60,
                            options={"require": ["exp", "iat", "sub", "nonce"]})
    except jwt.PyJWTError as error:
        raise HTTPException(401, f"the id_token is not valid: {error}") from None
    audience = claims.get("aud")
    if isinstance(audience, list) and len(audience) > 1 and claims.get("azp") != lti.client_id:
        raise HTTPException(401, "the id_token has several audiences and azp is not ours")
    problems = []
    if claims.get("nonce") != nonce:
        problems.append("its nonce is not the one of this launch")
    if str(claims.get(f"{CLAIM}deployment_id")) != lti.deployment_id:
        problems.append(f"deployment_id is not {lti.deployment_id}")
    if claims.get(f"{CLAIM}version") != "1.3.0":
        problems.append("LTI version is not 1.3.0")
    if claims.get(f"{CLAIM}message_type") != "LtiResourceLinkRequest":
        problems.append("message_type is not LtiResourceLinkRequest")
    if problems:
        raise HTTPException(401, f"the id_token is not valid: {'; '.join(problems)}")
    return claims


def learn(service: Service, course: Course, claims: dict) -> dict:
    """Keep the student's user id and the assignment's line item; release waiting rows."""
    from grader.service.passback import release_waiting

    user_id = str(claims["sub"])
    custom = claims.get(f"{CLAIM}custom") or {}
    student = str(custom.get("student") or "").strip()
    if not student:
        student = next((s.key for s in course.students.values() if s.lti_user_id == user_id),
                       "")
    if not student:
        student = str((claims.get(f"{CLAIM}lis") or {}).get("person_sourcedid") or user_id)
    endpoint = claims.get(AGS_ENDPOINT) or {}
    lineitem = endpoint.get("lineitem") if isinstance(endpoint, dict) else None
    entry = _assignment_of(course, str(custom.get("assignment") or ""), lineitem)
    with service.db.session() as session:
        known = session.scalar(select(LtiUser).where(LtiUser.course == course.name,
                                                     LtiUser.student == student))
        if known is None:
            session.add(LtiUser(course=course.name, student=student, user_id=user_id))
        else:
            known.user_id, known.updated_at = user_id, now()
        if entry is not None and isinstance(lineitem, str) and lineitem:
            item = session.scalar(select(LtiLineitem).where(
                LtiLineitem.course == course.name, LtiLineitem.assignment == entry.name))
            if item is None:
                session.add(LtiLineitem(course=course.name, assignment=entry.name,
                                        lineitem=lineitem))
            else:
                item.lineitem, item.updated_at = lineitem, now()
        session.flush()
        released = release_waiting(session, course)
        submissions = list(session.scalars(
            select(Submission).where(Submission.course == course.name,
                                     Submission.student == student)
            .order_by(Submission.received_at.desc()).limit(50)))
        for submission in submissions:
            session.expunge(submission)
    if released and service.outbox is not None:
        service.outbox.notify()
    return {"student": student, "user_id": user_id, "lineitem": lineitem,
            "assignment": entry.name if entry else None, "submissions": submissions,
            "name": claims.get("name") or claims.get("given_name") or student}


def _assignment_of(course: Course, named: str, lineitem) -> CourseAssignment | None:
    if named in course.assignments:
        return course.assignments[named]
    for entry in course.assignments.values():
        if lineitem and entry.lineitem == lineitem:
            return entry
    if len(course.assignments) == 1:
        return next(iter(course.assignments.values()))
    return None


def _launch_page(service: Service, course: Course, learned: dict) -> str:
    from grader.service.pages import render_page

    return render_page("launch.html.j2", service=service, course=course, **learned)
