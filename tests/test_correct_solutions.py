"""Correct solutions get full marks, however they are built.

The grader is run on submissions nobody here has seen, so the checks must grade what the
handout promises, not how the reference does it. Besides each assignment's reference, this
grades independent solutions written from the handout alone, each built differently
(tests/submissions/alternatives/<assignment>/<name>/: a process per client, threads,
poll(), another bit order, a length prefix, a banner on stdout...). Each must get 100.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from grader.assignment import ROOT, find_assignment
from grader.grading import grade

ALTERNATIVES = Path(__file__).resolve().parent / "submissions" / "alternatives"
SOLUTIONS = sorted({(p.parent.parent.name, p.parent.name)
                    for p in ALTERNATIVES.glob("*/*/*.c")})
REFERENCES = sorted(p.name for p in (ROOT / "reference").iterdir() if p.is_dir())

pytestmark = pytest.mark.usefixtures("real_tree")  # the sandboxes grade the real tree


def assert_full_marks(assignment_id: str, source: Path, tmp_path: Path) -> None:
    folder = tmp_path / source.name
    shutil.copytree(source, folder, ignore=shutil.ignore_patterns("mutants"))
    report = grade(find_assignment(assignment_id), folder)
    lost = {c.id: f"{c.status}: {c.feedback}" for c in report.checks if not c.passed}
    assert lost == {}, f"{assignment_id} {source.name}: {report.score:g}/100; " \
                       f"build: {report.build.log[-500:] if not report.build.ok else 'ok'}; " \
                       f"notes: {report.notes}"
    assert report.full_marks


@pytest.mark.parametrize("assignment_id", REFERENCES)
def test_reference_gets_full_marks(assignment_id, tmp_path):
    assert_full_marks(assignment_id, ROOT / "reference" / assignment_id, tmp_path)


@pytest.mark.parametrize(("assignment_id", "name"), SOLUTIONS,
                         ids=[f"{a}/{n}" for a, n in SOLUTIONS])
def test_independent_solution_gets_full_marks(assignment_id, name, tmp_path):
    assert_full_marks(assignment_id, ALTERNATIVES / assignment_id / name, tmp_path)
