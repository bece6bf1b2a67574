"""Real-world submissions with a known verdict that is not full marks.

tests/submissions/scored/<assignment>/<name>/ holds a submission written the way students
write it (e.g. the 42 school's minitalk, with its Makefile calling tput and clang) and an
expected.yaml: the checks it must lose and keep every time, and the delivery checks whose
failures must carry the right diagnosis. Only those checks are graded, on both backends.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from conftest import both_backends

from grader.assignment import find_assignment
from grader.grading import grade

SCORED = Path(__file__).resolve().parent / "submissions" / "scored"
CASES = sorted((p.parent.parent.name, p.parent.name) for p in SCORED.glob("*/*/expected.yaml"))

pytestmark = pytest.mark.usefixtures("real_tree")

# What a lost bit looks like: both programs asleep, the client gone with the message
# incomplete, or (a client that sleeps after each signal, on a loaded machine) still sending
# at the deadline.
DELIVERY = ("a signal was lost", "had not printed the message whole", "was still sending after")


@both_backends
@pytest.mark.parametrize(("assignment_id", "name"), CASES, ids=[f"{a}/{n}" for a, n in CASES])
def test_scored_submission_gets_its_verdicts(assignment_id, name, backend, tmp_path):
    source = SCORED / assignment_id / name
    expected = yaml.safe_load((source / "expected.yaml").read_text())
    folder = tmp_path / name
    shutil.copytree(source, folder)
    checks = [*expected["loses"], *expected["keeps"], *expected.get("delivery", [])]
    report = grade(find_assignment(assignment_id), folder, backend, only=frozenset(checks))
    assert report.build.ok, report.build.log
    verdicts = {c.id: c for c in report.checks}
    lost = sorted(c for c in expected["loses"] if verdicts[c].passed)
    assert lost == [], f"{name} should lose {lost}"
    kept = {c: verdicts[c].feedback for c in expected["keeps"] if not verdicts[c].passed}
    assert kept == {}, f"{name} should keep {sorted(kept)}"
    for check in expected.get("delivery", []):
        result = verdicts[check]
        assert result.passed or any(diagnosis in result.feedback for diagnosis in DELIVERY), \
            f"{check}: {result.feedback}"
