"""Memory limits that name themselves: a memory cgroup for student code, and its OOM count.

An address-space rlimit makes malloc() return NULL, and the program then crashes somewhere
unrelated: "killed by SIGSEGV" teaches nothing. A memory cgroup instead lets the program
use memory until the limit, then the kernel's OOM killer stops it and counts the kill, so a
check can say "killed: memory limit (256 MiB) exceeded".

Where it comes from:
  - as root with a writable cgroup filesystem (the local sandbox): a cgroup of its own per
    grading run, limited to exactly the assignment's memory; student processes join it;
  - in a container (the docker backend): the container's cgroup, whose limit docker set;
  - elsewhere: none, and the rlimit on address space stays the limit.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

V1 = Path("/sys/fs/cgroup/memory")
BUILD = "-build"  # the build's cgroup is the run's name + BUILD (grader/build.py)
V2 = Path("/sys/fs/cgroup")  # unified hierarchy: only read (a container's own limit)


@dataclass(frozen=True)
class MemoryCgroup:
    path: Path
    own: bool  # created for this run: student processes must join it, and it is removed after

    @classmethod
    def create(cls, name: str, limit_bytes: int) -> MemoryCgroup | None:
        """A new cgroup `ipc-grader/<name>` limited to `limit_bytes` (memory + swap).

        cgroup v1 only (what this project's machines run); under v2 the container's own
        limit or the address-space rlimit applies."""
        path = V1 / "ipc-grader" / name
        try:
            path.mkdir(parents=True)
            (path / "memory.limit_in_bytes").write_text(str(limit_bytes))
            with contextlib.suppress(FileNotFoundError):  # no swap accounting: fine
                (path / "memory.memsw.limit_in_bytes").write_text(str(limit_bytes))
        except OSError:
            with contextlib.suppress(OSError):
                path.rmdir()
            return None
        return cls(path, own=True)

    @classmethod
    def current(cls) -> MemoryCgroup | None:
        """The cgroup this process is in, if it is limited (inside a container)."""
        for root in (V1, V2):
            events = root / ("memory.oom_control" if root == V1 else "memory.events")
            limit = root / ("memory.limit_in_bytes" if root == V1 else "memory.max")
            with contextlib.suppress(OSError, ValueError):
                value = limit.read_text().strip()
                if events.is_file() and value != "max" and int(value) < 2**62:
                    return cls(root, own=False)
        return None

    def join_prefix(self) -> list[str]:
        """argv prefix with which a program enters this cgroup before it execs (run as root,
        before privileges are dropped)."""
        if not self.own:
            return []
        procs = self.path / "cgroup.procs"
        return ["sh", "-c", f'echo $$ > {procs} && exec "$@"', "sh"]

    def oom_kills(self) -> int:
        """How many processes the OOM killer has stopped in this cgroup so far."""
        for name in ("memory.oom_control", "memory.events"):
            with contextlib.suppress(OSError):
                for line in (self.path / name).read_text().splitlines():
                    key, _, value = line.partition(" ")
                    if key == "oom_kill":
                        return int(value)
        return 0

    @staticmethod
    def all() -> list[str]:
        """The names of the run (and build) cgroups that exist."""
        with contextlib.suppress(OSError):
            return [p.name for p in (V1 / "ipc-grader").iterdir() if p.is_dir()]
        return []

    @staticmethod
    def remove(name: str) -> None:
        """Remove the run cgroup `name`, and its build's (`name` + BUILD), once their
        processes are gone (the sandbox's destroy: a grading killed mid-build leaves both)."""
        for group in (f"{name}{BUILD}", name):
            with contextlib.suppress(OSError):
                (V1 / "ipc-grader" / group).rmdir()
