"""Text that every renderer needs the same way.

Student programs print anything: control characters, ANSI colours, bytes that are not UTF-8
(kept by the process layer as surrogate escapes), megabytes of output. Each format has its
own breaking point (XML 1.0 forbids most control characters, UTF-8 cannot encode a lone
surrogate, PrairieLearn refuses results over 1 MB), so the renderers clean and cut student
text here, once, the same way. The plain-text blocks a check's details are written as (for
Gradescope, PrairieLearn and JUnit) are built here too, so the three say the same thing.
"""

from __future__ import annotations

import re
from typing import Any

from markupsafe import Markup

from grader.report import CheckResult, GradeReport

# XML 1.0 production Char (https://www.w3.org/TR/xml/#charsets), negated: what must go.
XML_ILLEGAL = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

# The verdicts grader/process.py and the check plugin write when a limit stops a program,
# and the name each limit gets in a summary ("CPU time limit (5 s)").
LIMIT_VERDICTS = [
    (re.compile(r"CPU time limit \(([^)]*)\)"), r"CPU time limit (\1)"),
    (re.compile(r"memory limit \(([^)]*)\)"), r"memory limit (\1)"),
    (re.compile(r"out of memory \(the grading container's limit\)"),
     "memory limit (the grading container's)"),
    (re.compile(r"output over ([\d]+ KiB) discarded"), r"output limit (\1)"),
    (re.compile(r"file size limit \(([^)]*)\)"), r"file size limit (\1)"),
    (re.compile(r"did not finish within its ([\d.]+ s) budget"), r"time budget (\1)"),
    (re.compile(r"reached the process limit(?:, (\d+))?"), r"process limit (\1)"),
]


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte kept by "surrogateescape"
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """`text` with each character XML 1.0 forbids written as a visible escape (ESC as `\\x1b`,
    NUL as `\\x00`, an undecodable byte as `\\xff`): one such character makes a whole JUnit
    file unreadable, and a lone surrogate cannot even be encoded as UTF-8. The student still
    sees that the character was there."""
    return XML_ILLEGAL.sub(_escape, text)


def printable_value(value: Any) -> Any:
    """`printable` as a jinja2 `finalize`: every string a template prints is cleaned. Markup
    (a macro's output, already cleaned and escaped inside it) and other values (numbers) are
    left as they are."""
    return printable(value) if isinstance(value, str) and not isinstance(value, Markup) \
        else value


def printable_tree(data: Any) -> Any:
    """A JSON-ready structure with `printable` applied to every string in it, keys included:
    the last word before json.dumps, so no student string can slip through uncleaned."""
    if isinstance(data, str):
        return printable(data)
    if isinstance(data, dict):
        return {printable_tree(key): printable_tree(value) for key, value in data.items()}
    if isinstance(data, list):
        return [printable_tree(item) for item in data]
    return data


def clip(text: str, limit: int) -> str:
    """At most about `limit` characters of `text`: its beginning (the first compiler error)
    and its end (how a program ended), saying how much was cut in between."""
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n[... {len(text) - 2 * half} characters cut ...]\n{text[-half:]}"


def limits_hit(report: GradeReport) -> dict[str, list[CheckResult]]:
    """Each limit a program of the report ran into ("CPU time limit (5 s)"), with the checks
    where it happened, read from the verdicts in feedback, cases and transcripts. A hidden
    check's details are gone by now (GradeReport.for_student), so it names nothing."""
    hits: dict[str, list[CheckResult]] = {}
    for check in report.checks:
        texts = [check.feedback, *(case.feedback for case in check.cases), *check.evidence]
        for pattern, name in LIMIT_VERDICTS:
            for text in texts:
                if found := pattern.search(text):
                    checks = hits.setdefault(found.expand(name).replace(" ()", ""), [])
                    if check not in checks:
                        checks.append(check)
    return hits


def _expected_actual(expected: str | None, actual: str | None, indent: str = "") -> list[str]:
    return [f"{indent}{label}{value}" for label, value in
            (("expected: ", expected), ("actual:   ", actual)) if value is not None]


def outcome_text(check: CheckResult) -> str:
    """What a failed check found, as plain text: expected/actual, every failing case with its
    own feedback and expected/actual, how many cases passed, and the hint."""
    lines = _expected_actual(check.expected, check.actual)
    if check.cases:
        failed = check.failed_cases
        lines.append(f"{len(check.cases) - len(failed)} of {len(check.cases)} cases passed")
        for case in failed:
            lines.append(f"- {case.name}: {case.feedback}" if case.feedback else f"- {case.name}")
            lines += _expected_actual(case.expected, case.actual, "    ")
    if check.help:
        lines.append(f"hint: {check.help}")
    return "\n".join(lines)


def transcript_text(check: CheckResult) -> str:
    """What the check did (its steps) and what the programs printed (the evidence)."""
    parts = []
    if check.steps:
        parts.append("steps:\n" + "\n".join(f"  {step}" for step in check.steps))
    parts += check.evidence
    return "\n\n".join(parts)


def score_text(report: GradeReport) -> str:
    """The score as every format words it: "85/100", or, graded from a student kit (its
    hidden checks graded after submission), "85 out of the visible 85 points (15 more are
    graded after submission)"."""
    if not report.deferred_points:
        return f"{report.score:g}/{report.max_score:g}"
    return (f"{report.score:g} out of the visible {report.max_score:g} points "
            f"({report.deferred_points:g} more are graded after submission)")


def report_notes(report: GradeReport) -> str:
    """What concerns the whole submission: the score when it is out of the visible checks
    only, the build log of a failed build, the limits that were hit, and the grading's notes
    (sandbox caveats, why a grading run failed)."""
    parts = [f"score: {score_text(report)}"] if report.deferred_points else []
    if not report.build.ok and report.build.command:
        parts.append(f"The build failed: {report.build.command}\n{report.build.log}")
    for limit, checks in limits_hit(report).items():
        parts.append(f"limit hit: {limit} in {', '.join(c.title for c in checks)}")
    parts += [f"note: {note}" for note in report.notes]
    return "\n\n".join(parts)
