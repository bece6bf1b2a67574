"""How student code is held: the user it runs as, its limits, its memory cgroup, and the
environment it starts with (a student's terminal: TERM set, a plain PATH).

A program's command line is `entry() + [strace ...] + prefix(cwd) + program`: the harness
side (joining the cgroup, strace) runs as the harness, then the program enters the jail
(grader/jail.py, where there is one), `prlimit` sets the limits, and only then does
`setpriv` drop to the student user and exec the program. So student code never owns its
tracer or its trace files, sees only what the jail shows, and no preexec_fn runs in a
threaded process.

Nothing runs as the student user before the program itself. Reference programs run as the
student user too, from binaries the student may execute but not read, so the kernel makes
them undumpable: student code cannot ptrace them or read their memory through /proc. A
launcher that ran as the student user before exec'ing one (`setpriv` first, then `env` and
`prlimit`, as this prefix once was) would be an ordinary process of that user for a
millisecond: a student program watching /proc attached to it, and so held the reference
program before it started (tests/submissions/hostile/ptrace_sibling). setpriv itself is not
such a launcher: its change of user makes it undumpable until it execs the program.

Reference programs. The kernel does not make a process undumpable for running a binary its
user may not read (measured on 6.18): a student program could read a running reference
program's code and data through /proc/PID/mem, or ptrace it. So reference programs run with
another effective group (REFERENCE_GID, the student's real group kept): a process whose
effective and real groups differ at exec is made undumpable, while it stays the student's
user for everything an assignment needs (signals between the two, IPC objects it creates).

Leftovers. A program that double-forks and calls setsid() leaves its process group, so
killing the group at the end of a check misses it. The harness is a child subreaper
(`become_subreaper`): such an orphan is re-parented to the harness that started its
ancestor, and `kill_leftovers` kills every student process whose parent is this harness.
Harnesses running checks side by side (concurrent checks) therefore never kill each
other's programs; `kill_everything` at the end of a grading run kills them all.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from grader import procfs
from grader.assignment import Limits
from grader.jail import Jail
from grader.memory import MemoryCgroup

DEFAULT_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
               "TERM": "xterm"}
"""What student code (its build and its programs) starts with: a terminal's basics. TERM is
set because Makefiles call `tput` and `clear`, which fail without it."""

_PR_SET_CHILD_SUBREAPER = 36
REFERENCE_GID = 65534  # nogroup: the effective group of reference programs (see above)


def become_subreaper() -> None:
    """Orphans of the programs this process starts come back to it (see the docstring)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


@dataclass(frozen=True)
class Confinement:
    """Resource limits, the user student code runs as (None: as we are), the memory cgroup
    that limits it (None: an address-space rlimit does), and the jail it sees the file system
    through (None: the whole of it, or the container's). `reference`: for the reference's
    programs (undumpable, see the module docstring)."""

    limits: Limits
    uid: int | None = None
    gid: int | None = None
    memory: MemoryCgroup | None = None
    jail: Jail | None = None
    reference: bool = False

    def entry(self) -> list[str]:
        """The harness-side start: into the memory cgroup, so everything after counts."""
        return self.memory.join_prefix() if self.memory else []

    def prefix(self, cwd: Path) -> list[str]:
        """The student-side start, in folder `cwd`: into the jail, set the limits, drop to the
        student user and exec (see the module docstring for why in this order)."""
        lim = self.limits
        # Our own cgroup limits exactly; a container's is shared with the harness, so there
        # the per-process rlimit stays and the container's limit is the backstop.
        exact = self.memory is not None and self.memory.own
        address_space = [] if exact else [f"--as={lim.memory_mib * 1024 * 1024}"]
        gid = self.uid if self.gid is None else self.gid
        groups = [f"--rgid={gid}", f"--egid={REFERENCE_GID}"] if self.reference else \
            [f"--regid={gid}"]
        drop = [] if self.uid is None else [
            "setpriv", f"--reuid={self.uid}", *groups, "--clear-groups", "--no-new-privs",
            "--"]
        jail = self.jail.prefix(cwd) if self.jail else []
        return [
            *jail,
            "env", "--default-signal",  # even if the grader was started with SIGINT ignored
            "prlimit",
            f"--cpu={lim.cpu_seconds}:{lim.cpu_seconds + 1}",  # soft: SIGXCPU, a verdict
            *address_space,
            f"--nproc={lim.processes}",
            f"--nofile={lim.open_files}",
            f"--fsize={lim.file_mib * 1024 * 1024}",
            "--core=0",
            "--",
            *drop,
        ]

    def processes_at_limit(self) -> bool:
        """True when the student user runs as many tasks as RLIMIT_NPROC allows (a fork loop).

        Only knowable when student code has a user id of its own."""
        if self.uid is None:
            return False
        count = sum(procfs.uid_of(task) == self.uid for task in procfs.tasks())
        return count >= self.limits.processes

    def kill_leftovers(self) -> None:
        """Kill the student processes re-parented to this harness (daemons that left their
        process group), until none is left, and reap them."""
        if self.uid is None:
            return
        me = str(os.getpid())
        for _ in range(100):  # a forking daemon may add children while we look
            found = []
            for task in procfs.tasks():
                if task.name != task.parent.parent.name:  # threads: their process counts
                    continue
                fields = procfs.stat_fields(task)
                if fields and fields[1] == me and procfs.uid_of(task) == self.uid:
                    found.append(int(task.name))
            if not found:
                return
            for pid in found:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            for pid in found:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, 0)

    def kill_everything(self) -> None:
        """Kill every process of the student user: the end of a grading run."""
        if self.uid is not None:
            kill_all_of(self.uid, self.gid)


def remove_tree(path: Path) -> None:
    """Remove a folder student code wrote in, whatever it left there. shutil.rmtree recurses
    once per level and raises RecursionError (ignore_errors or not) on a tree a few thousand
    folders deep, which a student program makes in a second (hostile/mode_change): then
    `rm -rf`, which does not recurse, does it."""
    try:
        shutil.rmtree(path, ignore_errors=True)
    except RecursionError:
        subprocess.run(["rm", "-rf", "--one-file-system", "--", str(path)],
                       stderr=subprocess.DEVNULL, check=False)


def kill_all_of(uid: int, gid: int | None = None) -> None:
    """Kill every process of user `uid`: `kill -KILL -1` run as that user, which reaches
    exactly its processes (and cannot be dodged by leaving a group or a session)."""
    subprocess.run(["kill", "-KILL", "-1"], user=uid, group=uid if gid is None else gid,
                   extra_groups=[], stderr=subprocess.DEVNULL, check=False)
