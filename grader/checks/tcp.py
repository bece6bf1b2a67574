"""TCP listening sockets as a check sees them: /proc/net/tcp and /proc/net/tcp6.

A server is ready once it listens; knowing it without connecting matters where a connection
would change the state under test (a chat server that numbers its clients from the first
one that connects). Each grading run has its own network namespace, so the sockets listed
are this run's.

    listening(4242)          # [("127.0.0.1", 4242)] once something listens on it
    wait_listening(server, 4242, within=5)
    connection_state(4242, 51234)   # "ESTABLISHED": the server's side of a client's connection
    queued(4242, 51234)      # bytes that reached the server's side and it has not read yet
    unread(sock)             # bytes that arrived on a socket of ours and were not read yet
"""

from __future__ import annotations

import array
import fcntl
import ipaddress
import socket
import termios
from pathlib import Path
from typing import TYPE_CHECKING

from grader.waiting import wait_until

if TYPE_CHECKING:
    from grader.process import Program

LISTEN = "0A"  # the state column of /proc/net/tcp
STATES = {"01": "ESTABLISHED", "02": "SYN_SENT", "03": "SYN_RECV", "04": "FIN_WAIT1",
          "05": "FIN_WAIT2", "06": "TIME_WAIT", "07": "CLOSE", "08": "CLOSE_WAIT",
          "09": "LAST_ACK", "0A": "LISTEN", "0B": "CLOSING", "0C": "NEW_SYN_RECV"}


def _address(hex_address: str) -> str:
    """`0100007F` (little-endian words) -> `127.0.0.1`; 32 hex digits -> an IPv6 address."""
    raw = bytes.fromhex(hex_address)
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    return str(ipaddress.ip_address(words))


def _sockets() -> list[tuple[str, str, str, str]]:
    """(local, remote, state, queues) of every TCP socket of this network namespace, IPv4
    and IPv6, as /proc/net/tcp writes them ("0100007F:1092", "00000000:0000", "0A",
    "00000000:00000010": bytes unsent, then bytes unread, in hex)."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        found += [tuple(fields[1:5]) for fields in map(str.split, rows)]
    return found


def _port(endpoint: str) -> int:
    return int(endpoint.rpartition(":")[2], 16)


def _connection(local_port: int, remote_port: int) -> tuple[str, str, str, str] | None:
    """The /proc/net/tcp row of the connection end with these ports, or None."""
    return next((row for row in _sockets()
                 if _port(row[0]) == local_port and _port(row[1]) == remote_port), None)


def listening(port: int) -> list[tuple[str, int]]:
    """The local addresses on which some socket listens on `port` (IPv4 and IPv6)."""
    return [(_address(local.rpartition(":")[0]), port) for local, _, state, _ in _sockets()
            if state == LISTEN and _port(local) == port]


def wait_listening(server: Program, port: int, within: float = 5.0) -> list[tuple[str, int]]:
    """Wait until something listens on `port` (fails at once if `server` ends first)."""
    return wait_until(lambda: listening(port), within, f"{server.name} to listen on port {port}",
                      watch=server)


def connection_state(local_port: int, remote_port: int) -> str | None:
    """The state ("ESTABLISHED", "FIN_WAIT1", "CLOSE_WAIT"...) of the TCP connection whose
    local end has port `local_port` and remote end `remote_port` (IPv4 and IPv6), or None when
    there is none. Both ends of a loopback connection are listed: `connection_state(server's
    port, client's port)` is the server's side, which says whether the server has closed it
    (FIN_WAIT1/2) or still holds it open (ESTABLISHED) while the client reads nothing."""
    found = _connection(local_port, remote_port)
    return None if found is None else STATES.get(found[2], found[2])


def queued(local_port: int, remote_port: int) -> int | None:
    """Bytes that reached the end of a connection with ports (`local_port`, `remote_port`)
    and were not read yet (None when there is no such connection: closed, or reset). What a
    stopped server will find when it runs again: loopback delivers in a softirq, which a busy
    machine defers, so a check waits for this before letting the server run."""
    found = _connection(local_port, remote_port)
    return None if found is None else int(found[3].partition(":")[2], 16)


def unread(sock: socket.socket) -> int:
    """Bytes that arrived on `sock` and nobody has read yet (ioctl FIONREAD); 0 once closed."""
    if sock.fileno() < 0:
        return 0
    count = array.array("i", [0])
    fcntl.ioctl(sock.fileno(), termios.FIONREAD, count)
    return count[0]
