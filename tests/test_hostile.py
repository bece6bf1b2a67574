"""Hostile student code, graded as assignment1 submissions in the real sandboxes.

Each submission is in tests/submissions/<name>/ (the missing program is the reference's). It is
graded against assignment1 cut down to the checks that matter for it (and smaller limits), so
a hang costs seconds. The scenarios a container must hold too (a fork bomb, an endless loop,
2 GiB of memory, a connection out) run on both backends (@both_backends), the others in the
local sandbox. Every case must end with (the `hostile` fixture, tests/conftest.py):
  - a verdict in the report a student can act on (the check's feedback or evidence),
  - a finished grading (a report with every check, no grader error, no blown budget),
  - the grader and unrelated processes alive (the `bystanders`),
  - nothing left behind: no process of a free sandbox uid, no run folder, no temp files, no
    container.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import SERVER_ONLY, both_backends, check, failed_before_serving

from grader.report import Status
from grader.sandbox.docker import STUDENT_UIDS
from grader.sandbox.local import UIDS

EVIL_FILES = (Path("/tmp/evil-xyz"), Path("/etc/evil-xyz"))


@both_backends
def test_fork_bomb_server(hostile):
    # the bomb's own guard: it runs only under a sandbox user id of either backend
    sandbox_uids = [UIDS.start, UIDS.stop, STUDENT_UIDS.start, STUDENT_UIDS.stop]
    assert sandbox_uids == [62000, 63000, 70000, 100000], "update fork_bomb/server.c's guard"
    report = hostile("fork_bomb", SERVER_ONLY, check_seconds=3, cpu_seconds=2, processes=64)
    bombed = check(report, "sums_rounds")  # connect() retries 5 s: the 3 s budget ends first
    assert bombed.status is Status.TIMEOUT
    assert bombed.feedback.startswith("the check did not finish within its 3 s budget")
    assert bombed.feedback.endswith("(your programs reached the process limit, 64: a fork loop?)")
    assert [t.splitlines()[-1] for t in bombed.evidence] == ["is still running"]
    assert check(report, "client_no_server").passed  # the sandbox recovered


@both_backends
def test_busy_loop_server(hostile):
    """The CPU time limit stops a spinning server with SIGXCPU, and the verdict names the
    limit: "killed by SIGKILL" would not tell the student that their loop never ends."""
    report = hostile("busy_loop", SERVER_ONLY, cpu_seconds=1, check_seconds=8)
    failed_before_serving(report, "your server was killed: CPU time limit (1 s) exceeded "
                                  "instead of listening on ")


# How each backend stops a server allocating 2 GiB with `memory_mib: 256`. Locally the run
# has a memory cgroup of its own, limited to 256 MiB: the OOM killer stops the server while
# it touches the pages, and the verdict names the assignment's limit. A container has no
# cgroup per run (its own, shared with the harness, is larger), so the address-space rlimit
# stays there: malloc() returns NULL and the server's own message is the evidence.
MEMORY_VERDICTS = {
    "local": ("your server was killed: memory limit (256 MiB) exceeded instead of listening",
              None),
    "docker": ("your server exited with code 1 instead of listening",
               "malloc: Cannot allocate memory"),
}


@both_backends
def test_server_allocating_2_gib(hostile, backend):
    verdict, evidence = MEMORY_VERDICTS[backend]
    greedy = failed_before_serving(hostile("big_alloc", SERVER_ONLY, memory_mib=256), verdict)
    transcript = "\n".join(greedy.evidence)
    assert "allocated and touched 2 GiB" not in transcript, "no memory limit held"
    if evidence is not None:
        assert evidence in transcript


@both_backends
def test_server_phoning_home(hostile):
    """Student code has no network but loopback, in either backend: a connection out fails
    at once (no hang, nothing leaves the machine)."""
    report = hostile("phone_home", SERVER_ONLY)
    caller = failed_before_serving(report, "your server exited with code 1 instead of "
                                           "listening")
    assert "connect 192.0.2.1: Network is unreachable" in "\n".join(caller.evidence)


def test_output_flood_server(hostile):
    """A server that prints forever is not stopped for it (printing is no crime): its output
    over the cap is read and thrown away, and its check fails for what it does not do."""
    report = hostile("output_flood", SERVER_ONLY, output_kib=64)
    flooded = failed_before_serving(report, "could not connect to your server at ")
    transcript = "\n".join(flooded.evidence)
    assert "debug: still starting up" in transcript
    assert "(output over 64 KiB discarded: " in transcript
    assert len(transcript) < 4096  # evidence shows the end of what was kept, not all of it


def test_daemonizing_server(hostile):
    report = hostile("daemon", ["sums_rounds", "sigterm_cleanup"])
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
    report = hostile("kill_all", ["sums_rounds", "student_client_reference_server",
                                  "reference_client_student_server", "client_no_server"])
    killer = check(report, "student_client_reference_server")
    assert killer.status is Status.FAILED
    assert killer.feedback.startswith("your client printed '' for input")
    assert any(t.startswith("$ ") and "server" in t.splitlines()[0]
               and t.endswith("was killed by SIGKILL (Killed)") for t in killer.evidence), \
        killer.evidence  # the reference server, killed by the student's client
    assert check(report, "reference_client_student_server").passed  # the grading went on
    no_server = check(report, "client_no_server")
    assert no_server.status is Status.FAILED
    assert "your client exited with code 0 (expected: exit 1 with a message on stderr)" \
        in no_server.feedback
    assert check(report, "sums_rounds").passed

