"""The terminal renderer: a table of checks, then what went wrong, student's words first.

Colours only on a terminal. The first failure is explained in full (expected vs actual, its
failing cases, the programs' transcripts); every later failure gets one line of feedback
(and the names of its first failing cases), so the screen leads the student to one fix at a
time yet names everything that lost points. Checks that failed with the very same words (one
grader error hits every check alike) share one line that lists them.
Student text is passed through text.printable first: a program's output cannot move the
cursor, recolour the terminal or break the encoding of stdout.
"""

from __future__ import annotations

import textwrap

from grader.render.plaintext import printable_tree, score_text
from grader.report import CheckResult, GradeReport, Status

MARKS = {
    Status.PASSED: ("PASS", "32"),
    Status.FAILED: ("FAIL", "31"),
    Status.TIMEOUT: ("TIME", "33"),
    Status.ERROR: ("ERR ", "35"),
    Status.NOT_RUN: ("----", "90"),
}
CASES_IN_FULL = 3   # failing cases explained under the first failure
CASES_NAMED = 2     # failing cases named on a later failure's line
WIDTH = 100


def _paint(text: str, code: str, colour: bool) -> str:
    return f"\033[{code}m{text}\033[0m" if colour else text


def _indent(text: str, prefix: str = "      ") -> str:
    return "\n".join(prefix + line for line in text.splitlines())


def _first_line(text: str) -> str:
    return text.splitlines()[0] if text else ""


def _cases(check: CheckResult) -> list[str]:
    """How many cases passed, then the first few failing ones with expected/actual."""
    failed = check.failed_cases
    lines = [_indent(f"{len(check.cases) - len(failed)} of {len(check.cases)} cases passed")]
    for case in failed[:CASES_IN_FULL]:
        lines.append(_indent(f"- {case.name}" + (f": {case.feedback}" if case.feedback else "")))
        for label, value in (("expected: ", case.expected), ("actual:   ", case.actual)):
            if value is not None:
                lines.append(_indent(label + value, "          "))
    if len(failed) > CASES_IN_FULL:
        lines.append(_indent(f"and {len(failed) - CASES_IN_FULL} more failing cases"))
    return lines


def _details(check: CheckResult, colour: bool) -> list[str]:
    lines = [f"  {_paint(check.title, '1', colour)}  [{check.id}]", _indent(check.feedback)]
    if check.expected is not None:
        lines.append(_indent(f"expected: {check.expected}"))
        lines.append(_indent(f"actual:   {check.actual}"))
    if check.cases:
        lines += _cases(check)
    if check.help:
        lines.append(_indent(f"hint: {check.help}"))
    for transcript in check.evidence[:3]:
        lines.append(_indent(transcript, "      | "))
    return lines


def _one_line(check: CheckResult) -> str:
    line = f"  {check.title}  [{check.id}]: {_first_line(check.feedback)}"
    if failed := check.failed_cases:
        names = ", ".join(case.name for case in failed[:CASES_NAMED])
        more = f" and {len(failed) - CASES_NAMED} more" if len(failed) > CASES_NAMED else ""
        line += f" (failing cases: {names}{more})"
    return line


def _later_failures(failures: list[CheckResult]) -> list[str]:
    """Every failure after the first: one line each, or one line for a group of checks that
    failed with the same words, naming them all."""
    groups: dict[str, list[CheckResult]] = {}
    for check in failures[1:]:
        groups.setdefault(check.feedback, []).append(check)
    lines = []
    for feedback, checks in groups.items():
        ids = ", ".join(check.id for check in checks)
        if feedback == failures[0].feedback:
            lines += textwrap.wrap(f"the same for: {ids}", WIDTH, initial_indent="  ",
                                   subsequent_indent="    ")
        elif len(checks) == 1:
            lines.append(_one_line(checks[0]))
        else:
            lines.append(f"  {_first_line(feedback)}")
            lines += textwrap.wrap(f"in {len(checks)} checks: {ids}", WIDTH,
                                   initial_indent="    ", subsequent_indent="    ")
    return lines


def render(report: GradeReport, colour: bool = False) -> str:
    """The whole report as text for a terminal."""
    report = GradeReport.from_dict(printable_tree(report.to_dict()))
    out = [f"{report.assignment}: {report.title}", f"submission: {report.submission}", ""]
    if not report.build.ok and report.build.command:
        out += ["BUILD FAILED", f"$ {report.build.command}", _indent(report.build.log, "  "), ""]
    width = max((len(c.title) for c in report.checks), default=10)
    width = min(width, 72)
    for check in report.checks:
        mark, code = MARKS[check.status]
        title = check.title if len(check.title) <= width else check.title[:width - 1] + "…"
        hidden = " (hidden)" if check.hidden else ""
        earned = f"{check.earned:>5g}"
        if check.deferred:
            earned, hidden = f"{'-':>5}", " (hidden: graded after submission)"
        out.append(f"  {_paint(mark, code, colour)}  {title:<{width}}  "
                   f"{earned}/{check.points:<3g}{hidden}")
    failures = report.failures()
    if failures:
        out += ["", "What went wrong:"]
        out += _details(failures[0], colour)
        out += _later_failures(failures)
    for note in report.notes:
        out += ["", f"note: {note}"]
    score = score_text(report)
    colour_code = "32" if report.full_marks else "31"
    out += ["", f"score: {_paint(score, '1;' + colour_code, colour)}   "
                f"({report.duration_s:.1f} s, {report.backend} backend, "
                f"ipc-grader {report.grader_version})"]
    return "\n".join(out)
