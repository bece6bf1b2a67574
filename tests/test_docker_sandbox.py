"""The docker backend (grader/sandbox/docker.py) on the real engine, with the real image.

Nothing is mocked: the image is rebuilt from this tree first when any of its inputs changed
(docker/build-image.sh is a no-op otherwise), every grading starts a real container, and
"nothing left behind" is asked of the engine itself (containers labelled with the run).

Gradings of the real assignment1 (reference, mutants) use the image's own copy of it
(GRADER_ROOT unset); submissions graded against other limits (small_assignment1) have them
copied into the container from GRADER_ROOT. The hostile scenarios that both backends must
hold (the corpus of tests/submissions/hostile/) are in test_hostile.py; here is what
only docker does: the container's limits, users, copies and lifecycle, and the parity of
verdicts with the local backend.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import SERVER_ONLY, failed_before_serving, grader_trouble, run_name

from grader.assignment import Assignment, load_assignment
from grader.grading import grade
from grader.report import GradeReport, Status
from grader.sandbox import SandboxError
from grader.sandbox.docker import STUDENT_UIDS, DockerSandbox
from grader.validate import load_mutants, materialize

REPO = Path(__file__).resolve().parents[1]
ASSIGNMENT1 = REPO / "assignments" / "assignment1"
REFERENCE1 = REPO / "reference" / "assignment1"
RETRIES = 3  # more gradings per backend of a mutant whose verdicts differ (flaky checks)


@pytest.fixture(autouse=True)
def image(docker_image) -> str:
    """Every test here needs the grading image, current with this tree."""
    return docker_image


@pytest.fixture
def backend() -> str:
    """`hostile` (tests/conftest.py) grades in docker in this file."""
    return "docker"


@pytest.fixture
def real_assignment1(monkeypatch) -> Assignment:
    """The real assignment1: the image's copy in docker, the source tree's locally."""
    monkeypatch.delenv("GRADER_ROOT", raising=False)
    return load_assignment(ASSIGNMENT1)


def statuses(report: GradeReport) -> list[tuple[str, Status]]:
    return [(c.id, c.status) for c in report.checks]


# ---- the real assignment: full marks, and the same verdicts as the local backend -----------

def test_reference_gets_full_marks_in_docker(real_assignment1, tmp_path, containers):
    folder = tmp_path / f"reference-{secrets.token_hex(4)}"
    shutil.copytree(REFERENCE1, folder, ignore=shutil.ignore_patterns("mutants"))
    report = grade(real_assignment1, folder, "docker")
    failed = {c.id: c.feedback for c in report.checks if not c.passed}
    assert failed == {}, f"notes: {report.notes}"
    assert report.score == report.max_score == 100
    assert report.backend == "docker"
    assert [c.id for c in report.checks] == [c.id for c in real_assignment1.checks]
    assert report.notes == []  # nothing degraded
    assert containers(run_name(real_assignment1, folder)) == []


def test_every_mutant_gets_the_same_verdicts_in_docker_as_locally(real_assignment1, tmp_path,
                                                                   containers):
    """Each mutant graded once per backend; a check whose status differs is graded again
    (RETRIES times per backend) and counts as a difference only if the two backends never
    agree: a backend that cannot give a verdict the other gives is a sandbox bug, a check
    that varies between runs is a flaky check (validate's business; it is reported)."""
    mutants = load_mutants(real_assignment1)
    assert mutants, f"no mutants in {REFERENCE1 / 'mutants'}"
    folders = {m.name: materialize(real_assignment1, m,
                                   tmp_path / f"{m.name}-{secrets.token_hex(4)}")
               for m in mutants}

    def graded(task: tuple[str, str]) -> GradeReport:
        mutant, backend = task
        report = grade(real_assignment1, folders[mutant], backend)
        assert report.backend == backend
        assert grader_trouble(report) == [], f"{mutant} on {backend}: {report.notes}"
        return report

    tasks = [(m.name, backend) for m in mutants for backend in ("local", "docker")]
    with ThreadPoolExecutor(2) as pool:
        reports = dict(zip(tasks, pool.map(graded, tasks), strict=True))
        differences, flaky = [], []
        for mutant in folders:
            seen = {backend: [statuses(reports[mutant, backend])]
                    for backend in ("local", "docker")}
            if seen["local"] == seen["docker"]:
                continue
            again = [(mutant, backend) for _ in range(RETRIES) for backend in seen]
            for (_, backend), report in zip(again, pool.map(graded, again), strict=True):
                seen[backend].append(statuses(report))
            for i, (check_id, _) in enumerate(seen["local"][0]):
                local = {run[i][1] for run in seen["local"]}
                in_docker = {run[i][1] for run in seen["docker"]}
                if not local & in_docker:
                    differences.append(f"{mutant}: {check_id} is {'/'.join(sorted(local))} "
                                       f"locally, {'/'.join(sorted(in_docker))} in docker")
                elif len(local | in_docker) > 1:
                    flaky.append(f"{mutant}: {check_id} ({'/'.join(sorted(local))} locally, "
                                 f"{'/'.join(sorted(in_docker))} in docker)")
    for mutant, folder in folders.items():
        assert containers(run_name(real_assignment1, folder)) == [], mutant
    if flaky:
        warnings.warn(f"flaky checks (status varies between runs): {'; '.join(flaky)}",
                      stacklevel=1)
    assert differences == []


# ---- the container's own memory limit ------------------------------------------------------
# The hostile scenarios both backends must hold are in test_hostile.py.

def test_container_memory_limit_holds_above_the_assignments(hostile):
    """An assignment allowing 8 GiB: the container's own limit (MEMORY) stops the 4 GiB
    server, the harness, in the same container, survives to write the report, and the
    verdict names the limit that held (the container's), not the assignment's 8192 MiB a
    student would rightly say they stayed under."""
    report = hostile("hostile/big_alloc", SERVER_ONLY, memory_mib=8192)
    greedy = failed_before_serving(report, "your server was killed: out of memory (the "
                                           "grading container's limit) instead of listening")
    assert "allocated and touched 4 GiB" not in "\n".join(greedy.evidence)


# ---- the container: who may write where ----------------------------------------------------

# Run by the harness (root) in the container: make a check folder for the student, then try
# things as the student user; print one "what: outcome" line each.
PROBE = """
import os, subprocess, sys
uid = int(sys.argv[1])
open("/work/report.json", "w").write("{}")
os.makedirs("/work/checks/one")
os.chown("/work/checks/one", uid, uid)
attempts = {
    "create in /work": "open('/work/mine', 'w')",
    "write the report": "open('/work/report.json', 'w')",
    "write the submission": "open('/work/submission/server.c', 'a')",
    "read the grader's tree": "os.listdir('/opt/ipc-grader')",
    "write the image": "open('/usr/mine', 'w')",
    "write its check folder": "open('/work/checks/one/mine', 'w')",
    "write /tmp": "open('/tmp/mine', 'w')",
}
for what, code in attempts.items():
    done = subprocess.run([sys.executable, "-c", f"import os\\n{code}"], user=uid, group=uid,
                          extra_groups=[], capture_output=True, text=True)
    outcome = "ok" if done.returncode == 0 else done.stderr.strip().splitlines()[-1]
    print(f"{what}: {outcome}")
"""


def test_student_writes_only_its_folders(tmp_path):
    (tmp_path / "server.c").write_text("int main(void) { return 0; }\n")
    with DockerSandbox(name=f"probe-{secrets.token_hex(4)}") as box:
        uid = int(box.student_args()[1])
        assert box.student_args() == ["--uid", str(uid), "--gid", str(uid)]
        assert uid in STUDENT_UIDS
        box.copy_in(tmp_path, "submission")
        outcome = box.run([box.python, "-c", PROBE, str(uid)], timeout=60)
        assert outcome.exit_code == 0, outcome.output
        assert box.copy_out("report.json", tmp_path / "report.json")
    assert (tmp_path / "report.json").read_text() == "{}"  # the student could not change it
    results = dict(line.split(": ", 1) for line in outcome.output.splitlines())
    assert results == {
        "create in /work": "PermissionError: [Errno 13] Permission denied: '/work/mine'",
        "write the report": "PermissionError: [Errno 13] Permission denied: "
                            "'/work/report.json'",
        "write the submission": "PermissionError: [Errno 13] Permission denied: "
                                "'/work/submission/server.c'",
        "read the grader's tree": "PermissionError: [Errno 13] Permission denied: "
                                  "'/opt/ipc-grader'",
        "write the image": "OSError: [Errno 30] Read-only file system: '/usr/mine'",
        "write its check folder": "ok",
        "write /tmp": "ok",
    }


def test_copy_in_keeps_links_as_links(tmp_path):
    folder = tmp_path / "submission"
    folder.mkdir()
    (folder / "server.c").write_text("int main(void) { return 0; }\n")
    (folder / "run.sh").write_text("#!/bin/sh\n")
    (folder / "run.sh").chmod(0o4755)  # set-uid: dropped
    (folder / "passwd").symlink_to("/etc/passwd")
    (folder / "up").symlink_to("../..")
    (folder / "sub").mkdir()
    (folder / "sub" / "notes.txt").write_text("hello\n")
    os.mkfifo(folder / "pipe")  # not a file: left out
    with DockerSandbox(name=f"copy-{secrets.token_hex(4)}") as box:
        box.copy_in(folder, "submission")
        listing = box.run(["sh", "-c", "cd /work/submission && find . -printf '%p %y %m %u %l\\n'"
                           " | sort && cat sub/notes.txt"], timeout=60)
        assert box.copy_out("submission/sub/notes.txt", tmp_path / "notes.txt")
        assert not box.copy_out("submission/missing", tmp_path / "missing")
    assert listing.exit_code == 0, listing.output
    assert listing.output.splitlines() == [
        ". d 700 root ",
        "./passwd l 777 root /etc/passwd",
        "./run.sh f 755 root ",
        "./server.c f 644 root ",
        "./sub d 755 root ",
        "./sub/notes.txt f 644 root ",
        "./up l 777 root ../..",
        "hello",
    ]
    assert (tmp_path / "notes.txt").read_text() == "hello\n"
    assert not (tmp_path / "missing").exists()


def test_each_container_has_its_own_student_uid():
    with DockerSandbox(name="uid-a") as first, DockerSandbox(name="uid-b") as second:
        assert first.student_args() != second.student_args()


# ---- lifecycle: deadlines, interrupts, a killed grader, bad setups -------------------------

def test_run_past_its_deadline_is_stopped(containers):
    name = f"deadline-{secrets.token_hex(4)}"
    with DockerSandbox(name=name) as box:
        started = time.monotonic()
        outcome = box.run(["sh", "-c", "echo started; sleep 600"], timeout=2)
        assert outcome.timed_out
        assert time.monotonic() - started < 15
        assert "started" in outcome.output
        assert not box.copy_out("report.json", Path("/nonexistent/report.json"))
    assert containers(name) == []


def test_grading_over_its_budget_removes_its_container(small_assignment1, unique_submission,
                                                       containers, monkeypatch):
    monkeypatch.setattr("grader.grading.run_budget", lambda assignment, only: 4.0)
    assignment = small_assignment1(check_seconds=30, cpu_seconds=30)
    folder = unique_submission("hostile/endless_loop")
    report = grade(assignment, folder, "docker", only=frozenset({"sums_rounds"}))
    assert report.notes[0] == "the grading run exceeded its time budget"
    assert [c.status for c in report.checks] == [Status.ERROR]
    assert containers(run_name(assignment, folder)) == []


def test_interrupted_grading_removes_its_container(small_assignment1, unique_submission,
                                                   containers):
    assignment = small_assignment1(check_seconds=30, cpu_seconds=30)
    folder = unique_submission("hostile/endless_loop")
    interrupt = threading.Timer(3.0, os.kill, (os.getpid(), signal.SIGINT))
    interrupt.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            grade(assignment, folder, "docker", only=frozenset({"sums_rounds"}))
            time.sleep(60)  # only if the grading ended first: the interrupt must land here
    finally:
        interrupt.cancel()
    assert containers(run_name(assignment, folder)) == []


KILLED_GRADER = """
import sys, time
from grader.sandbox.docker import DockerSandbox
box = DockerSandbox(name=sys.argv[1])
box.prepare()
print(box.container_name, flush=True)
time.sleep(600)
"""


def test_container_dies_with_a_killed_grader(containers):
    name = f"orphan-{secrets.token_hex(4)}"
    grader = subprocess.Popen([sys.executable, "-c", KILLED_GRADER, name], cwd=REPO,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert grader.stdout.readline().startswith("ipc-grader-orphan-")
        assert len(containers(name)) == 1
    finally:
        grader.kill()  # SIGKILL: no destroy() runs
        grader.wait()
    deadline = time.monotonic() + 20
    while containers(name) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert containers(name) == []


def test_missing_image_is_a_sandbox_error(containers):
    name = f"noimage-{secrets.token_hex(4)}"
    box = DockerSandbox(name=name, image="ipc-grader:0.0.0-missing")
    with pytest.raises(SandboxError) as error:
        box.prepare()
    assert str(error.value) == ("docker image ipc-grader:0.0.0-missing not found: build it "
                                "with docker/build-image.sh")
    assert containers(name) == []


def test_no_engine_is_a_sandbox_error(monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    with pytest.raises(SandboxError) as error:
        DockerSandbox(name="noengine").prepare()
    assert str(error.value).startswith("no docker engine answers (start one with "
                                       "docker/start-dockerd.sh)")
