"""The local backend: a private folder, Linux namespaces, a throwaway user id, rlimits.

As root (a grading server, CI, a container), each run gets:
  - its own IPC, network, mount and PID namespaces (unshare): message queues, /dev/shm and
    SysV objects are private, there is no network but loopback, and when the run ends the
    kernel kills every process left in its PID namespace;
  - a user id of its own (62000-62999, allocated with a lock file), so RLIMIT_NPROC stops
    fork bombs and `kill -1` from student code reaches only its own processes;
  - a jail (grader/jail.py) in which student code sees the system read-only and its own
    folders, and writes only to small disks of its own (its build folder, the checks'
    folders, /tmp), which vanish with the run.
Without root, it tries the same namespaces inside a user namespace, and otherwise runs with
rlimits only, saying so once in the report.

A grading run does not outlive the grader: it gets SIGKILL when the thread that started it
ends (parent-death signal), however the grader ended, and with it every process of its PID
namespace. The run folder of a grader killed outright is removed by the next grading: each
folder is locked (flock) while its grading lives.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
from functools import cache
from pathlib import Path

from grader.confinement import kill_all_of, remove_tree
from grader.memory import BUILD, MemoryCgroup
from grader.sandbox.base import RunOutcome, Sandbox

RUNS = Path("/var/lib/ipc-grader")
UIDS = range(62000, 63000)
NAMESPACES = ["--ipc", "--net", "--mount", "--pid", "--fork", "--kill-child", "--mount-proc",
              "--propagation", "private"]
# Inside the new mount namespace: private /dev/shm and /dev/mqueue, loopback up.
PRELUDE = ("mount -t tmpfs -o mode=1777,size=64m tmpfs /dev/shm && mkdir -p /dev/mqueue && "
           "mount -t mqueue mqueue /dev/mqueue && { ip link set lo up 2>/dev/null || true; } && "
           'exec "$@"')
SWEPT = (Path("/tmp"), Path("/var/tmp"))


@cache
def isolation() -> tuple[list[str], str | None]:
    """The unshare prefix this machine allows, and a caveat when it is not the full one."""
    candidates = [
        (["unshare", *NAMESPACES], None),
        (["unshare", "--user", "--map-root-user", *NAMESPACES],
         "local sandbox: not root, so student code runs as you (namespaces via a user "
         "namespace; rlimits; no separate user id)"),
    ]
    for prefix, caveat in candidates:
        if os.geteuid() != 0 and "--user" not in prefix:
            continue
        probe = subprocess.run([*prefix, "sh", "-c", PRELUDE, "sh", "true"],
                               capture_output=True, check=False)
        if probe.returncode == 0:
            return [*prefix, "sh", "-c", PRELUDE, "sh"], caveat
    return [], ("local sandbox: this kernel allows no namespaces here, so student code "
                "runs with rlimits only (use --backend docker for isolation)")


class LocalSandbox(Sandbox):
    name = "local"

    def __init__(self) -> None:
        self.python = sys.executable
        self.notes: list[str] = []
        self.root: Path | None = None
        self.uid: int | None = None
        self._uid_lock = None
        self._root_lock: int | None = None

    def prepare(self) -> None:
        if os.geteuid() == 0:
            RUNS.mkdir(parents=True, exist_ok=True)
            (RUNS / "runs").mkdir(exist_ok=True)
            (RUNS / "runs").chmod(0o711)  # no user of this machine may list the runs
            _remove_orphaned_runs()
            new = Path(tempfile.mkdtemp(prefix="new-", dir=RUNS / "runs"))
            self._root_lock = _lock(new)  # locked before a sweep can see it as run-*
            self.root = new.rename(new.with_name(new.name.replace("new-", "run-", 1)))
            self.root.chmod(0o711)
            self.uid = self._allocate_uid()
        else:
            self.root = Path(tempfile.mkdtemp(prefix="ipc-grader-"))
        caveat = isolation()[1]
        if caveat:
            self.notes.append(caveat)

    def _allocate_uid(self) -> int:
        """A user id no other running grading holds: flock'ed files, released at destroy()."""
        locks = RUNS / "uids"
        locks.mkdir(exist_ok=True)
        uids = student_uids()
        for uid in uids:
            handle = open(locks / str(uid), "w")  # noqa: SIM115 (held until destroy)
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                continue
            self._uid_lock = handle
            return uid
        raise RuntimeError(f"all {len(uids)} sandbox user ids are in use")

    def copy_in(self, source: Path, name: str) -> None:
        shutil.copytree(source, self.root / name, symlinks=True, copy_function=_copy_file)
        (self.root / name).chmod(0o700)  # read by the harness only (it copies what it builds)

    def run(self, argv: list[str], timeout: float) -> RunOutcome:
        log = self.root / "grading.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(["setpriv", "--pdeathsig", "KILL", *isolation()[0], *argv],
                                    cwd=self.root, stdout=out,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True, env=harness_environment())
            try:
                code: int | None = proc.wait(timeout)
            except subprocess.TimeoutExpired:
                code = None
            finally:
                _kill_group(proc)
        return RunOutcome(code, log.read_text(errors="replace")[-4000:])

    def copy_out(self, name: str, dest: Path) -> bool:
        source = self.root / name
        if not source.is_file():
            return False
        shutil.copyfile(source, dest)
        return True

    def destroy(self) -> None:
        if self.uid is not None:
            kill_all_of(self.uid)
            self._sweep_temp_dirs()
        if self.root is not None:
            MemoryCgroup.remove(self.root.name)  # created by grader.inside, named after us
            remove_tree(self.root)
        if self._uid_lock is not None:
            self._uid_lock.close()
        if self._root_lock is not None:
            os.close(self._root_lock)

    def _sweep_temp_dirs(self) -> None:
        """Remove what student code left in shared temp folders, and say so."""
        left = []
        for folder in SWEPT:
            for entry in folder.iterdir():
                try:
                    owned = entry.lstat().st_uid == self.uid
                except OSError:
                    continue
                if owned:
                    left.append(str(entry))
                    if entry.is_dir() and not entry.is_symlink():
                        remove_tree(entry)
                    else:
                        entry.unlink(missing_ok=True)
        if left:
            self.notes.append(f"removed files your programs left behind: {', '.join(left[:5])}")


def student_uids() -> range:
    """The user ids student code runs as: UIDS, or GRADER_UIDS="FIRST-LAST". A grading
    container on a shared kernel (a Gradescope or PrairieLearn grader: `grade entrypoint`)
    takes a block of its own, as the docker backend does: the lock files above are the
    container's alone, RLIMIT_NPROC counts a uid's processes across every container of the
    machine, and a kill of all of a uid's processes from outside reaches them all."""
    first, _, last = os.environ.get("GRADER_UIDS", "").partition("-")
    if first.isdigit() and last.isdigit() and int(first) <= int(last):
        return range(int(first), int(last) + 1)
    return UIDS


HARNESS_ENV = ("PATH", "LANG", "LC_ALL", "GRADER_ROOT", "IPC_GRADER_TRACING", "VIRTUAL_ENV",
               "PYTHONPATH")
"""What the grading run inherits of the grader's environment: what it needs to start, and
nothing else (no keys, tokens or database URLs of a `grade serve`)."""


def harness_environment() -> dict[str, str]:
    kept = {name: os.environ[name] for name in HARNESS_ENV if name in os.environ}
    return {**kept, "PYTHONDONTWRITEBYTECODE": "1"}


def _copy_file(source: str, dest: str) -> None:
    """Copy a file of a submission with its mode and times, but never a set-user-ID or
    set-group-ID bit: copied by root, the file would be root's, and such a bit would make it
    a way to root on this machine for whoever reaches it. What is not a regular file (a FIFO,
    a socket, a device) is left out, as the docker backend does: copying a FIFO would wait
    for a writer for ever."""
    info = os.lstat(source)
    if not stat.S_ISREG(info.st_mode):
        return
    shutil.copyfile(source, dest, follow_symlinks=False)
    os.utime(dest, ns=(info.st_atime_ns, info.st_mtime_ns))
    os.chmod(dest, stat.S_IMODE(info.st_mode) & ~(stat.S_ISUID | stat.S_ISGID))


def _lock(folder: Path) -> int | None:
    """An exclusive flock on `folder`, held by the returned descriptor; None if taken."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _remove_orphaned_runs() -> None:
    """Remove the run folders (and memory cgroups) of gradings whose grader was killed, and
    memory cgroups whose run folder is gone (a cgroup lives within its run folder's life)."""
    for group in MemoryCgroup.all():
        if not (RUNS / "runs" / group.removesuffix(BUILD)).exists():
            MemoryCgroup.remove(group)
    for run in (RUNS / "runs").glob("run-*"):
        with contextlib.suppress(OSError):
            fd = _lock(run)
            if fd is None:
                continue  # a live grading holds it
            try:
                MemoryCgroup.remove(run.name)
                remove_tree(run)
            finally:
                os.close(fd)


def _kill_group(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
