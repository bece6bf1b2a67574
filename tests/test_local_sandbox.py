"""The local sandbox does not outlive the grader, however the grader ends.

Ctrl-C or SIGTERM: the grading is interrupted and its sandbox destroyed. SIGKILL (or a
crash): the grading run gets SIGKILL with its grader (parent-death signal), every process of
its PID namespace dies with it, and the next grading removes the run folder left behind.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import MARKER, REPO

from grader.sandbox.local import RUNS, LocalSandbox

KILLED_GRADER = """
from grader.sandbox.local import LocalSandbox
box = LocalSandbox()
box.prepare()
print(box.root, flush=True)
box.run(["sleep", "600"], timeout=600)
"""


def processes_under(folder: Path) -> list[str]:
    """Processes whose working directory is `folder` or below it."""
    found = []
    for cwd in Path("/proc").glob("[0-9]*/cwd"):
        try:
            if Path(os.readlink(cwd)).is_relative_to(folder):
                found.append(cwd.parent.name)
        except OSError:
            continue
    return found


def run_of(submission: Path) -> Path:
    """The run folder grading `submission` (by its marker), or /nonexistent."""
    marker = (submission / MARKER).read_text()
    for run in RUNS.glob("runs/run-*"):
        with contextlib.suppress(OSError):
            if (run / "submission" / MARKER).read_text() == marker:
                return run
    return Path("/nonexistent")


def wait_until(condition, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_grading_run_dies_with_a_killed_grader():
    grader = subprocess.Popen([sys.executable, "-c", KILLED_GRADER], cwd=REPO,
                              stdout=subprocess.PIPE, text=True)
    try:
        root = Path(grader.stdout.readline().strip())
        assert root.parent == RUNS / "runs"
        assert wait_until(lambda: processes_under(root)), "the grading run never started"
    finally:
        grader.kill()  # SIGKILL: no destroy() runs
        grader.wait()
    assert wait_until(lambda: not processes_under(root)), \
        f"processes of the killed grader's run still live: {processes_under(root)}"
    # The folder stays until the next grading removes it. Under pytest-xdist that next
    # grading may be another worker's, already under way, so its presence here is not asserted.
    with LocalSandbox():
        pass
    assert not root.exists()


def test_sigterm_interrupts_a_grading_and_leaves_nothing(submission, left_behind, tree1):
    folder = submission(files={"Makefile": "all:\n\tsleep 600\n"})  # a build that hangs
    grade = subprocess.Popen([sys.executable, "-m", "grader", "assignment1", str(folder)],
                             cwd=REPO, env={**os.environ, "GRADER_ROOT": str(tree1)},
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_until(lambda: processes_under(run_of(folder))), "the build never started"
        grade.send_signal(signal.SIGTERM)
        _, err = grade.communicate(timeout=30)
    finally:
        grade.kill()
    assert grade.returncode == 130, err
    assert err.strip() == "grade: interrupted"
    assert left_behind(folder) == []
