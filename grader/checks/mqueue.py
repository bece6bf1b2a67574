"""POSIX message queues as a check sees them: /dev/mqueue, and libc's mq_* through ctypes.

Each grading run has its own IPC namespace and /dev/mqueue, so what a check lists there is
what the programs it started (and the check itself) created.

    queue = Queue("/ipcg-1a2b3c4d-001")
    queue.exists(); queue.queued_bytes(); queue.attributes().mq_msgsize
    queue.send(b"five", priority=5)            # as some other sender would
    Queue.create("/q", maxmsg=10, msgsize=8192, owner=workdir)   # a leftover
    queues("/ipcg-1a2b3c4d-")                  # every queue whose name starts so
"""

from __future__ import annotations

import ctypes
import os
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from grader.failure import Failure

MQUEUE = Path("/dev/mqueue")


class _MqAttr(ctypes.Structure):
    _fields_ = [("mq_flags", ctypes.c_long), ("mq_maxmsg", ctypes.c_long),
                ("mq_msgsize", ctypes.c_long), ("mq_curmsgs", ctypes.c_long),
                ("reserved", ctypes.c_long * 4)]


@dataclass(frozen=True)
class Attributes:
    maxmsg: int
    msgsize: int
    curmsgs: int
    mode: int
    owner: int


@cache
def _librt() -> ctypes.CDLL:
    try:
        return ctypes.CDLL("librt.so.1", use_errno=True)
    except OSError:  # glibc >= 2.34 has mq_open in libc itself
        return ctypes.CDLL("libc.so.6", use_errno=True)


def _open(name: str, flags: int, *rest) -> int:
    fd = _librt().mq_open(name.encode(), flags, *rest)
    if fd < 0:
        raise OSError(ctypes.get_errno(), f"mq_open({name}): "
                                          f"{os.strerror(ctypes.get_errno())}")
    return fd


@dataclass(frozen=True)
class Queue:
    name: str  # "/alice": as programs name it, with its slash

    @property
    def path(self) -> Path:
        return MQUEUE / self.name.lstrip("/")

    def exists(self) -> bool:
        return self.path.exists()

    def queued_bytes(self) -> int:
        """QSIZE: the bytes of all messages waiting in the queue (-1 when it is gone)."""
        try:
            return int(re.search(r"QSIZE:(\d+)", self.path.read_text()).group(1))
        except (OSError, AttributeError):
            return -1

    def attributes(self) -> Attributes:
        """mq_maxmsg, mq_msgsize, mq_curmsgs (mq_getattr), and the file's mode and owner."""
        fd = _open(self.name, os.O_RDONLY | os.O_NONBLOCK)
        try:
            attr = _MqAttr()
            _librt().mq_getattr(fd, ctypes.byref(attr))
            st = os.fstat(fd)
        finally:
            os.close(fd)
        return Attributes(attr.mq_maxmsg, attr.mq_msgsize, attr.mq_curmsgs,
                          st.st_mode & 0o777, st.st_uid)

    def send(self, data: bytes, priority: int = 0) -> None:
        """Put one message into the queue, as some other sender would."""
        fd = _open(self.name, os.O_WRONLY | os.O_NONBLOCK)
        try:
            if _librt().mq_send(fd, data, len(data), priority) != 0:
                raise OSError(ctypes.get_errno(), f"mq_send({self.name}): "
                                                  f"{os.strerror(ctypes.get_errno())}")
        finally:
            os.close(fd)

    @classmethod
    def create(cls, name: str, *, maxmsg: int, msgsize: int, owner: Path | None = None,
               mode: int = 0o600) -> Queue:
        """Create a queue as a crashed program would leave it, owned like `owner` (a path)."""
        attr = _MqAttr(0, maxmsg, msgsize, 0)
        os.close(_open(name, os.O_RDONLY | os.O_CREAT | os.O_EXCL, mode, ctypes.byref(attr)))
        queue = cls(name)
        if owner is not None:
            st = owner.stat()
            os.chown(queue.path, st.st_uid, st.st_gid)
        return queue


def expect_gone(name: str, why: str) -> None:
    """Fail if queue `name` still exists: its owner should have removed it."""
    if Queue(name).exists():
        raise Failure(f"{why}, queue {name} is still in /dev/mqueue",
                      help="call mq_unlink() on your own queue before exiting")


def queues(prefix: str = "/") -> list[str]:
    """The names of the queues that exist now, starting with `prefix`, sorted."""
    return sorted("/" + p.name for p in MQUEUE.iterdir() if ("/" + p.name).startswith(prefix))
