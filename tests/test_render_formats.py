"""Every format from one GradeReport: valid by the platform's own schema (tests/schemas/, each
citing its documentation), true to the platform's rules, and safe with whatever a student's
program printed. Broken builds, timeouts and crashed grading runs still give valid files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

import jsonschema
import pytest
import xmlschema

from grader.assignment import Assignment
from grader.render import FORMATS, markdown, terminal
from grader.render.plaintext import printable
from grader.report import BuildResult, CaseResult, CheckResult, GradeReport, Status, failed_run

SCHEMAS = Path(__file__).resolve().parent / "schemas"
GRADESCOPE_SCHEMA = json.loads((SCHEMAS / "gradescope-results.schema.json").read_text())
PRAIRIELEARN_SCHEMA = json.loads((SCHEMAS / "prairielearn-results.schema.json").read_text())
JUNIT_SCHEMA = xmlschema.XMLSchema(str(SCHEMAS / "junit.xsd"))

SECRET = "s3cr3t-input-77"  # only ever in hidden checks: no format may show it to a student
# What a student's program may print: markup, ANSI colours, NUL, a bell, a byte that is not
# UTF-8 (a surrogate escape), a lone surrogate, U+FFFF, and the end of a CDATA section.
HOSTILE = ("<script>alert('x')</script> \x1b[31mred\x1b[0m nul:\x00 bell:\x07 byte:\udcff "
           "lone:\ud800 nonchar:\uffff ]]> &amp; </pre>")


def failing_report() -> GradeReport:
    """A report with every kind of check: passed, failed with expected/actual and hostile
    output, a table of cases, limits hit, a timeout, a grader error, and hidden checks (one
    failed, one passed) full of a secret."""
    checks = [
        CheckResult("compiles_clean", "compiles without warnings", 5, 5, Status.PASSED,
                    duration_s=0.2),
        CheckResult("sums_rounds", "sums the numbers of each round", 20, 0, Status.FAILED,
                    feedback=f"your server answered {HOSTILE}", expected="SUM 6",
                    actual="SUM 5\x1b[0m", help="read numbers until the 0 that ends a round",
                    evidence=[f"$ ./server s1.sock\nstdout:\n{HOSTILE}\nexited with code 0"],
                    steps=["connect to s1.sock", "server <- '1\\n2\\n3\\n0\\n'",
                           "server -> 'SUM 5'"], duration_s=0.42),
        CheckResult("rejects_bad_input", "rejects malformed numbers", 20, 10, Status.FAILED,
                    feedback="2 of 4 cases failed; see each case",
                    cases=[CaseResult("'12'", True),
                           CaseResult("'12x'", False, "accepted a malformed number",
                                      "ERR", "SUM 12"),
                           CaseResult("'-'", False, "the server crashed", "ERR",
                                      "(connection closed)"),
                           CaseResult("' 7'", True)],
                    steps=["server <- '12x\\n0\\n'", "server -> 'SUM 12'"], duration_s=0.3),
        CheckResult("idles", "waits without burning CPU", 10, 0, Status.FAILED,
                    feedback="your server was killed: CPU time limit (5 s) exceeded",
                    evidence=["$ ./server s1.sock\nwas killed: CPU time limit (5 s) exceeded"]),
        CheckResult("flood", "survives a client that floods it", 10, 0, Status.FAILED,
                    feedback="your client printed 300 KiB (output over 256 KiB discarded: "
                             "45000 bytes)"),
        CheckResult("many_clients", "serves 50 clients at once", 15, 0, Status.TIMEOUT,
                    feedback="the check did not finish within its 10 s budget: a program may "
                             "be stuck (waiting for input that never comes, or deadlocked)",
                    duration_s=10.0),
        CheckResult("no_fork_loop", "does not fork for every byte", 5, 0, Status.FAILED,
                    feedback="your server exited with code 1 (your programs reached the "
                             "process limit, 64: a fork loop?)"),
        CheckResult("cleanup", "removes its socket file", 5, 0, Status.ERROR,
                    feedback="the check could not run: OSError: [Errno 28] No space left"),
        CheckResult("hidden_stress", "a hidden stress scenario", 6, 2, Status.FAILED,
                    hidden=True, feedback=f"the secret input {SECRET} broke it",
                    expected=SECRET, actual=SECRET, help=SECRET, evidence=[SECRET],
                    steps=[SECRET], cases=[CaseResult(SECRET, False, SECRET, SECRET, SECRET),
                                           CaseResult(f"{SECRET}-2", True)]),
        CheckResult("hidden_order", "a hidden ordering scenario", 4, 4, Status.PASSED,
                    hidden=True, cases=[CaseResult(f"{SECRET}-3", True)]),
    ]
    return GradeReport("assignment1", "UNIX domain socket sum server", "/home/ada/hw1",
                       BuildResult(True, "make", "cc -o server server.c", 0.3), checks,
                       duration_s=12.5, notes=["rlimits only: no namespaces without root"])


def full_marks_report() -> GradeReport:
    checks = [CheckResult("sums_rounds", "sums the numbers of each round", 60, 60,
                          Status.PASSED, duration_s=0.1),
              CheckResult("hidden_order", "a hidden ordering scenario", 40, 40, Status.PASSED,
                          hidden=True)]
    return GradeReport("assignment1", "UNIX domain socket sum server", "hw1",
                       BuildResult(True, "make"), checks, duration_s=1.25)


def broken_build_report() -> GradeReport:
    log = f"server.c:3:1: error: expected ';' before '}}' token\n{HOSTILE}\n" + "x" * 200_000
    checks = [CheckResult("sums_rounds", "sums the numbers of each round", 60, 0,
                          Status.NOT_RUN, feedback="not run: the build failed"),
              CheckResult("hidden_order", "a hidden ordering scenario", 40, 0, Status.NOT_RUN,
                          hidden=True, feedback="not run: the build failed")]
    return GradeReport("assignment1", "UNIX domain socket sum server", "hw1",
                       BuildResult(False, "make", log, 0.4), checks, duration_s=0.9)


def many_checks_report() -> GradeReport:
    """300 checks with 100 kB of output each: the limits on a file's size must hold."""
    flood = "\U0001f4a5" * 100_000  # 4 bytes a character in UTF-8
    checks = [CheckResult(f"check_{i}", f"check number {i}", 1, 0, Status.FAILED,
                          feedback=flood, evidence=[flood], steps=[flood])
              for i in range(300)]
    return GradeReport("assignment1", "t", "hw1", BuildResult(True, "make"), checks)


@pytest.fixture(params=["failing", "full_marks", "broken_build", "run_timeout", "run_crash"])
def student_report(request, assignment1: Assignment) -> GradeReport:
    """Each situation a report comes from, as a student would be shown it."""
    if request.param.startswith("run_"):  # grader.grading's report of a run that gave none
        why = ("the grading run exceeded its time budget" if request.param == "run_timeout"
               else f"the grading run ended without a report:\nTraceback ...\n{HOSTILE}")
        report = failed_run(assignment1, assignment1.checks, "hw1", "local", why)
    else:
        report = {"failing": failing_report, "full_marks": full_marks_report,
                  "broken_build": broken_build_report}[request.param]()
    return report.for_student()


# ---- validity: each format by its own rules ---------------------------------------------------

def parse_junit(text: str) -> ElementTree.Element:
    """The JUnit document, after proving it is well-formed XML valid by tests/schemas."""
    data = text.encode("utf-8")  # strict: a lone surrogate would fail here
    JUNIT_SCHEMA.validate(data.decode("utf-8"))
    return ElementTree.fromstring(data)


class HtmlChecker(HTMLParser):
    """Collects ids and tags, and fails on markup the report must never contain."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.ids += [value for name, value in attrs if name == "id" and value]
        assert not [name for name, _ in attrs if name.startswith("on")], "an event handler"
        assert not [value for name, value in attrs
                    if name in ("src", "href") and value and not value.startswith("#")], \
            "a reference outside the file"


def parse_html(text: str) -> HtmlChecker:
    checker = HtmlChecker()
    checker.feed(text.encode("utf-8").decode("utf-8"))
    checker.close()
    assert text.startswith("<!DOCTYPE html>")
    assert "script" not in checker.tags and "link" not in checker.tags
    return checker


VALIDATORS: dict[str, Callable[[str], object]] = {
    "terminal": lambda text: text.encode("utf-8"),
    "json": lambda text: GradeReport.from_dict(json.loads(text)),
    "markdown": lambda text: text.encode("utf-8"),
    "html": parse_html,
    "gradescope": lambda text: jsonschema.validate(json.loads(text.encode("utf-8")),
                                                   GRADESCOPE_SCHEMA),
    "prairielearn": lambda text: jsonschema.validate(json.loads(text.encode("utf-8")),
                                                     PRAIRIELEARN_SCHEMA),
    "junit": parse_junit,
}


def test_every_format_has_a_validator():
    assert VALIDATORS.keys() == FORMATS.keys()


@pytest.mark.parametrize("name", list(FORMATS))
def test_every_situation_gives_a_valid_file_of_every_format(student_report, name):
    VALIDATORS[name](FORMATS[name](student_report))


@pytest.mark.parametrize("name", list(FORMATS))
def test_hidden_checks_leak_nothing(name):
    text = FORMATS[name](failing_report().for_student())
    assert SECRET not in text
    assert "a hidden stress scenario" in text  # its title and verdict stay


def test_the_schemas_are_valid_and_catch_mistakes():
    for schema in (GRADESCOPE_SCHEMA, PRAIRIELEARN_SCHEMA):
        jsonschema.Draft202012Validator.check_schema(schema)
    bad = [(GRADESCOPE_SCHEMA, {"tests": [{"name": "no score anywhere"}]}),
           (GRADESCOPE_SCHEMA, {"score": 1, "tests": [{"score": 1, "visibility": "later"}]}),
           (GRADESCOPE_SCHEMA, {"score": 1, "tests": [{"score": 1, "status": "timeout"}]}),
           (PRAIRIELEARN_SCHEMA, {"gradable": True, "score": 60}),
           (PRAIRIELEARN_SCHEMA, {"message": "score missing"})]
    for schema, results in bad:
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(results, schema)
    jsonschema.validate({"gradable": False, "format_errors": ["x"]}, PRAIRIELEARN_SCHEMA)
    unnamed = '<testsuite tests="0" failures="0" errors="0" time="0"><testcase/></testsuite>'
    with pytest.raises(xmlschema.XMLSchemaValidationError):
        JUNIT_SCHEMA.validate(unnamed)


# ---- Gradescope -------------------------------------------------------------------------------

def gradescope(report: GradeReport) -> dict:
    return json.loads(FORMATS["gradescope"](report.for_student()))


def test_gradescope_score_and_tests_agree():
    report = failing_report()
    results = gradescope(report)
    tests = results["tests"]
    assert [t["name"] for t in tests] == [c.title for c in report.checks]
    # Gradescope takes the sum of the tests when "score" is omitted: both must say the same.
    assert results.get("score", sum(t["score"] for t in tests)) == report.score == 21
    assert abs(sum(t["score"] for t in tests) - results["score"]) < 0.01
    assert [t["max_score"] for t in tests] == [c.points for c in report.checks]
    assert [t["status"] for t in tests] == ["passed" if c.passed else "failed"
                                           for c in report.checks]
    assert results["execution_time"] == 12.5


def test_gradescope_visibility_hides_hidden_checks_until_published():
    tests = {t["extra_data"]["id"]: t for t in gradescope(failing_report())["tests"]}
    assert {t["visibility"] for t in tests.values()} <= {"hidden", "after_due_date",
                                                        "after_published", "visible"}
    assert tests["hidden_stress"]["visibility"] == tests["hidden_order"]["visibility"] \
        == "after_published"
    assert tests["sums_rounds"]["visibility"] == "visible"


def test_gradescope_output_explains_a_failure_and_names_the_build_failure():
    tests = {t["extra_data"]["id"]: t for t in gradescope(failing_report())["tests"]}
    output = tests["rejects_bad_input"]["output"]
    assert "2 of 4 cases passed" in output and "'12x': accepted a malformed number" in output
    assert "expected: ERR" in output and "actual:   SUM 12" in output
    assert tests["compiles_clean"]["output"] == ""
    results = gradescope(broken_build_report())
    assert results["output"].startswith("The build failed: make\nserver.c:3:1: error:")
    assert len(results["output"]) < 40_000  # a 200 kB log is cut, its start kept
    assert results["output_format"] == results["test_output_format"] == "text"


# ---- PrairieLearn -----------------------------------------------------------------------------

def prairielearn(report: GradeReport) -> dict:
    return json.loads(FORMATS["prairielearn"](report.for_student()))


def test_prairielearn_score_is_a_fraction_and_failures_are_gradable():
    for report in (failing_report(), full_marks_report(), broken_build_report()):
        results = prairielearn(report)
        assert results["gradable"] is True
        assert 0 <= results["score"] <= 1
        assert results["score"] == pytest.approx(report.score / report.max_score)
        assert [t["points"] for t in results["tests"]] == [c.earned for c in report.checks]
    assert prairielearn(full_marks_report())["score"] == 1


def test_prairielearn_a_failed_grading_is_not_gradable(assignment1):
    report = failed_run(assignment1, assignment1.checks, "hw1", "local",
                        "the grading run exceeded its time budget")
    results = prairielearn(report)
    assert results["gradable"] is False
    assert "the grading run exceeded its time budget" in results["format_errors"]


def test_prairielearn_stays_under_its_1_mb_limit():
    text = FORMATS["prairielearn"](many_checks_report())
    assert len(text.encode("utf-8")) < 1_000_000
    jsonschema.validate(json.loads(text), PRAIRIELEARN_SCHEMA)


# ---- JUnit ------------------------------------------------------------------------------------

def test_junit_has_a_result_element_for_each_check_that_lost_points():
    report = failing_report()
    suite = parse_junit(FORMATS["junit"](report.for_student())).find("testsuite")
    assert suite.get("name") == "assignment1: UNIX domain socket sum server"
    cases = suite.findall("testcase")
    assert [case.get("name") for case in cases] == [f"{c.id}: {c.title}" for c in report.checks]
    assert {case.get("classname") for case in cases} == {"assignment1"}
    assert all(float(case.get("time")) >= 0 for case in cases)
    by_id = {case.get("name").split(":")[0]: case for case in cases}
    for check in report.checks:
        kinds = [child.tag for child in by_id[check.id] if child.tag != "system-out"]
        expected = {Status.PASSED: [], Status.FAILED: ["failure"], Status.TIMEOUT: ["failure"],
                    Status.ERROR: ["error"], Status.NOT_RUN: ["skipped"]}[check.status]
        assert kinds == expected, check.id
    failure = by_id["sums_rounds"].find("failure")
    assert failure.get("message").startswith("your server answered <script>")
    assert "expected: SUM 6" in failure.text
    assert "server -> 'SUM 5'" in by_id["sums_rounds"].find("system-out").text
    assert int(suite.get("failures")) == 7 and int(suite.get("errors")) == 1


def test_junit_cleans_characters_xml_cannot_carry():
    text = FORMATS["junit"](failing_report().for_student())
    root = parse_junit(text)
    message = root.find(".//testcase[@name='sums_rounds: sums the numbers of each round']"
                        "/failure").get("message")
    assert "\\x1b[31mred\\x1b[0m nul:\\x00 bell:\\x07 byte:\\xff lone:\\ud800" in message
    assert "nonchar:\\uffff ]]> &amp; </pre>" in message


def test_junit_a_broken_build_fails_a_testcase_of_its_own():
    suite = parse_junit(FORMATS["junit"](broken_build_report())).find("testsuite")
    build = suite.find("testcase[@name='build: make']")
    assert build.find("failure").text.startswith("server.c:3:1: error: expected ';'")
    assert [case.find("skipped") is not None for case in suite.findall("testcase")] == \
        [False, True, True]


# ---- HTML -------------------------------------------------------------------------------------

def test_html_escapes_student_output_and_anchors_every_check():
    report = failing_report()
    text = FORMATS["html"](report.for_student())
    checker = parse_html(text)
    assert [f"check-{c.id}" for c in report.checks] == \
        [i for i in checker.ids if i.startswith("check-")]
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in text
    assert '<a href="#check-sums_rounds">sums the numbers of each round</a>' in text
    assert "&lt;div" not in text and "&lt;a " not in text  # the report's own markup stays
    assert "\\x1b[31mred" in text and "byte:\\xff" in text and "\x00" not in text


def test_html_shows_verdict_points_cases_steps_evidence_and_limits():
    text = FORMATS["html"](failing_report().for_student())
    for limit in ("CPU time limit (5 s)", "output limit (256 KiB)", "time budget (10 s)",
                  "process limit (64)"):
        assert limit in text
    assert "2 of 4 cases passed." in text
    assert "<code>&#39;12x&#39;</code>: accepted a malformed number" in text
    assert "<summary>What the check did (3 steps)</summary>" in text
    assert "<summary>What your programs printed (1 program)</summary>" in text
    assert '<span class="badge">timed out</span>' in text
    assert '<span class="points">10/20</span>' in text
    assert "<li class=\"feedback\">rlimits only: no namespaces without root</li>" in text


def test_html_shows_the_log_of_a_failed_build():
    text = FORMATS["html"](broken_build_report())
    assert "The build failed" in text and "<code>$ make</code>" in text
    assert "server.c:3:1: error: expected &#39;;&#39; before &#39;}&#39; token" in text
    assert "characters cut ..." in text


# ---- terminal and Markdown --------------------------------------------------------------------

def test_terminal_lists_every_failing_check_and_its_failing_cases():
    report = failing_report().for_student()
    text = terminal.render(report)
    for check in report.failures():
        assert f"[{check.id}]" in text
    assert "  rejects malformed numbers  [rejects_bad_input]: 2 of 4 cases failed; see each " \
           "case (failing cases: '12x', '-')" in text


def test_terminal_names_each_check_a_repeated_feedback_hit():
    same = "the check could not run: OSError: [Errno 28] No space left on device"
    checks = [CheckResult(f"c{i}", f"check {i}", 10, 0, Status.ERROR, feedback=same)
              for i in range(4)]
    checks.append(CheckResult("other", "another check", 10, 0, Status.FAILED,
                              feedback="exited with code 1"))
    text = terminal.render(GradeReport("a", "t", "s", BuildResult(True, "make"), checks))
    assert text.count(same) == 1
    assert "  the same for: c1, c2, c3" in text
    assert "  another check  [other]: exited with code 1" in text


def test_terminal_explains_the_first_failing_cases_and_counts_the_rest():
    cases = [CaseResult(f"'{i}x'", False, "accepted it", "ERR", f"SUM {i}") for i in range(6)]
    check = CheckResult("bad", "rejects bad input", 10, 0, Status.FAILED, feedback="6 failed",
                        cases=[CaseResult("'1'", True), *cases])
    text = terminal.render(GradeReport("a", "t", "s", BuildResult(True, "make"), [check]))
    assert "1 of 7 cases passed" in text
    assert "- '2x': accepted it\n          expected: ERR\n          actual:   SUM 2" in text
    assert "'3x'" not in text and "and 3 more failing cases" in text


def test_markdown_lists_every_failing_case_with_expected_and_actual():
    text = markdown.render(failing_report().for_student())
    assert "2 of 4 cases passed.\n\n- '12x': accepted a malformed number\n" \
           "  - expected: `ERR`\n  - actual: `SUM 12`\n- '-': the server crashed\n" in text
    assert "\x1b" not in text and "\\x1b[31mred" in text


def test_markdown_code_spans_survive_backticks():
    check = CheckResult("c", "t", 1, 0, Status.FAILED, feedback="f", expected="a`b",
                        actual="`x`")
    text = markdown.render(GradeReport("a", "t", "s", BuildResult(True, "make"), [check]))
    assert "- expected: ``a`b``" in text and "- actual: `` `x` ``" in text


# ---- the command line -------------------------------------------------------------------------

def grade_command(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grader", *map(str, args)], env=os.environ,
                          capture_output=True, text=True, timeout=300, check=False)


def test_grade_writes_every_format_from_one_grading(small_assignment1, submission,
                                                    no_unlink_server, tmp_path):
    small_assignment1()
    folder = submission(files={"server.c": no_unlink_server})
    out = {name: tmp_path / f"report.{name}" for name in FORMATS if name != "terminal"}
    result = grade_command("assignment1", folder, "--only", "sums_rounds,sigterm_cleanup",
                           "--format", "json,markdown",
                           "-o", out["json"], "-o", out["markdown"], "--format", "html",
                           "-o", out["html"], "--gradescope", out["gradescope"],
                           "--prairielearn", out["prairielearn"], "--junit", out["junit"])
    assert result.returncode == 1, result.stdout + result.stderr
    assert "score: 6/12" in result.stdout  # the terminal table: no format claimed stdout
    for name, file in out.items():
        VALIDATORS[name](file.read_text(encoding="utf-8"))
    assert json.loads(out["gradescope"].read_text())["score"] == 6
    assert json.loads(out["prairielearn"].read_text())["score"] == 0.5
    assert not list(tmp_path.glob(".*.partial"))


def test_grade_prints_one_format_alone(small_assignment1, submission):
    small_assignment1()
    result = grade_command("assignment1", submission("compile_error"), "--only", "sums_rounds",
                           "--format", "junit")
    assert result.returncode == 1, result.stderr
    build = parse_junit(result.stdout).find("testsuite/testcase")
    assert build.get("name").startswith("build: ") and build.find("failure") is not None


@pytest.mark.parametrize("args, error", [
    (["--format", "html,junit"], "only one format can be printed, not html, junit"),
    (["-o", "x.html"], "more -o FILE than --format names"),
])
def test_grade_refuses_outputs_it_cannot_place(tmp_path, args, error):
    result = grade_command("assignment1", tmp_path, *args)
    assert result.returncode == 2 and result.stderr.startswith(f"grade: {error}")


def test_grade_names_an_unknown_format(tmp_path):
    result = grade_command("assignment1", tmp_path, "--format", "pdf")
    assert result.returncode == 2
    assert "unknown format 'pdf' (choose from terminal, json, markdown" in result.stderr


def test_printable_keeps_what_xml_allows():
    assert printable("tab\tnewline\n\r é 漢 \U0001f600") == "tab\tnewline\n\r é 漢 \U0001f600"
    assert printable("\x00\x1b\ud800\udc80\ufffe") == "\\x00\\x1b\\ud800\\x80\\ufffe"
