"""The small interface every sandbox backend implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path


class SandboxError(Exception):
    """The sandbox itself cannot work (no docker engine, no image...): one line for the user."""


@dataclass
class RunOutcome:
    exit_code: int | None   # None when the run was stopped at its deadline
    output: str             # the tail of what the grading run printed (for grader errors)

    @property
    def timed_out(self) -> bool:
        return self.exit_code is None


class Sandbox(ABC):
    """One isolated place for one grading run. Use as a context manager: destroy always runs."""

    name: str
    python: str = "python3"  # how the grader is started inside
    notes: list[str]         # caveats worth a line in the report ("no network namespace")
    uid: int | None = None   # the user id student code runs as (None: as the harness)

    @abstractmethod
    def prepare(self) -> None: ...

    @abstractmethod
    def copy_in(self, source: Path, name: str) -> None:
        """Copy a host folder into the sandbox's work folder as `name`."""

    @abstractmethod
    def run(self, argv: list[str], timeout: float) -> RunOutcome:
        """Run argv in the work folder, as the harness; the student user id is `student_args()`."""

    @abstractmethod
    def copy_out(self, name: str, dest: Path) -> bool:
        """Copy the file `name` out of the work folder; False when it does not exist."""

    @abstractmethod
    def destroy(self) -> None: ...

    def student_args(self) -> list[str]:
        """Arguments telling grader.inside which user student code runs as."""
        return [] if self.uid is None else ["--uid", str(self.uid), "--gid", str(self.uid)]

    def __enter__(self) -> Sandbox:
        self.prepare()
        return self

    def __exit__(self, *exc) -> None:
        self.destroy()
