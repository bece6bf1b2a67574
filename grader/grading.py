"""The one grading entry point: a submission folder in, a GradeReport out, on any backend."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from grader.assignment import Assignment
from grader.report import BuildResult, CheckResult, GradeReport, Status
from grader.sandbox import make_sandbox


class SubmissionError(Exception):
    """The submission cannot be graded at all (a missing folder): one line for the user."""


def run_budget(assignment: Assignment) -> float:
    """Wall clock for a whole run: two builds, every check at its limit, and slack."""
    limits = assignment.limits
    return 2 * limits.build_seconds + limits.check_seconds * len(assignment.checks) + 30


def grade(assignment: Assignment, submission: Path, backend: str = "local") -> GradeReport:
    """Grade `submission` (a folder of C sources) against `assignment` in a fresh sandbox."""
    started = time.monotonic()
    if not submission.is_dir():
        raise SubmissionError(f"{submission}: no such folder")
    with make_sandbox(backend, name=f"{assignment.id}-{submission.name}") as sandbox:
        sandbox.copy_in(submission, "submission")
        outcome = sandbox.run([sandbox.python, "-m", "grader.inside", assignment.id,
                               "submission", "--out", "report.json", "--backend", sandbox.name,
                               *sandbox.student_args()], timeout=run_budget(assignment))
        with tempfile.TemporaryDirectory() as out:
            copied = sandbox.copy_out("report.json", Path(out) / "report.json")
            report = GradeReport.load(Path(out) / "report.json") if copied else None
    if report is None:
        why = ("the grading run exceeded its time budget" if outcome.timed_out
               else f"the grading run ended without a report:\n{outcome.output}")
        report = failed_run(assignment, submission, sandbox.name, why)
    report.submission = str(submission)
    report.duration_s = round(time.monotonic() - started, 2)  # what the user waited
    report.notes.extend(sandbox.notes)
    return report


def failed_run(assignment: Assignment, submission: Path, backend: str, why: str) -> GradeReport:
    """The report of a run that produced none: every check an error, the reason in notes."""
    checks = [CheckResult.unearned(c, "not run: the grading run failed", Status.ERROR)
              for c in assignment.checks]
    return GradeReport(assignment.id, assignment.title, str(submission),
                       BuildResult(False, ""), checks, backend=backend, notes=[why])
