"""A raw socket connection for protocol checks: exact control over every write.

Checks use it where a real client would hide what matters (a line split in single bytes,
many lines in one write, a client that vanishes mid-round). Every socket error becomes a
Failure that says what the server did, never a Python traceback. What was sent since the
last reply is remembered, so a failed expectation says "after sending '1\\n2\\n0\\n'" by
itself: a check never restates its bytes by hand.
"""

from __future__ import annotations

import socket
import time
from typing import TYPE_CHECKING

from grader.failure import Failure, Mismatch
from grader.steps import StepLog
from grader.text import shorten, show

if TYPE_CHECKING:
    from grader.process import Program


class Connection:
    def __init__(self, sock: socket.socket, address: str, timeout: float,
                 name: str = "the connection", steps: StepLog | None = None):
        self.sock = sock
        self.address = address
        self.timeout = timeout
        self.name = name
        self.steps = steps if steps is not None else StepLog()
        self._buffer = b""
        self._eof = False
        self._unanswered: list[bytes] = []  # sent since the last line received

    @classmethod
    def open(cls, family: socket.AddressFamily, address: str | tuple, timeout: float = 5.0,
             server: Program | None = None, name: str = "the connection",
             steps: StepLog | None = None) -> Connection:
        """Connect to a stream socket, retrying until the server listens or `timeout`.

        Retrying connect() is how a check waits for readiness: no sleep guesses a start-up time.
        With `server` (a Program), a server that exits while we wait is reported at once.
        """
        shown = address if isinstance(address, str) else f"{address[0]}:{address[1]}"
        deadline = time.monotonic() + timeout
        delay = 0.001
        while True:
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                sock.connect(address)
                sock.settimeout(timeout)
                connection = cls(sock, shown, timeout, name, steps)
                connection.steps.add(f"{name} connected to {shown}")
                return connection
            except (FileNotFoundError, ConnectionRefusedError) as error:
                sock.close()
                if server is not None and not server.running:
                    raise Failure(f"{server.name} {server.describe_exit()} instead of listening "
                                  f"on {shown}") from None
                if time.monotonic() + delay > deadline:
                    who = server.name if server is not None else "the server"
                    raise Failure(f"could not connect to {who} at {shown} within {timeout:g} s "
                                  f"({error.strerror})") from None
                time.sleep(delay)  # back-off between connect() attempts, not a readiness guess
                delay = min(delay * 2, 0.05)

    @classmethod
    def unix(cls, path: str, timeout: float = 5.0, server: Program | None = None,
             name: str = "the connection", steps: StepLog | None = None) -> Connection:
        """Connect to a UNIX stream socket at `path` (see `open`)."""
        return cls.open(socket.AF_UNIX, path, timeout, server, name, steps)

    def send(self, data: str | bytes) -> None:
        payload = data.encode() if isinstance(data, str) else data
        self.steps.sent(self.name, payload)
        self._unanswered.append(payload)
        try:
            self.sock.sendall(payload)
        except OSError as error:
            raise Failure(f"the server closed {self.name} while we were sending "
                          f"({error.strerror})") from None

    def sent_since_reply(self) -> str:
        """What was sent since the last line received, as feedback shows it."""
        return show(b"".join(self._unanswered), 120) if self._unanswered else "nothing"

    def recv_line(self, timeout: float | None = None) -> str | None:
        """The next line without its newline, or None at EOF."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while b"\n" not in self._buffer:
            if self._eof:
                if self._buffer:
                    line, self._buffer = self._buffer, b""
                    return self._received(line)
                self.steps.add(f"{self.name} closed by the server")
                return None
            left = deadline - time.monotonic()
            if left <= 0:
                raise Mismatch("a reply line", shorten(self._buffer.decode("utf-8", "replace"))
                               or "(nothing)",
                               rationale=f"the server sent no complete line within "
                                         f"{timeout or self.timeout:g} s")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                continue
            except OSError as error:
                raise Failure(f"{self.name} failed while waiting for a reply "
                              f"({error.strerror})") from None
            self._eof = not chunk
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return self._received(line)

    def _received(self, line: bytes) -> str:
        self.steps.received(self.name, line + b"\n")
        self._unanswered = []
        return line.decode("utf-8", "replace")

    def expect_line(self, expected: str, why: str = "") -> None:
        """The next line must be `expected`. Feedback names what was sent since the last
        reply; `why` adds what that meant ("a second round on the same connection")."""
        context = f" after sending {self.sent_since_reply()}" + (f" ({why})" if why else "")
        try:
            line = self.recv_line()
        except Mismatch as silence:
            silence.rationale += f", where {expected!r} was due{context}"
            raise
        if line != expected:
            actual = "(connection closed)" if line is None else repr(line)
            raise Mismatch(repr(expected), actual, rationale=f"the server replied {actual} "
                                                             f"instead of {expected!r}{context}")

    def close(self) -> None:
        if self.sock.fileno() != -1:
            self.steps.add(f"{self.name} closed")
        self.sock.close()
