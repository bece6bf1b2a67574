"""The HTML report: one self-contained file a student opens in any browser, phone included.

Inline CSS, system fonts, no script, no request to anywhere: it must work from an e-mail
attachment or an LMS download with no network. Every check has an anchor (`#check-<id>`) so
feedback elsewhere can link to it. Everything from the student (feedback quotes their
output, transcripts, build logs) is autoescaped by jinja2, and cleaned first by
text.printable (the environment's `finalize`), so no byte a program prints can become
markup or break the file's UTF-8. Hidden checks arrive already reduced to title and verdict
(GradeReport.for_student()); the template shows nothing else of them.
"""

from __future__ import annotations

from jinja2 import Environment, PackageLoader

from grader.render.plaintext import clip, limits_hit, printable_value, score_text
from grader.report import GradeReport, Status

LABELS = {Status.PASSED: "passed", Status.FAILED: "failed", Status.TIMEOUT: "timed out",
          Status.ERROR: "error", Status.NOT_RUN: "not run"}
LOG_CHARS = 20_000  # a build log or transcript larger than this is cut in the middle


_environment = Environment(loader=PackageLoader("grader.render"), autoescape=True,
                          finalize=printable_value, trim_blocks=True, lstrip_blocks=True)
_environment.filters["clip"] = lambda text: clip(text, LOG_CHARS)
_environment.filters["points"] = lambda number: f"{number:g}"


def render(report: GradeReport) -> str:
    """The whole report as one HTML document (pass report.for_student())."""
    percent = round(100 * report.score / report.max_score) if report.max_score else 0
    graded = [check for check in report.checks if not check.deferred]
    return _environment.get_template("report.html.j2").render(
        report=report, percent=percent, limits=limits_hit(report), graded=graded,
        score=score_text(report), lost=[check for check in graded if not check.passed],
        build_failed=not report.build.ok and bool(report.build.command),
        labels={status.value: label for status, label in LABELS.items()})
