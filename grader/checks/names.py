"""Unique IPC names for one check, so that gradings and checks running at once never meet.

Every name holds a random token of the check, and a counter of fixed width: `…-001`,
`…-002`, … `…-010`. No name is then a prefix of another, which matters where a program's
objects are all the names that begin with its NAME (assignment3's `NAME-full`, `NAME.lock`).
"""

from __future__ import annotations

import secrets
import socket
from pathlib import Path


class Names:
    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.token = secrets.token_hex(4)
        self._count = 0

    def _next(self) -> str:
        self._count += 1
        return f"{self._count:03d}"

    @property
    def prefix(self) -> str:
        """What every IPC name of this check begins with (to list its leftovers)."""
        return f"/ipcg-{self.token}-"

    def socket(self) -> str:
        """A socket path inside the check's folder (short: sun_path holds 108 bytes)."""
        return str(self.workdir / f"s{self._next()}.sock")

    def queue(self) -> str:
        """A POSIX message queue name: /ipcg-<token>-NNN."""
        return f"{self.prefix}{self._next()}"

    def shm(self) -> str:
        """A shared-memory NAME (shm_open, sem_open): /ipcg-<token>-NNN."""
        return f"{self.prefix}{self._next()}"

    def port(self) -> int:
        """A TCP port free on 127.0.0.1 right now (the kernel picks it; each grading run has
        its own network namespace, so only this run's checks could take it meanwhile)."""
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind(("127.0.0.1", 0))
            return probe.getsockname()[1]
