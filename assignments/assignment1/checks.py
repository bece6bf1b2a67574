"""assignment1 checks: a UNIX domain stream socket server that sums rounds of numbers.

Each check is one scenario from the handout. `server` starts the student's server on a fresh
socket path; `connect` opens a raw connection to it (retrying until it listens), so a check
controls every byte it sends. Rubric entries (titles, points) are in assignment.yaml.
"""

import os
import signal
import socket
import stat
from pathlib import Path

import pytest

from grader.checks import Failure, Mismatch

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
    conn.expect_line("SUM 6", after="1 2 3 0")
    conn.send("40\n2\n0\n")
    conn.expect_line("SUM 42", after="40 2 0 (a second round on the same connection)")
    conn.send("0\n")
    conn.expect_line("SUM 0", after="0 alone (an empty round)")


def test_negative_and_64bit(server, path, connect):
    conn = connect(path, server=server)
    conn.send("-5\n+3\n0\n")
    conn.expect_line("SUM -2", after="-5 +3 0")
    conn.send("4611686018427387904\n4611686018427387903\n0\n")
    conn.expect_line("SUM 9223372036854775807", after="4611686018427387904 4611686018427387903 0")
    conn.send("-9223372036854775807\n-1\n-0\n")
    conn.expect_line("SUM -9223372036854775808", after="-9223372036854775807 -1 -0")
    conn.send("-9223372036854775808\n+000\n")
    conn.expect_line("SUM -9223372036854775808",
                     after="-9223372036854775808 (the smallest long long) +000 (a zero)")
    conn.send("010\n-007\n00\n")
    conn.expect_line("SUM 3", after="010 -007 00 (leading zeros are decimal; 00 is a zero)")


def test_byte_by_byte(server, path, connect):
    conn = connect(path, server=server)
    for byte in "12\n30\n0\n":
        conn.send(byte)
        server.wait_idle()  # the server has read this byte and waits for the next one
    conn.expect_line("SUM 42", after="'12\\n30\\n0\\n' one byte per write")


def test_many_lines_one_write(server, path, connect):
    conn = connect(path, server=server)
    conn.send("1\n2\n3\n0\n5\r\n0\r\n-7\n7\n0\n")
    conn.expect_line("SUM 6", after="'1\\n2\\n3\\n0\\n5\\r\\n0\\r\\n-7\\n7\\n0\\n' in one write")
    conn.expect_line("SUM 5", after="the same write (the second round, with \\r\\n endings)")
    conn.expect_line("SUM 0", after="the same write (the third round)")


def test_long_lines(server, path, connect):
    conn = connect(path, server=server)
    conn.send("0" * 4095 + "7\n0\n")
    conn.expect_line("SUM 7", after="a line of exactly 4096 bytes ('000...07'), then 0")
    conn.send("5\n" + "0" * 6000 + "3\n0\n")
    first = conn.recv_line()
    if first == "ERROR":  # the long line was refused as a whole: its tail is not a new line
        conn.expect_line("SUM 5", after="5, a 6001-byte line answered ERROR, 0 (the whole "
                                        "long line is one invalid line)")
    elif first != "SUM 8":
        actual = "(connection closed)" if first is None else repr(first)
        raise Mismatch("'ERROR' (then 'SUM 5') or 'SUM 8'", actual,
                       rationale=f"the server replied {actual} after sending 5, a 6001-byte "
                                 f"line '000...03', 0 (a line over 4096 bytes is either "
                                 f"summed or one invalid line)")
    conn.send("1" * 20000 + "\n2\n0\n")
    conn.expect_line("ERROR", after="a 20000-digit line (longer than 4096 bytes, and too big "
                                    "for 64 bits anyway)")
    conn.expect_line("SUM 2", after="2 0 after the 20000-byte line")


def test_clients_in_sequence(server, path, connect):
    for n in (1, 2, 3):
        conn = connect(path, server=server)
        conn.send(f"{n}\n{n}\n0\n")
        conn.expect_line(f"SUM {2 * n}", after=f"{n} {n} 0 from client number {n}")
        conn.close()


def test_disconnect_mid_round(server, path, connect):
    leaver = connect(path, server=server)
    leaver.send("5\n7\n9")
    leaver.close()
    conn = connect(path, server=server)
    conn.send("1\n0\n")
    conn.expect_line("SUM 1", after="1 0 (after a client left in the middle of a round)")


def test_client_gone_before_reply(server, path, connect):
    conn = connect(path, server=server)
    server.wait_idle()
    server.suspend()      # while the server is frozen, the client sends a round and leaves,
    conn.send("1\n0\n")
    conn.close()
    server.resume()       # so the server writes its reply to a closed connection
    server.wait_idle()
    assert server.running, f"your server {server.describe_exit()} when it wrote a reply to a " \
                           f"client that had left (ignore SIGPIPE, or send with MSG_NOSIGNAL)"
    conn = connect(path, server=server)
    conn.send("2\n0\n")
    conn.expect_line("SUM 2", after="2 0 (after a client left before its reply)")
    server.wait_idle()
    server.suspend()      # the same with an ERROR reply
    conn.send("abc\n")
    conn.close()
    server.resume()
    server.wait_idle()
    assert server.running, f"your server {server.describe_exit()} when it wrote an ERROR reply " \
                           f"to a client that had left"


def test_invalid_lines(server, path, connect):
    conn = connect(path, server=server)
    conn.send("3\n")
    for bad in ("abc", "", "12x", "-", "+", " 5", "5 ", "1 2", "\t5", "0x10", "1e3", "\r",
                "5\x00", "\x005", "9223372036854775808", "-9223372036854775809"):
        conn.send(bad + "\n")
        conn.expect_line("ERROR", after=repr(bad))
    conn.send("4\n0\n")
    conn.expect_line("SUM 7", after="3, four invalid lines, 4, 0 (invalid lines keep the round)")


def test_sigterm_cleanup(student, names, connect):
    for sig, moment in ((signal.SIGTERM, "between two clients"),
                        (signal.SIGTERM, "while a client is connected, mid-round"),
                        (signal.SIGTERM, "while blocked writing to a client that does not read"),
                        (signal.SIGINT, "between two clients")):
        path = names.socket()
        server = student.spawn("server", path)
        conn = connect(path, server=server)
        conn.send("1\n0\n")
        conn.expect_line("SUM 1")
        if moment.startswith("between"):
            conn.close()
        elif moment.startswith("while blocked"):
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
        server.signal(sig)
        after = f"after {signal.Signals(sig).name} {moment}"
        try:
            server.wait(EXIT_DEADLINE)
        except Failure:
            raise Failure(f"{after}, your server was still running {EXIT_DEADLINE:g} s later",
                          help="install the handler with sigaction() without SA_RESTART, and "
                               "stop when accept(), read() or write() fails with EINTR") \
                from None
        assert server.exit_code == 0, f"{after}, your server {server.describe_exit()}"
        assert not os.path.lexists(path), f"{after}, {path} still exists: unlink it"


def test_stale_socket(student, path, connect):
    leftover = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    leftover.bind(path)
    leftover.close()  # the file stays, nobody listens: what a crashed server leaves
    server = student.spawn("server", path)
    conn = connect(path, server=server)
    conn.send("2\n0\n")
    conn.expect_line("SUM 2", after="2 0 (the server started over a stale socket file)")


def test_non_socket_file(student, path, names):
    Path(path).write_text("precious data\n")
    server = student.spawn("server", path).wait(EXIT_DEADLINE)
    assert server.exit_code == 1, f"with a regular file at the path, your server " \
                                  f"{server.describe_exit()} (expected: exit 1)"
    assert server.stderr.strip(), "your server exited without an error message on stderr"
    assert Path(path).read_text() == "precious data\n", "your server changed or removed the file"
    for kind, make, still in (
            ("an empty directory", os.mkdir, stat.S_ISDIR),
            ("a FIFO", os.mkfifo, stat.S_ISFIFO),
            ("a symbolic link to a regular file", lambda p: os.symlink(path, p), stat.S_ISLNK)):
        other = names.socket()
        make(other)
        server = student.spawn("server", other).wait(EXIT_DEADLINE)
        assert server.exit_code == 1, f"with {kind} at the path, your server " \
                                      f"{server.describe_exit()} (expected: exit 1)"
        assert os.path.lexists(other) and still(os.lstat(other).st_mode), \
            f"your server removed or replaced {kind} at the path"


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
    client.wait()
    assert client.exit_code == 0, f"your client {client.describe_exit()}"
    if client.stdout != REPLIES:
        raise Failure(f"your client printed {client.stdout!r} for input {SESSION!r}; "
                      f"expected {REPLIES!r}",
                      help="print every reply line, and wait for the server to close the "
                           "connection before exiting")
    client = student.run("client", path, input=SESSION_NO_NEWLINE)
    assert client.exit_code == 0, f"your client {client.describe_exit()}"
    if client.stdout != REPLIES_NO_NEWLINE:
        raise Failure(f"your client printed {client.stdout!r} for input {SESSION_NO_NEWLINE!r}; "
                      f"expected {REPLIES_NO_NEWLINE!r}",
                      help="send every byte of stdin, also a last line without \\n")


def test_reference_client_student_server(server, reference, path, connect):
    connect(path, server=server).close()  # wait until it listens
    client = reference.run("client", path, input=SESSION)
    assert client.stdout == REPLIES, f"the reference client printed {client.stdout!r} with " \
                                     f"your server for input {SESSION!r}; expected {REPLIES!r}"
    assert client.exit_code == 0, f"the reference client {client.describe_exit()}"
    client = reference.run("client", path, input=SESSION_NO_NEWLINE)
    assert client.stdout == REPLIES_NO_NEWLINE, \
        f"the reference client printed {client.stdout!r} with your server for input " \
        f"{SESSION_NO_NEWLINE!r} (a last line without \\n counts); expected {REPLIES_NO_NEWLINE!r}"


def test_client_no_server(student, path):
    client = student.run("client", path, input="1\n0\n")
    assert client.exit_code == 1, f"with no server at {path}, your client " \
                                  f"{client.describe_exit()} (expected: exit 1)"
    assert client.stderr.strip(), "your client exited without an error message on stderr"


def test_no_fd_leak(server, path, connect):
    def one_round():
        conn = connect(path, server=server)
        conn.send("1\n0\n")
        conn.expect_line("SUM 1")
        conn.close()

    one_round()
    server.wait_idle()  # it has closed the first connection
    before = len(os.listdir(f"/proc/{server.pid}/fd"))
    for _ in range(200):
        one_round()
    server.wait_idle()
    after = len(os.listdir(f"/proc/{server.pid}/fd"))
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


def test_server_uses_unix_stream(student, path, connect):
    server = student.spawn("server", path, trace="%net")
    conn = connect(path, server=server)
    conn.send("1\n0\n")
    server.wait_idle()  # served (what it replied is other checks' business)
    conn.close()
    server.wait_idle()
    trace = stop_with_sigterm(server)
    calls = trace.excerpt(SOCKET_CALLS)
    assert trace.used("socket", domain="AF_UNIX", type="SOCK_STREAM"), \
        f"your server never created an AF_UNIX SOCK_STREAM socket; its calls: {calls}"
    assert trace.used("bind", ok=True, addr={"sun_path": path}), \
        f"your server never bound its socket to {path}; its calls: {calls}"
    assert trace.used("listen", ok=True), f"your server never called listen(); {calls}"
    assert trace.used(("accept", "accept4"), ok=True), f"your server never accepted; {calls}"
    other = trace.never(NOT_A_UNIX_SOCKET) + not_stream(trace)
    assert not other, f"your server also opened another socket: {other[0]}; the channel " \
                      f"must be the UNIX domain stream socket alone"


def test_client_uses_unix_stream(student, reference_server, path):
    client = student.run("client", path, input="2\n0\n", trace="%net")
    trace = client.trace
    calls = trace.excerpt(SOCKET_CALLS)
    assert trace.used("socket", domain="AF_UNIX", type="SOCK_STREAM"), \
        f"your client never created an AF_UNIX SOCK_STREAM socket; its calls: {calls}"
    assert trace.used("connect", ok=True, addr={"sun_path": path}), \
        f"your client never connected to {path}; its calls: {calls}"
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


def test_server_reports_socket_failure(student, names):
    for fault in ("socket:error=EMFILE", "bind:error=EACCES", "listen:error=EADDRINUSE"):
        call = fault.split(":")[0]
        server = student.spawn("server", names.socket(), inject=[fault]).wait(EXIT_DEADLINE)
        assert server.exit_code == 1, \
            f"when {call}() fails ({fault.split('=')[1]}), your server {server.describe_exit()}"
        assert server.stderr.strip(), f"when {call}() fails, your server prints no error"


def test_client_reports_connect_failure(student, reference_server, path):
    for error in ("ECONNREFUSED", "EACCES", "EAGAIN"):
        client = student.run("client", path, input="1\n0\n", inject=[f"connect:error={error}"])
        assert client.exit_code == 1, f"when connect() fails ({error}), your client " \
                                      f"{client.describe_exit()}"
        assert client.stderr.strip(), f"when connect() fails ({error}), your client prints no error"
