"""`grade batch` outputs without grading: the gradebook and the Canvas and Moodle layouts,
the class report (self-contained, no script, every plot), similarity with the reference
excluded, and the refusal of a local backend that would not isolate student code."""

from __future__ import annotations

import csv
import os
import re
import shutil
from pathlib import Path

import pytest

from grader.assignment import find_assignment
from grader.batch import classreport, gradebook, runner
from grader.batch.identity import Identity
from grader.batch.similarity import common_base, find_pairs
from grader.batch.store import Result, identity_dict
from grader.report import BuildResult, CheckResult, GradeReport, Status

REPO = Path(__file__).resolve().parents[1]
ALTERNATIVES = REPO / "tests" / "submissions" / "alternatives" / "assignment1"


@pytest.fixture(scope="module")
def assignment():
    return find_assignment("assignment1")


def graded(assignment, key: str, failed: set[str], identity: Identity, *,
           status: str = "graded", verdict: str = "", timeout: bool = False) -> Result:
    checks = [CheckResult(c.id, c.title, c.points, 0.0 if c.id in failed else c.points,
                          (Status.TIMEOUT if timeout else Status.FAILED) if c.id in failed
                          else Status.PASSED, c.hidden) for c in assignment.checks]
    report = GradeReport(assignment.id, assignment.title, key, BuildResult(True, "make"),
                         checks, backend="docker", duration_s=3.5)
    ok = status == "graded"
    return Result(key=key, student=identity_dict(identity), members=[identity_dict(identity)],
                  sources=[key], status=status, verdict=verdict or "x", notes=[],
                  run_key={}, graded_at="2026-03-02T15:04:00Z", duration_s=3.5,
                  score=report.score if ok else 0.0, max_score=report.max_score,
                  report=report.to_dict(), checks={c.id: c.earned for c in checks} if ok
                  else {})


@pytest.fixture
def results(assignment) -> list[Result]:
    return [
        graded(assignment, "1234", set(), Identity("1234", "Ada Lovelace", "ada@x.edu",
                                                   moodle_id="1234", canvas_id="555",
                                                   sis_login_id="ada", section="A")),
        graded(assignment, "77", {"long_lines", "stale_socket"},
               Identity("77", "Bob", late=True), timeout=True),
        graded(assignment, "88", set(), Identity("88", "Cy", moodle_id="88"),
               status="unsafe", verdict="'../x' climbs out of the submission's folder"),
    ]


def test_the_gradebook_has_a_row_per_student_and_points_per_check(assignment, results):
    rows = list(csv.DictReader(gradebook.gradebook(results, assignment.checks).splitlines()))
    assert [r["student"] for r in rows] == ["1234", "77", "88"]
    assert list(rows[0])[:5] == ["student", "name", "email", "score", "max"]
    assert list(rows[0])[-4:] == ["status", "verdict", "late", "graded_at"]
    assert rows[1]["long_lines"] == "0" and rows[1]["sums_rounds"] == "6"
    assert rows[1]["score"] == "93" and rows[1]["late"] == "yes"
    assert rows[2]["status"] == "unsafe" and rows[2]["sums_rounds"] == "" and \
        rows[2]["score"] == "0"


def test_canvas_and_moodle_layouts(results):
    canvas = list(csv.reader(gradebook.canvas(results, "HW1 (4567)").splitlines()))
    assert canvas[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section",
                         "HW1 (4567)"]
    assert canvas[1] == ["Ada Lovelace", "555", "", "ada", "A", "100"]
    text, missing = gradebook.moodle(results, find_assignment("assignment1").checks)
    moodle = list(csv.reader(text.splitlines()))
    assert moodle[0] == gradebook.MOODLE_HEADER
    assert moodle[1][:7] == ["Participant 1234", "Ada Lovelace", "ada@x.edu",
                             "Submitted for grading", "100", "100", "Yes"]
    assert moodle[1][8] == "Monday, 2 March 2026, 3:04 PM"
    assert moodle[2][0] == "Participant 88" and moodle[2][9].startswith("Not graded: ")
    assert missing == 1  # Bob: no participant number, not in the worksheet


def test_the_class_report_is_one_file_with_every_plot_and_no_script(assignment, results,
                                                                    tmp_path):
    page = classreport.render(assignment, results, assignment.checks, [], 0.5)
    assert page.count('<svg') == 4 and 'class="plot"' in page
    assert "<script" not in page and "http://" not in page.replace(
        "http://www.w3.org", "")
    assert re.search(r'href="reports/77\.html"', page)
    # Hardest first: the two checks Bob failed lead the table.
    table = page[page.index('id="checks"'):page.index('id="students"')]
    assert table.index("long_lines") < table.index("sums_rounds")
    assert "unsafe archive" in page and "timeout" in page


def test_similarity_finds_a_copy_and_not_what_the_reference_gives_everyone(assignment,
                                                                           tmp_path):
    sources = {}
    for solution in ALTERNATIVES.iterdir():
        sources[solution.name] = solution
    for n in range(3):  # three students who handed in the reference, one line changed
        folder = tmp_path / f"ref{n}"
        shutil.copytree(assignment.reference, folder, ignore=shutil.ignore_patterns("mutants"))
        server = folder / "server.c"
        server.write_text(server.read_text().replace("int main", f"/* {n} */\nint main"))
        sources[folder.name] = folder
    copy = tmp_path / "copy"
    copy.mkdir()
    for file in (ALTERNATIVES / "select_all_clients").glob("*.c"):
        (copy / file.name).write_text(re.sub(r"\bbuf\b", "buffer", file.read_text()))
    sources["copy"] = copy
    pairs = find_pairs(sources, common_base(assignment))
    assert [(p.a, p.b) for p in pairs] == [("copy", "select_all_clients")]
    assert pairs[0].similarity > 0.9 and "<mark>" in pairs[0].html_a
    without_base = find_pairs(sources, [])
    assert {("ref0", "ref1"), ("ref0", "ref2")} <= {(p.a, p.b) for p in without_base}


def test_a_local_batch_without_root_is_refused_with_the_reason(monkeypatch):
    monkeypatch.setattr(runner.os, "geteuid", lambda: 1000)
    with pytest.raises(runner.BatchError, match="isolates student code only as root"):
        runner.batch_backend("local")


def test_a_crashed_grading_is_an_error_verdict_the_batch_goes_on_and_a_rerun_retries(
        tmp_path, monkeypatch, real_tree):
    """Every worker crashes (its Python is /bin/false): each submission gets an error
    verdict, the batch still writes its outputs; the next run grades them for real."""
    if os.geteuid() != 0:
        pytest.skip("the local backend grades a batch only as root")
    assignment = find_assignment("assignment1")
    (tmp_path / "in").mkdir()
    for name in ("ada", "bob"):
        shutil.copytree(assignment.reference, tmp_path / "in" / name,
                        ignore=shutil.ignore_patterns("mutants", "server", "client", "*.o"))
    options = runner.BatchOptions(assignment, tmp_path / "in", tmp_path / "out",
                                  backend="local", jobs=2, only=frozenset({"client_no_server"}),
                                  live=False)
    monkeypatch.setattr(runner.sys, "executable", "/bin/false")
    crashed = runner.run_batch(options)
    assert [(r.key, r.status) for r in crashed.results] == [("ada", "error"), ("bob", "error")]
    assert "the grading process failed (exit code 1)" in crashed.results[0].verdict
    assert (tmp_path / "out" / "gradebook.csv").read_text().count(",error,") == 2
    monkeypatch.undo()
    monkeypatch.setenv("GRADER_ROOT", str(real_tree))
    retried = runner.run_batch(options)
    assert retried.graded_now == 2
    assert [(r.key, r.status, r.score) for r in retried.results] == \
        [("ada", "graded", 4.0), ("bob", "graded", 4.0)]
