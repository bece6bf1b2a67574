"""Renderers read one GradeReport; hidden checks keep only their title in every format."""

from grader.render import markdown, terminal
from grader.report import BuildResult, CheckResult, GradeReport, Status


def report() -> GradeReport:
    checks = [
        CheckResult("sums", "sums a round", 60, 60, Status.PASSED),
        CheckResult("stale", "replaces a stale socket | file", 30, 0, Status.FAILED,
                    feedback="your server exited with code 1", expected="SUM 2",
                    actual="(nothing)", help="unlink the path first",
                    evidence=["$ ./server s1.sock\nbind: Address already in use"]),
        CheckResult("secret", "a hidden scenario", 10, 0, Status.TIMEOUT, hidden=True,
                    feedback="the secret input was 42", evidence=["$ ./server 42"]),
    ]
    return GradeReport("assignment1", "UNIX domain socket sum server", "hw1",
                       BuildResult(True, "make"), checks, notes=["a caveat"])


def test_markdown_shows_score_failures_and_evidence():
    text = markdown.render(report().for_student())
    assert text.startswith("# assignment1: UNIX domain socket sum server — 60/100")
    assert "| ❌ | replaces a stale socket \\| file | 0/30 |" in text
    assert "## ❌ replaces a stale socket | file" in text
    assert "- expected: `SUM 2`" in text and "*Hint:* unlink the path first" in text
    assert "bind: Address already in use" in text
    assert "> note: a caveat" in text


def test_hidden_checks_keep_only_title_and_verdict():
    student_view = report().for_student()
    for text in (markdown.render(student_view), terminal.render(student_view)):
        assert "a hidden scenario" in text
        assert "42" not in text


def test_build_failure_shows_the_compiler_output():
    failed = GradeReport("assignment1", "t", "hw1",
                         BuildResult(False, "make", "server.c:3: error: expected ';'"),
                         [CheckResult("sums", "sums", 100, 0, Status.NOT_RUN,
                                      feedback="not run: the build failed")])
    for text in (markdown.render(failed), terminal.render(failed)):
        assert "server.c:3: error: expected ';'" in text
        assert "0/100" in text


def test_terminal_colours_only_when_asked():
    assert "\033[" not in terminal.render(report())
    assert "\033[31mFAIL" in terminal.render(report(), colour=True)
