"""The Markdown renderer: a report for an LMS feedback box, a pull request or a web page.

Every failed check gets its own section with its feedback and evidence (hidden checks were
already reduced to their title by GradeReport.for_student()).
"""

from __future__ import annotations

from jinja2 import Environment, PackageLoader

from grader.report import GradeReport, Status

MARKS = {Status.PASSED: "✅", Status.FAILED: "❌", Status.TIMEOUT: "⏱️", Status.ERROR: "⚠️",
         Status.NOT_RUN: "—"}

_environment = Environment(loader=PackageLoader("grader.render"), autoescape=False,
                           keep_trailing_newline=True)
_environment.filters["cell"] = lambda text: text.replace("|", "\\|")


def render(report: GradeReport) -> str:
    failures = [c for c in report.checks if not c.passed and c.status is not Status.NOT_RUN]
    template = _environment.get_template("report.md.j2")
    return template.render(report=report, failures=failures,
                           marks={status.value: mark for status, mark in MARKS.items()})
