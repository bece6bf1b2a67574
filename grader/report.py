"""The GradeReport: the one result model every backend produces and every renderer reads.

It is written as JSON inside the sandbox and read back outside, so it holds only plain data.
Its JSON schema is documented in README.md ("The GradeReport JSON").
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from grader import __version__

if TYPE_CHECKING:
    from collections.abc import Iterable

    from grader.assignment import Assignment, CheckSpec


DEFERRED = "graded after submission"
"""The verdict of a deferred check (a hidden check a student kit does not hold)."""


class Status(StrEnum):
    PASSED = "passed"
    FAILED = "failed"    # the program misbehaved
    TIMEOUT = "timeout"  # the check ran out of its wall-clock budget
    ERROR = "error"      # the check itself could not run (grader or environment problem)
    NOT_RUN = "not_run"  # nothing to run: the build failed, or the check is deferred


@dataclass
class CaseResult:
    """One case of a check that is a table of cases: it passes or fails on its own, and the
    check's points are shared among its cases."""

    name: str                      # what the case is, as the student would say it: "'12x'"
    passed: bool
    feedback: str = ""
    expected: str | None = None
    actual: str | None = None


@dataclass
class CheckResult:
    id: str
    title: str
    points: float
    earned: float
    status: Status
    hidden: bool = False
    feedback: str = ""             # what went wrong, in one or two sentences
    expected: str | None = None
    actual: str | None = None
    help: str | None = None
    evidence: list[str] = field(default_factory=list)  # short transcripts of the programs
    duration_s: float = 0.0
    cases: list[CaseResult] = field(default_factory=list)  # a table of cases; [] for one
    steps: list[str] = field(default_factory=list)  # what the check sent and got, in order
    deferred: bool = False         # graded after submission (a hidden check a kit lacks)
    needs: str | None = None       # not run: this required check (CheckSpec.requires) failed

    @classmethod
    def from_dict(cls, data: dict) -> CheckResult:
        return cls(**{**data, "status": Status(data["status"]),
                      "cases": [CaseResult(**case) for case in data.get("cases", [])]})

    @property
    def failed_cases(self) -> list[CaseResult]:
        return [c for c in self.cases if not c.passed]

    @classmethod
    def unearned(cls, check: CheckSpec, why: str, status: Status = Status.NOT_RUN
                 ) -> CheckResult:
        """A check that earned nothing without running (failed build, grader failure). A
        deferred check never runs here, whatever happened: it is graded after submission."""
        if check.deferred:
            return cls(check.id, check.title, check.points, 0.0, Status.NOT_RUN, True,
                       feedback=DEFERRED, deferred=True)
        return cls(check.id, check.title, check.points, 0.0, status, check.hidden, feedback=why)

    @classmethod
    def needing(cls, check: CheckSpec, needed: CheckResult) -> CheckResult:
        """`check` was not run because `needed`, a check it requires, did not pass."""
        why = needed.feedback if not needed.hidden else "(hidden check: no details)"
        return cls(check.id, check.title, check.points, 0.0, Status.NOT_RUN, check.hidden,
                   feedback=f"not run: it needs {needed.id}, which failed: {why}",
                   needs=needed.id)

    @property
    def passed(self) -> bool:
        return self.status is Status.PASSED

    def redacted(self) -> CheckResult:
        """What a student may see of a hidden check: its title and its verdict (passed or
        not: a passed check's case names would still give its inputs away)."""
        if not self.hidden:
            return self
        if self.deferred or self.needs:  # nothing of its own inputs to give away
            return self
        return CheckResult(self.id, self.title, self.points, self.earned, self.status, True,
                           feedback="" if self.passed else "(hidden check: no details)",
                           duration_s=self.duration_s,
                           cases=[CaseResult(f"case {i}", c.passed)
                                  for i, c in enumerate(self.cases, 1)])


@dataclass
class BuildResult:
    ok: bool
    command: str
    log: str = ""
    duration_s: float = 0.0


@dataclass
class GradeReport:
    assignment: str
    title: str
    submission: str
    build: BuildResult
    checks: list[CheckResult]
    backend: str = "local"
    grader_version: str = __version__
    duration_s: float = 0.0
    notes: list[str] = field(default_factory=list)  # sandbox caveats, grader errors

    @property
    def score(self) -> float:
        return round(sum(c.earned for c in self.checks), 2)

    @property
    def max_score(self) -> float:
        """The points this grading could give: a deferred check's are not among them."""
        return round(sum(c.points for c in self.checks if not c.deferred), 2)

    @property
    def deferred_points(self) -> float:
        """The points of the checks graded after submission (0 but in a student kit)."""
        return round(sum(c.points for c in self.checks if c.deferred), 2)

    @property
    def full_marks(self) -> bool:
        return self.score == self.max_score

    def failed_checks(self) -> list[str]:
        return [c.id for c in self.checks if not c.passed]

    def failures(self) -> list[CheckResult]:
        """The checks worth explaining: those that lost points by running, or by needing a
        check that failed (not those of a failed build: the build log explains them)."""
        return [c for c in self.checks
                if not c.passed and (c.status is not Status.NOT_RUN or c.needs)]

    def for_student(self) -> GradeReport:
        """The same report with hidden checks' details removed."""
        checks = [c.redacted() for c in self.checks]
        return GradeReport(**{**self.__dict__, "checks": checks})

    def to_dict(self) -> dict:
        data = asdict(self)
        return {"score": self.score, "max_score": self.max_score, **data}

    def to_json(self) -> str:
        """The report as JSON text. A program's undecodable output bytes (kept as lone
        surrogates) are written as visible `\\udcff` escapes: the text stays valid UTF-8."""
        text = json.dumps(self.to_dict(), indent=2, ensure_ascii=False)
        return text.encode("utf-8", "backslashreplace").decode("utf-8")

    def save(self, path: Path) -> None:
        """Write the report as JSON, whole or not at all (a reader never sees half a file)."""
        partial = path.with_name(f".{path.name}.partial")
        partial.write_text(self.to_json(), encoding="utf-8")
        partial.replace(path)

    @classmethod
    def from_dict(cls, data: dict) -> GradeReport:
        fields_ = {k: v for k, v in data.items() if k not in ("score", "max_score")}
        fields_["build"] = BuildResult(**data["build"])
        fields_["checks"] = [CheckResult.from_dict(c) for c in data["checks"]]
        return cls(**fields_)

    @classmethod
    def load(cls, path: Path) -> GradeReport:
        return cls.from_dict(json.loads(path.read_text()))


def failed_run(assignment: Assignment, checks: Iterable[CheckSpec], submission: str,
               backend: str, why: str) -> GradeReport:
    """The report of a grading run that could not produce one (the grader failed, the run
    was killed): every check an error, the reason in the notes."""
    return GradeReport(assignment.id, assignment.title, submission, BuildResult(False, ""),
                       [CheckResult.unearned(c, "not run: the grading run failed", Status.ERROR)
                        for c in checks], backend=backend, notes=[why])
