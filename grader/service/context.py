"""What every part of `grade serve` shares: the config, the database, the data folders.

    DATA/sources/<submission id>/   the clean sources that were graded (never rewritten;
                                    on PostgreSQL also in the database: sources.py)
    DATA/archives/<submission id>   an upload as it was received
    DATA/work/                      staging, fetches and gradings in progress; emptied at start
    DATA/serve.lock                 held (flock) while a `grade serve` uses this SQLite file
"""

from __future__ import annotations

import fcntl
import os
import secrets
import shutil
import socket
import threading
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from grader.assignment import Assignment, AssignmentError, find_assignment
from grader.service.config import Config, Course, CourseAssignment
from grader.service.db import Database


class ServiceError(Exception):
    """`grade serve` cannot start (the config, the database, no isolation): one line."""


@dataclass
class Service:
    config: Config
    db: Database
    owner: str = field(default_factory=lambda: f"{socket.gethostname()[:40]}:{os.getpid()}-"
                                                f"{secrets.token_hex(3)}")
    stopping: threading.Event = field(default_factory=threading.Event)
    pool: Any = None      # the WorkerPool (jobs.py), when gradings run here (SQLite)
    queue: Any = None     # the procrastinate queue (queue.py), on PostgreSQL
    outbox: Any = None    # the Outbox (passback.py)
    _assignments: dict[str, Assignment] = field(default_factory=dict)
    _lock_fd: int | None = None

    @cached_property
    def sources(self) -> Path:
        return self.config.data / "sources"

    @cached_property
    def archives(self) -> Path:
        return self.config.data / "archives"

    @cached_property
    def work(self) -> Path:
        """SQLite (one server): DATA/work. PostgreSQL: a folder per process (DATA may be
        shared by a server and workers on one host)."""
        if self.db.is_sqlite:
            return self.config.data / "work"
        return self.config.data / "work" / self.owner.replace(":", "-")

    def open(self, *, clean: bool = True) -> None:
        """Make the folders (private to this user: they hold every student's code), take the
        lock, empty work/ of what a killed server left."""
        for folder in (self.config.data, self.sources, self.archives, self.work.parent,
                       self.work):
            folder.mkdir(parents=True, exist_ok=True)
            folder.chmod(0o700)
        if self.db.is_sqlite:
            self._lock()
        if clean:
            for entry in self.work.iterdir():
                shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() \
                    else entry.unlink()
        if not self.db.is_sqlite:
            self._sweep_dead_work()

    def _sweep_dead_work(self) -> None:
        """DATA/work/<host>-<pid>-... of this host's processes that are gone."""
        host = socket.gethostname()[:40]
        for entry in self.work.parent.iterdir():
            name = entry.name.rpartition("-")[0]  # host-pid-token
            pid = name.rpartition("-")[2]
            if entry == self.work or not name.startswith(f"{host}-") or not pid.isdigit():
                continue
            try:
                os.kill(int(pid), 0)
            except ProcessLookupError:
                shutil.rmtree(entry, ignore_errors=True)
            except PermissionError:
                pass

    def _lock(self) -> None:
        """One `grade serve` per SQLite database: so that at start every job found running
        belongs to a dead server and is taken again at once (no heartbeat wait)."""
        fd = os.open(self.config.data / "serve.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC,
                     0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ServiceError(f"another `grade serve` uses {self.config.data} (an SQLite "
                               f"database serves one server; more machines: PostgreSQL, "
                               f"README \"Scale-out\")") from None
        self._lock_fd = fd

    def close(self) -> None:
        self.db.dispose()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def assignment(self, name: str) -> Assignment:
        """The grader's assignment (by id or slug), loaded once."""
        if name not in self._assignments:
            self._assignments[name] = find_assignment(name)
        return self._assignments[name]

    def course_assignment(self, course: Course, name: str) -> CourseAssignment | None:
        """A course's assignment by its course name ("hw1") or the grader's id."""
        if name in course.assignments:
            return course.assignments[name]
        for entry in course.assignments.values():
            try:
                if self.assignment(entry.assignment).id == name:
                    return entry
            except AssignmentError:
                continue
        return None

    def dispatch(self, session, job) -> None:
        """A job was (re)queued, in the caller's transaction: on PostgreSQL its procrastinate
        task is deferred in that same transaction (both or neither are committed); on SQLite
        the pool takes it from the table."""
        if self.queue is not None:
            self.queue.defer(session, job)

    def queued(self) -> None:
        """A job was queued (committed): wake a worker of the pool."""
        if self.pool is not None:
            self.pool.notify()

    def keep_sources(self, session, submission_id: str, folder: Path) -> None:
        """On PostgreSQL, the sources go into the database too: any machine may grade them."""
        if self.db.is_postgresql:
            from grader.batch.unpack import content_hash
            from grader.service.db import SourceArchive
            from grader.service.sources import pack

            session.merge(SourceArchive(submission_id=submission_id, data=pack(folder),
                                        content_hash=content_hash(folder)))

    def sources_of(self, submission) -> Path:
        """DATA/sources/<id>/ of a ready submission, from the database if this machine has
        not got it (a worker on another machine)."""
        final = self.sources / submission.id
        if final.is_dir() or not self.db.is_postgresql:
            return final
        from grader.service.db import SourceArchive
        from grader.service.sources import SourcesMissing, unpack_into

        with self.db.session() as session:
            row = session.get(SourceArchive, submission.id)
            if row is None:
                raise SourcesMissing(f"the sources of submission {submission.id} are neither "
                                     f"here nor in the database")
            data, digest = row.data, row.content_hash
        return unpack_into(data, final, digest, self.work)

    def link(self, submission_id: str) -> str:
        """The student's (unguessable) link to a submission's page."""
        return f"{self.config.base_url}/submissions/{submission_id}"


def new_id() -> str:
    """A submission id: 128 random bits, URL-safe. It is the student's link: unguessable."""
    return secrets.token_urlsafe(16)
