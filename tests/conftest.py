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
import json
import os
import secrets
import select
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import yaml

from grader.assignment import ROOT, Assignment, load_assignment
from grader.grading import grade
from grader.memory import BUILD, V1
from grader.report import CheckResult, GradeReport, Status
from grader.sandbox.docker import LABEL, STUDENT_UIDS, image_name
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

    It holds the files of tests/submissions/<name>/ (if given; `hostile/fork_bomb` names a
    folder below) plus `files` (name -> text), and the reference's server.c and client.c for
    whichever of them is still missing (a link, even a dangling one, is not missing), also
    as reference_server.inc and reference_client.inc for sources that #include the
    reference's. No Makefile unless given: the default compile rule builds it. A marker file
    lets the leftover checks recognise this submission's run folder.
    """
    count = 0

    def make(name: str | None = None, *, files: dict[str, str] | None = None,
             makefile: bool = False) -> Path:
        nonlocal count
        count += 1
        folder = tmp_path / f"{Path(name).name if name else 'submission'}-{count}"
        if name is not None:
            shutil.copytree(SUBMISSIONS / name, folder, symlinks=True)
        else:
            folder.mkdir()
        for file, text in (files or {}).items():
            (folder / file).write_text(text)
        for program in ("server", "client"):
            if not os.path.lexists(folder / f"{program}.c"):
                shutil.copy(reference1 / f"{program}.c", folder)
        shutil.copy(reference1 / "server.c", folder / "reference_server.inc")
        shutil.copy(reference1 / "client.c", folder / "reference_client.inc")
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


def _processes() -> Iterator[tuple[str, dict[str, str]]]:
    """(pid, the fields of /proc/PID/status) of every live process (zombies left out)."""
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines()
                          if ":\t" in line)
        except OSError:
            continue
        if not fields.get("State", "").startswith(("Z", "X")):
            yield status.parent.name, fields


def _docker_uids_in_use() -> set[int]:
    """The student uids of our containers that exist now (any state)."""
    done = subprocess.run(["docker", "ps", "-a", "--filter", f"label={LABEL}", "--format",
                           f'{{{{.Label "{LABEL}.uid"}}}}'], capture_output=True, text=True,
                          check=False)
    return {int(u) for u in done.stdout.split() if u.isdigit()}


def sandbox_processes(settle: float = 3.0) -> list[str]:
    """Live processes of gradings on a sandbox uid that no running grading holds: a local
    uid no grading has locked, or a docker student uid no container of ours has.

    A grading torn down right now (another test's, killed or interrupted) releases its uid
    while its processes are still dying: a process is only counted if it is still there
    after `settle` seconds. A leftover stays; a dying process is gone in milliseconds."""
    found = _sandbox_processes()
    deadline = time.monotonic() + settle
    while found and time.monotonic() < deadline:
        time.sleep(0.1)
        found = [f for f in _sandbox_processes() if f in found]
    return found


def _sandbox_processes() -> list[str]:
    found, docker_pids = [], []
    for pid, fields in _processes():
        uids = {int(u) for u in fields.get("Uid", "").split()}
        shown = f"pid {pid} uid {'/'.join(sorted(map(str, uids)))} " \
                f"{fields.get('Name', '?')} state {fields.get('State', '?')}"
        if any(_uid_free(uid) for uid in uids & set(UIDS)) and _from_a_grading(pid):
            found.append(shown)
        if uids & set(STUDENT_UIDS):
            docker_pids.append((pid, uids, shown))
    if docker_pids:  # a container being removed right now: its processes are dying with it
        in_use = _docker_uids_in_use()
        found += [shown for pid, uids, shown in docker_pids
                  if not uids & in_use and os.path.exists(f"/proc/{pid}")]
    return found


def sandbox_uid(uid: int) -> bool:
    return uid in UIDS or uid in STUDENT_UIDS


def _sandbox_owned(path: Path) -> bool:
    try:
        uid = path.lstat().st_uid
    except OSError:
        return False
    return (uid in UIDS and _uid_free(uid)) or uid in STUDENT_UIDS


HOSTILE_KEY = 0x14141414  # the SysV key of tests/submissions/hostile/ipc_leftovers


def host_ipc_objects() -> list[str]:
    """IPC objects of the host's own IPC namespace that a grading made: owned by a sandbox
    uid, or named or keyed as the hostile submissions name theirs (POSIX queues, shared
    memory and semaphores; SysV shared memory, semaphores and queues). Gradings have IPC
    namespaces of their own: none may ever show here."""
    found = []
    for entry in Path("/dev/shm").iterdir():
        with contextlib.suppress(OSError):
            if sandbox_uid(entry.lstat().st_uid) or "hostile" in entry.name:
                found.append(f"/dev/shm/{entry.name} (uid {entry.lstat().st_uid})")
    # The host's message queues: mqueue mounted in a mount namespace of its own, so that
    # looking changes nothing on the host, and on a folder of its own, since the host may
    # have mounted it on /dev/mqueue already (systemd does), where a second mount fails.
    listing = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                              'look=$(mktemp -d) && trap \'umount "$look"; rmdir "$look"\' '
                              'EXIT && mount -t mqueue mqueue "$look" && ls -n "$look"'],
                             capture_output=True, text=True, check=False)
    assert listing.returncode == 0, f"cannot list the host's message queues: {listing.stderr}"
    for line in listing.stdout.splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 9 and (sandbox_uid(int(fields[2])) or "hostile" in fields[8]):
            found.append(f"message queue /{fields[8]} (uid {fields[2]})")
    for kind, uid_column in (("shm", 7), ("sem", 4), ("msg", 7)):
        rows = Path(f"/proc/sysvipc/{kind}").read_text().splitlines()[1:]
        for row in rows:
            fields = row.split()
            if int(fields[0]) == HOSTILE_KEY or sandbox_uid(int(fields[uid_column])):
                found.append(f"SysV {kind} key {int(fields[0]):#x} id {fields[1]} "
                             f"uid {fields[uid_column]}")
    return found


def grader_mounts() -> list[str]:
    """Mounts under the local sandbox's folder in the host's mount namespace: a grading mounts
    only in a namespace of its own, so any here is one that escaped."""
    return [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()
            if line.split()[4].startswith(f"{RUNS}/")]


def orphaned_cgroups() -> list[str]:
    """Memory cgroups of local gradings whose run folder is gone."""
    parent = V1 / "ipc-grader"
    if not parent.is_dir():
        return []
    return [str(group) for group in parent.iterdir() if group.is_dir() and
            not (RUNS / "runs" / group.name.removesuffix(BUILD)).exists()]


def leftovers(folder: Path) -> list[str]:
    """Whatever the grading of `folder` left behind on this machine: processes, its run
    folder, files of a sandbox user in the temp folders, IPC objects, mounts, cgroups."""
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
            if _sandbox_owned(entry) or entry.name.startswith("hostile"):
                kind = "socket" if entry.is_socket() else "file"
                found.append(f"{kind} of a sandbox user: {entry}")
    found += host_ipc_objects()
    found += [f"mount {point}" for point in grader_mounts()]
    found += [f"memory cgroup {group}" for group in orphaned_cgroups()]
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


class Listeners:
    """A TCP, a UDP and a DNS (UDP) listener on the host's 127.0.0.1, outside every sandbox,
    recording whatever reaches them. Hostile code is told their ports (ports.h, ports.mk in
    its folder) and aims at them: nothing may ever arrive."""

    def __init__(self) -> None:
        self.arrived: list[str] = []
        self.tcp = socket.create_server(("127.0.0.1", 0))
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.dns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for udp in (self.udp, self.dns):
            udp.bind(("127.0.0.1", 0))
        self.ports = {name: sock.getsockname()[1] for name, sock in
                      (("TCP_PORT", self.tcp), ("UDP_PORT", self.udp), ("DNS_PORT", self.dns))}
        self._open = True
        self._thread = threading.Thread(target=self._listen, daemon=True)
        self._thread.start()

    def _listen(self) -> None:
        sockets = [self.tcp, self.udp, self.dns]
        while self._open:
            ready, _, _ = select.select(sockets, [], [], 0.05)
            for sock in ready:
                if sock is self.tcp:
                    conn, peer = sock.accept()
                    conn.settimeout(0.5)
                    with contextlib.suppress(OSError):
                        data = conn.recv(4096)
                    conn.close()
                    self.arrived.append(f"tcp connection from {peer}: {data!r}")
                else:
                    data, peer = sock.recvfrom(4096)
                    self.arrived.append(f"datagram to {sock.getsockname()[1]} from {peer}: "
                                        f"{data!r}")

    def tell(self, folder: Path) -> None:
        """Write the ports into `folder` as ports.h (C) and ports.mk (make)."""
        (folder / "ports.h").write_text("".join(f"#define {name} {port}\n"
                                                for name, port in self.ports.items()))
        (folder / "ports.mk").write_text("".join(f"{name} = {port}\n"
                                                 for name, port in self.ports.items()))

    def close(self) -> list[str]:
        """Stop listening; what arrived."""
        self._open = False
        self._thread.join()
        for sock in (self.tcp, self.udp, self.dns):
            sock.close()
        return self.arrived


@pytest.fixture
def listeners() -> Iterator[Listeners]:
    listening = Listeners()
    yield listening
    listening.close()


SECRET_VARIABLE = "IPC_GRADER_WEBHOOK_SECRET"  # as `grade serve` would hold one


@pytest.fixture(scope="session")
def grader_secrets(snapshot) -> dict[str, list[str]]:
    """What no report of student code may ever hold, by where it comes from: distinctive
    lines of the reference sources, of checks.py (its lines with no string in them: a
    check's messages belong in reports) and of another submission; and the value of a
    secret in the grader's environment (set by `hostile`)."""

    def distinctive(path: Path, strings: bool = True) -> list[str]:
        lines = {line.strip() for line in path.read_text().splitlines()}
        return sorted(line for line in lines if len(line) >= 30
                      and (strings or not ({'"', "'"} & set(line))))

    reference = snapshot / "reference" / "assignment1"
    return {
        "reference source": distinctive(reference / "server.c")
        + distinctive(reference / "client.c"),
        "checks.py": distinctive(snapshot / "assignments" / "assignment1" / "checks.py",
                                 strings=False),
        "another submission": [*distinctive(SUBMISSIONS / "shared_source" / "common.c"),
                               NEIGHBOUR_SECRET],
        "the grader's environment": [SECRET_VALUE],
    }


SECRET_VALUE = f"whsec-{secrets.token_hex(12)}"
NEIGHBOUR_SECRET = f"neighbour-secret-{secrets.token_hex(12)}"


def leaked(report: GradeReport, forbidden: dict[str, list[str]]) -> list[str]:
    """The forbidden strings found in the report: in its JSON text, or in any of its texts
    decoded (JSON escapes quotes and newlines)."""
    text = report.to_json()
    decoded = "\n".join(_strings(json.loads(text)))
    return [f"{where}: {line!r}" for where, lines in forbidden.items() for line in lines
            if line in text or line in decoded]


def _strings(value) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


@contextlib.contextmanager
def neighbour(backend: str, folder: Path) -> Iterator[None]:
    """Another submission (shared_source and a secret file) in a sandbox of `backend` that
    lives while the block runs, as in a class graded at once."""
    shutil.copytree(SUBMISSIONS / "shared_source", folder)
    (folder / "secret.c").write_text(f"/* {NEIGHBOUR_SECRET} */\n")
    from grader.sandbox import make_sandbox

    with make_sandbox(backend, name=f"neighbour-{secrets.token_hex(4)}") as box:
        box.copy_in(folder, "submission")
        if backend == "docker":
            assert box.run(["true"], timeout=60).exit_code == 0  # unpacks the copy
        yield


@pytest.fixture
def hostile(request, backend, small_assignment1, unique_submission, bystanders, left_behind,
            listeners, grader_secrets, monkeypatch, tmp_path):
    """hostile(tests/submissions name, check ids, *, build_ok=True, prepare=None,
    neighbour=False, **limits) -> the report of those checks, graded on `backend`.

    The submission's folder gets ports.h and ports.mk (the `listeners`), then `prepare`
    (folder, assignment) may add to it; with `neighbour`, another submission is in a sandbox
    of its own meanwhile. Asserts the grading survived and held:
      - a finished run: no grader error, no blown budget, a report with every check asked
        and none an error, the build as expected;
      - the grader and unrelated processes alive;
      - nothing leaked: no line of the reference, checks.py or another submission, no secret
        of the grader's environment in the report (grader_secrets), nothing reached the
        listeners;
      - nothing left behind on the host (leftovers: processes, run folder, temp files, IPC
        objects, mounts, cgroups); in docker, no container left and no note at all;
      - the next grading unaffected: the reference, graded right after on the same backend
        with the same checks and limits, gets full marks and leaves nothing either.
    """
    containers = request.getfixturevalue("containers") if backend == "docker" else None
    monkeypatch.setenv(SECRET_VARIABLE, SECRET_VALUE)

    def graded(assignment: Assignment, folder: Path, checks: list[str],
               build_ok: bool = True) -> GradeReport:
        report = grade(assignment, folder, backend, only=frozenset(checks))
        assert report.backend == backend
        assert grader_trouble(report) == []
        assert report.build.ok is build_ok, report.build.log
        assert [c.id for c in report.checks] == checks
        assert [c.id for c in report.checks if c.status is Status.ERROR] == []
        assert bystanders() == []
        assert left_behind(folder) == []
        if containers is not None:
            assert report.notes == []
            assert containers(run_name(assignment, folder)) == []
        return report

    def run(name: str, checks: Iterable[str], *, build_ok: bool = True,
            prepare: Callable[[Path, Assignment], None] | None = None,
            neighbour_too: bool = False, **limits) -> GradeReport:
        checks = list(checks)
        folder = unique_submission(name)
        listeners.tell(folder)
        assignment = small_assignment1(**limits)
        if prepare is not None:
            prepare(folder, assignment)
        with (neighbour(backend, tmp_path / f"neighbour-{folder.name}") if neighbour_too
              else contextlib.nullcontext()):
            report = graded(assignment, folder, checks, build_ok)
        assert leaked(report, grader_secrets) == []
        assert listeners.arrived == []
        after = graded(assignment, unique_submission(), checks)
        assert after.full_marks, [(c.id, c.feedback) for c in after.checks if not c.passed]
        return report

    return run
