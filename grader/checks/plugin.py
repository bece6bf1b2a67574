"""The pytest plugin that turns an assignment's checks.py into rubric results.

A check is a pytest test named `test_<rubric id>`; it asks for what it needs by fixture name:

    student, reference   Launchers for the built student and reference programs
    names                unique IPC names for this check (socket paths, queue and shm names)
    workdir              this check's own folder (the programs' working directory)
    connect              connect(path) -> Connection, a raw socket to a server under test
    steps                the check's step log (the engine's calls write it)
    limits               the assignment's Limits

A check may require others (its rubric entry's `requires`): they run first, and when one of
them fails the check is not run and earns nothing; its feedback names the check it needed.

A check may be a table of cases: `@pytest.mark.parametrize(...)` on it. Each case passes or
fails on its own and earns its share of the check's points; the report lists every failing
case. The check's time budget (its rubric `seconds`, or the assignment's check_seconds) is
shared by its cases: once spent, the cases left are not run and earn nothing.

The plugin times every check itself (SIGALRM over setup and call; teardown, which reaps the
programs, always runs in full), reaps every program it started, and records one CheckResult
per rubric entry.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from grader.assignment import Assignment, CheckSpec
from grader.checks.names import Names
from grader.confinement import Confinement, remove_tree
from grader.connection import Connection
from grader.failure import Failure
from grader.jail import FILES_PER_MIB, disk_full
from grader.process import Launcher, traces_folder
from grader.report import CaseResult, CheckResult, Status
from grader.steps import StepLog

WORST = [Status.FAILED, Status.TIMEOUT, Status.ERROR]  # how a check with failed cases ended
# What a program prints (perror, strerror) when a limit refused it something.
ENOMEM, EMFILE, EFBIG, ENOSPC = (os.strerror(e) for e in (errno.ENOMEM, errno.EMFILE,
                                                           errno.EFBIG, errno.ENOSPC))


class CheckTimeout(Exception):
    """The check's wall-clock budget ran out (raised by the plugin's timer)."""


class BudgetSpent(Exception):
    """Earlier cases of the check used its whole budget: this case was not run."""


class NeedsCheck(Exception):
    """A check this one requires did not pass: this one is not run."""

    def __init__(self, check: str):
        super().__init__(check)
        self.check = check


@dataclass
class _Outcome:
    """What one test item (a check, or one case of it) ended with."""

    status: Status
    feedback: str = ""
    expected: str | None = None
    actual: str | None = None
    help: str | None = None
    evidence: list[str] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)
    case: str | None = None  # the case's name; None for a check that is not a table
    duration: float = 0.0
    needs: str | None = None  # not run: this required check failed


def check_id(item: pytest.Item) -> str:
    return getattr(item, "originalname", item.name).removeprefix("test_")


class CheckSession:
    """One grading run's plugin: holds the builds and collects one result per rubric entry."""

    def __init__(self, assignment: Assignment, student: Path, reference: Path, workroot: Path,
                 confinement: Confinement, only: frozenset[str] | None = None):
        self.assignment = assignment
        self.student_dir = student
        self.reference_dir = reference
        self.workroot = workroot
        self.confinement = confinement
        self.only = only
        self.problems: list[str] = []
        self._outcomes: dict[str, list[_Outcome]] = {}
        self._folders: dict[str, str] = {}  # test item -> its folder: the check id (-case no.)
        self._spent: dict[str, float] = {}
        self._started = 0.0
        self._launchers: list[Launcher] = []
        self._steps = StepLog()

    # ---- collection: tie tests to the rubric ----------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        """Every test has a rubric entry and every rubric entry a test (before -k), but for
        the hidden checks a student kit lacks (deferred: graded after submission)."""
        checks_file = self.assignment.checks_file
        known = {c.id for c in self.assignment.checks}
        for item in items:
            if check_id(item) not in known:
                self.problems.append(f"{checks_file}: {item.name} has no rubric entry "
                                     f"'{check_id(item)}' in assignment.yaml")
        found = {check_id(item) for item in items}
        for check in self.assignment.checks:
            if check.id not in found and not check.deferred:
                self.problems.append(f"{self.assignment.folder / 'assignment.yaml'}: check "
                                     f"'{check.id}' has no test_{check.id} in {checks_file}")
        if self.problems:
            items.clear()

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """Keep the selected checks (--only; -k has deselected already), in rubric order but
        every check after those it requires."""
        items = session.items
        if self.only is not None:
            items[:] = [item for item in items if check_id(item) in self.only]
        running = self.assignment.in_running_order(list({check_id(i): 0 for i in items}))
        items.sort(key=lambda item: running.index(check_id(item)))
        for item in items:
            self._outcomes.setdefault(check_id(item), [])
            self._folders[item.nodeid] = check_id(item)
            if hasattr(item, "callspec"):
                self._folders[item.nodeid] += f"-{len(self._folders)}"

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.problems.append(f"{self.assignment.checks_file}: cannot be loaded: "
                                 f"{str(report.longrepr).strip().splitlines()[-1]}")

    # ---- fixtures -------------------------------------------------------------------------

    @pytest.fixture
    def limits(self):
        return self.assignment.limits

    @pytest.fixture
    def steps(self) -> StepLog:
        return self._steps

    @pytest.fixture
    def workdir(self, request: pytest.FixtureRequest) -> Iterator[Path]:
        folder = self.workroot / self._folders[request.node.nodeid]
        folder.mkdir(parents=True)
        if self.confinement.uid is not None:
            os.chown(folder, self.confinement.uid, self.confinement.gid or -1)
        yield folder
        self.confinement.kill_leftovers()
        remove_tree(folder)
        shutil.rmtree(traces_folder(folder), ignore_errors=True)

    @pytest.fixture
    def student(self, workdir: Path) -> Iterator[Launcher]:
        yield from self._launcher(self.student_dir, "your", workdir)

    @pytest.fixture
    def reference(self, workdir: Path) -> Iterator[Launcher]:
        yield from self._launcher(self.reference_dir, "the reference", workdir)

    def _launcher(self, folder: Path, owner: str, workdir: Path) -> Iterator[Launcher]:
        confinement = replace(self.confinement, reference=folder == self.reference_dir)
        launcher = Launcher(folder, owner, cwd=workdir, confinement=confinement,
                            steps=self._steps)
        self._launchers.append(launcher)
        yield launcher
        launcher.reap_all()

    @pytest.fixture
    def names(self, workdir: Path) -> Names:
        return Names(workdir)

    @pytest.fixture
    def connect(self) -> Iterator:
        """connect(path) to a UNIX stream socket, or connect((host, port)) over TCP."""
        opened: list[Connection] = []

        def connect(address: str | tuple[str, int], timeout: float = 5.0, server=None,
                    name: str | None = None) -> Connection:
            family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
            connection = Connection.open(family, address, timeout, server,
                                         name=name or f"connection {len(opened) + 1}",
                                         steps=self._steps)
            opened.append(connection)
            return connection

        yield connect
        for connection in opened:
            connection.close()

    # ---- the budget: one timer per check, shared by its cases -----------------------------

    def _spec(self, item: pytest.Item) -> CheckSpec:
        return self.assignment.check(check_id(item))

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        self._launchers = []
        self._steps = StepLog()
        self._started = time.monotonic()
        for needed in self._spec(item).requires:
            if any(o.status is not Status.PASSED for o in self._outcomes.get(needed, [])):
                raise NeedsCheck(needed)
        left = self._spec(item).budget(self.assignment.limits) - self._spent.get(
            check_id(item), 0.0)
        if left <= 0.05:
            raise BudgetSpent
        signal.signal(signal.SIGALRM, _expired)
        signal.setitimer(signal.ITIMER_REAL, left)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_call(self, item: pytest.Item):
        yield
        signal.setitimer(signal.ITIMER_REAL, 0)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_teardown(self, item: pytest.Item) -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)
        used = time.monotonic() - self._started
        self._spent[check_id(item)] = self._spent.get(check_id(item), 0.0) + used

    # ---- results --------------------------------------------------------------------------

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo):
        yield
        if call.when == "teardown" or (call.when == "setup" and call.excinfo is None):
            return
        spec = self._spec(item)
        outcome = _Outcome(Status.PASSED, duration=time.monotonic() - self._started)
        callspec = getattr(item, "callspec", None)
        outcome.case = callspec.id if callspec is not None else None
        if call.excinfo is not None and call.excinfo.errisinstance(NeedsCheck):
            outcome.status, outcome.needs = Status.NOT_RUN, call.excinfo.value.check
        elif call.excinfo is not None:
            budget = spec.budget(self.assignment.limits)
            _explain(outcome, call.excinfo, budget)
            if self.confinement.processes_at_limit():
                outcome.feedback += (f" (your programs reached the process limit, "
                                     f"{self.assignment.limits.processes}: a fork loop?)")
            outcome.feedback += "".join(self._limits_hit(outcome.feedback))
            outcome.evidence = [p.transcript() for launcher in self._launchers
                                for p in launcher.started]
            outcome.steps = self._steps.lines()
            self._tidy_paths(outcome, self._folders[item.nodeid])
        self._outcomes[spec.id].append(outcome)

    def _limits_hit(self, feedback: str) -> list[str]:
        """Notes naming each limit the check's programs hit that the feedback does not name
        yet: a program whose output went over the cap, a full disk, and the limits a program
        learns of only as an error (malloc() failing under the address-space limit, open()
        failing past the open files limit, write() past the file size or the disk limit),
        when the program says so on stderr."""
        limits = self.assignment.limits
        notes = []
        programs = [p for launcher in self._launchers for p in launcher.started]
        notes += [note for p in programs
                  if p.output_discarded and (note := p.discard_note()) not in feedback]
        places = [self.student_dir, self.workroot]
        if self.confinement.jail is not None:
            places += [self.confinement.jail.root / "tmp", self.confinement.jail.root / "var/tmp"]
        else:
            places.append(Path("/tmp"))
        full = [p for p in places if disk_full(p, limits.disk_mib)]
        if full:
            where = {self.student_dir: "your build folder", self.workroot: "the working folder"}
            notes.append(f" (the disk limit ({limits.disk_mib} MiB, "
                         f"{limits.disk_mib * FILES_PER_MIB} files) was reached: your programs "
                         f"filled {where.get(full[0], '/' + full[0].name)})")
        said = "\n".join(p.stderr for p in programs)
        for message, limit in ((ENOMEM, f"the memory limit ({limits.memory_mib} MiB)"),
                               (EMFILE, f"the open files limit ({limits.open_files})"),
                               (EFBIG, f"the file size limit ({limits.file_mib} MiB)"),
                               (ENOSPC, f"the disk limit ({limits.disk_mib} MiB)")):
            named = limit.split(" (")[0].removeprefix("the ")  # "memory limit"
            if message in said and named not in feedback + "".join(notes):
                notes.append(f" (your programs said {message!r}: {limit} was reached)")
        return notes

    def results(self) -> list[CheckResult]:
        """One result per selected check, in rubric order."""
        found: dict[str, CheckResult] = {}
        for cid, outcomes in self._outcomes.items():  # in running order: gates first
            spec = self.assignment.check(cid)
            if not outcomes:
                found[cid] = CheckResult.unearned(spec, "the check did not run", Status.ERROR)
            elif needs := next((o.needs for o in outcomes if o.needs), None):
                found[cid] = CheckResult.needing(spec, found[needs])
            else:
                found[cid] = _combine(spec, outcomes)
        return [found[c.id] for c in self.assignment.checks if c.id in found]

    def _tidy_paths(self, outcome: _Outcome, folder: str) -> None:
        """Sandbox paths mean nothing to a student: `./server s1.sock`, not /var/lib/..."""
        replacements = [(f"{self.workroot / folder}/", ""),
                        (f"{self.student_dir}/", "./"),
                        (f"{self.reference_dir}/", "reference/")]

        def tidy(text: str | None) -> str | None:
            for old, new in replacements:
                text = text.replace(old, new) if text else text
            return text

        outcome.feedback = tidy(outcome.feedback)
        outcome.expected, outcome.actual = tidy(outcome.expected), tidy(outcome.actual)
        outcome.evidence = [tidy(e) for e in outcome.evidence]
        outcome.steps = [tidy(s) for s in outcome.steps]


def _expired(signum, frame) -> None:
    raise CheckTimeout


def _combine(spec: CheckSpec, outcomes: list[_Outcome]) -> CheckResult:
    """The rubric result of a check from its outcome, or from the outcomes of its cases."""
    result = CheckResult(spec.id, spec.title, spec.points, 0.0, Status.PASSED, spec.hidden,
                         duration_s=round(sum(o.duration for o in outcomes), 3))
    failed = [o for o in outcomes if o.status is not Status.PASSED]
    is_table = outcomes[0].case is not None
    if is_table:
        result.cases = [CaseResult(o.case or "", o.status is Status.PASSED, o.feedback,
                                   o.expected, o.actual) for o in outcomes]
    result.earned = round(spec.points * (len(outcomes) - len(failed)) / len(outcomes), 4)
    if not failed:
        return result
    first = failed[0]
    result.status = max((o.status for o in failed), key=WORST.index)
    result.feedback = first.feedback
    if is_table:
        result.feedback = (f"{len(failed)} of {len(outcomes)} cases failed; "
                           f"{first.case}: {first.feedback}")
    result.expected, result.actual, result.help = first.expected, first.actual, first.help
    result.evidence, result.steps = first.evidence, first.steps
    return result


def _explain(outcome: _Outcome, excinfo: pytest.ExceptionInfo, budget: float) -> None:
    """Fill in status and feedback from what the check raised."""
    error = excinfo.value
    if isinstance(error, Failure):
        outcome.status = Status.FAILED
        outcome.feedback = error.rationale
        outcome.expected, outcome.actual, outcome.help = error.expected, error.actual, error.help
    elif isinstance(error, AssertionError):
        outcome.status = Status.FAILED
        outcome.feedback = str(error).split("\nassert ")[0].strip() or "assertion failed"
    elif isinstance(error, CheckTimeout):
        outcome.status = Status.TIMEOUT
        outcome.feedback = (f"the check did not finish within its {budget:g} s budget: a program "
                            f"may be stuck (waiting for input that never comes, or deadlocked)")
    elif isinstance(error, BudgetSpent):
        outcome.status = Status.TIMEOUT
        outcome.feedback = (f"not run: the cases before it used up the check's {budget:g} s "
                            f"budget")
    else:
        outcome.status = Status.ERROR
        outcome.feedback = f"the check could not run: {excinfo.typename}: {error}"
