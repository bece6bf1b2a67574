"""PrairieLearn's external-grader results.json, written to /grade/results/results.json.

Format: https://prairielearn.readthedocs.io/en/latest/externalGrading/ ("Grading results";
shared/research/platforms.md, section 2; tests/schemas/prairielearn-results.schema.json).
Decisions, each for a rule of that page or of PrairieLearn's grader source:

- `score` is a fraction in [0, 1], not points (anything else makes PrairieLearn mark the
  job "score is out of range" and not gradable).
- `gradable` is false only when the grading itself failed (the run crashed or ran out of
  its budget: GradeReport from grader.grading.failed_run, every check an error): the
  student then keeps the attempt, as PrairieLearn does for its own timeouts and crashes.
  A build that fails is the student's doing and is graded, 0, as in every other format.
  (PrairieLearn's page gives a syntax error as an example of "not gradable"; we keep the
  compiler's verdict a grade so that all formats agree on the score.)
- The file must stay under 1 MB: the checks share a budget of characters that keeps the worst
  case below it (4 bytes a character in UTF-8; text.printable has already turned every
  character json.dumps would escape at length into a short visible escape).
"""

from __future__ import annotations

import json

from grader.render.plaintext import (
    clip,
    outcome_text,
    printable_tree,
    report_notes,
    score_text,
    transcript_text,
)
from grader.report import CheckResult, GradeReport, Status

TESTS_BUDGET_CHARS = 200_000  # x 4 bytes = 800 kB for all tests, under the 1 MB limit
TEST_CHARS = 16_000           # one test's message and output, when few checks share it
OUTPUT_CHARS = 16_000         # the top-level output and each format error


def grading_failed(report: GradeReport) -> bool:
    """True when no check could run because the grading run itself failed."""
    return all(check.status is Status.ERROR for check in report.checks if not check.deferred)


def _test(check: CheckResult, chars: int) -> dict:
    """One entry of tests[]: the feedback as its message, the details as its output, both
    cut to `chars` together."""
    message_chars = chars // 8
    output = "" if check.passed else "\n\n".join(
        part for part in (outcome_text(check), transcript_text(check)) if part)
    return {
        "name": check.title,
        "description": f"{check.id}{' (hidden)' if check.hidden else ''}",
        "points": check.earned,
        "max_points": check.points,
        "message": "passed" if check.passed else clip(check.feedback, message_chars),
        "output": clip(output, chars - message_chars),
    }


def _message(report: GradeReport) -> str:
    graded = [check for check in report.checks if not check.deferred]
    failed = [check for check in graded if not check.passed]
    if grading_failed(report):
        return "The grading failed: this submission was not graded and costs no attempt."
    if not report.build.ok and report.build.command:
        verdict = "the build failed, so no check could run"
    elif failed:
        verdict = f"{len(failed)} of {len(graded)} checks lost points"
    else:
        verdict = "every check passed"
    return f"Score {score_text(report)}: {verdict}."


def render(report: GradeReport) -> str:
    """The report as PrairieLearn's results.json (pass report.for_student())."""
    chars = min(TEST_CHARS, TESTS_BUDGET_CHARS // max(len(report.checks), 1))
    fraction = report.score / report.max_score if report.max_score else 0.0
    results: dict = {
        "gradable": not grading_failed(report),
        "score": min(max(fraction, 0.0), 1.0),  # rounding must not step out of [0, 1]
        "message": _message(report),
        "output": clip(report_notes(report), OUTPUT_CHARS),
        "tests": [_test(check, chars) for check in report.checks],
    }
    if not results["gradable"]:
        results["format_errors"] = ["the grader could not grade this submission "
                                    "(no attempt was used):",
                                    *(clip(note, OUTPUT_CHARS) for note in report.notes)]
    return json.dumps(printable_tree(results), indent=2, ensure_ascii=False)
