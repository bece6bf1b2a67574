"""JUnit XML, the test report that Jenkins, GitLab and GitHub Actions reporters read.

There is no formal standard; this writes the subset all of them read (shared/research/
platforms.md, section 3), checked in the tests against tests/schemas/junit.xsd (the shape
of the Jenkins xUnit plugin's junit-10.xsd). Decisions:

- One <testsuite> named after the assignment, one <testcase> per check with classname = the
  assignment id (GitLab shows classname as the suite) and name = "id: title"; every name
  and every time attribute is always set (dorny/test-reporter breaks on a missing name).
- <failure> for a failed or timed-out check (message = feedback, text = the details),
  <error> for a check that could not run, <skipped> for one not run after a failed build;
  steps and transcripts go to the testcase's <system-out> (GitLab reads it only there). A
  passed check gets no details at all.
- A failed build also gets a testcase of its own, "build: <command>", with the compiler's
  output in its <failure>: otherwise a broken build would read as a suite of skipped tests
  and no failure in a CI view.
- Student text goes through text.printable: XML 1.0 forbids control characters and
  junitparser writes them raw, which makes the whole file unreadable.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree

from junitparser import Error, Failure, JUnitXml, Skipped, SystemOut, TestCase, TestSuite

from grader.render.plaintext import clip, outcome_text, printable, report_notes, transcript_text
from grader.report import CheckResult, GradeReport, Status

DETAILS_CHARS = 16_000   # a failure's text; Jenkins keeps 50,000 + 50,000 of a failing case
SYSTEM_OUT_CHARS = 64_000


def _seconds(duration: float) -> float:
    """Milliseconds at most: str() of a tiny float would be "1e-05", which is not xs:decimal."""
    return round(duration, 3)


def _testcase(check: CheckResult, classname: str) -> TestCase:
    case = TestCase(printable(f"{check.id}: {check.title}"), printable(classname),
                    _seconds(check.duration_s))
    if check.passed:
        return case
    feedback = printable(clip(check.feedback, DETAILS_CHARS))
    if check.status is Status.NOT_RUN:
        case.result = [Skipped(feedback)]
        return case
    result = (Error(feedback, "error") if check.status is Status.ERROR
              else Failure(feedback, check.status.value))
    result.text = printable(clip(outcome_text(check), DETAILS_CHARS))
    case.result = [result]
    if transcript := transcript_text(check):
        case.system_out = printable(clip(transcript, SYSTEM_OUT_CHARS))
    return case


def _build_testcase(report: GradeReport) -> TestCase:
    case = TestCase(printable(f"build: {report.build.command}"), printable(report.assignment),
                    _seconds(report.build.duration_s))
    failure = Failure("the build failed", "build")
    failure.text = printable(clip(report.build.log, DETAILS_CHARS))
    case.result = [failure]
    return case


def render(report: GradeReport) -> str:
    """The report as a JUnit XML document (pass report.for_student())."""
    suite = TestSuite(printable(f"{report.assignment}: {report.title}"))
    for name, value in (("score", f"{report.score:g}"), ("max_score", f"{report.max_score:g}"),
                        ("backend", report.backend), ("grader_version", report.grader_version)):
        suite.add_property(name, printable(value))
    cases = [_testcase(check, report.assignment) for check in report.checks]
    if not report.build.ok and report.build.command:
        cases.insert(0, _build_testcase(report))
    suite.add_testcases(cases)
    suite.time = _seconds(report.duration_s)  # the whole grading, not the sum of the checks
    if notes := report_notes(report):
        suite.append(SystemOut(printable(clip(notes, SYSTEM_OUT_CHARS))))
    document = JUnitXml(printable(report.assignment))
    document.add_testsuite(suite)
    document.time = suite.time
    # Indented by the standard library, whichever XML backend junitparser picked (lxml or
    # ElementTree): ElementTree also keeps a newline in an attribute as &#10;.
    element = ElementTree.fromstring(document.tostring())
    ElementTree.indent(element)
    return ('<?xml version="1.0" encoding="utf-8"?>\n'
            + ElementTree.tostring(element, encoding="unicode") + "\n")
