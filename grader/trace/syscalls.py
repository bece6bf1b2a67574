"""What the tracer knows about system calls: argument names, libc aliases, fd bookkeeping.

Checks are written by people who think in libc calls (`select`, `mq_send`, `pipe`, `mkfifo`),
while strace shows kernel system calls (`pselect6`, `mq_timedsend`, `pipe2`,
`mknodat(..., S_IFIFO|...)`). One table here maps the first to the second, and both the
command builder (what to trace) and the Trace queries (what to look for) use it, so a check
that traces "mq_send" also finds it. Argument names let a check say
`used("socket", domain="AF_UNIX")` instead of counting positions, and are resolved per
kernel call, so `pathname=` works for `open` and for `openat` alike.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from grader.trace.events import Syscall

# Argument names in the order strace prints them (x86_64 kernel order, man 2 names).
ARG_NAMES: dict[str, tuple[str, ...]] = {
    # sockets
    "socket": ("domain", "type", "protocol"),
    "socketpair": ("domain", "type", "protocol", "sv"),
    "bind": ("sockfd", "addr", "addrlen"),
    "connect": ("sockfd", "addr", "addrlen"),
    "listen": ("sockfd", "backlog"),
    "accept": ("sockfd", "addr", "addrlen"),
    "accept4": ("sockfd", "addr", "addrlen", "flags"),
    "getsockname": ("sockfd", "addr", "addrlen"),
    "getpeername": ("sockfd", "addr", "addrlen"),
    "sendto": ("sockfd", "buf", "len", "flags", "dest_addr", "addrlen"),
    "recvfrom": ("sockfd", "buf", "len", "flags", "src_addr", "addrlen"),
    "sendmsg": ("sockfd", "msg", "flags"),
    "recvmsg": ("sockfd", "msg", "flags"),
    "shutdown": ("sockfd", "how"),
    "setsockopt": ("sockfd", "level", "optname", "optval", "optlen"),
    "getsockopt": ("sockfd", "level", "optname", "optval", "optlen"),
    # file descriptors
    "read": ("fd", "buf", "count"),
    "write": ("fd", "buf", "count"),
    "pread64": ("fd", "buf", "count", "offset"),
    "pwrite64": ("fd", "buf", "count", "offset"),
    "readv": ("fd", "iov", "iovcnt"),
    "writev": ("fd", "iov", "iovcnt"),
    "open": ("pathname", "flags", "mode"),
    "openat": ("dirfd", "pathname", "flags", "mode"),
    "openat2": ("dirfd", "pathname", "how", "size"),
    "creat": ("pathname", "mode"),
    "close": ("fd",),
    "close_range": ("first", "last", "flags"),
    "dup": ("oldfd",),
    "dup2": ("oldfd", "newfd"),
    "dup3": ("oldfd", "newfd", "flags"),
    "pipe": ("pipefd",),
    "pipe2": ("pipefd", "flags"),
    "fcntl": ("fd", "cmd", "arg"),
    "ioctl": ("fd", "request", "arg"),
    "lseek": ("fd", "offset", "whence"),
    "ftruncate": ("fd", "length"),
    "unlink": ("pathname",),
    "unlinkat": ("dirfd", "pathname", "flags"),
    "mknod": ("pathname", "mode", "dev"),
    "mknodat": ("dirfd", "pathname", "mode", "dev"),
    "eventfd2": ("initval", "flags"),
    "memfd_create": ("name", "flags"),
    # memory and System V IPC
    "mmap": ("addr", "length", "prot", "flags", "fd", "offset"),
    "munmap": ("addr", "length"),
    "shmget": ("key", "size", "shmflg"),
    "shmat": ("shmid", "shmaddr", "shmflg"),
    "shmdt": ("shmaddr",),
    "shmctl": ("shmid", "cmd", "buf"),
    "semget": ("key", "nsems", "semflg"),
    "semop": ("semid", "sops", "nsops"),
    "semtimedop": ("semid", "sops", "nsops", "timeout"),
    "semctl": ("semid", "semnum", "cmd", "arg"),
    "msgget": ("key", "msgflg"),
    "msgsnd": ("msqid", "msgp", "msgsz", "msgflg"),
    "msgrcv": ("msqid", "msgp", "msgsz", "msgtyp", "msgflg"),
    "msgctl": ("msqid", "cmd", "buf"),
    # POSIX message queues (strace shows mq_open's name without its leading '/')
    "mq_open": ("name", "oflag", "mode", "attr"),
    "mq_unlink": ("name",),
    "mq_timedsend": ("mqdes", "msg_ptr", "msg_len", "msg_prio", "abs_timeout"),
    "mq_timedreceive": ("mqdes", "msg_ptr", "msg_len", "msg_prio", "abs_timeout"),
    "mq_notify": ("mqdes", "sevp"),
    "mq_getsetattr": ("mqdes", "newattr", "oldattr"),
    # signals and time
    "kill": ("pid", "sig"),
    "tkill": ("tid", "sig"),
    "tgkill": ("tgid", "tid", "sig"),
    "rt_sigqueueinfo": ("tgid", "sig", "info"),
    "rt_tgsigqueueinfo": ("tgid", "tid", "sig", "info"),
    "rt_sigaction": ("signum", "act", "oldact", "sigsetsize"),
    "rt_sigprocmask": ("how", "set", "oldset", "sigsetsize"),
    "rt_sigsuspend": ("mask", "sigsetsize"),
    "rt_sigtimedwait": ("set", "info", "timeout", "sigsetsize"),
    "signalfd4": ("fd", "mask", "sizemask", "flags"),
    "alarm": ("seconds",),
    "setitimer": ("which", "new_value", "old_value"),
    "nanosleep": ("req", "rem"),
    "clock_nanosleep": ("clockid", "flags", "request", "remain"),
    # multiplexing
    "select": ("nfds", "readfds", "writefds", "exceptfds", "timeout"),
    "pselect6": ("nfds", "readfds", "writefds", "exceptfds", "timeout", "sigmask"),
    "poll": ("fds", "nfds", "timeout"),
    "ppoll": ("fds", "nfds", "tmo_p", "sigmask"),
    "epoll_create1": ("flags",),
    "epoll_ctl": ("epfd", "op", "fd", "event"),
    "epoll_wait": ("epfd", "events", "maxevents", "timeout"),
    "epoll_pwait": ("epfd", "events", "maxevents", "timeout", "sigmask"),
    # processes
    "wait4": ("pid", "wstatus", "options", "rusage"),
    "waitid": ("idtype", "id", "infop", "options", "rusage"),
    "execve": ("pathname", "argv", "envp"),
    "exit": ("status",),
    "exit_group": ("status",),
    "setpgid": ("pid", "pgid"),
}


def _path_arg(call: Syscall) -> bytes:
    path = call.argument("pathname")
    return path if isinstance(path, bytes) else b""


def _not_thread(call: Syscall) -> bool:
    return "CLONE_THREAD" not in call.args_text


Predicate = Callable[["Syscall"], bool]

# libc name -> (the kernel calls strace shows for it, an extra test on the call or None).
ALIASES: dict[str, tuple[tuple[str, ...], Predicate | None]] = {
    "pipe": (("pipe", "pipe2"), None),
    "select": (("select", "pselect6"), None),
    "poll": (("poll", "ppoll"), None),
    "accept": (("accept", "accept4"), None),
    "send": (("sendto",), None),
    "recv": (("recvfrom",), None),
    "open": (("open", "openat", "openat2"), None),
    "unlink": (("unlink", "unlinkat"), lambda c: "AT_REMOVEDIR" not in c.args_text),
    "mkfifo": (("mknod", "mknodat"), lambda c: "S_IFIFO" in c.args_text),
    "mq_send": (("mq_timedsend",), None),
    "mq_receive": (("mq_timedreceive",), None),
    "semop": (("semop", "semtimedop"), None),
    "wait": (("wait4", "waitid"), None),
    "waitpid": (("wait4", "waitid"), None),
    "fork": (("fork", "vfork", "clone", "clone3"), _not_thread),
    "sigaction": (("rt_sigaction",), None),
    "signal": (("rt_sigaction",), None),
    "sigprocmask": (("rt_sigprocmask",), None),
    "sigsuspend": (("rt_sigsuspend",), None),
    "sigwait": (("rt_sigtimedwait",), None),
    "sigwaitinfo": (("rt_sigtimedwait",), None),
    "sigtimedwait": (("rt_sigtimedwait",), None),
    "sigqueue": (("rt_sigqueueinfo",), None),
    "raise": (("tgkill",), None),
    "sleep": (("clock_nanosleep", "nanosleep"), None),
    "usleep": (("clock_nanosleep", "nanosleep"), None),
    "epoll_create": (("epoll_create", "epoll_create1"), None),
    "epoll_wait": (("epoll_wait", "epoll_pwait"), None),
    "eventfd": (("eventfd", "eventfd2"), None),
    "shm_open": (("openat",), lambda c: _path_arg(c).startswith(b"/dev/shm/")
                 and not _path_arg(c).startswith(b"/dev/shm/sem.")),
    "shm_unlink": (("unlink",), lambda c: _path_arg(c).startswith(b"/dev/shm/")),
    "sem_open": (("openat",), lambda c: _path_arg(c).startswith(b"/dev/shm/sem.")),
    "sem_unlink": (("unlink",), lambda c: _path_arg(c).startswith(b"/dev/shm/sem.")),
}

# First argument of a libc name whose kernel calls do not start with it (for "open /x" specs).
LIBC_ARG_NAMES: dict[str, tuple[str, ...]] = {
    "open": ("pathname", "flags", "mode"),
    "unlink": ("pathname",),
    "mkfifo": ("pathname", "mode"),
    "shm_open": ("pathname", "flags", "mode"),
    "sem_open": ("pathname", "flags", "mode"),
    "shm_unlink": ("pathname",),
    "sem_unlink": ("pathname",),
}


def kernel_names(name: str) -> tuple[str, ...]:
    """The names strace prints for a libc or kernel call name."""
    alias = ALIASES.get(name)
    return alias[0] if alias else (name,)


def arg_names(name: str) -> tuple[str, ...]:
    """Argument names of a libc or kernel call ("" tuple when unknown)."""
    return LIBC_ARG_NAMES.get(name) or ARG_NAMES.get(kernel_names(name)[0], ())


# Calls whose non-negative result is a new file descriptor. fcntl only for F_DUPFD*.
RETURNS_FD = frozenset({
    "open", "openat", "openat2", "creat", "socket", "accept", "accept4", "dup", "dup2", "dup3",
    "fcntl", "epoll_create", "epoll_create1", "eventfd", "eventfd2", "signalfd", "signalfd4",
    "timerfd_create", "inotify_init", "inotify_init1", "memfd_create", "mq_open",
    "pidfd_open", "pidfd_getfd", "userfaultfd", "fanotify_init", "perf_event_open",
    "open_by_handle_at",
})

# Calls that fill an fd pair argument: name -> index of the `[r, w]` argument.
FD_PAIR_ARG: dict[str, int] = {"pipe": 0, "pipe2": 0, "socketpair": 3}

# Always traced, whatever a check asks for: the Trace model needs them to tell threads from
# processes, children from strangers, to know which descriptors were closed and which IPC
# names removed (a query on an untraced call would silently answer "no"). They are rare
# calls, so with --seccomp-bpf they cost next to nothing.
BOOKKEEPING = ("execve", "execveat", "clone", "clone3", "fork", "vfork", "wait4", "waitid",
               "close", "close_range", "dup", "dup2", "dup3", "unlink", "unlinkat",
               "mq_unlink")

# Calls that send a signal: name -> (index of the target, index of the signal).
SENDS_SIGNAL: dict[str, tuple[int, int]] = {
    "kill": (0, 1), "tkill": (0, 1), "tgkill": (0, 2),
    "rt_sigqueueinfo": (0, 1), "rt_tgsigqueueinfo": (0, 2),
}
