"""`grade validate` holds for every assignment: the proof that its checks grade what they claim.

For each assignment: the reference gets full marks on every run and the same result each
time, every mutant fails exactly the checks its mutant.yaml names, and every check is failed
by some mutant (grader/validate.py). A change to a check, the reference or a mutant that
breaks any of this fails here, not in front of a class.
"""

from __future__ import annotations

import pytest

from grader.assignment import all_assignments
from grader.validate import validate

pytestmark = pytest.mark.usefixtures("real_tree")  # the sandboxes grade the real tree


@pytest.mark.parametrize("assignment", all_assignments(), ids=lambda a: a.id)
def test_validate(assignment):
    result = validate(assignment, runs=2, progress=lambda line: None)
    assert result.problems() == []
    assert result.mutants, f"{assignment.id} has no mutants"
