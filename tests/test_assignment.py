"""grader.assignment: loading assignment.yaml, and finding an assignment by id or slug.

Every mistake an instructor can make in assignment.yaml must come back as one AssignmentError
line naming the file and the key (or the line, for broken YAML).
"""

from __future__ import annotations

from pathlib import Path

import pytest

import grader.assignment
from grader.assignment import (
    ROOT,
    AssignmentError,
    CheckSpec,
    Limits,
    find_assignment,
    load_assignment,
)

GOOD = """\
id: {id}
slug: {slug}
title: A small test assignment
programs: [server, client]
limits:
  check_seconds: 3
  cpu_seconds: 2
checks:
  - {{id: first, title: "the first check", points: 60}}
  - {{id: second, title: "the second check", points: 40, hidden: true}}
"""


def write(root: Path, ident: str, text: str | None = None, slug: str | None = None) -> Path:
    folder = root / "assignments" / ident
    folder.mkdir(parents=True)
    (folder / "assignment.yaml").write_text(
        text if text is not None else GOOD.format(id=ident, slug=slug or f"{ident}-slug"))
    return folder


def error_of(folder: Path) -> str:
    with pytest.raises(AssignmentError) as error:
        load_assignment(folder)
    message = str(error.value)
    assert "\n" not in message, f"not one line: {message!r}"
    assert message.startswith(f"{folder / 'assignment.yaml'}: "), message
    return message


def broken(tmp_path: Path, old: str, new: str) -> Path:
    text = GOOD.format(id="hw", slug="hw-slug")
    assert old in text
    return write(tmp_path, "hw", text.replace(old, new))


def test_good_file_loads(tmp_path):
    a = load_assignment(write(tmp_path, "hw"))
    assert (a.id, a.slug, a.title) == ("hw", "hw-slug", "A small test assignment")
    assert a.programs == ("server", "client")
    assert a.build is None
    assert a.limits == Limits(check_seconds=3.0, cpu_seconds=2)
    assert a.checks == (CheckSpec("first", "the first check", 60.0),
                        CheckSpec("second", "the second check", 40.0, hidden=True))
    assert a.check("second").hidden
    assert a.checks_file == tmp_path / "assignments" / "hw" / "checks.py"
    assert a.handout == tmp_path / "assignments" / "hw" / "README.md"


def test_broken_yaml_names_file_and_line(tmp_path):
    folder = write(tmp_path, "hw", "id: hw\nslug: hw-slug\ntitle: x\n  programs: [server]\n")
    assert error_of(folder).endswith(": line 4: invalid YAML: mapping values are not allowed here")


def test_unclosed_bracket_names_the_line_where_it_shows(tmp_path):
    folder = write(tmp_path, "hw", "id: hw\nslug: hw-slug\ntitle: [unclosed\nprograms: [a]\n")
    assert ": line 4: invalid YAML: " in error_of(folder)


def test_tab_indentation_names_its_line(tmp_path):
    folder = write(tmp_path, "hw", "id: hw\nslug: s\nlimits:\n\tcpu_seconds: 1\n")
    assert ": line 4: invalid YAML" in error_of(folder)


def test_missing_file(tmp_path):
    folder = tmp_path / "assignments" / "hw"
    folder.mkdir(parents=True)
    assert error_of(folder).endswith("assignment.yaml: file not found")


def test_top_level_must_be_a_mapping(tmp_path):
    message = error_of(write(tmp_path, "hw", "- just\n- a list\n"))
    assert "(top level): must be a mapping" in message


@pytest.mark.parametrize("key", ["id", "slug", "title", "programs", "checks"])
def test_missing_key(tmp_path, key):
    text = GOOD.format(id="hw", slug="hw-slug")
    lines = text.splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{key}:"))
    end = start + 1
    while end < len(lines) and lines[end].startswith(" "):
        end += 1
    message = error_of(write(tmp_path, "hw", "".join(lines[:start] + lines[end:])))
    assert message.endswith(f": {key}: missing (required)")


def test_missing_key_inside_a_check(tmp_path):
    message = error_of(broken(tmp_path, 'title: "the first check", ', ""))
    assert message.endswith(": checks[0].title: missing (required)")


# (text in the good rubric, its replacement, what the error says)
WRONG_VALUES = [  # of the wrong type or out of range
    ("points: 60", 'points: "sixty"', "checks[0].points: must be float, got 'sixty'"),
    ("hidden: true", "hidden: 1", "checks[1].hidden: must be bool, got 1"),
    ("cpu_seconds: 2", "cpu_seconds: 1.5", "limits.cpu_seconds: must be int, got 1.5"),
    ("cpu_seconds: 2", "cpu_seconds: true", "limits.cpu_seconds: must be int, got True"),
    ("programs: [server, client]", "programs: server", "programs: must be list, got 'server'"),
    ("programs: [server, client]", "programs: [server, ../evil]", "programs[1]: must be a plain"),
    ("slug: hw-slug", "slug: 3", "slug: must be str, got 3"),
    ("points: 60", "points: 0", "checks[0].points: must be positive, got 0"),
    ("check_seconds: 3", "check_seconds: -1", "limits.check_seconds: must be positive"),
]
UNKNOWN_KEYS = [
    ("title: A small", "colour: red\ntitle: A small", "colour: unknown key"),
    ("cpu_seconds: 2", "cpu_seconds: 2\n  gpu_seconds: 1", "limits.gpu_seconds: unknown limit"),
    ("hidden: true", "hidden: true, weight: 2", "checks[1].weight: unknown key"),
]
# a check that needs others (CheckSpec.requires): the second check's entry, what the error says
BAD_REQUIREMENTS = [
    ("requires: [third]", "checks[1].requires: 'third' is not a check of this assignment"),
    ("requires: first", "checks[1].requires: must be list, got 'first'"),
    ("requires: [second]", "checks[1].requires: 'second' requires itself"),
    ("requires: [first]", "checks[0].requires: 'first' requires itself (through second)"),
    # (the first check requires the second: a cycle)
]


@pytest.mark.parametrize(("old", "new", "expected"), WRONG_VALUES + UNKNOWN_KEYS)
def test_wrong_value_or_unknown_key(tmp_path, old, new, expected):
    assert expected in error_of(broken(tmp_path, old, new))


@pytest.mark.parametrize(("requires", "expected"), BAD_REQUIREMENTS)
def test_bad_requirements(tmp_path, requires, expected):
    text = GOOD.format(id="hw", slug="hw-slug").replace("hidden: true", f"hidden: true, {requires}")
    if "[first]" in requires:
        text = text.replace("points: 60", "points: 60, requires: [second]")
    assert error_of(write(tmp_path, "hw", text)).endswith(expected)


def test_a_required_check_may_not_be_concurrent(tmp_path):
    text = GOOD.format(id="hw", slug="hw-slug").replace(
        "points: 60", "points: 60, concurrent: true").replace("hidden: true",
                                                              "hidden: true, requires: [first]")
    assert error_of(write(tmp_path, "hw", text)).endswith(
        "checks[1].requires: 'first' is concurrent: a required check must run before the "
        "checks that need it")


def test_requirements_run_first(tmp_path):
    folder = broken(tmp_path, "points: 60", "points: 60, requires: [second]")
    assignment = load_assignment(folder)
    assert assignment.check("first").requires == ("second",)
    assert assignment.in_running_order(["first", "second"]) == ["second", "first"]
    assert assignment.in_running_order(["first"]) == ["first"]  # --only: what is selected


def test_check_id_must_be_snake_case(tmp_path):
    message = error_of(broken(tmp_path, "id: second", "id: Second-Check"))
    assert "checks[1].id: 'Second-Check' must be snake_case" in message


def test_points_must_add_up_to_100(tmp_path):
    message = error_of(broken(tmp_path, "points: 40", "points: 30"))
    assert message.endswith("checks: points add up to 90, they must add up to 100")


def test_id_must_match_folder(tmp_path):
    folder = write(tmp_path, "hw", GOOD.format(id="homework", slug="s"))
    message = error_of(folder)
    assert "id: is 'homework' but the folder is 'hw'" in message


def test_duplicate_check_id(tmp_path):
    message = error_of(broken(tmp_path, "id: second", "id: first"))
    assert message.endswith("checks[1].id: 'first' appears twice")


# ---- finding an assignment ------------------------------------------------------------------

@pytest.fixture
def root(tmp_path, monkeypatch) -> Path:
    """A tree of two assignments; ROOT is what GRADER_ROOT sets when the grader starts."""
    write(tmp_path, "assignment1", slug="uds-server")
    write(tmp_path, "assignment3", slug="shm")
    (tmp_path / "assignments" / "notes").mkdir()  # a folder without assignment.yaml
    monkeypatch.setattr(grader.assignment, "ROOT", tmp_path)
    return tmp_path


def test_find_by_id_and_by_slug(root):
    assert find_assignment("assignment3").slug == "shm"
    by_slug = find_assignment("shm")
    assert by_slug.id == "assignment3"
    assert by_slug.folder == root / "assignments" / "assignment3"
    assert find_assignment("uds-server") == find_assignment("assignment1")


def test_unknown_assignment_lists_the_known_ones(root):
    with pytest.raises(AssignmentError) as error:
        find_assignment("assignment9")
    assert str(error.value) == ("unknown assignment 'assignment9'; known: "
                                "assignment1 (uds-server), assignment3 (shm)")


def test_slug_lookup_with_a_broken_sibling_is_an_assignment_error(root):
    """A slug is found by loading every assignment, and a broken one on the way is reported
    as an AssignmentError naming its file and line (one line for the user, not a YAML
    traceback), rather than skipped: a typo must not make an assignment silently vanish."""
    write(root, "assignment0", "id: assignment0\nslug: [oops\n")
    with pytest.raises(AssignmentError) as error:
        find_assignment("shm")
    assert str(error.value).startswith(
        f"{root / 'assignments' / 'assignment0' / 'assignment.yaml'}: line 3: invalid YAML")


def test_the_real_assignment1_loads():
    a = load_assignment(ROOT / "assignments" / "assignment1")
    assert (a.id, a.slug) == ("assignment1", "uds-server")
    assert a.programs == ("server", "client")
    assert sum(c.points for c in a.checks) == 100
    assert a.reference == ROOT / "reference" / "assignment1"
