"""The pytest plugin that turns an assignment's checks.py into rubric results.

A check is a pytest test named `test_<rubric id>`; it asks for what it needs by fixture name:

    student, reference   Launchers for the built student and reference programs
    names                unique IPC names for this check (socket paths, queue names)
    workdir              this check's own folder (the programs' working directory)
    connect              connect(path) -> Connection, a raw socket to a server under test
    limits               the assignment's Limits

The plugin gives every check its rubric entry's time budget, reaps every program it started
(pass, fail or timeout), and records a CheckResult per rubric entry.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from grader.assignment import Assignment
from grader.connection import Connection
from grader.failure import Failure
from grader.process import Confinement, Launcher
from grader.report import CheckResult, Status


class Names:
    """Unique IPC names for one check, so parallel gradings on one host never collide."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.token = secrets.token_hex(4)
        self._count = 0

    def _next(self) -> int:
        self._count += 1
        return self._count

    def socket(self) -> str:
        """A socket path inside the check's folder (short: sun_path holds 108 bytes)."""
        return str(self.workdir / f"s{self._next()}.sock")

    def queue(self) -> str:
        return f"/ipcg-{self.token}-{self._next()}"

    def shm(self) -> str:
        return f"/ipcg-shm-{self.token}-{self._next()}"


class CheckSession:
    """One grading run's plugin: holds the builds and collects one result per rubric entry."""

    def __init__(self, assignment: Assignment, student: Path, reference: Path, workroot: Path,
                 confinement: Confinement):
        self.assignment = assignment
        self.student_dir = student
        self.reference_dir = reference
        self.workroot = workroot
        self.confinement = confinement
        self.results: dict[str, CheckResult] = {}
        self.problems: list[str] = []
        self._launchers: list[Launcher] = []

    # ---- collection: tie tests to the rubric ----------------------------------------------

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        order = {c.id: i for i, c in enumerate(self.assignment.checks)}
        checks_file = self.assignment.checks_file
        for item in items:
            check_id = item.name.removeprefix("test_")
            if check_id not in order:
                self.problems.append(f"{checks_file}: {item.name} has no rubric entry "
                                     f"'{check_id}' in assignment.yaml")
            item.add_marker(pytest.mark.timeout(self.assignment.limits.check_seconds,
                                                method="signal", func_only=False))
        found = {item.name.removeprefix("test_") for item in items}
        for check in self.assignment.checks:
            if check.id not in found:
                self.problems.append(f"{self.assignment.folder / 'assignment.yaml'}: check "
                                     f"'{check.id}' has no test_{check.id} in {checks_file}")
        if self.problems:
            items.clear()
        items.sort(key=lambda item: order.get(item.name.removeprefix("test_"), len(order)))

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.problems.append(f"{self.assignment.checks_file}: cannot be loaded: "
                                 f"{str(report.longrepr).strip().splitlines()[-1]}")

    # ---- fixtures -------------------------------------------------------------------------

    @pytest.fixture
    def limits(self):
        return self.assignment.limits

    @pytest.fixture
    def workdir(self, request: pytest.FixtureRequest) -> Iterator[Path]:
        folder = self.workroot / request.node.name.removeprefix("test_")
        folder.mkdir(parents=True)
        if self.confinement.uid is not None:
            os.chown(folder, self.confinement.uid, self.confinement.gid or -1)
        yield folder
        self.confinement.kill_leftovers()
        shutil.rmtree(folder, ignore_errors=True)
        shutil.rmtree(folder.with_name(f"{folder.name}.traces"), ignore_errors=True)

    @pytest.fixture
    def student(self, workdir: Path) -> Iterator[Launcher]:
        yield from self._launcher(self.student_dir, "your", workdir)

    @pytest.fixture
    def reference(self, workdir: Path) -> Iterator[Launcher]:
        yield from self._launcher(self.reference_dir, "the reference", workdir)

    def _launcher(self, folder: Path, owner: str, workdir: Path) -> Iterator[Launcher]:
        launcher = Launcher(folder, owner, cwd=workdir, confinement=self.confinement)
        self._launchers.append(launcher)
        yield launcher
        launcher.reap_all()

    @pytest.fixture
    def names(self, workdir: Path) -> Names:
        return Names(workdir)

    @pytest.fixture
    def connect(self) -> Iterator:
        opened: list[Connection] = []

        def connect(path: str, timeout: float = 5.0, server=None) -> Connection:
            connection = Connection.unix(path, timeout, server)
            opened.append(connection)
            return connection

        yield connect
        for connection in opened:
            connection.close()

    # ---- results --------------------------------------------------------------------------

    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        self._launchers = []

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo):
        yield
        check_id = item.name.removeprefix("test_")
        if call.when == "teardown" or (call.when == "setup" and call.excinfo is None):
            return
        spec = self.assignment.check(check_id)
        result = CheckResult(spec.id, spec.title, spec.points, 0.0, Status.PASSED, spec.hidden,
                             duration_s=round(call.duration, 3))
        if call.excinfo is None:
            result.earned = spec.points
        else:
            _explain(result, call.excinfo, self.assignment.limits.check_seconds)
            if self.confinement.processes_at_limit():
                result.feedback += (f" (your programs reached the process limit, "
                                    f"{self.assignment.limits.processes}: a fork loop?)")
            result.evidence = [p.transcript() for launcher in self._launchers
                               for p in launcher.started]
            self._tidy_paths(result, check_id)
        self.results[check_id] = result

    def _tidy_paths(self, result: CheckResult, check_id: str) -> None:
        """Sandbox paths mean nothing to a student: `./server s1.sock`, not /var/lib/..."""
        replacements = [(f"{self.workroot / check_id}/", ""),
                        (f"{self.student_dir}/", "./"),
                        (f"{self.reference_dir}/", "reference/")]

        def tidy(text: str | None) -> str | None:
            for old, new in replacements:
                text = text.replace(old, new) if text else text
            return text

        result.feedback = tidy(result.feedback)
        result.expected, result.actual = tidy(result.expected), tidy(result.actual)
        result.evidence = [tidy(e) for e in result.evidence]


def _explain(result: CheckResult, excinfo: pytest.ExceptionInfo, budget: float) -> None:
    """Fill in status and feedback from what the check raised."""
    error = excinfo.value
    if isinstance(error, Failure):
        result.status = Status.FAILED
        result.feedback = error.rationale
        result.expected, result.actual, result.help = error.expected, error.actual, error.help
    elif isinstance(error, AssertionError):
        result.status = Status.FAILED
        result.feedback = str(error).split("\nassert ")[0].strip() or "assertion failed"
    elif "Timeout" in str(error) and excinfo.typename == "Failed":
        result.status = Status.TIMEOUT
        result.feedback = (f"the check did not finish within its {budget:g} s budget: a program "
                           f"may be stuck (waiting for input that never comes, or deadlocked)")
    else:
        result.status = Status.ERROR
        result.feedback = f"the check could not run: {excinfo.typename}: {error}"

