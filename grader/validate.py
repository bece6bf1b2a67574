"""`grade validate`: proof that an assignment's checks grade what they claim.

It grades the reference and every known-buggy variant (mutant) and holds four things true:
  (a) the reference gets full marks,
  (b) each mutant fails exactly the checks its mutant.yaml names (no more: an extra failure
      is a check that punishes correct behaviour or a flaky one; no less: a check that misses
      the bug it exists for), and the checks that need one of those (rubric `requires`),
      which are not run; a mutant marked `cheat: true` scores under CHEAT_SCORE,
  (c) every check in the rubric is failed by at least one mutant (no check is decoration;
      a check that was not run for want of another does not count),
  (d) the reference graded `runs` times gets identical results every time.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from grader.assignment import Assignment, AssignmentError
from grader.grading import grade
from grader.report import GradeReport

CHEAT_SCORE = 25  # a cheat (data moved outside the assignment's mechanism) scores under this


@dataclass(frozen=True)
class Mutant:
    name: str
    description: str
    fails: frozenset[str]
    patch: Path
    cheat: bool = False  # the data does not travel through the assignment's mechanism


def load_mutants(assignment: Assignment) -> list[Mutant]:
    """Every mutant of the assignment's reference, with its metadata checked."""
    mutants = []
    known = {c.id for c in assignment.checks}
    for meta in sorted((assignment.reference / "mutants").glob("*/mutant.yaml")):
        try:
            data = yaml.safe_load(meta.read_text())
        except yaml.YAMLError as error:
            raise AssignmentError(f"{meta}: invalid YAML: {error}") from None
        if not isinstance(data, dict) or not isinstance(data.get("fails"), list):
            raise AssignmentError(f"{meta}: fails: missing (a list of check ids)")
        if unknown := sorted(set(data["fails"]) - known):
            raise AssignmentError(f"{meta}: fails: {unknown[0]!r} is not a check of "
                                  f"{assignment.id}")
        patch = meta.parent / "change.patch"
        if not patch.is_file():
            raise AssignmentError(f"{patch}: file not found (each mutant needs its patch)")
        if not isinstance(data.get("cheat", False), bool):
            raise AssignmentError(f"{meta}: cheat: must be true or false")
        mutants.append(Mutant(meta.parent.name, str(data.get("description", "")).strip(),
                              frozenset(data["fails"]), patch, data.get("cheat", False)))
    return mutants


def materialize(assignment: Assignment, mutant: Mutant, dest: Path) -> Path:
    """A copy of the reference with the mutant's patch applied, ready to grade."""
    shutil.copytree(assignment.reference, dest, ignore=shutil.ignore_patterns("mutants"))
    result = subprocess.run(["patch", "-p1", "--forward", "--batch", "--no-backup-if-mismatch",
                             "-i", str(mutant.patch)], cwd=dest, capture_output=True, text=True,
                            check=False)
    if result.returncode != 0:
        raise AssignmentError(f"{mutant.patch}: does not apply to the reference: "
                              f"{result.stdout.strip().splitlines()[-1]}")
    return dest


@dataclass
class MutantOutcome:
    mutant: Mutant
    report: GradeReport

    assignment: Assignment

    @property
    def failed(self) -> set[str]:
        return set(self.report.failed_checks())

    @property
    def caught(self) -> set[str]:
        """The checks this mutant failed by running them (not for want of another)."""
        return {c.id for c in self.report.checks if not c.passed and not c.needs}

    @property
    def expected(self) -> set[str]:
        """The checks its mutant.yaml names, and those that need one of them: not run."""
        expected = set(self.mutant.fails)
        for ident in self.assignment.in_running_order([c.id for c in self.assignment.checks]):
            if expected & set(self.assignment.check(ident).requires):
                expected.add(ident)
        return expected

    @property
    def too_high(self) -> bool:
        return self.mutant.cheat and self.report.score >= CHEAT_SCORE

    @property
    def ok(self) -> bool:
        return self.failed == self.expected and not self.too_high

    def explain(self) -> str:
        not_run = sum(1 for c in self.report.checks if c.needs)
        if self.ok:
            gated = f" ({not_run} not run for want of a check it failed)" if not_run else ""
            return (f"fails {', '.join(sorted(self.mutant.fails))}{gated}, "
                    f"{self.report.score:g} points")
        parts = []
        if self.too_high:
            parts.append(f"a cheat scored {self.report.score:g}, at least {CHEAT_SCORE}")
        if missed := self.expected - self.failed:
            parts.append(f"should fail but passed: {', '.join(sorted(missed))}")
        checks = {c.id: c for c in self.report.checks}
        if extra := sorted(c for c in self.failed - self.expected if not checks[c].needs):
            parts.append("failed unexpectedly: " + ", ".join(
                f"{check} ({checks[check].feedback[:200]})" for check in extra))
        if gated := sorted(c for c in self.failed - self.expected if checks[c].needs):
            parts.append(f"not run for want of {checks[gated[0]].needs}: {', '.join(gated)}")
        return "; ".join(parts)


@dataclass
class Validation:
    assignment: Assignment
    reference_runs: list[GradeReport] = field(default_factory=list)
    mutants: list[MutantOutcome] = field(default_factory=list)

    def problems(self) -> list[str]:
        found = []
        for i, run in enumerate(self.reference_runs, 1):
            if not run.full_marks:
                failed = [f"{c.id} ({c.feedback[:300]})" for c in run.checks if not c.passed]
                found.append(f"reference run {i}: {run.score:g}/{run.max_score:g}, failed "
                             f"{', '.join(failed)}")
        signatures = {_signature(r) for r in self.reference_runs}
        if len(signatures) > 1:
            found.append(f"reference: {len(self.reference_runs)} runs gave "
                         f"{len(signatures)} different results")
        found += [f"mutant {m.mutant.name}: {m.explain()}" for m in self.mutants if not m.ok]
        caught = set().union(*(m.caught & m.mutant.fails for m in self.mutants))
        found += [f"check {c.id}: no mutant fails it" for c in self.assignment.checks
                  if c.id not in caught]
        return found


def _signature(report: GradeReport) -> tuple:
    return tuple((c.id, c.status, c.earned) for c in report.checks)


def validate(assignment: Assignment, runs: int = 5, backend: str = "local", jobs: int = 1,
             progress: Callable[[str], None] = print) -> Validation:
    """Grade the reference `runs` times and every mutant once; see the module docstring."""
    mutants = load_mutants(assignment)
    validation = Validation(assignment)
    with tempfile.TemporaryDirectory(prefix="ipc-grader-validate-") as tmp, \
            ThreadPoolExecutor(max(jobs, 1)) as pool:
        def grade_reference(i: int) -> GradeReport:
            report = grade(assignment, assignment.reference, backend)
            progress(f"reference run {i}: {report.score:g}/{report.max_score:g} "
                     f"({report.duration_s:.1f} s)")
            return report

        def grade_mutant(mutant: Mutant) -> MutantOutcome:
            source = materialize(assignment, mutant, Path(tmp) / mutant.name)
            outcome = MutantOutcome(mutant, grade(assignment, source, backend), assignment)
            mark = "ok  " if outcome.ok else "FAIL"
            progress(f"{mark} mutant {mutant.name}: {outcome.explain()}")
            return outcome

        try:
            validation.reference_runs = list(pool.map(grade_reference, range(1, runs + 1)))
            validation.mutants = list(pool.map(grade_mutant, mutants))
        except BaseException:  # Ctrl-C: grade nothing more, finish what runs
            pool.shutdown(cancel_futures=True)
            raise
    return validation
