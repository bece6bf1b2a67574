"""grader.toml: what `grade serve` serves, for which courses, with which secrets.

    [server]
    listen = "127.0.0.1:8017"                  # host:port
    public_url = "https://grader.example.edu"  # how students reach it (links in comments)
    database = "sqlite:///serve/grader.db"     # or "postgresql+psycopg://user:pw@host/db"
                                               # (or "env:DATABASE_URL"): `grade worker`s
    data = "serve"                             # sources, archives, reports
    workers = 0                                # gradings at once; 0: cores - 1 (SQLite)
    backend = "docker"                         # or "local" (only as root: it jails)
    # PostgreSQL only (procrastinate; README "Scale-out"):
    heartbeat_s = 10          # a `grade worker` tells it is alive this often
    stalled_after_s = 30      # its jobs are retried after this long without a heartbeat
    reap_every_s = 10         # how often a worker looks for such jobs
    shutdown_timeout_s = 600  # SIGTERM: running gradings may finish for this long

    [tool]
    private_key = "tool-key.pem"               # `grade serve keys --new tool-key.pem`

    [courses.os101]
    instructor_token = "env:OS101_INSTRUCTOR"  # a value "env:NAME" is read from $NAME
    webhook_secret = "env:OS101_WEBHOOK"
    git_base_url = "https://github.com/os101-classroom"
    upload_secret = "env:OS101_UPLOAD"         # HMAC of uploads
    api_tokens = ["env:OS101_API"]             # or a bearer token

    [courses.os101.lti]                        # the platform, as registered (README)
    issuer = "https://moodle.example.edu"
    client_id = "..."; deployment_id = "1"
    token_url = "..."; auth_url = "..."; jwks_url = "..."

    [courses.os101.assignments.hw1]
    assignment = "assignment1"
    repo_pattern = "hw1-{login}"
    lineitem = "https://moodle.example.edu/mod/lti/services.php/2/lineitems/7/lineitem?type_id=1"

    [courses.os101.students.ada]               # a roster; or roster = "roster.csv"
    github = "ada-lovelace"
    lti_user_id = "1234"

Paths are relative to the config file's folder. Every problem is one line naming the key.
"""

from __future__ import annotations

import csv
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_LISTEN = "127.0.0.1:8017"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class ConfigError(Exception):
    """grader.toml cannot be used: one line naming the file and the key."""


@dataclass(frozen=True)
class Lti:
    issuer: str
    client_id: str
    deployment_id: str
    token_url: str
    auth_url: str = ""
    jwks_url: str = ""
    audience: str = ""      # the token endpoint's audience, when not its URL (Moodle: same)


@dataclass(frozen=True)
class CourseAssignment:
    name: str               # the course's name for it ("hw1")
    assignment: str         # an assignment id or slug ("assignment1")
    repo_pattern: str = ""  # "hw1-{login}": the student's GitHub login, GitHub Classroom style
    lineitem: str = ""
    only: frozenset[str] | None = None  # grade only these checks

    def match(self, repository: str) -> str | None:
        """The login a repository name carries, or None when it is not this assignment's."""
        if not self.repo_pattern:
            return None
        head, _, tail = self.repo_pattern.partition("{login}")
        pattern = re.escape(head) + r"(?P<login>[A-Za-z0-9](?:[A-Za-z0-9-]{0,38}))" + \
            re.escape(tail)
        found = re.fullmatch(pattern, repository)
        return found["login"] if found else None


@dataclass(frozen=True)
class Student:
    key: str
    github: str = ""
    lti_user_id: str = ""


@dataclass(frozen=True)
class Course:
    name: str
    webhook_secret: str = ""
    git_base_url: str = ""
    upload_secret: str = ""
    api_tokens: tuple[str, ...] = ()
    instructor_token: str = ""
    lti: Lti | None = None
    assignments: dict[str, CourseAssignment] = field(default_factory=dict)
    students: dict[str, Student] = field(default_factory=dict)

    def student_by_github(self, login: str) -> Student:
        for student in self.students.values():
            if student.github.lower() == login.lower():
                return student
        return Student(login, github=login)


@dataclass(frozen=True)
class Config:
    path: Path
    listen: str = DEFAULT_LISTEN
    public_url: str = ""
    database: str = ""
    data: Path = Path("serve")
    workers: int = 0
    backend: str = "docker"
    private_key: Path | None = None
    max_upload_bytes: int = 8 << 20
    webhook_max_bytes: int = 25 << 20  # GitHub sends no payload above 25 MB
    retry_base_s: float = 5.0          # the outbox's first wait after a 5xx; doubled each time
    retry_max_s: float = 600.0
    heartbeat_s: float = 10.0          # procrastinate's worker heartbeat (its default)
    stalled_after_s: float = 30.0      # procrastinate's stalled_worker_timeout default
    reap_every_s: float = 10.0
    shutdown_timeout_s: float = 600.0
    courses: dict[str, Course] = field(default_factory=dict)

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0] or "127.0.0.1"

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.listen}").rstrip("/")

    @property
    def is_postgresql(self) -> bool:
        return self.database.startswith("postgresql")

    @property
    def worker_count(self) -> int:
        return self.workers or max(1, (os.cpu_count() or 2) - 1)

    def course(self, name: str) -> Course | None:
        return self.courses.get(name)


def load_config(path: Path) -> Config:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(f"{path}: cannot read: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    reader = _Reader(path)
    return reader.config(data)


class _Reader:
    def __init__(self, path: Path) -> None:
        self.path = path.resolve()
        self.folder = self.path.parent

    def fail(self, key: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.path}: {key}: {problem}")

    def get(self, table: dict, key: str, where: str, kind: type | tuple = str, default=...):
        if key not in table:
            if default is ...:
                raise self.fail(f"{where}{key}", "missing")
            return default
        value = table[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise self.fail(f"{where}{key}", f"expected {_kind(kind)}, got {value!r}")
        return value

    def secret(self, table: dict, key: str, where: str) -> str:
        """A secret: the value, or "env:NAME" read from the environment."""
        value = self.get(table, key, where, default="")
        return self._resolve(value, f"{where}{key}")

    def _resolve(self, value: str, key: str) -> str:
        if value.startswith("env:"):
            name = value[4:]
            if name not in os.environ:
                raise self.fail(key, f"the environment variable {name} is not set")
            return os.environ[name]
        return value

    def file(self, value: str) -> Path:
        return (self.folder / value).resolve()

    def config(self, data: dict) -> Config:
        server = self.get(data, "server", "", dict, {})
        listen = self.get(server, "listen", "server.", default=DEFAULT_LISTEN)
        host, _, port = listen.rpartition(":")
        if not host or not port.isdigit():
            raise self.fail("server.listen", f"expected host:port, got {listen!r}")
        data_dir = self.file(self.get(server, "data", "server.", default="serve"))
        database = self._resolve(self.get(server, "database", "server.", default=""),
                                 "server.database")
        if database and not database.startswith(("sqlite:///", "postgresql+psycopg://")):
            raise self.fail("server.database", "expected sqlite:///FILE or "
                            "postgresql+psycopg://USER:PASSWORD@HOST/DATABASE")
        if database.startswith("sqlite:///") and not database.startswith("sqlite:////"):
            database = f"sqlite:///{self.file(database[len('sqlite:///'):])}"
        database = database or f"sqlite:///{data_dir / 'grader.db'}"
        backend = self.get(server, "backend", "server.", default="docker")
        if backend not in ("docker", "local"):
            raise self.fail("server.backend", f"expected docker or local, got {backend!r}")
        workers = self.get(server, "workers", "server.", int, 0)
        if workers < 0:
            raise self.fail("server.workers", "must be 0 (cores - 1) or more")
        tool = self.get(data, "tool", "", dict, {})
        key = self.get(tool, "private_key", "tool.", default="")
        courses_table = self.get(data, "courses", "", dict, {})
        courses = {}
        for name, table in courses_table.items():
            if not NAME.match(name):
                raise self.fail(f"courses.{name}", "a course name is letters, digits, - _ .")
            if not isinstance(table, dict):
                raise self.fail(f"courses.{name}", "expected a table")
            courses[name] = self.course(name, table)
        numbers = {k: self.get(server, k, "server.", (int, float), None)
                   for k in ("max_upload_bytes", "retry_base_s", "retry_max_s", "heartbeat_s",
                             "stalled_after_s", "reap_every_s", "shutdown_timeout_s")}
        if numbers["heartbeat_s"] is not None and numbers["stalled_after_s"] is not None and \
                numbers["stalled_after_s"] <= numbers["heartbeat_s"]:
            raise self.fail("server.stalled_after_s", "must be longer than heartbeat_s")
        return Config(self.path, listen=listen, public_url=self.get(server, "public_url",
                      "server.", default=""), database=database, data=data_dir,
                      workers=workers, backend=backend,
                      private_key=self.file(key) if key else None, courses=courses,
                      **{k: v for k, v in numbers.items() if v is not None})

    def course(self, name: str, table: dict) -> Course:
        where = f"courses.{name}."
        base = self.secret(table, "git_base_url", where).rstrip("/")  # may hold a token
        if base and not re.match(r"^(https?|git|ssh|file)://", base):
            raise self.fail(f"{where}git_base_url", "expected an https://, git://, ssh:// "
                            "or file:// URL")
        tokens = self.get(table, "api_tokens", where, list, [])
        lti = None
        if "lti" in table:
            lti_table = self.get(table, "lti", where, dict)
            w = f"{where}lti."
            lti = Lti(issuer=self.get(lti_table, "issuer", w),
                      client_id=self.get(lti_table, "client_id", w),
                      deployment_id=str(self.get(lti_table, "deployment_id", w, (str, int))),
                      token_url=self.get(lti_table, "token_url", w),
                      auth_url=self.get(lti_table, "auth_url", w, default=""),
                      jwks_url=self.get(lti_table, "jwks_url", w, default=""),
                      audience=self.get(lti_table, "audience", w, default=""))
        assignments = {}
        for short, entry in self.get(table, "assignments", where, dict, {}).items():
            w = f"{where}assignments.{short}."
            if not isinstance(entry, dict):
                raise self.fail(w[:-1], "expected a table")
            pattern = self.get(entry, "repo_pattern", w, default="")
            if pattern and pattern.count("{login}") != 1:
                raise self.fail(f"{w}repo_pattern", "must hold {login} once, e.g. hw1-{login}")
            only = self.get(entry, "only", w, list, None)
            assignments[short] = CourseAssignment(
                short, self.get(entry, "assignment", w), pattern,
                self.get(entry, "lineitem", w, default=""),
                frozenset(only) if only is not None else None)
        students = {}
        for key, entry in self.get(table, "students", where, dict, {}).items():
            w = f"{where}students.{key}."
            if not isinstance(entry, dict):
                raise self.fail(w[:-1], "expected a table")
            students[key] = Student(key, self.get(entry, "github", w, default=""),
                                    str(self.get(entry, "lti_user_id", w, (str, int), "")))
        if roster := self.get(table, "roster", where, default=""):
            for student in self.roster(self.file(roster), f"{where}roster"):
                students.setdefault(student.key, student)
        return Course(name, self.secret(table, "webhook_secret", where), base,
                      self.secret(table, "upload_secret", where),
                      tuple(self._resolve(t, f"{where}api_tokens") for t in tokens),
                      self.secret(table, "instructor_token", where), lti, assignments,
                      students)

    def roster(self, path: Path, key: str) -> list[Student]:
        """A CSV with the headers student, github, lti_user_id (the last two optional)."""
        try:
            rows = list(csv.DictReader(path.read_text(encoding="utf-8-sig").splitlines()))
        except (OSError, UnicodeDecodeError) as error:
            raise self.fail(key, f"cannot read {path}: {error}") from None
        if rows and "student" not in rows[0]:
            raise self.fail(key, f"{path}: needs a 'student' column (and github, "
                            f"lti_user_id)")
        return [Student(r["student"].strip(), (r.get("github") or "").strip(),
                        (r.get("lti_user_id") or "").strip()) for r in rows
                if (r.get("student") or "").strip()]


def _kind(kind) -> str:
    names = {str: "a string", int: "a number", float: "a number", list: "a list",
             dict: "a table"}
    if isinstance(kind, tuple):
        return " or ".join(dict.fromkeys(names[k] for k in kind))
    return names[kind]
