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
    from grader.assignment import CheckSpec


class Status(StrEnum):
    PASSED = "passed"
    FAILED = "failed"    # the program misbehaved
    TIMEOUT = "timeout"  # the check ran out of its wall-clock budget
    ERROR = "error"      # the check itself could not run (grader or environment problem)
    NOT_RUN = "not_run"  # nothing to run: the build failed


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

    @classmethod
    def unearned(cls, check: CheckSpec, why: str, status: Status = Status.NOT_RUN
                 ) -> CheckResult:
        """A check that earned nothing without running (failed build, grader failure)."""
        return cls(check.id, check.title, check.points, 0.0, status, check.hidden, feedback=why)

    @property
    def passed(self) -> bool:
        return self.status is Status.PASSED

    def redacted(self) -> CheckResult:
        """What a student may see of a hidden check: its title and its verdict."""
        if not self.hidden or self.passed:
            return self
        return CheckResult(self.id, self.title, self.points, self.earned, self.status, True,
                           feedback="(hidden check: no details)", duration_s=self.duration_s)


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
        return round(sum(c.points for c in self.checks), 2)

    @property
    def full_marks(self) -> bool:
        return self.score == self.max_score

    def failed_checks(self) -> list[str]:
        return [c.id for c in self.checks if not c.passed]

    def for_student(self) -> GradeReport:
        """The same report with hidden checks' details removed."""
        checks = [c.redacted() for c in self.checks]
        return GradeReport(**{**self.__dict__, "checks": checks})

    def to_dict(self) -> dict:
        data = asdict(self)
        return {"score": self.score, "max_score": self.max_score, **data}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: dict) -> GradeReport:
        fields_ = {k: v for k, v in data.items() if k not in ("score", "max_score")}
        fields_["build"] = BuildResult(**data["build"])
        fields_["checks"] = [CheckResult(**{**c, "status": Status(c["status"])})
                             for c in data["checks"]]
        return cls(**fields_)

    @classmethod
    def load(cls, path: Path) -> GradeReport:
        return cls.from_dict(json.loads(path.read_text()))
