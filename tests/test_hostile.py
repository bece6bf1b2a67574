"""Hostile student code, graded as assignment1 submissions in the real local sandbox.

Each submission is in tests/submissions/<name>/ (the missing program is the reference's). It is
graded against assignment1 cut down to the checks that matter for it (and smaller limits), so
a hang costs seconds. Every case must end with:
  - a verdict in the report a student can act on (the check's feedback or evidence),
  - a finished grading (a report with every check, no grader error, no blown budget),
  - the grader and unrelated processes alive (the `bystanders`),
  - nothing left behind: no process of a free sandbox uid, no run folder, no temp files.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.grading import grade
from grader.report import GradeReport, Status

EVIL_FILES = (Path("/tmp/evil-xyz"), Path("/etc/evil-xyz"))
SERVER_ONLY = {"sums_rounds": 50, "client_no_server": 50}  # the second check must still pass


@pytest.fixture
def hostile(small_assignment1, submission, bystanders, left_behind):
    """hostile(name, checks, **limits) -> report; asserts the grading survived it."""

    def run(name: str, checks: dict[str, float], **limits) -> GradeReport:
        folder = submission(name)
        report = grade(small_assignment1(checks, **limits), folder)
        problems = [n for n in report.notes if n.startswith("grader error")
                    or "exceeded its time budget" in n or "without a report" in n]
        assert problems == []
        assert report.build.ok, report.build.log
        assert [c.id for c in report.checks] == list(checks)
        assert [c.id for c in report.checks if c.status is Status.ERROR] == []
        assert bystanders() == []
        assert left_behind(folder) == []
        return report

    return run


def check(report: GradeReport, check_id: str):
    return next(c for c in report.checks if c.id == check_id)


def test_fork_bomb_server(hostile):
    report = hostile("fork_bomb", SERVER_ONLY, check_seconds=3, cpu_seconds=2, processes=64)
    bombed = check(report, "sums_rounds")  # connect() retries 5 s: the 3 s budget ends first
    assert bombed.status is Status.TIMEOUT
    assert bombed.feedback.startswith("the check did not finish within its 3 s budget")
    assert bombed.feedback.endswith("(your programs reached the process limit, 64: a fork loop?)")
    assert [t.splitlines()[-1] for t in bombed.evidence] == ["is still running"]
    assert check(report, "client_no_server").passed  # the sandbox recovered


def test_busy_loop_server(hostile):
    """ENGINE BUG: the verdict is "was killed by SIGKILL (Killed)" instead of the CPU time
    limit, see test_process.py::test_cpu_limit_is_described for the fix."""
    report = hostile("busy_loop", SERVER_ONLY, cpu_seconds=1, check_seconds=8)
    spun = check(report, "sums_rounds")
    assert spun.status is Status.FAILED
    assert spun.feedback.startswith("your server was killed: CPU time limit (1 s) exceeded "
                                    "instead of listening on "), spun.feedback
    assert check(report, "client_no_server").passed


def test_output_flood_server(hostile):
    report = hostile("output_flood", SERVER_ONLY, output_kib=64)
    flooded = check(report, "sums_rounds")
    assert flooded.status is Status.FAILED
    assert flooded.feedback.startswith("your server was stopped: output limit (64 KiB) "
                                       "exceeded instead of listening on "), flooded.feedback
    transcript = "\n".join(flooded.evidence)
    assert "debug: still starting up" in transcript
    assert len(transcript) < 4096  # evidence shows the end of the flood, not all of it
    assert check(report, "client_no_server").passed


def test_server_allocating_2_gib(hostile):
    report = hostile("big_alloc", SERVER_ONLY, memory_mib=256)
    greedy = check(report, "sums_rounds")
    assert greedy.status is Status.FAILED
    evidence = "\n".join(greedy.evidence)
    assert "allocated and touched 2 GiB" not in evidence, "no memory limit held"
    # a memory cgroup: the OOM killer stops it, and the verdict says why; an address-space
    # rlimit: malloc() fails, and the server's own message is the evidence
    if "memory limit" in greedy.feedback:
        assert greedy.feedback.startswith("your server was killed: memory limit (256 MiB) "
                                          "exceeded instead of listening"), greedy.feedback
    else:
        assert greedy.feedback.startswith("your server exited with code 1 instead of "
                                          "listening"), greedy.feedback
        assert "malloc: Cannot allocate memory" in evidence
    assert check(report, "client_no_server").passed


def test_daemonizing_server(hostile):
    report = hostile("daemon", {"sums_rounds": 50, "sigterm_cleanup": 50})
    # the server itself works; its daemons (one per check) are killed, none survives
    assert [c.status for c in report.checks] == [Status.PASSED, Status.PASSED]


@pytest.fixture
def no_evil_files():
    for path in EVIL_FILES:
        path.unlink(missing_ok=True)
    yield
    for path in EVIL_FILES:
        path.unlink(missing_ok=True)


def test_server_writing_outside_its_folder(hostile, no_evil_files):
    report = hostile("writes_outside", SERVER_ONLY)
    assert report.full_marks  # it works; what it wrote is swept, not graded
    assert not Path("/tmp/evil-xyz").exists(), "the sandbox did not sweep /tmp"
    assert not Path("/etc/evil-xyz").exists(), "student code could write to /etc"
    swept = [n for n in report.notes if n.startswith("removed files your programs left behind")]
    assert swept and "/tmp/evil-xyz" in swept[0], report.notes


def test_client_killing_everything(hostile):
    report = hostile("kill_all", {"sums_rounds": 25, "student_client_reference_server": 25,
                                  "reference_client_student_server": 25,
                                  "client_no_server": 25})
    killer = check(report, "student_client_reference_server")
    assert killer.status is Status.FAILED
    assert killer.feedback.startswith("your client printed '' for input")
    assert any(t.startswith("$ ") and "server" in t.splitlines()[0]
               and t.endswith("was killed by SIGKILL (Killed)") for t in killer.evidence), \
        killer.evidence  # the reference server, killed by the student's client
    assert check(report, "reference_client_student_server").passed  # the grading went on
    no_server = check(report, "client_no_server")
    assert no_server.status is Status.FAILED
    assert "your client exited with code 0 (expected: exit 1)" in no_server.feedback
    assert check(report, "sums_rounds").passed

