"""Facts about running processes, read from /proc: what a check asks of a live program.

Processes come and go while we look, so every reader here survives a process (or one of its
threads) that exits mid-read: it is skipped, never an exception.

    tasks(pid)            /proc/PID/task/TID of each thread of a process (all: pid="*")
    states(pid)           the scheduler state letter of each thread ("S" sleeping, "R"...)
    group_in_states(...)  every thread of a process group in one of some states
    cpu_ns(pid)           CPU time used by all threads, in nanoseconds (schedstat: exact)
    wakeups(pid)          voluntary context switches of all threads: how often it slept
    open_fds(pid)         the file descriptors it holds
    pending_signals(pid)  the process-wide pending signal set, as a set of numbers
    sleeping_marks(pids)  context switches of programs that all sleep (None if one runs)
    shared_mappings(pid)  the /dev/shm files it has mapped MAP_SHARED
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path

SLEEPING = frozenset({"S", "D", "I"})
"""States of a thread that waits: a blocked call (S), uninterruptible I/O (D), idle (I)."""
GONE = frozenset({"Z", "X"})


def tasks(pid: int | str = "*") -> Iterator[Path]:
    """/proc/PID/task/TID of every thread of process `pid` (default: of every process).

    A process that is gone is skipped (Path.glob would raise FileNotFoundError for a folder
    that vanished between two steps of its walk)."""
    pids = [str(pid)] if pid != "*" else [p for p in os.listdir("/proc") if p.isdigit()]
    for each in pids:
        try:
            tids = os.listdir(f"/proc/{each}/task")
        except OSError:
            continue
        yield from (Path(f"/proc/{each}/task/{tid}") for tid in tids)


def stat_fields(task: Path) -> list[str] | None:
    """The fields of task/stat after the command name (which may hold spaces and ')')."""
    try:
        return (task / "stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def states(pid: int) -> list[str]:
    """The state letter of each live thread of `pid` ([] when the process is gone)."""
    found = [stat_fields(task) for task in tasks(pid)]
    return [f[0] for f in found if f]


def asleep(pid: int) -> bool:
    """True when every thread of `pid` waits in the kernel (a blocked call)."""
    found = states(pid)
    return bool(found) and all(s in SLEEPING for s in found)


def sleeping_marks(pids: list[int]) -> tuple[int, ...] | None:
    """If every thread of every process `pids` waits in the kernel, their context-switch
    counts (compare two to know that none ran in between); else None. Two programs that
    stay asleep with the same marks are waiting for each other: a lost wake-up."""
    if not all(asleep(pid) for pid in pids):
        return None
    return tuple(context_switches(pid) for pid in pids)


def group_in_states(pgid: int, wanted: set[str] | frozenset[str]) -> bool:
    """True when every thread of every process in group `pgid` is in one of `wanted`."""
    for task in tasks():
        fields = stat_fields(task)
        if fields and int(fields[2]) == pgid and fields[0] not in wanted:
            return False
    return True


def cpu_ns(pid: int) -> int:
    """CPU time used so far by all live threads of `pid`, in nanoseconds.

    From schedstat (the scheduler's own nanosecond count), not from the 10 ms ticks of
    /proc/PID/stat: over a short window, ticks make a verdict depend on luck."""
    total = 0
    for task in tasks(pid):
        with contextlib.suppress(OSError, ValueError, IndexError):
            total += int((task / "schedstat").read_text().split()[0])
    return total


def wakeups(pid: int) -> int:
    """Voluntary context switches of all live threads of `pid`: each is a thread going to
    sleep, so the count over an idle moment says how often the program woke up."""
    total = 0
    for task in tasks(pid):
        with contextlib.suppress(OSError):
            found = re.search(r"^voluntary_ctxt_switches:\s+(\d+)", (task / "status").read_text(),
                              re.M)
            total += int(found.group(1)) if found else 0
    return total


def context_switches(pid: int) -> int:
    """Voluntary and involuntary context switches of all live threads of `pid`."""
    total = 0
    for task in tasks(pid):
        with contextlib.suppress(OSError):
            total += sum(int(n) for n in re.findall(r"^(?:non)?voluntary_ctxt_switches:\s+(\d+)",
                                                     (task / "status").read_text(), re.M))
    return total


def open_fds(pid: int) -> list[int]:
    """The file descriptors process `pid` holds ([] when it is gone). A folder we may not
    read raises PermissionError: "none" would pass a leak check that saw nothing."""
    try:
        return sorted(int(fd) for fd in os.listdir(f"/proc/{pid}/fd"))
    except (FileNotFoundError, ProcessLookupError):
        return []


def pending_signals(pid: int) -> set[int]:
    """Signals pending for the whole process (where kill() puts them), as numbers."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return set()
    found = re.search(r"^ShdPnd:\s+([0-9a-f]+)", status, re.M)
    mask = int(found.group(1), 16) if found else 0
    return {bit + 1 for bit in range(64) if mask >> bit & 1}


def shared_mappings(pid: int, under: str = "/dev/shm/") -> list[str]:
    """The files under `under` that process `pid` has mapped shared (MAP_SHARED): its POSIX
    shared memory segments, once it has attached them ([] when it is gone). Paths are as the
    program sees them: in a jail (another root) /proc shows them under the jail's root, which
    is taken off; a file removed since (shm_unlink) still counts, without " (deleted)"."""
    try:
        lines = Path(f"/proc/{pid}/maps").read_text().splitlines()
        root = os.readlink(f"/proc/{pid}/root").rstrip("/")
    except OSError:
        return []
    found = []
    for line in lines:
        fields = line.split(maxsplit=5)
        if len(fields) < 6 or not fields[1].endswith("s"):
            continue
        path = fields[5].removesuffix(" (deleted)")
        if root and not path.startswith(root + "/"):
            continue
        path = path[len(root):]
        if path.startswith(under):
            found.append(path)
    return sorted(set(found))


def uid_of(task: Path) -> int | None:
    """The real user id a task runs as (None when it is gone)."""
    with contextlib.suppress(OSError):
        return task.stat().st_uid
    return None
