"""Simulators for the `grade serve` tests (not the product): an LTI 1.3 platform, a git server
and a GitHub webhook sender, all on 127.0.0.1.

Platform follows the spec as Moodle and Canvas implement it (../shared/research/platforms.md
§4, each rule from their source code):
  - POST /token: form-encoded only; grant_type client_credentials, the jwt-bearer assertion
    type, a non-empty scope; the client assertion verified (RS256) against the tool's JWKS
    (fetched from its URL, as Moodle's "public keyset URL"): kid, iss = sub = client id,
    aud = the token URL, exp, a jti used once. Answers {access_token, expires_in, ...}.
  - POST /lineitems/<n>/lineitem/scores?type_id=1 (Moodle's URL shape, a query string after
    the path): a valid bearer token (401 otherwise), Content-Type
    application/vnd.ims.lis.v1.score+json (415 otherwise), userId, timestamp (ISO 8601 with
    an offset), activityProgress, gradingProgress, scoreMaximum with scoreGiven (400
    otherwise); the timestamp rule: "moodle" refuses a timestamp not later than the stored
    one in whole seconds (409), "canvas" one strictly earlier (400 "timestamp ... before").
  - fail_next: statuses answered first, one per request (503 three times...); revoke(): the
    tokens given so far answer 401.
  - GET /auth (OIDC authorization): an auto-posting form with a signed id_token, as a platform
    answers a login initiation; GET /jwks: the platform's keys.
  - accepted: every score taken, in order; count(user) says how many a student got.

GitServer: bare repositories under a folder, served by `git daemon` on 127.0.0.1 (or read as
file://); push() commits files to one and returns the commit id.

WebhookSender: GitHub push payloads, signed with X-Hub-Signature-256 as GitHub signs them.

Server: `grade serve --config FILE` in a process of its own (GRADER_ROOT: the tree to grade
with), started, asked for /health, killed.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import hmac
import html
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

SCORE_TYPE = "application/vnd.ims.lis.v1.score+json"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
LTI = "https://purl.imsglobal.org/spec/lti/claim/"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@functools.cache
def _platform_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class Platform:
    def __init__(self, *, mode: str = "moodle", client_id: str = "tool-client",
                 deployment_id: str = "1") -> None:
        self.mode = mode
        self.client_id = client_id
        self.deployment_id = deployment_id
        self.tool_jwks_url = ""       # the tool's keyset URL, fetched at each token request
        self.tool_jwks: dict | None = None  # or its keys, given
        self.key = _platform_key()
        self.kid = "platform-key-1"
        self.fail_next: list[int] = []
        self.tokens: dict[str, float] = {}
        self.jtis: set[str] = set()
        self.lock = threading.Lock()
        self.requests: list[dict] = []     # every score POST: (status, body)
        self.accepted: list[dict] = []     # every score taken
        self.stored: dict[tuple[str, str], dict] = {}  # (line item, user) -> latest score
        self.token_requests = 0
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    # ---- the test's side --------------------------------------------------------------------

    def __enter__(self) -> Platform:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def issuer(self) -> str:
        return self.url

    @property
    def token_url(self) -> str:
        return f"{self.url}/token"

    def lineitem(self, number: int) -> str:
        return f"{self.url}/lineitems/{number}/lineitem?type_id=1"

    def revoke(self) -> None:
        with self.lock:
            self.tokens.clear()

    def count(self, user: str, lineitem: str | None = None) -> int:
        with self.lock:
            return sum(1 for a in self.accepted if a["userId"] == user and
                       (lineitem is None or a["lineitem"] == lineitem))

    def grade(self, user: str, lineitem: str) -> dict | None:
        with self.lock:
            return self.stored.get((lineitem, user))

    def id_token(self, *, nonce: str, sub: str, custom: dict | None = None,
                 lineitem: str | None = None, **changes) -> str:
        now = int(time.time())
        claims = {"iss": self.issuer, "aud": self.client_id, "sub": sub, "iat": now,
                  "exp": now + 300, "nonce": nonce, "name": f"Student {sub}",
                  f"{LTI}deployment_id": self.deployment_id, f"{LTI}version": "1.3.0",
                  f"{LTI}message_type": "LtiResourceLinkRequest",
                  f"{LTI}resource_link": {"id": "link-1"}, f"{LTI}custom": custom or {}}
        if lineitem:
            claims["https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"] = {
                "scope": ["https://purl.imsglobal.org/spec/lti-ags/scope/score"],
                "lineitems": f"{self.url}/lineitems", "lineitem": lineitem}
        claims.update(changes)
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.kid})

    # ---- the platform's side ----------------------------------------------------------------

    def jwks(self) -> dict:
        jwk = RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        return {"keys": [{**jwk, "kid": self.kid, "alg": "RS256", "use": "sig"}]}

    def _tool_key(self, kid: str):
        if self.tool_jwks is not None:
            keys = self.tool_jwks["keys"]
        else:
            with urllib.request.urlopen(self.tool_jwks_url, timeout=10) as answer:
                keys = json.load(answer)["keys"]
        for jwk in keys:
            if jwk.get("kid") == kid:
                return RSAAlgorithm.from_jwk(json.dumps(jwk))
        return None

    def token(self, content_type: str, body: bytes) -> tuple[int, dict]:
        with self.lock:
            self.token_requests += 1
        if not content_type.startswith("application/x-www-form-urlencoded"):
            return 400, {"error": "invalid_request", "why": "not form-encoded"}
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        if form.get("grant_type") != "client_credentials":
            return 400, {"error": "unsupported_grant_type"}
        if form.get("client_assertion_type") != ASSERTION_TYPE or not form.get("scope"):
            return 400, {"error": "invalid_request"}
        assertion = form.get("client_assertion", "")
        try:
            kid = jwt.get_unverified_header(assertion).get("kid", "")
            key = self._tool_key(kid)
            if key is None:
                return 400, {"error": "invalid_client", "why": f"no key {kid!r}"}
            claims = jwt.decode(assertion, key, algorithms=["RS256"], audience=self.token_url,
                                issuer=self.client_id,
                                options={"require": ["exp", "iat", "jti", "sub"]})
        except jwt.PyJWTError as error:
            return 400, {"error": "invalid_client", "why": str(error)}
        if claims["sub"] != self.client_id:
            return 400, {"error": "invalid_client", "why": "sub"}
        with self.lock:
            if claims["jti"] in self.jtis:
                return 400, {"error": "invalid_client", "why": "jti used twice"}
            self.jtis.add(claims["jti"])
            token = secrets.token_hex(16)
            self.tokens[token] = time.time() + 3600
        return 200, {"access_token": token, "token_type": "Bearer", "expires_in": 3600,
                     "scope": form["scope"]}

    def score(self, path: str, headers, body: bytes) -> tuple[int, dict]:
        auth = headers.get("Authorization", "")
        with self.lock:
            if self.fail_next:
                status = self.fail_next.pop(0)
                self.requests.append({"status": status, "forced": True})
                return status, {"error": "forced by the test"}
            token = auth[7:] if auth.startswith("Bearer ") else ""
            if self.tokens.get(token, 0) < time.time():
                return 401, {"error": "invalid token"}
        if headers.get("Content-Type", "").split(";")[0].strip() != SCORE_TYPE:
            return 415, {"error": f"Content-Type must be {SCORE_TYPE}"}
        try:
            score = json.loads(body)
        except ValueError:
            return 400, {"error": "Incorrect score received"}
        missing = [k for k in ("userId", "timestamp", "activityProgress", "gradingProgress")
                   if k not in score]
        if "scoreGiven" in score and "scoreMaximum" not in score:
            missing.append("scoreMaximum")
        if missing or score.get("gradingProgress") not in ("FullyGraded", "Pending",
                                                           "PendingManual", "Failed",
                                                           "NotReady") or \
                score.get("activityProgress") not in ("Initialized", "Started", "InProgress",
                                                      "Submitted", "Completed"):
            return 400, {"error": "Incorrect score received", "missing": missing}
        try:
            stamp = datetime.fromisoformat(score["timestamp"])
        except ValueError:
            return 400, {"error": "Incorrect score received: timestamp"}
        if stamp.tzinfo is None:
            return 400, {"error": "timestamp without an offset"}
        lineitem = path.split("/scores")[0]
        key = (lineitem, score["userId"])
        with self.lock:
            old = self.stored.get(key)
            if old is not None:
                before = old["stamp"]
                if self.mode == "moodle" and int(before.timestamp()) >= int(stamp.timestamp()):
                    self.requests.append({"status": 409, "score": score})
                    return 409, {"error": "Refusing score with an earlier timestamp"}
                if self.mode == "canvas" and before > stamp:
                    self.requests.append({"status": 400, "score": score})
                    return 400, {"errors": {"type": "bad_request", "message":
                                 f"Provided timestamp of {score['timestamp']} before last "
                                 f"updated timestamp of {before.isoformat()}"}}
            taken = {**score, "stamp": stamp, "lineitem": lineitem}
            self.stored[key] = taken
            self.accepted.append(taken)
            self.requests.append({"status": 200, "score": score})
        return 200, {}

    def auth(self, query: dict) -> str:
        """The OIDC authorization answer: a form that posts the id_token to the tool."""
        hint = json.loads(query.get("lti_message_hint") or "{}")  # what the link carries
        token = self.id_token(nonce=query["nonce"], sub=query["login_hint"],
                              custom=hint.get("custom"), lineitem=hint.get("lineitem"))
        return (f'<form method="post" action="{html.escape(query["redirect_uri"])}">'
                f'<input type="hidden" name="id_token" value="{token}">'
                f'<input type="hidden" name="state" value="{html.escape(query["state"])}">'
                f"</form>")

    def _handler(self):
        platform = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _answer(self, status: int, data, content_type: str = "application/json"):
                body = data.encode() if isinstance(data, str) else json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if parts.path == "/jwks":
                    return self._answer(200, platform.jwks())
                if parts.path == "/auth":
                    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                    return self._answer(200, platform.auth(query), "text/html")
                return self._answer(404, {"error": "not found"})

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                parts = urlsplit(self.path)
                if parts.path == "/token":
                    return self._answer(*platform.token(
                        self.headers.get("Content-Type", ""), body))
                if re.fullmatch(r"/lineitems/\d+/lineitem/scores", parts.path):
                    return self._answer(*platform.score(parts.path, self.headers, body))
                return self._answer(404, {"error": "not found"})

        return Handler


class GitServer:
    """Bare repositories in `root`, served by git daemon on 127.0.0.1."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.heads: dict[str, str] = {}

    @property
    def base_url(self) -> str:
        return f"git://127.0.0.1:{self.port}"

    def __enter__(self) -> GitServer:
        self.proc = subprocess.Popen(
            ["git", "daemon", "--reuseaddr", "--export-all", f"--base-path={self.root}",
             "--listen=127.0.0.1", f"--port={self.port}", str(self.root)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.05)
        raise RuntimeError("git daemon did not start")

    def __exit__(self, *exc) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)

    def push(self, name: str, files: dict[str, str | bytes] | Path, message: str = "work"
             ) -> str:
        """Commit `files` (name -> content, or a folder's files) as the whole tree of
        name.git's main branch; returns the commit id."""
        bare = self.root / f"{name}.git"
        env = {"GIT_AUTHOR_NAME": "Student", "GIT_AUTHOR_EMAIL": "s@example.edu",
               "GIT_COMMITTER_NAME": "Student", "GIT_COMMITTER_EMAIL": "s@example.edu",
               "PATH": "/usr/bin:/bin", "HOME": str(self.root)}
        if not bare.exists():
            subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True,
                           env=env)
            subprocess.run(["git", "-C", str(bare), "config", "uploadpack.allowAnySHA1InWant",
                            "true"], check=True, env=env)
        work = self.root / f".work-{name}"
        if not work.exists():
            subprocess.run(["git", "init", "-q", "-b", "main", str(work)], check=True, env=env)
        for path in work.iterdir():
            if path.name != ".git":
                subprocess.run(["rm", "-rf", str(path)], check=True)
        if isinstance(files, Path):
            files = {p.relative_to(files).as_posix(): p.read_bytes()
                     for p in files.rglob("*") if p.is_file()}
        for rel, content in files.items():
            target = work / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content.encode() if isinstance(content, str) else content)
        subprocess.run(["git", "-C", str(work), "add", "-A"], check=True, env=env)
        subprocess.run(["git", "-C", str(work), "commit", "-q", "--allow-empty", "-m",
                        message], check=True, env=env)
        subprocess.run(["git", "-C", str(work), "push", "-q", "-f", str(bare), "main"],
                       check=True, env=env)
        sha = subprocess.run(["git", "-C", str(work), "rev-parse", "HEAD"], check=True,
                             capture_output=True, text=True, env=env).stdout.strip()
        self.heads[name] = sha
        return sha


class WebhookSender:
    """GitHub's push deliveries, signed."""

    def __init__(self, url: str, secret: str, org: str = "os101-classroom") -> None:
        self.url = url
        self.secret = secret
        self.org = org
        self.client = httpx.Client(timeout=30)

    def payload(self, repo: str, after: str, *, before: str = "0" * 40,
                ref: str = "refs/heads/main", deleted: bool = False) -> dict:
        full = f"{self.org}/{repo}"
        return {"ref": ref, "before": before, "after": after, "created": before == "0" * 40,
                "deleted": deleted, "forced": False, "base_ref": None,
                "compare": f"https://github.com/{full}/compare/{before[:12]}...{after[:12]}",
                "commits": [] if deleted else [{"id": after, "message": "work"}],
                "head_commit": None if deleted else {"id": after},
                "repository": {"id": 1, "name": repo, "full_name": full, "private": True,
                               "default_branch": "main",
                               "clone_url": f"https://evil.example/{full}.git",
                               "owner": {"login": self.org}},
                "pusher": {"name": "student"}, "sender": {"login": "student"}}

    def send(self, payload: dict | bytes, *, delivery: str | None = None, event: str = "push",
             secret: str | None = None, signature: str | None = None) -> httpx.Response:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        mac = hmac.new((secret or self.secret).encode(), body, hashlib.sha256).hexdigest()
        headers = {"Content-Type": "application/json", "X-GitHub-Event": event,
                   "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
                   "X-Hub-Signature-256": signature if signature is not None
                   else f"sha256={mac}", "User-Agent": "GitHub-Hookshot/test"}
        return self.client.post(self.url, content=body, headers=headers)


def signed_upload(url: str, secret: str, archive: bytes, *, assignment: str, student: str,
                  filename: str = "hw.zip", timestamp: float | None = None,
                  client: httpx.Client | None = None) -> httpx.Response:
    """POST /api/submissions as an LMS script would: multipart, HMAC over timestamp.body."""
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in (("assignment", assignment), ("student", student)):
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                     f"{value}\r\n".encode())
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="archive"; '
                 f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'
                 .encode() + archive + b"\r\n")
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    stamp = str(int(timestamp if timestamp is not None else time.time()))
    mac = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}",
               "X-Grader-Timestamp": stamp, "X-Grader-Signature": f"sha256={mac}"}
    if client is not None:
        return client.post(url, content=body, headers=headers)
    return httpx.post(url, content=body, headers=headers, timeout=60)


def form_fields(page: str) -> dict[str, str]:
    """The hidden fields (and action) of the auto-posting form of Platform.auth()."""
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', page))
    fields["action"] = html.unescape(re.search(r'action="([^"]+)"', page)[1])
    return {k: html.unescape(v) for k, v in fields.items()}


class Server:
    """`grade serve --config CONFIG` in a process of its own."""

    def __init__(self, config: Path, tree: Path, log: Path) -> None:
        self.config, self.tree, self.log = config, tree, log
        self.proc: subprocess.Popen | None = None
        self.url = ""
        self.http = httpx.Client(timeout=30)

    def start(self, url: str) -> Server:
        self.url = url
        env = {**os.environ, "GRADER_ROOT": str(self.tree)}
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "grader", "serve", "--config",
                                          str(self.config)], stdout=log, stderr=log, env=env,
                                         start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"grade serve exited:\n{self.tail()}"
            with contextlib.suppress(httpx.HTTPError):
                if self.http.get(f"{url}/health").status_code == 200:
                    return self
            time.sleep(0.1)
        raise AssertionError(f"grade serve did not answer:\n{self.tail()}")

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def health(self) -> dict:
        return self.http.get(f"{self.url}/health").json()

    def kill(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.kill()


class Worker:
    """`grade worker --config CONFIG --concurrency N` in a process of its own."""

    def __init__(self, config: Path, tree: Path, log: Path, concurrency: int = 1,
                 shutdown_timeout: float | None = None) -> None:
        self.config, self.tree, self.log = config, tree, log
        self.concurrency, self.shutdown_timeout = concurrency, shutdown_timeout
        self.proc: subprocess.Popen | None = None

    def start(self) -> Worker:
        env = {**os.environ, "GRADER_ROOT": str(self.tree)}
        argv = [sys.executable, "-m", "grader", "worker", "--config", str(self.config),
                "--concurrency", str(self.concurrency)]
        if self.shutdown_timeout is not None:
            argv += ["--shutdown-timeout", str(self.shutdown_timeout)]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=log, env=env,
                                         start_new_session=True)
        return self

    @property
    def pid(self) -> int:
        return self.proc.pid

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self, wait: float = 120) -> int | None:
        """SIGTERM, and its exit status (None: still running after `wait`, then killed)."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(wait)
        except subprocess.TimeoutExpired:
            self.kill()
            return None
