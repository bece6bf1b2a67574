"""A raw UNIX-socket connection for protocol checks: exact control over every write.

Checks use it where a real client would hide what matters (a line split in single bytes,
many lines in one write, a client that vanishes mid-round). Every socket error becomes a
Failure that says what the server did, never a Python traceback.
"""

from __future__ import annotations

import socket
import time

from grader.failure import Failure, Mismatch
from grader.process import shorten


class Connection:
    def __init__(self, sock: socket.socket, path: str, timeout: float):
        self.sock = sock
        self.path = path
        self.timeout = timeout
        self._buffer = b""
        self._eof = False

    @classmethod
    def unix(cls, path: str, timeout: float = 5.0, server=None) -> Connection:
        """Connect to a UNIX stream socket, retrying until the server listens or `timeout`.

        Retrying connect() is how a check waits for readiness: no sleep guesses a start-up time.
        With `server` (a Program), a server that exits while we wait is reported at once.
        """
        deadline = time.monotonic() + timeout
        delay = 0.001
        while True:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(path)
                sock.settimeout(timeout)
                return cls(sock, path, timeout)
            except (FileNotFoundError, ConnectionRefusedError) as error:
                sock.close()
                if server is not None and not server.running:
                    raise Failure(f"{server.name} {server.describe_exit()} instead of listening "
                                  f"on {path}") from None
                if time.monotonic() + delay > deadline:
                    who = server.name if server is not None else "the server"
                    raise Failure(f"could not connect to {who} at {path} within {timeout:g} s "
                                  f"({error.strerror})") from None
                time.sleep(delay)  # back-off between connect() attempts, not a readiness guess
                delay = min(delay * 2, 0.05)

    def send(self, data: str | bytes) -> None:
        try:
            self.sock.sendall(data.encode() if isinstance(data, str) else data)
        except OSError as error:
            raise Failure(f"the server closed the connection while we were sending "
                          f"({error.strerror})") from None

    def recv_line(self, timeout: float | None = None) -> str | None:
        """The next line without its newline, or None at EOF."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while b"\n" not in self._buffer:
            if self._eof:
                if self._buffer:
                    line, self._buffer = self._buffer, b""
                    return line.decode("utf-8", "replace")
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
                raise Failure(f"the connection failed while waiting for a reply "
                              f"({error.strerror})") from None
            self._eof = not chunk
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line.decode("utf-8", "replace")

    def expect_line(self, expected: str, after: str = "") -> None:
        """The next line must be `expected`; `after`, shown as is, says what was sent."""
        context = f" after sending {after}" if after else ""
        try:
            line = self.recv_line()
        except Mismatch as silence:
            silence.rationale += f", where {expected!r} was due{context}"
            raise
        if line != expected:
            actual = "(connection closed)" if line is None else repr(line)
            raise Mismatch(repr(expected), actual, rationale=f"the server replied {actual} "
                                                             f"instead of {expected!r}{context}")

    def shutdown_write(self) -> None:
        """Half-close: the server sees EOF but can still reply."""
        self.sock.shutdown(socket.SHUT_WR)

    def expect_eof(self) -> None:
        line = self.recv_line()
        if line is not None:
            raise Mismatch("the server to close the connection", repr(line),
                           rationale="the server sent more after the client finished")

    def close(self) -> None:
        self.sock.close()
