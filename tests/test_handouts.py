"""Every handout's grading table says what the rubric grades: a student plans by it.

The table in README.md ("| check | points |") lists the visible checks in rubric order with
their points (a title may say a little more or less than the rubric's, never something
else), then one row for the hidden checks with their count and total points.
"""

from __future__ import annotations

import re

import pytest

from grader.assignment import Assignment, all_assignments
from grader.handout import current, section

NUMBERS = {1: "one", 2: "two", 3: "three", 4: "four"}


def table_rows(assignment: Assignment) -> list[tuple[str, float]]:
    """(title, points) of each row of the handout's grading table, markdown removed."""
    rows = re.findall(r"^\| (.+?) \| (\d+(?:\.\d+)?) \|$", assignment.handout.read_text(),
                      re.MULTILINE)
    return [(title.replace("`", ""), float(points)) for title, points in rows]


@pytest.mark.parametrize("assignment", all_assignments(), ids=lambda a: a.id)
def test_grading_table_matches_the_rubric(assignment: Assignment):
    rows = table_rows(assignment)
    visible = [c for c in assignment.checks if not c.hidden]
    hidden = [c for c in assignment.checks if c.hidden]
    assert len(rows) == len(visible) + bool(hidden), \
        f"{assignment.handout}: {len(rows)} table rows for {len(visible)} visible checks" \
        f"{' and a hidden row' if hidden else ''}"
    for (title, points), check in zip(rows, visible, strict=False):
        assert title.startswith(check.title) or check.title.startswith(title), \
            f"{assignment.handout}: row {title!r} where the rubric has {check.title!r}"
        assert points == check.points, f"{assignment.handout}: {title!r} is worth " \
                                       f"{check.points:g} points, the table says {points:g}"
    if hidden:
        title, points = rows[-1]
        count = NUMBERS.get(len(hidden), str(len(hidden)))
        assert title.startswith(f"{count} hidden check"), \
            f"{assignment.handout}: the last row should count {count} hidden check(s): {title!r}"
        assert points == sum(c.points for c in hidden), \
            f"{assignment.handout}: hidden checks are worth {sum(c.points for c in hidden):g}"


@pytest.mark.parametrize("assignment", all_assignments(), ids=lambda a: a.id)
def test_build_and_run_section_is_generated_and_current(assignment: Assignment):
    """Each handout says how submissions are built and run, and its limits, in the words
    grader/handout.py generates from the engine's settings and the rubric (never by hand)."""
    text = assignment.handout.read_text()
    assert current(text) is not None, \
        f"{assignment.handout}: no 'How your submission is built and run' section between " \
        f"the markers of grader/handout.py"
    assert current(text) == section(assignment), \
        f"{assignment.handout}: the build-and-run section is out of date: run " \
        f"`python -m grader.handout {assignment.id}`"
