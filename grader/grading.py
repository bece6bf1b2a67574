"""The one grading entry point: a submission folder in, a GradeReport out, on any backend."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from grader.assignment import Assignment
from grader.report import GradeReport, failed_run
from grader.sandbox import make_sandbox


class SubmissionError(Exception):
    """The submission cannot be graded at all (a missing folder): one line for the user."""


def run_budget(assignment: Assignment, only: frozenset[str] | None = None) -> float:
    """Wall clock for a whole run: two builds, every check at its budget (concurrent checks
    beside the others), and slack."""
    limits = assignment.limits
    checks = assignment.select(only)
    in_turn = sum(c.budget(limits) for c in checks if not c.concurrent)
    beside = max((c.budget(limits) for c in checks if c.concurrent), default=0.0)
    return 2 * limits.build_seconds + max(in_turn, beside) + 30


def grade(assignment: Assignment, submission: Path, backend: str = "local", *,
          only: frozenset[str] | None = None, keyword: str | None = None,
          deadline: float | None = None) -> GradeReport:
    """Grade `submission` (a folder of C sources) against `assignment` in a fresh sandbox.

    `only` (check ids) or `keyword` (a pytest -k expression) grade a subset: the report then
    holds only those checks, and the score is out of their points. `deadline` (seconds) cuts
    the run's own budget short: a platform that kills a grading at its time limit would
    otherwise get no report at all."""
    started = time.monotonic()
    if not submission.is_dir():
        raise SubmissionError(f"{submission}: no such folder")
    checks = assignment.select(only)  # an unknown check id fails here, before any sandbox
    selection = ([f"--only={','.join(c.id for c in checks)}"] if only is not None else []) + \
                ([f"-k={keyword}"] if keyword else [])
    with make_sandbox(backend, name=f"{assignment.id}-{submission.name}",
                      disk_mib=assignment.limits.disk_mib) as sandbox:
        sandbox.copy_in(submission, "submission")
        outcome = sandbox.run([sandbox.python, "-m", "grader.inside", assignment.id,
                               "submission", "--out", "report.json", "--backend", sandbox.name,
                               *selection, *sandbox.student_args()],
                              timeout=min(run_budget(assignment, only),
                                          deadline or float("inf")))
        with tempfile.TemporaryDirectory() as out:
            copied = sandbox.copy_out("report.json", Path(out) / "report.json")
            report = _load(Path(out) / "report.json") if copied else None
    if report is None:
        why = ("the grading run exceeded its time budget" if outcome.timed_out
               else f"the grading run ended without a report:\n{outcome.output}")
        report = failed_run(assignment, checks, str(submission),
                            sandbox.name, why)
    report.submission = str(submission)
    report.duration_s = round(time.monotonic() - started, 2)  # what the user waited
    report.notes.extend(sandbox.notes)
    return report


def _load(path: Path) -> GradeReport | None:
    """The report a grading run wrote, or None if it is not a readable report."""
    try:
        return GradeReport.load(path)
    except (OSError, ValueError, TypeError, KeyError):
        return None
