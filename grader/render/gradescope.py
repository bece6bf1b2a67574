"""Gradescope's results.json, which run_autograder leaves at /autograder/results/results.json.

Format: https://gradescope-autograders.readthedocs.io/en/latest/specs/ (see
shared/research/platforms.md, section 1; tests/schemas/gradescope-results.schema.json).
Decisions, each for a rule of that page:

- `score` is written, equal to the sum of the tests' scores: Gradescope would compute that sum
  itself when it is omitted, but a file that states its total reads the same to an instructor
  and cannot pick up float round-off (0.1 + 0.2) from Gradescope's addition.
- A test's `status` is only "passed" or "failed"; our five statuses stay in `extra_data`.
- A hidden check gets visibility "after_published": the student sees it (title and verdict,
  all GradeReport.for_student() left of it) when the instructor publishes grades, not while
  resubmitting, so its verdict cannot be probed submission by submission. Gradescope then
  hides the total score until publishing, which is its rule for any hidden test.
- Text formats are "text" everywhere: the default for the top-level output, simple_format,
  would read the build log as HTML.
- Outputs are cut to sizes Gradescope's page can show (a test's output is a collapsed <pre>).
"""

from __future__ import annotations

import json

from grader.render.plaintext import (
    clip,
    outcome_text,
    printable_tree,
    report_notes,
    transcript_text,
)
from grader.report import CheckResult, GradeReport

HIDDEN_VISIBILITY = "after_published"
TEST_OUTPUT_CHARS = 16_000
OUTPUT_CHARS = 32_000


def _output(check: CheckResult) -> str:
    if check.passed:
        return ""
    parts = [check.feedback, outcome_text(check), transcript_text(check)]
    return clip("\n\n".join(part for part in parts if part), TEST_OUTPUT_CHARS)


def _test(check: CheckResult) -> dict:
    return {
        "name": check.title,
        "score": check.earned,
        "max_score": check.points,
        "status": "passed" if check.passed else "failed",
        "output": _output(check),
        "visibility": HIDDEN_VISIBILITY if check.hidden else "visible",
        "extra_data": {"id": check.id, "status": check.status.value},
    }


def render(report: GradeReport) -> str:
    """The report as Gradescope's results.json (a student's view: pass report.for_student())."""
    tests = [_test(check) for check in report.checks]
    results = {
        "score": report.score,
        "execution_time": report.duration_s,
        "output": clip(report_notes(report), OUTPUT_CHARS),
        "output_format": "text",
        "test_output_format": "text",
        "test_name_format": "text",
        "tests": tests,
        "extra_data": {"assignment": report.assignment, "max_score": report.max_score,
                       "backend": report.backend, "grader_version": report.grader_version},
    }
    return json.dumps(printable_tree(results), indent=2, ensure_ascii=False)
