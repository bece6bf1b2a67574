"""grader.grading.grade end to end on assignment1, in the real local sandbox."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from grader.grading import SubmissionError, grade
from grader.render import terminal
from grader.report import GradeReport, Status


def signature(report: GradeReport) -> list[tuple[str, Status, float]]:
    return [(c.id, c.status, c.earned) for c in report.checks]


@pytest.fixture(scope="session")
def reference_copy(tmp_path_factory, reference1) -> Path:
    folder = tmp_path_factory.mktemp("ref") / "assignment1"
    shutil.copytree(reference1, folder)
    (folder / ".test-marker").write_text("reference-copy")
    return folder


@pytest.fixture(scope="session")
def reference_report(assignment1, reference_copy) -> GradeReport:
    return grade(assignment1, reference_copy)


def test_reference_gets_full_marks(assignment1, reference_report):
    report = reference_report
    failed = {c.id: c.feedback for c in report.checks if not c.passed}
    assert failed == {}, f"notes: {report.notes}"
    assert [c.id for c in report.checks] == [c.id for c in assignment1.checks]
    assert all(c.status is Status.PASSED and c.earned == c.points for c in report.checks)
    assert report.score == report.max_score == 100
    assert report.full_marks
    assert report.build.ok
    assert report.build.command == "make"
    assert not any("grader error" in note for note in report.notes)


def test_reference_grading_leaves_nothing_behind(reference_report, reference_copy, left_behind):
    assert left_behind(reference_copy) == []


def test_submission_that_does_not_compile(assignment1, submission, left_behind):
    folder = submission("compile_error")
    report = grade(assignment1, folder)
    assert report.score == 0
    assert report.max_score == 100
    assert {c.status for c in report.checks} == {Status.NOT_RUN}
    assert len(report.checks) == len(assignment1.checks)
    assert not report.build.ok
    assert "server.c:7:5: error: expected" in report.build.log
    assert "totl" in report.build.log or "cc failed" in report.build.log
    text = terminal.render(report.for_student())
    assert "BUILD FAILED" in text
    assert "server.c:7:5: error: expected" in text
    assert "score: 0/100" in text
    assert "Traceback" not in text
    assert left_behind(folder) == []


def test_failing_check_feedback_and_evidence(assignment1, submission, left_behind,
                                            no_unlink_server):
    folder = submission(files={"server.c": no_unlink_server})
    report = grade(assignment1, folder)
    assert report.failed_checks() == ["sigterm_cleanup"]
    check = next(c for c in report.checks if c.id == "sigterm_cleanup")
    assert check.status is Status.FAILED
    assert check.earned == 0
    assert check.feedback.startswith("4 of 4 cases failed; SIGTERM between two clients: "
                                     "after SIGTERM between two clients, ")
    assert check.feedback.endswith("still exists: unlink it")
    assert [c.passed for c in check.cases] == [False] * 4
    assert any("exited with code 0" in t for t in check.evidence)
    assert report.score == 100 - check.points
    assert left_behind(folder) == []


def test_same_submission_graded_twice_gives_the_same_statuses(assignment1, reference_report,
                                                             reference_copy, left_behind):
    again = grade(assignment1, reference_copy)
    assert signature(again) == signature(reference_report)
    assert left_behind(reference_copy) == []


def test_missing_folder_is_a_submission_error(assignment1, tmp_path):
    with pytest.raises(SubmissionError) as error:
        grade(assignment1, tmp_path / "nowhere")
    assert str(error.value) == f"{tmp_path / 'nowhere'}: no such folder"


def test_report_survives_json(reference_report):
    again = GradeReport.from_dict(json.loads(reference_report.to_json()))
    assert again == reference_report
    assert again.score == 100
