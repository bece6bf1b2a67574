"""The `grade` command, run as a real process (`python -m grader`), against GRADER_ROOT trees."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HANDOUT = "# assignment1\n\nWrite a server that sums numbers.\n"


def grade(*args: str, root: Path, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "GRADER_ROOT": str(root)}
    return subprocess.run([sys.executable, "-m", "grader", *map(str, args)], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=300, check=False)


def one_error_line(result: subprocess.CompletedProcess) -> str:
    """The single `grade: ...` line a bad input must produce, with exit status 2."""
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{result.stderr}"
    assert lines[0].startswith("grade: ")
    assert "Traceback" not in result.stdout + result.stderr
    return lines[0]


@pytest.fixture
def root(tmp_path, tree1) -> Path:
    """A copy of the test tree of assignment1 with a known handout, safe to break."""
    copy = tmp_path / "root"
    shutil.copytree(tree1 / "assignments", copy / "assignments")
    (copy / "reference").symlink_to(tree1 / "reference")
    (copy / "assignments" / "assignment1" / "README.md").write_text(HANDOUT)
    return copy


def test_unknown_assignment(root, tmp_path):
    line = one_error_line(grade("assignment9", tmp_path, root=root))
    assert line == "grade: unknown assignment 'assignment9'; known: assignment1 (uds-server)"


def test_missing_folder(root, tmp_path):
    line = one_error_line(grade("assignment1", tmp_path / "nowhere", root=root))
    assert line == f"grade: {tmp_path / 'nowhere'}: no such folder"


def test_broken_yaml(root, tmp_path):
    rubric = root / "assignments" / "assignment1" / "assignment.yaml"
    rubric.write_text("id: assignment1\nslug: uds-server\ntitle: x\n  programs: [server]\n")
    line = one_error_line(grade("assignment1", tmp_path, root=root))
    assert line.startswith(f"grade: {rubric}: line 4: invalid YAML")
    assert one_error_line(grade("list", root=root)).startswith(f"grade: {rubric}: line 4: ")


def test_rubric_error(root, tmp_path):
    rubric = root / "assignments" / "assignment1" / "assignment.yaml"
    rubric.write_text(rubric.read_text().replace("slug: uds-server\n", ""))
    line = one_error_line(grade("assignment1", tmp_path, root=root))
    assert line == f"grade: {rubric}: slug: missing (required)"


def test_slug_with_a_broken_sibling(root, tmp_path):
    """Looking up a slug loads every assignment: a broken one is one `grade:` line naming its
    file and line, with exit status 2, never a traceback (see test_assignment.py)."""
    sibling = root / "assignments" / "assignment0"
    sibling.mkdir()
    (sibling / "assignment.yaml").write_text("id: assignment0\nslug: [oops\n")
    line = one_error_line(grade("spec", "uds-server", root=root))
    assert line.startswith(f"grade: {sibling / 'assignment.yaml'}: line 3: invalid YAML")


def test_list(root):
    result = grade("list", root=root)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split(None, 2)[:2] == ["assignment1", "uds-server"]
    assert result.stdout.rstrip().endswith("UNIX domain socket sum server")
    assert result.stdout.count("\n") == 1


def test_list_of_the_real_tree():
    result = subprocess.run([sys.executable, "-m", "grader", "list"], capture_output=True,
                            text=True, check=False,
                            env={k: v for k, v in os.environ.items() if k != "GRADER_ROOT"})
    assert result.returncode == 0, result.stderr
    assert any(line.split()[:2] == ["assignment1", "uds-server"]
               for line in result.stdout.splitlines())


def test_spec_by_id_and_slug(root):
    by_id = grade("spec", "assignment1", root=root)
    assert by_id.returncode == 0, by_id.stderr
    assert by_id.stdout == HANDOUT + "\n"
    assert grade("spec", "uds-server", root=root).stdout == by_id.stdout


def test_spec_without_a_handout(root):
    """Every assignment needs a handout: a missing README.md is one `grade:` line naming the
    file, with exit status 2, not a traceback."""
    handout = root / "assignments" / "assignment1" / "README.md"
    handout.unlink()
    line = one_error_line(grade("spec", "assignment1", root=root))
    assert line == f"grade: {handout}: file not found (every assignment needs a handout)"


def test_help_has_examples(root):
    for args in (["--help"], ["run", "--help"], ["list", "--help"], ["spec", "--help"],
                 ["validate", "--help"]):
        result = grade(*args, root=root)
        assert result.returncode == 0, args
        assert "example" in result.stdout, args


def test_slug_alias_grades_a_broken_build(root, submission):
    folder = submission("compile_error")
    result = grade("uds-server", folder, root=root)
    assert result.returncode == 1
    assert result.stdout.startswith("assignment1: UNIX domain socket sum server\n")
    assert "BUILD FAILED" in result.stdout
    assert "error: expected" in result.stdout
    assert "score: 0/100" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_folder_defaults_to_the_current_one(root, submission):
    folder = submission("compile_error")
    result = grade("assignment1", root=root, cwd=folder)
    assert result.returncode == 1
    assert f"submission: {folder}" in result.stdout


def test_json_report_and_exit_0_at_full_marks(tree1, assignment1, tmp_path, submission,
                                               left_behind):
    folder = submission(makefile=True)  # the reference sources and Makefile
    out = tmp_path / "out.json"
    result = grade("assignment1", folder, "--json", out, root=tree1)
    assert result.returncode == 0, result.stdout + result.stderr
    data = json.loads(out.read_text())
    assert data["score"] == data["max_score"] == 100
    assert data["assignment"] == "assignment1"
    assert [c["id"] for c in data["checks"]] == [c.id for c in assignment1.checks]
    assert {c["status"] for c in data["checks"]} == {"passed"}
    assert all({"id", "title", "points", "earned", "feedback"} <= set(c) for c in data["checks"])
    assert "score: 100/100" in result.stdout
    assert left_behind(folder) == []


def test_exit_1_below_full_marks(small_assignment1, submission, no_unlink_server):
    small_assignment1()
    folder = submission(files={"server.c": no_unlink_server})
    result = grade("assignment1", folder, "--only", "sums_rounds,sigterm_cleanup",
                   root=Path(os.environ["GRADER_ROOT"]))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "score: 6/12" in result.stdout
