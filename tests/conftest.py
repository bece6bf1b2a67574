"""Shared fixtures for the grader's own tests: grading trees, submissions, leftover checks,
the docker engine, and hostile submissions graded on either backend.

Everything here is real: real gcc, real processes, the real local sandbox (namespaces and a
throwaway user id, since these tests run as root), the real docker engine and image. Nothing
is mocked.

assignment1 and its reference are copied once per session (`snapshot`): other people edit
the tree while the suite runs, and two gradings compared with each other must see the same
sources. A grading tree is a GRADER_ROOT (assignments/ + reference/) in a temporary folder
made from that snapshot, optionally cut down to a few checks with smaller limits, so that a
hostile submission costs seconds, not a minute of timeouts.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import shutil
import subprocess
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import yaml

from grader.assignment import ROOT, Assignment, load_assignment
from grader.grading import grade
from grader.report import CheckResult, GradeReport, Status
from grader.sandbox.docker import LABEL, image_name
from grader.sandbox.local import RUNS, SWEPT, UIDS

REPO = Path(__file__).resolve().parents[1]
SUBMISSIONS = Path(__file__).resolve().parent / "submissions"
MARKER = ".test-marker"
SERVER_ONLY = ("sums_rounds", "client_no_server")  # the second check must still pass
both_backends = pytest.mark.parametrize("backend", ["local", "docker"])

if TYPE_CHECKING:
    import docker


def make_tree(snapshot: Path, where: Path, limits: dict[str, float] | None = None) -> Path:
    """A GRADER_ROOT holding assignment1, with `limits` over its own. (A test that needs a
    few checks grades with `only=`, as `grade --only` does.)"""
    original = snapshot / "assignments" / "assignment1"
    rubric = yaml.safe_load((original / "assignment.yaml").read_text())
    rubric["limits"] = {**rubric.get("limits", {}), **(limits or {})}
    folder = where / "assignments" / "assignment1"
    shutil.copytree(original, folder)
    (folder / "assignment.yaml").write_text(yaml.safe_dump(rubric, sort_keys=False))
    (where / "reference").symlink_to(snapshot / "reference")
    return where


@pytest.fixture(scope="session")
def snapshot(tmp_path_factory) -> Path:
    """assignments/assignment1 and reference/assignment1 (without mutants), copied once."""
    where = tmp_path_factory.mktemp("snapshot")
    for part in ("assignments", "reference"):
        shutil.copytree(ROOT / part / "assignment1", where / part / "assignment1",
                        ignore=shutil.ignore_patterns("mutants", "__pycache__"))
    return where


@pytest.fixture(scope="session")
def reference1(snapshot: Path) -> Path:
    """The snapshot of reference/assignment1: sources, Makefile (and maybe built programs)."""
    return snapshot / "reference" / "assignment1"


@pytest.fixture(scope="session")
def tree1(snapshot: Path, tmp_path_factory) -> Path:
    """A GRADER_ROOT with the whole of assignment1."""
    return make_tree(snapshot, tmp_path_factory.mktemp("root"))


@pytest.fixture(scope="session")
def assignment1(tree1: Path) -> Iterator[Assignment]:
    """assignment1 loaded from tree1; the sandbox finds it through GRADER_ROOT."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GRADER_ROOT", str(tree1))
        yield load_assignment(tree1 / "assignments" / "assignment1")


@pytest.fixture
def real_tree(monkeypatch) -> Path:
    """The repository's own assignments/ and reference/, also for the sandboxes a test starts
    (GRADER_ROOT may point at a cut-down tree, set for the session by `assignment1`)."""
    monkeypatch.setenv("GRADER_ROOT", str(ROOT))
    return ROOT


@pytest.fixture
def small_assignment1(snapshot, tmp_path_factory, monkeypatch) -> Callable[..., Assignment]:
    """small_assignment1(limit=value...): assignment1 with other limits, to grade."""

    def make(**limits: float) -> Assignment:
        root = make_tree(snapshot, tmp_path_factory.mktemp("root"), limits)
        monkeypatch.setenv("GRADER_ROOT", str(root))
        return load_assignment(root / "assignments" / "assignment1")

    return make


@pytest.fixture
def submission(tmp_path, reference1) -> Callable[..., Path]:
    """submission(name, files={...}): a submission folder for assignment1.

    It holds the files of tests/submissions/<name>/ (if given) plus `files` (name -> text),
    and the reference's server.c and client.c for whichever of them is still missing, also
    as reference_server.inc for sources that #include the reference server. No Makefile
    unless given: the default compile rule builds it. A marker file lets the leftover checks
    recognise this submission's run folder.
    """
    count = 0

    def make(name: str | None = None, *, files: dict[str, str] | None = None,
             makefile: bool = False) -> Path:
        nonlocal count
        count += 1
        folder = tmp_path / f"{name or 'submission'}-{count}"
        if name is not None:
            shutil.copytree(SUBMISSIONS / name, folder)
        else:
            folder.mkdir()
        for file, text in (files or {}).items():
            (folder / file).write_text(text)
        for program in ("server", "client"):
            if not (folder / f"{program}.c").exists():
                shutil.copy(reference1 / f"{program}.c", folder)
        shutil.copy(reference1 / "server.c", folder / "reference_server.inc")
        if makefile:
            shutil.copy(reference1 / "Makefile", folder)
        (folder / MARKER).write_text(secrets.token_hex(8))
        return folder

    return make


@pytest.fixture(scope="session")
def no_unlink_server(reference1) -> str:
    """The reference server.c, except that it leaves its socket file behind on SIGTERM."""
    before = '    close(lfd);\n    if (unlink(addr.sun_path) == -1)\n        perror("unlink");\n'
    source = (reference1 / "server.c").read_text()
    assert before in source, "the reference server changed: update no_unlink_server"
    return source.replace(before, "    close(lfd);\n")


# ---- nothing left behind --------------------------------------------------------------------

def _uid_free(uid: int) -> bool:
    """True when no grading holds this sandbox uid (its lock file is not flock'ed)."""
    lock = RUNS / "uids" / str(uid)
    if not lock.exists():
        return True
    with open(lock, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(handle, fcntl.LOCK_UN)
        return True


def _from_a_grading(pid: str) -> bool:
    """True for a process started by a grading: in a sandbox's own pid namespace, or running
    a program of a run folder. (Someone trying a program by hand as uid 62999 is not one.)"""
    with contextlib.suppress(OSError):
        if os.readlink(f"/proc/{pid}/ns/pid") != os.readlink("/proc/self/ns/pid"):
            return True
    for link in ("exe", "cwd"):
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/{pid}/{link}").startswith(f"{RUNS}/"):
                return True
    return False


def sandbox_processes() -> list[str]:
    """Live processes of gradings on a sandbox uid that no running grading holds."""
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines()
                          if ":\t" in line)
        except OSError:
            continue
        if fields.get("State", "").startswith("Z"):
            continue  # dead already; reaping it is its parent's business
        uids = {int(u) for u in fields.get("Uid", "").split()}
        pid = status.parent.name
        for uid in uids & set(UIDS):
            if _uid_free(uid) and _from_a_grading(pid):
                found.append(f"pid {pid} uid {uid} {fields.get('Name', '?')} "
                             f"state {fields.get('State', '?')}")
    return found


def _sandbox_owned(path: Path) -> bool:
    try:
        uid = path.lstat().st_uid
    except OSError:
        return False
    return uid in UIDS and _uid_free(uid)


def leftovers(folder: Path) -> list[str]:
    """Whatever the grading of `folder` left behind: processes, its run folder, sockets."""
    marker = (folder / MARKER).read_text()
    found = sandbox_processes()
    for run in RUNS.joinpath("runs").glob("*"):
        try:
            if (run / "submission" / MARKER).read_text() == marker:
                found.append(f"run folder {run}")
        except OSError:
            continue
    for temp in SWEPT:
        for entry in temp.iterdir():
            if _sandbox_owned(entry):
                kind = "socket" if entry.is_socket() else "file"
                found.append(f"{kind} of a sandbox user: {entry}")
    return found


@pytest.fixture
def left_behind() -> Callable[[Path], list[str]]:
    """left_behind(submission folder) -> what its grading left: must be []."""
    return leftovers


@pytest.fixture
def bystanders() -> Iterator[Callable[[], list[str]]]:
    """Two processes that are not part of any grading (one root, one nobody).

    Calling the fixture's value says which of them no longer run: hostile student code
    must never reach them.
    """
    procs = [subprocess.Popen(["sleep", "300"], start_new_session=True),
             subprocess.Popen(["sleep", "300"], start_new_session=True, user=65534,
                              group=65534, extra_groups=[])]

    def gone() -> list[str]:
        return [f"bystander pid {p.pid} ({'root' if i == 0 else 'nobody'}) ended: {p.poll()}"
                for i, p in enumerate(procs) if p.poll() is not None]

    yield gone
    for proc in procs:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="session")
def c_programs(tmp_path_factory) -> Callable[[str], str]:
    """c_programs(name) -> path of tests/submissions/programs/<name>.c compiled with gcc."""
    out = tmp_path_factory.mktemp("bin")
    sources = sorted((SUBMISSIONS / "programs").glob("*.c"))
    compilers = [subprocess.Popen(["cc", "-std=gnu11", "-Wall", "-O2", "-o", str(out / s.stem),
                                   str(s), "-pthread"], stderr=subprocess.PIPE)
                 for s in sources]
    for source, compiler in zip(sources, compilers, strict=True):
        _, err = compiler.communicate()
        assert compiler.returncode == 0, f"{source}: {err.decode()}"
    os.chmod(out, 0o755)

    def path(name: str) -> str:
        assert (out / name).exists(), f"no tests/submissions/programs/{name}.c"
        return str(out / name)

    return path


# ---- the docker engine and its containers ---------------------------------------------------

@pytest.fixture(scope="session")
def docker_image() -> str:
    """The grading image, current with this tree (the engine is started if it is not).

    docker/build-image.sh rebuilds it only when one of its inputs changed."""
    lock = open("/tmp/ipc-grader-tests-docker-image.lock", "w")  # noqa: SIM115
    fcntl.flock(lock, fcntl.LOCK_EX)  # test workers in parallel (xdist) build it once
    for script in ("start-dockerd.sh", "build-image.sh"):
        done = subprocess.run([REPO / "docker" / script], capture_output=True, text=True,
                              timeout=900, check=False)
        assert done.returncode == 0, f"docker/{script} failed:\n{done.stderr[-3000:]}"
    lock.close()
    return image_name()


@pytest.fixture(scope="session")
def docker_engine(docker_image) -> Iterator[docker.DockerClient]:
    import docker  # the SDK (an optional dependency): only the docker tests need it

    client = docker.from_env()
    yield client
    client.close()


@pytest.fixture
def containers(docker_engine) -> Callable[[str], list[str]]:
    """containers(run name) -> the containers (any state) still labelled with that run."""

    def find(run: str) -> list[str]:
        found = docker_engine.containers.list(all=True,
                                              filters={"label": f"{LABEL}.run={run}"})
        return [f"{c.name} ({c.status})" for c in found]

    return find


def run_name(assignment: Assignment, folder: Path) -> str:
    """The label grading.grade gives the sandbox of this submission."""
    return f"{assignment.id}-{folder.name}"


@pytest.fixture
def unique_submission(submission) -> Callable[..., Path]:
    """submission(...), in a folder whose name no other test session uses (the run label)."""

    def make(*args, **kwargs) -> Path:
        folder = submission(*args, **kwargs)
        return folder.rename(folder.with_name(f"{folder.name}-{secrets.token_hex(4)}"))

    return make


# ---- hostile submissions, on either backend -------------------------------------------------

def grader_trouble(report: GradeReport) -> list[str]:
    """The notes of a grading that did not finish: a grader error, a blown budget, no report."""
    return [n for n in report.notes if n.startswith("grader error") or "time budget" in n
            or "without a report" in n]


def check(report: GradeReport, check_id: str) -> CheckResult:
    return next(c for c in report.checks if c.id == check_id)


def failed_before_serving(report: GradeReport, verdict: str) -> CheckResult:
    """A SERVER_ONLY grading: the server check failed with `verdict` (the start of its
    feedback), and the sandbox recovered: the next check, which needs no server, passed."""
    failed = check(report, "sums_rounds")
    assert failed.status is Status.FAILED
    assert failed.feedback.startswith(verdict), failed.feedback
    assert check(report, "client_no_server").passed
    return failed


@pytest.fixture
def backend() -> str:
    """The backend `hostile` grades on; a test runs on both with @both_backends."""
    return "local"


@pytest.fixture
def hostile(request, backend, small_assignment1, unique_submission, bystanders, left_behind):
    """hostile(tests/submissions name, check ids, **limits) -> the report of those checks,
    graded on `backend`.

    Asserts the grading survived: a finished run (no grader error, no blown budget, a report
    with every check asked and none an error), the grader and unrelated processes alive,
    nothing left behind on the host; in docker also no container left and no note at all.
    """
    containers = request.getfixturevalue("containers") if backend == "docker" else None

    def run(name: str, checks: Iterable[str], **limits) -> GradeReport:
        folder = unique_submission(name)
        assignment = small_assignment1(**limits)
        report = grade(assignment, folder, backend, only=frozenset(checks))
        assert report.backend == backend
        assert grader_trouble(report) == []
        assert report.build.ok, report.build.log
        assert [c.id for c in report.checks] == list(checks)
        assert [c.id for c in report.checks if c.status is Status.ERROR] == []
        assert bystanders() == []
        assert left_behind(folder) == []
        if containers is not None:
            assert report.notes == []
            assert containers(run_name(assignment, folder)) == []
        return report

    return run
