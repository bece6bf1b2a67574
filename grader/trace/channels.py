"""Every way two processes can pass data, as a trace shows it: the question "did the data
travel only by the channel this assignment is about?".

A message-queue chat that secretly uses a file, a signals assignment whose client reads the
server's /proc/PID/mem, a shared-memory pipe that also opens a FIFO: each assignment allows
one kind of channel and forbids the others, so the kinds are listed once, here.

    server = student.spawn("server", trace=CHANNEL_TRACE)
    ...
    if other := other_channels(server.trace, allow={"mqueue"}):
        raise Failure(f"your chat used {other[0].short()}: ...")
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from grader.trace.events import Syscall
from grader.trace.model import Trace

CHANNEL_TRACE = ("%net,%ipc,%file,%desc,%memory,/^mq_,process_vm_writev,process_vm_readv,"
                 "ptrace,pidfd_getfd,pidfd_send_signal")
"""The strace set under which every kind of channel below is seen."""

KINDS = ("pipe", "socket", "mqueue", "shm", "sysv", "file", "process")
"""pipe: pipes and FIFOs; socket: sockets and socket pairs; mqueue: POSIX message queues;
shm: POSIX and System V shared memory, memfd and shared file mappings; sysv: System V
message queues and semaphores; file: regular files opened for writing; process: another
process's memory, descriptors or /proc files (process_vm_*, ptrace, pidfd_getfd)."""

_ANOTHER_PROCESS = re.compile(rb"/proc/(\d+)/(?:task/\d+/)?(?:cmdline|environ|mem|fd/)")


def other_channels(trace: Trace, allow: Iterable[str] = (),
                   sockets: Iterable[str] = ()) -> list[Syscall]:
    """The calls of `trace` that open a channel of a kind not in `allow` (see KINDS), oldest
    first. `sockets` lists socket domains that stay allowed (e.g. "AF_NETLINK", which
    glibc's mq_notify opens). Reading one's own /proc/PID files is not a channel; with
    "shm" allowed, neither is opening /dev/shm/NAME (what shm_open and sem_open do)."""
    allowed = set(allow)
    if unknown := allowed - set(KINDS):
        raise ValueError(f"unknown channel kind(s) {sorted(unknown)}; known: {KINDS}")
    found: list[Syscall] = []
    if "pipe" not in allowed:
        found += trace.never({"pipe", "mkfifo"})
    if "socket" not in allowed:
        found += [c for c in trace.calls("socket") if c.argument("domain") not in set(sockets)]
        found += trace.never({"socketpair"})
    if "mqueue" not in allowed:
        found += trace.never({"mq_open"})
    if "shm" not in allowed:
        found += trace.never({"shm_open", "shmget", "shmat", "memfd_create"})
        found += [c for c in trace.calls("mmap", ok=True)
                  if "MAP_SHARED" in c.args_text and c.value(4) != -1]
    if "sysv" not in allowed:
        found += trace.never({"msgget", "msgsnd", "msgrcv", "semget", "semop"})
    if "file" not in allowed:
        # With "shm" allowed, shm_open() and sem_open() (an open of /dev/shm/NAME for
        # writing) are the allowed channel, not a file written.
        shm_files = (b"/dev/shm/",) if "shm" in allowed else ()
        found += trace.files_written(allowed=(b"/dev/null", b"/dev/tty", *shm_files))
    if "process" not in allowed:
        found += trace.never({"process_vm_writev", "process_vm_readv", "ptrace",
                              "pidfd_getfd"})
        found += [c for c in trace.calls("open", ok=True) if _another_process(trace, c)]
    unique = {id(c): c for c in found}
    return sorted(unique.values(), key=lambda c: c.time)


def _another_process(trace: Trace, call: Syscall) -> bool:
    path = call.argument("pathname")
    match = _ANOTHER_PROCESS.match(path) if isinstance(path, bytes) else None
    return bool(match) and int(match.group(1)) not in trace.pids
