"""The batch's results on disk: one file per submission, written whole the moment it exists.

    OUTDIR/results/<key>.json     the Result: who, status, verdict, the full GradeReport
                                  (hidden checks included: this is the instructor's copy)
    OUTDIR/reports/<key>.html     the student's report (hidden checks reduced), and .md
    OUTDIR/sources/<key>/         the sources that were graded (after safe unpacking)
    OUTDIR/.work/                 staging and the gradings' temp files; removed at the end,
                                  and at the start of the next run after a kill

A Result carries the RunKey it was graded under: the submission's content hash, the
assignment's version (a hash of its rubric, checks and reference), the grader's version,
the docker image's id (local backend: a hash of the engine's sources), and the checks
selected. A rerun skips a submission whose stored key is
the same, so a batch killed anywhere resumes where it stopped, and a changed check or image
grades again.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from grader.assignment import Assignment
from grader.batch.identity import Identity
from grader.render import html, markdown
from grader.report import GradeReport

GRADED = "graded"
ERROR = "error"  # the grading itself crashed: no report


@dataclass(frozen=True)
class RunKey:
    content_hash: str
    assignment_version: str
    grader_version: str
    image: str
    selection: str  # "all", or the --only / -k given


@dataclass
class Result:
    """One submission's outcome: a graded report, or the verdict that stopped it."""

    key: str
    student: dict                      # the Identity, as a dict
    members: list[dict]
    sources: list[str]
    status: str                        # graded | error | unsafe | too_large | corrupt | ...
    verdict: str                       # one line: why it was not graded, or the outcome
    notes: list[str]
    run_key: dict
    graded_at: str
    duration_s: float = 0.0
    score: float = 0.0
    max_score: float = 0.0
    report: dict | None = None
    checks: dict[str, float] = field(default_factory=dict)  # check id -> points earned

    @property
    def identity(self) -> Identity:
        data = dict(self.student)
        data["aliases"] = set(data.get("aliases", []))
        return Identity(**data)

    @property
    def people(self) -> list[Identity]:
        return [Identity(**{**m, "aliases": set(m.get("aliases", []))}) for m in self.members]

    def grade_report(self) -> GradeReport | None:
        return GradeReport.from_dict(self.report) if self.report is not None else None

    @classmethod
    def load(cls, path: Path) -> Result | None:
        try:
            return cls(**json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            return None  # half-written by a killed run cannot be: but a hand-edited one


def identity_dict(identity: Identity) -> dict:
    data = asdict(identity)
    data["aliases"] = sorted(identity.aliases)
    return data


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def assignment_version(assignment: Assignment) -> str:
    """A hash of what decides a grade besides the submission: the rubric and checks, and
    the reference (its mutants and build products left out)."""
    digest = hashlib.sha256()
    for top in (assignment.folder, assignment.reference):
        if not top.is_dir():
            continue
        for path in sorted(top.rglob("*")):
            rel = path.relative_to(top)
            if not path.is_file() or {"mutants", "__pycache__"} & set(rel.parts) or \
                    path.suffix in (".pyc", ".o") or os.access(path, os.X_OK):
                continue
            digest.update(f"{top.name}/{rel.as_posix()}\0".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def write_atomic(path: Path, text: str) -> None:
    """Write a file whole or not at all (a reader, or a killed run, never sees half)."""
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8", errors="backslashreplace")
    partial.replace(path)


class StoreBusy(Exception):
    """Another `grade batch` is writing to the same OUTDIR."""


class Store:
    def __init__(self, outdir: Path) -> None:
        self.outdir = outdir
        self.results = outdir / "results"
        self.reports = outdir / "reports"
        self.sources = outdir / "sources"
        self.work = outdir / ".work"
        self._lock: int | None = None

    def open(self) -> None:
        """Lock OUTDIR (one batch at a time writes it), make its folders, and remove what a
        killed run left: its .work folder and half-written files."""
        for folder in (self.results, self.reports, self.sources):
            folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.outdir / ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise StoreBusy(f"{self.outdir}: another grade batch is writing there") from None
        self._lock = fd
        shutil.rmtree(self.work, ignore_errors=True)
        for folder in (self.outdir, self.results, self.reports):
            for partial in folder.glob(".*.partial"):
                partial.unlink(missing_ok=True)

    def close(self) -> None:
        shutil.rmtree(self.work, ignore_errors=True)
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

    def path(self, key: str) -> Path:
        return self.results / f"{key}.json"

    def load(self, key: str) -> Result | None:
        return Result.load(self.path(key))

    def save(self, result: Result) -> None:
        """The result, then the student's reports: each file whole."""
        report = result.grade_report()
        if report is not None:
            student = report.for_student()
            write_atomic(self.reports / f"{result.key}.html", html.render(student))
            write_atomic(self.reports / f"{result.key}.md", markdown.render(student))
        else:
            for suffix in (".html", ".md"):
                (self.reports / f"{result.key}{suffix}").unlink(missing_ok=True)
        write_atomic(self.path(result.key), json.dumps(asdict(result), indent=1,
                                                       ensure_ascii=False))
