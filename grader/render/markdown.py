"""The Markdown renderer: a report for an LMS feedback box, a pull request or a web page.

Every failed check gets its own section with its feedback, expected/actual, every failing
case of a multi-case check, and evidence (hidden checks were already reduced to their title
by GradeReport.for_student()). Every value is cleaned by text.printable (the environment's
`finalize`): control characters and undecodable bytes show as escapes.
"""

from __future__ import annotations

import re
from typing import Any

from jinja2 import Environment, PackageLoader

from grader.render.plaintext import printable_value, score_text
from grader.report import GradeReport, Status

MARKS = {Status.PASSED: "✅", Status.FAILED: "❌", Status.TIMEOUT: "⏱️", Status.ERROR: "⚠️",
         Status.NOT_RUN: "—"}


def _code_span(value: Any) -> str:
    """`value` as an inline code span that its own backticks cannot end early (CommonMark:
    the fence is a run of backticks longer than any run inside)."""
    text = str(value)
    fence = "`" * (max((len(run) for run in re.findall("`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


_environment = Environment(loader=PackageLoader("grader.render"), autoescape=False,
                           keep_trailing_newline=True, finalize=printable_value)
_environment.filters["cell"] = lambda text: text.replace("|", "\\|")
_environment.filters["code"] = _code_span


def render(report: GradeReport) -> str:
    """The whole report as Markdown."""
    failures = report.failures()
    template = _environment.get_template("report.md.j2")
    return template.render(report=report, failures=failures, score=score_text(report),
                           marks={status.value: mark for status, mark in MARKS.items()})
