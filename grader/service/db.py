"""The database: what `grade serve` must not forget when it is killed.

Tables (SQLAlchemy 2; the schema is made by the alembic migrations in migrations/, applied
at start, never by create_all):
  deliveries     every webhook delivery accepted, by X-GitHub-Delivery and by body digest:
                 a redelivery (same GUID) or a replayed body is answered, never queued again
  upload_nonces  the signatures of recent signed uploads: a replay within the 5 minutes a
                 timestamp is valid is refused
  submissions    immutable: who, when, where from, the commit, the content hash
  jobs           one grading per attempt: state, the versions it was graded under (grader,
                 assignment, image), the report; a regrade is a new row
  gradings       one row per (assignment, content hash, versions, round), unique: the job
                 that inserts it grades, every other job of the same key waits for it and
                 reuses its report (a redelivery, a double click, two students' same code),
                 even on many machines at once; a forced regrade makes the next round
  source_archives  on PostgreSQL, each ready submission's sources as a tar.gz: a worker on
                 another machine grades from it (sources.py)
  passbacks      the outbox: one score per job for the LMS, until the platform takes it
  lti_users, lti_lineitems, lti_states
                 what LTI launches taught us (the student's LTI user id, an assignment's line
                 item) and the OIDC state/nonce of launches in flight

Times are Unix seconds (floats): one type on SQLite and PostgreSQL alike. The AGS timestamp
of a score is kept as the ISO 8601 text that was (and will again be) posted.

SQLite: WAL (readers never wait for the writer), busy timeout, and every transaction begun
IMMEDIATE, so two threads never deadlock upgrading a read to a write.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import (
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker


class Base(DeclarativeBase):
    pass


def now() -> float:
    return time.time()


# ---- intake ---------------------------------------------------------------------------------

class Delivery(Base):
    __tablename__ = "deliveries"
    __table_args__ = (UniqueConstraint("course", "delivery_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    course: Mapped[str] = mapped_column(String(64))
    delivery_id: Mapped[str] = mapped_column(String(128))
    body_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    event: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[float] = mapped_column(Float, default=now)
    submission_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    outcome: Mapped[str] = mapped_column(Text, default="")


class UploadNonce(Base):
    __tablename__ = "upload_nonces"

    signature: Mapped[str] = mapped_column(String(64), primary_key=True)
    received_at: Mapped[float] = mapped_column(Float, default=now, index=True)


class Submission(Base):
    __tablename__ = "submissions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # unguessable: the link
    course: Mapped[str] = mapped_column(String(64), index=True)
    assignment: Mapped[str] = mapped_column(String(64))      # the course's name ("hw1")
    assignment_id: Mapped[str] = mapped_column(String(64))   # the grader's ("assignment1")
    student: Mapped[str] = mapped_column(String(128), index=True)
    source: Mapped[str] = mapped_column(String(16))           # github | upload
    origin: Mapped[str] = mapped_column(Text, default="")     # repository, or uploader
    commit: Mapped[str] = mapped_column(String(64), default="")
    ref: Mapped[str] = mapped_column(Text, default="")
    received_at: Mapped[float] = mapped_column(Float, default=now)
    state: Mapped[str] = mapped_column(String(16), default="received")  # received|ready|refused
    content_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    verdict: Mapped[str] = mapped_column(Text, default="")
    notes: Mapped[str] = mapped_column(Text, default="[]")   # JSON list


class SourceArchive(Base):
    __tablename__ = "source_archives"

    submission_id: Mapped[str] = mapped_column(ForeignKey("submissions.id"), primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)   # tar.gz of DATA/sources/<id>/
    content_hash: Mapped[str] = mapped_column(String(64))


# ---- grading --------------------------------------------------------------------------------

class Job(Base):
    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    submission_id: Mapped[str] = mapped_column(ForeignKey("submissions.id"), index=True)
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    reason: Mapped[str] = mapped_column(String(32), default="submitted")  # | regrade
    force: Mapped[int] = mapped_column(Integer, default=0)  # grade again, even if known
    state: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    # queued | running | done
    created_at: Mapped[float] = mapped_column(Float, default=now)
    not_before: Mapped[float] = mapped_column(Float, default=0.0)
    started_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    finished_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    heartbeat_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    owner: Mapped[str] = mapped_column(String(64), default="")
    tries: Mapped[int] = mapped_column(Integer, default=0)
    stalls: Mapped[int] = mapped_column(Integer, default=0)   # its worker found dead
    retries: Mapped[int] = mapped_column(Integer, default=0)  # put back in the queue
    grader_version: Mapped[str] = mapped_column(String(32), default="")
    assignment_version: Mapped[str] = mapped_column(String(32), default="")
    image: Mapped[str] = mapped_column(String(128), default="")
    selection: Mapped[str] = mapped_column(Text, default="all")
    content_hash: Mapped[str] = mapped_column(String(64), default="", index=True)
    reused_from: Mapped[int | None] = mapped_column(Integer, nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="")  # graded | error | refused
    verdict: Mapped[str] = mapped_column(Text, default="")
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    max_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    report: Mapped[str | None] = mapped_column(Text, nullable=True)  # the GradeReport JSON
    graded_at: Mapped[str] = mapped_column(String(40), default="")   # ISO 8601, UTC


class Grading(Base):
    """The grading of one content under one set of versions: inserted by the job that grades
    it (the unique key makes that one job, whatever the race); state running | graded |
    failed. A forced regrade of a key graded before it was asked for makes round + 1."""

    __tablename__ = "gradings"
    __table_args__ = (UniqueConstraint("assignment_id", "content_hash", "grader_version",
                                       "assignment_version", "image", "selection", "round"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    assignment_id: Mapped[str] = mapped_column(String(64))
    content_hash: Mapped[str] = mapped_column(String(64))
    grader_version: Mapped[str] = mapped_column(String(32))
    assignment_version: Mapped[str] = mapped_column(String(32))
    image: Mapped[str] = mapped_column(String(128))
    selection: Mapped[str] = mapped_column(Text)
    round: Mapped[int] = mapped_column(Integer, default=0)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id"))  # the job grading it
    state: Mapped[str] = mapped_column(String(16), default="running")
    started_at: Mapped[float] = mapped_column(Float, default=now)
    finished_at: Mapped[float | None] = mapped_column(Float, nullable=True, index=True)


class Passback(Base):
    """The outbox: one score for the LMS per job. state: waiting (no LTI user or line item
    yet) | pending | sent | superseded | failed | skipped."""

    __tablename__ = "passbacks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id"), unique=True)
    course: Mapped[str] = mapped_column(String(64))
    assignment: Mapped[str] = mapped_column(String(64))
    student: Mapped[str] = mapped_column(String(128))
    lineitem: Mapped[str] = mapped_column(Text, default="")
    user_id: Mapped[str] = mapped_column(String(255), default="")
    score_given: Mapped[float] = mapped_column(Float)
    score_maximum: Mapped[float] = mapped_column(Float)
    timestamp: Mapped[str] = mapped_column(String(40))  # kept across retries
    stamp: Mapped[float] = mapped_column(Float)         # the same, as Unix seconds
    comment: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_at: Mapped[float] = mapped_column(Float, default=0.0)
    last_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    answer: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[float] = mapped_column(Float, default=now)
    sent_at: Mapped[float | None] = mapped_column(Float, nullable=True)


# ---- LTI ------------------------------------------------------------------------------------

class LtiUser(Base):
    __tablename__ = "lti_users"
    __table_args__ = (UniqueConstraint("course", "student"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    course: Mapped[str] = mapped_column(String(64))
    student: Mapped[str] = mapped_column(String(128))
    user_id: Mapped[str] = mapped_column(String(255))
    updated_at: Mapped[float] = mapped_column(Float, default=now)


class LtiLineitem(Base):
    __tablename__ = "lti_lineitems"
    __table_args__ = (UniqueConstraint("course", "assignment"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    course: Mapped[str] = mapped_column(String(64))
    assignment: Mapped[str] = mapped_column(String(64))
    lineitem: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[float] = mapped_column(Float, default=now)


class LtiState(Base):
    __tablename__ = "lti_states"

    state: Mapped[str] = mapped_column(String(64), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(64))
    course: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[float] = mapped_column(Float, default=now, index=True)


# ---- the engine -----------------------------------------------------------------------------

def make_engine(url: str) -> Engine:
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None  # we begin transactions ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")  # WAL: a process crash loses nothing
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")

    @property
    def is_postgresql(self) -> bool:
        return self.url.startswith("postgresql")

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction: committed at the end, rolled back on an exception."""
        with self._sessions() as session, session.begin():
            yield session

    def migrate(self) -> None:
        """Bring the schema to the latest migration (alembic upgrade head)."""
        from grader.service.migrations import upgrade

        upgrade(self.engine)

    def dispose(self) -> None:
        self.engine.dispose()
