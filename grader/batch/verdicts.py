"""The named verdicts of a batch: why a submission lost its points, in words an instructor
counts ("build failed: 4, timeout: 7, zip bomb: 1"). One submission may have several."""

from __future__ import annotations

import re

from grader.render.plaintext import limits_hit
from grader.report import GradeReport, Status

INTAKE = {
    "unsafe": "unsafe archive",
    "too_large": "too large (zip bomb?)",
    "corrupt": "corrupt archive",
    "empty": "empty submission",
    "no_sources": "no C sources",
    "error": "grading crashed",
}
"""A submission that was not graded: its status -> its verdict."""

ORDER = ["full marks", "lost points", "build failed", "timeout", "crash", "limits hit",
         "grading error", *INTAKE.values()]

_CRASH = re.compile(r"killed by SIG(?!KILL\b|TERM\b)[A-Z]+")


def of_report(report: GradeReport) -> list[str]:
    """The verdicts of a graded report."""
    found = []
    if report.full_marks and report.max_score > 0:
        return ["full marks"]
    found.append("lost points")
    if not report.build.ok and report.build.command:
        found.append("build failed")
    statuses = {c.status for c in report.checks}
    if Status.TIMEOUT in statuses:
        found.append("timeout")
    texts = [text for c in report.checks
             for text in (c.feedback, *(case.feedback for case in c.cases), *c.evidence)]
    if any(_CRASH.search(text) for text in texts):
        found.append("crash")
    if limits_hit(report):
        found.append("limits hit")
    if Status.ERROR in statuses:
        found.append("grading error")
    return found


def of_status(status: str, report: GradeReport | None) -> list[str]:
    if status in INTAKE:
        return [INTAKE[status]]
    return of_report(report) if report is not None else ["grading error"]


def is_failure(status: str, report: GradeReport | None) -> bool:
    """Not a grade the student earned: refused, crashed, or the grading failed."""
    return status != "graded" or "grading error" in of_status(status, report)
