"""The terminal renderer: a table of checks, then what went wrong, student's words first.

Colours only on a terminal. The first failure is explained in full (expected vs actual, the
programs' transcripts); later failures get their one-line feedback, so the screen leads the
student to one fix at a time.
"""

from __future__ import annotations

from grader.report import CheckResult, GradeReport, Status

MARKS = {
    Status.PASSED: ("PASS", "32"),
    Status.FAILED: ("FAIL", "31"),
    Status.TIMEOUT: ("TIME", "33"),
    Status.ERROR: ("ERR ", "35"),
    Status.NOT_RUN: ("----", "90"),
}


def _paint(text: str, code: str, colour: bool) -> str:
    return f"\033[{code}m{text}\033[0m" if colour else text


def _indent(text: str, prefix: str = "      ") -> str:
    return "\n".join(prefix + line for line in text.splitlines())


def _details(check: CheckResult, colour: bool) -> list[str]:
    lines = [f"  {_paint(check.title, '1', colour)}  [{check.id}]", _indent(check.feedback)]
    if check.expected is not None:
        lines.append(_indent(f"expected: {check.expected}"))
        lines.append(_indent(f"actual:   {check.actual}"))
    if check.help:
        lines.append(_indent(f"hint: {check.help}"))
    for transcript in check.evidence[:3]:
        lines.append(_indent(transcript, "      | "))
    return lines


def render(report: GradeReport, colour: bool = False) -> str:
    """The whole report as text for a terminal."""
    out = [f"{report.assignment}: {report.title}", f"submission: {report.submission}", ""]
    if not report.build.ok and report.build.command:
        out += ["BUILD FAILED", f"$ {report.build.command}", _indent(report.build.log, "  "), ""]
    width = max((len(c.title) for c in report.checks), default=10)
    width = min(width, 72)
    for check in report.checks:
        mark, code = MARKS[check.status]
        title = check.title if len(check.title) <= width else check.title[:width - 1] + "…"
        hidden = " (hidden)" if check.hidden else ""
        out.append(f"  {_paint(mark, code, colour)}  {title:<{width}}  "
                   f"{check.earned:>5g}/{check.points:<3g}{hidden}")
    failures = [c for c in report.checks if not c.passed and c.status is not Status.NOT_RUN]
    if failures:
        out += ["", "What went wrong:"]
        out += _details(failures[0], colour)
        for check in failures[1:]:
            if check.feedback != failures[0].feedback:  # one grader error, said once
                out.append(f"  {check.title}  [{check.id}]: {check.feedback.splitlines()[0]}")
    for note in report.notes:
        out += ["", f"note: {note}"]
    score = f"{report.score:g}/{report.max_score:g}"
    colour_code = "32" if report.full_marks else "31"
    out += ["", f"score: {_paint(score, '1;' + colour_code, colour)}   "
                f"({report.duration_s:.1f} s, {report.backend} backend, "
                f"ipc-grader {report.grader_version})"]
    return "\n".join(out)
