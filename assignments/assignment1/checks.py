"""assignment1 checks: a UNIX domain stream socket server that sums rounds of numbers.

Each check is one scenario from the handout. `server` starts the student's server on a fresh
socket path; `connect` opens a raw connection to it (retrying until it listens), so a check
controls every byte it sends, and a failed expectation names what was sent since the last
reply by itself. Checks over several independent inputs are tables of cases: each case
earns its share. Rubric entries (titles, points) are in assignment.yaml.
"""

import os
import signal
import socket
import stat
from pathlib import Path

import pytest

from grader.checks import SETUP_SECONDS, Failure, Mismatch, eventually, show

EXIT_DEADLINE = 3.0  # seconds a server gets to finish after SIGTERM or a fatal error


@pytest.fixture
def path(names):
    return names.socket()


@pytest.fixture
def server(student, path):
    return student.spawn("server", path)


@pytest.fixture
def reference_server(reference, path, connect):
    server = reference.spawn("server", path)
    connect(path, server=server).close()  # returns once it listens
    return server


def test_sums_rounds(server, path, connect):
    conn = connect(path, server=server)
    conn.send("1\n2\n3\n0\n")
    conn.expect_line("SUM 6")
    conn.send("40\n2\n0\n")
    conn.expect_line("SUM 42", why="a second round on the same connection")
    conn.send("0\n")
    conn.expect_line("SUM 0", why="an empty round")


ROUNDS = {
    "a negative and a signed value": ("-5\n+3\n0\n", "SUM -2"),
    "a total of LLONG_MAX": ("4611686018427387904\n4611686018427387903\n0\n",
                             "SUM 9223372036854775807"),
    "a total of LLONG_MIN, ending with -0": ("-9223372036854775807\n-1\n-0\n",
                                             "SUM -9223372036854775808"),
    "LLONG_MIN itself, ending with +000": ("-9223372036854775808\n+000\n",
                                           "SUM -9223372036854775808"),
    "leading zeros are decimal, 00 is a zero": ("010\n-007\n00\n", "SUM 3"),
}


@pytest.mark.parametrize("sent, reply", ROUNDS.values(), ids=ROUNDS.keys())
def test_negative_and_64bit(server, path, connect, sent, reply):
    conn = connect(path, server=server)
    conn.send(sent)
    conn.expect_line(reply)


def test_byte_by_byte(server, path, connect):
    conn = connect(path, server=server)
    for byte in "12\n30\n0\n":
        conn.send(byte)
        server.wait_idle()  # the server has read this byte and waits for the next one
    conn.expect_line("SUM 42", why="one byte per write")


def test_many_lines_one_write(server, path, connect):
    conn = connect(path, server=server)
    conn.send("1\n2\n3\n0\n5\r\n0\r\n-7\n7\n0\n")
    conn.expect_line("SUM 6", why="all in one write")
    conn.expect_line("SUM 5", why="the second round, with \\r\\n endings")
    conn.expect_line("SUM 0", why="the third round")


def test_long_lines(server, path, connect):
    conn = connect(path, server=server)
    conn.send("0" * 4095 + "7\n0\n")
    conn.expect_line("SUM 7", why="a line of exactly 4096 bytes, then 0")
    conn.send("5\n" + "0" * 6000 + "3\n0\n")
    first = conn.recv_line()
    if first == "ERROR":  # the long line was refused as a whole: its tail is not a new line
        conn.expect_line("SUM 5", why="the whole 6001-byte line is one invalid line")
    elif first != "SUM 8":
        actual = "(connection closed)" if first is None else repr(first)
        raise Mismatch("'ERROR' (then 'SUM 5') or 'SUM 8'", actual,
                       rationale=f"the server replied {actual} after 5, a 6001-byte line "
                                 f"'000...03', 0 (a line over 4096 bytes is either summed or "
                                 f"one invalid line)")
    conn.send("1" * 20000 + "\n2\n0\n")
    conn.expect_line("ERROR", why="a 20000-digit line: longer than 4096 bytes, and too big "
                                  "for 64 bits anyway")
    conn.expect_line("SUM 2", why="2 and 0 after the 20000-byte line")


def test_clients_in_sequence(server, path, connect):
    for n in (1, 2, 3):
        conn = connect(path, server=server)
        conn.send(f"{n}\n{n}\n0\n")
        conn.expect_line(f"SUM {2 * n}", why=f"client number {n}")
        conn.close()


def test_disconnect_mid_round(server, path, connect):
    leaver = connect(path, server=server)
    leaver.send("5\n7\n9")
    leaver.close()
    conn = connect(path, server=server)
    conn.send("1\n0\n")
    conn.expect_line("SUM 1", why="after a client left in the middle of a round")


def test_client_gone_before_reply(server, path, connect):
    for data, reply in (("1\n0\n", "a SUM reply"), ("abc\n", "an ERROR reply")):
        conn = connect(path, server=server)
        server.wait_idle()
        server.suspend()  # while the server is frozen, the client sends a line and leaves,
        conn.send(data)
        conn.close()
        server.resume()  # so the server writes its reply to a closed connection
        server.wait_idle()
        assert server.running, f"your server {server.describe_exit()} when it wrote " \
                               f"{reply} to a client that had left (ignore SIGPIPE, or send " \
                               f"with MSG_NOSIGNAL)"
        conn = connect(path, server=server)
        conn.send("2\n0\n")
        conn.expect_line("SUM 2", why=f"after a client left before {reply}")
        conn.close()


INVALID = ["abc", "", "12x", "-", "+", " 5", "5 ", "1 2", "\t5", "0x10", "1e3", "\r", "5\x00",
           "\x005", "9223372036854775808", "-9223372036854775809"]


@pytest.mark.parametrize("bad", INVALID, ids=[show(bad) for bad in INVALID])
def test_invalid_lines(server, path, connect, bad):
    conn = connect(path, server=server)
    conn.send("3\n")
    conn.send(bad + "\n")
    conn.expect_line("ERROR", why=f"{show(bad)} is not a decimal integer")
    conn.send("4\n0\n")
    conn.expect_line("SUM 7", why="3, an invalid line, 4 and 0: an invalid line keeps the "
                                  "round")


MOMENTS = {
    "SIGTERM between two clients": signal.SIGTERM,
    "SIGTERM while a client is connected, mid-round": signal.SIGTERM,
    "SIGTERM while blocked writing to a client that does not read": signal.SIGTERM,
    "SIGINT between two clients": signal.SIGINT,
}


@pytest.mark.parametrize("moment", MOMENTS)
def test_sigterm_cleanup(server, path, connect, moment):
    conn = connect(path, server=server)
    conn.send("1\n0\n")
    conn.expect_line("SUM 1")
    if "between" in moment:
        conn.close()
    elif "blocked writing" in moment:
        conn.sock.setblocking(False)  # invalid lines, ERROR replies never read
        for _ in range(400):
            try:
                conn.sock.send(b"x\n" * 4096)
            except BlockingIOError:
                if server.wait_idle(0.2):
                    break
    else:
        conn.send("5\n")
    server.wait_idle()  # blocked in accept(), read() or write()
    server.signal(MOMENTS[moment])
    server.expect_exit(0, within=EXIT_DEADLINE, when=f"after {moment}",
                       help="install the handler with sigaction() without SA_RESTART, and "
                            "stop when accept(), read() or write() fails with EINTR")
    assert not os.path.lexists(path), f"after {moment}, {path} still exists: unlink it"


def test_stale_socket(student, path, connect):
    leftover = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    leftover.bind(path)
    leftover.close()  # the file stays, nobody listens: what a crashed server leaves
    server = student.spawn("server", path)
    conn = connect(path, server=server)
    conn.send("2\n0\n")
    conn.expect_line("SUM 2", why="the server started over a stale socket file")


NOT_A_SOCKET = {
    "a regular file": (lambda p: Path(p).write_text("precious data\n"), stat.S_ISREG),
    "an empty directory": (os.mkdir, stat.S_ISDIR),
    "a FIFO": (os.mkfifo, stat.S_ISFIFO),
    "a symbolic link to a regular file": (
        lambda p: (Path(f"{p}.target").write_text("data\n"), os.symlink(f"{p}.target", p)),
        stat.S_ISLNK),
}


@pytest.mark.parametrize("kind", NOT_A_SOCKET)
def test_non_socket_file(student, path, kind):
    make, still = NOT_A_SOCKET[kind]
    make(path)
    before = Path(path).read_bytes() if kind == "a regular file" else None
    server = student.spawn("server", path)
    server.expect_exit(1, within=EXIT_DEADLINE, stderr=True, when=f"with {kind} at the path")
    assert os.path.lexists(path) and still(os.lstat(path).st_mode), \
        f"your server removed or replaced {kind} at the path"
    if before is not None:
        assert Path(path).read_bytes() == before, "your server changed the file at the path"


SESSION = "1\n2\n0\n-5\n5\n0\nxyz\n7\n"
REPLIES = "SUM 3\nSUM 0\nERROR\n"
SESSION_NO_NEWLINE = "4\n0\n6\n0"
REPLIES_NO_NEWLINE = "SUM 4\nSUM 6\n"


def test_student_client_reference_server(student, reference_server, path):
    reference_server.suspend()  # replies can only come after the client's input has ended:
    client = student.spawn("client", path)
    client.send(SESSION)
    client.close_stdin()
    client.wait_idle()          # a client that does not wait for them has exited by now
    if client.stdout:
        reference_server.resume()
        raise Failure(f"your client printed {client.stdout!r} while the reference server was "
                      f"stopped: those lines did not come from the server",
                      help="print exactly what the server replies, as it arrives")
    reference_server.resume()
    client.expect_exit(0, within=EXIT_DEADLINE, when=f"with input {SESSION!r}")
    if client.stdout != REPLIES:
        raise Failure(f"your client printed {client.stdout!r} for input {SESSION!r}; "
                      f"expected {REPLIES!r}",
                      help="print every reply line, and wait for the server to close the "
                           "connection before exiting")
    client = student.spawn("client", path)
    client.send(SESSION_NO_NEWLINE)
    client.close_stdin()
    client.expect_exit(0, within=EXIT_DEADLINE, when=f"with input {SESSION_NO_NEWLINE!r}")
    if client.stdout != REPLIES_NO_NEWLINE:
        raise Failure(f"your client printed {client.stdout!r} for input {SESSION_NO_NEWLINE!r}; "
                      f"expected {REPLIES_NO_NEWLINE!r}",
                      help="send every byte of stdin, also a last line without \\n")


def test_reference_client_student_server(server, reference, path, connect):
    connect(path, server=server).close()  # wait until it listens
    for session, replies in ((SESSION, REPLIES), (SESSION_NO_NEWLINE, REPLIES_NO_NEWLINE)):
        client = reference.run("client", path, input=session)
        assert client.stdout == replies, \
            f"the reference client printed {client.stdout!r} with your server for input " \
            f"{session!r} (a last line without \\n counts); expected {replies!r}"
        assert client.exit_code == 0, f"the reference client {client.describe_exit()}"


def test_client_no_server(student, path):
    client = student.spawn("client", path)
    client.send("1\n0\n", until_closed=True)
    client.close_stdin()
    client.expect_exit(1, within=EXIT_DEADLINE, stderr=True, when=f"with no server at {path}")


def test_no_fd_leak(server, path, connect):
    def one_round():
        conn = connect(path, server=server)
        conn.send("1\n0\n")
        conn.expect_line("SUM 1")
        conn.close()

    one_round()
    server.wait_idle()  # it has closed the first connection
    before = len(server.open_fds())
    for _ in range(200):
        one_round()
    server.wait_idle()
    after = len(server.open_fds())
    assert after - before < 10, f"your server holds {after - before} more file descriptors " \
                                f"after 200 connections: close each accepted socket"


# ---- what the programs really do: syscall traces -------------------------------------------

SOCKET_CALLS = ["socket", "bind", "listen", "accept", "accept4", "connect"]
NOT_A_UNIX_SOCKET = {"socket AF_INET", "socket AF_INET6", "socketpair"}


def not_stream(trace):
    return [c for c in trace.calls("socket") if "SOCK_STREAM" not in str(c.argument("type"))]


def stop_with_sigterm(server):
    server.signal(signal.SIGTERM)
    server.wait(EXIT_DEADLINE)
    return server.trace


def served_once(student, path, connect, within):
    """The trace of a server that served one round to one client, then got SIGTERM."""
    server = student.spawn("server", path, trace="%net")
    conn = connect(path, server=server, timeout=within)
    conn.send("1\n0\n")
    server.wait_idle()  # served (what it replied is other checks' business)
    conn.close()
    server.wait_idle()
    return stop_with_sigterm(server)


def test_listens_on_unix_socket(student, path, connect):
    trace = served_once(student, path, connect, within=SETUP_SECONDS)
    calls = trace.excerpt(SOCKET_CALLS)
    assert trace.used("socket", domain="AF_UNIX", type="SOCK_STREAM"), \
        f"your server never created an AF_UNIX SOCK_STREAM socket; its calls: {calls}"
    assert trace.used("bind", ok=True, addr={"sun_path": path}), \
        f"your server never bound its socket to {path}; its calls: {calls}"
    assert trace.used("listen", ok=True), f"your server never called listen(); {calls}"
    assert trace.used(("accept", "accept4"), ok=True), f"your server never accepted; {calls}"


def test_server_uses_unix_stream(student, path, connect):
    trace = served_once(student, path, connect, within=5.0)
    other = trace.never(NOT_A_UNIX_SOCKET) + not_stream(trace)
    assert not other, f"your server also opened another socket: {other[0]}; the channel " \
                      f"must be the UNIX domain stream socket alone"


def client_round(student, path, within):
    """The trace of the student's client sending one round to the reference server: all
    of it when the client ends within `within` s, else what it did until then."""
    client = student.spawn("client", path, trace="%net")
    client.send("2\n0\n", until_closed=True)
    client.close_stdin()
    eventually(lambda: not client.running, within)  # what it replied: other checks' business
    client.stop()  # its trace is complete once it has ended
    client.wait()
    return client.trace


def test_client_connects_to_unix_socket(student, reference_server, path):
    trace = client_round(student, path, within=SETUP_SECONDS)
    calls = trace.excerpt(SOCKET_CALLS)
    assert trace.used("socket", domain="AF_UNIX", type="SOCK_STREAM"), \
        f"your client never created an AF_UNIX SOCK_STREAM socket; its calls: {calls}"
    assert trace.used("connect", ok=True, addr={"sun_path": path}), \
        f"your client did not connect to {path} within {SETUP_SECONDS:g} s; its calls: {calls}"


def test_client_uses_unix_stream(student, reference_server, path):
    trace = client_round(student, path, within=EXIT_DEADLINE)
    other = trace.never(NOT_A_UNIX_SOCKET) + not_stream(trace)
    assert not other, f"your client also opened another socket: {other[0]}; the channel " \
                      f"must be the UNIX domain stream socket alone"


def test_accepted_fds_closed(student, path, connect):
    server = student.spawn("server", path, trace="%net")
    # clients that leave mid-round, reset the connection (reply unread), send nothing
    for data in ("5\n", "1\n0\n", ""):
        conn = connect(path, server=server)
        conn.send(data)
        server.wait_idle()  # the server has read it all (and replied)
        conn.close()
        server.wait_idle()
    trace = stop_with_sigterm(server)
    accepted = {int(c.result) for c in trace.calls(("accept", "accept4"), ok=True)}
    leaked = sorted(set(trace.fds_open_at_exit()) & accepted)
    assert not leaked, f"your server never closed accepted connection(s) {leaked} (a client " \
                       f"that left mid-round or reset the connection); its calls: " \
                       f"{trace.excerpt(['accept', 'accept4', 'close', 'read'])}"


@pytest.mark.parametrize("fault", ["socket:error=EMFILE", "bind:error=EACCES",
                                   "listen:error=EADDRINUSE"])
def test_server_reports_socket_failure(student, path, fault):
    call, error = fault.split(":")[0], fault.split("=")[1]
    server = student.spawn("server", path, inject=[fault])
    server.expect_exit(1, within=EXIT_DEADLINE, stderr=call, when=f"when {call}() fails ({error})",
                       help=f"name the failing call on stderr: perror(\"{call}\")")


@pytest.mark.parametrize("error", ["ECONNREFUSED", "EACCES", "EAGAIN"])
def test_client_reports_connect_failure(student, reference_server, path, error):
    client = student.spawn("client", path, inject=[f"connect:error={error}"])
    client.send("1\n0\n", until_closed=True)
    client.close_stdin()
    client.expect_exit(1, within=EXIT_DEADLINE, stderr=True,
                       when=f"when connect() fails ({error})")
