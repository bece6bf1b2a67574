"""assignment5 checks: mini_serv, a select() chat server (the 42 "mini_serv" subject).

Each check starts its own server on a free port and learns that it is ready from the
LISTEN sockets in /proc/net/tcp, never by connecting: a probe connection would take id 0.
Its clients are `Client`s: raw TCP connections (the kit's Connection, so every send is in the
step log) whose bytes are read in the background and kept whole. A `Chat` holds the server
and its clients and says what each reading client is due:

    chat = start_server(student)
    a, b, c = chat.join(), chat.join(), chat.join()   # one at a time: each once told
    chat.say(a, "hello world\\n")     # b and c receive exactly "client <a>: hello world\\n"
    chat.settle()                    # and a received nothing: not its own line

Rules (the handout's "How it is graded"):
- Bytes are compared per receiving client, its whole stream since it connected, whatever
  the TCP split; extra bytes fail too. That a sender received nothing is checked once the
  server is idle in select() again and every client has read what the kernel holds for it.
- Ids are learned, not assumed: a newcomer's from the arrival line the earlier clients get,
  the first client's from its first line as the others receive it. Only arrival_and_ids and
  departure_and_no_reuse hold the server to the numbers 0, 1, 2...; a server that numbers
  from 1 loses those two checks, nothing else.
- Mechanism checks (lazy client, fd leak, speed, idle CPU, trace) start the chat `lenient`:
  arrivals and departures are recognised by their shape in the first client's stream, and
  relayed lines by a substring or by counting newlines.
- Clients join and leave one at a time, each once the others were told, except where a
  check is about clients leaving together (the server is stopped while they close).
- Order between two senders is expected only when the second sent after the first's line
  had arrived.
"""

import contextlib
import random
import re
import select
import signal
import socket
import struct
import threading
import time

import pytest

from grader.checks import (
    SETUP_SECONDS,
    Failure,
    Mismatch,
    eventually,
    expect_idle,
    procfs,
    show,
    tcp,
    wait_until,
)

READY = 5.0          # seconds for the server to listen
EXIT_DEADLINE = 5.0  # seconds for an error exit
EXPECT = 5.0         # seconds for an expected message
MIB_SECONDS = 30.0   # seconds for 1 MiB (one line, or many): a recv(1)-per-select server is slow
SETTLE = 0.3         # seconds a busy server gets to go idle before "nothing more" is checked
LAZY_LINE = b"x" * 1023 + b"\n"       # lazy_client_no_stall: 8,192 lines of 1 KiB: 8 MiB
LAZY_LINES = 8192
STILL = 1.0          # the reader got nothing for this long: the server is stuck (or done)
PUMP_MAX = 3.0       # ...or this long has passed: the marker goes
MARKER_SECONDS = 3.0
SPEED_BLOCK = b"z" * 1023 + b"\n"    # throughput: 8 blocks of 1,024 lines of 1 KiB
SPEED_LINES, SPEED_BLOCKS = 1024, 8
SPEED_FACTOR, SPEED_FLOOR = 20, 2.0
CYCLES = 200         # fd_leak: connect/close cycles
CROWD = 200          # two_hundred_clients
IDLE_WINDOW = 0.3
IDLE_CPU_SHARE = 0.10
WAKEUPS_PER_SECOND = 100  # 30 in a 0.3 s window
ZERO_TIMEOUTS = 20   # select() calls with a zero timeout allowed in the traced conversation

ECHO = re.compile(rb"client (-?\d+): ")
ARRIVAL_SHAPE = re.compile(rb"server: client -?\d+ just arrived\n")
DEPARTURE_SHAPE = re.compile(rb"server: client -?\d+ just left\n")
PRINTABLE = bytes(32 + i % 95 for i in range(256))  # bytes.translate table: any byte -> printable


def arrived(n: int) -> bytes:
    return b"server: client %d just arrived\n" % n


def left(n: int) -> bytes:
    return b"server: client %d just left\n" % n


def said(n: int, lines: bytes) -> bytes:
    """What the others receive when client `n` sends `lines` (complete lines)."""
    return b"".join(b"client %d: " % n + line + b"\n" for line in lines.split(b"\n")[:-1])


HELP_IDS = ("number clients 0, 1, 2, ... in the order you accept them, with a counter that "
            "never goes back (not the fd number)")
HELP_ARRIVAL = ('send "server: client %d just arrived\\n" to every client but the newcomer, '
                "as soon as you accept it")
HELP_RELAY = ('send each line to every other client as "client %d: " (the sender\'s id) + '
              "the line; never back to its sender")
HELP_BUFFER = ("keep each client's unfinished line in a buffer of its own and send only "
               "complete lines; one recv() may hold part of a line, or several lines")
HELP_DEPARTURE = ('when recv() returns 0 or fails, close that socket and send "server: '
                  'client %d just left\\n" to every other client')
HELP_SIGPIPE = ("writing to a closed connection raises SIGPIPE: send with MSG_NOSIGNAL (or "
                "ignore SIGPIPE), and treat a failed recv()/send() as that client leaving, "
                "never as fatal")
HELP_LAZY = ("never block in send(): put the clients in select()'s write set and send to a "
             "client only when it is writable; what a client that does not read cannot take "
             "is dropped, or queued in bounded memory")


# ---- clients ---------------------------------------------------------------------------------

class Client:
    """A TCP client of the chat. Sends go through the kit's Connection; a thread reads all it
    receives (unless it is lazy: then nobody ever reads it). `due` is everything it should
    have received so far; `check()` holds it to that.

    With `echoes` (every check but the one about it), a line of its own sent back to it is
    set aside: only complete lines count then, and "client N: <a line it sent>" is dropped."""

    def __init__(self, conn, server, lazy: bool = False, echoes: bool = False):
        self.conn, self.sock, self.server, self.name = conn, conn.sock, server, conn.name
        self.id: int | None = None
        self.reading = not lazy
        self.echoes = echoes
        self.due = b""
        self.sent_lines: set[bytes] = set()  # the complete lines it sent
        self.unfinished = b""  # what it sent after its last "\n"
        self.lines = 0         # newlines received so far
        self.last_change = time.monotonic()
        self._data = bytearray()
        self._tail = bytearray()  # with `echoes`: an unfinished line, held back
        self._eof = False
        self._changed = threading.Condition()
        self._shown = 0        # `due` up to here is checked (and in the step log)
        self._verified = 0     # bytes received known to match `due`
        self._events: list[tuple[int, str]] = []  # (where in `due`, the event that made it due)
        self._reader = None
        self.stalled = False   # the last wait ended because nothing moved
        if self.reading:
            self._reader = threading.Thread(target=self._read, daemon=True)
            self._reader.start()

    def _read(self) -> None:
        poller = select.poll()
        poller.register(self.sock, select.POLLIN)
        while True:
            poller.poll()
            with self._changed:  # one lock around recv and append: see caught_up()
                try:
                    chunk = self.sock.recv(1 << 20, socket.MSG_DONTWAIT)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    chunk = b""
                if self.echoes:
                    self._tail += chunk
                    cut = self._tail.rfind(b"\n") + 1
                    self._data += self._without_echoes(bytes(self._tail[:cut]))
                    del self._tail[:cut]
                else:
                    self._data += chunk
                self.lines += chunk.count(b"\n")
                self.last_change = time.monotonic()
                self._eof = not chunk
                self._changed.notify_all()
                if not chunk:
                    return

    def _without_echoes(self, lines: bytes) -> bytes:
        if not self.sent_lines:
            return lines
        kept = []
        for line in re.findall(rb"[^\n]*\n", lines):
            echo = ECHO.match(line)
            if not (echo and line[echo.end():] in self.sent_lines
                    and self.id in (None, int(echo.group(1)))):
                kept.append(line)
        return b"".join(kept)

    @property
    def received(self) -> bytes:
        with self._changed:
            return bytes(self._data)

    def caught_up(self) -> bool:
        """It has read everything the kernel holds for it (or it reads no more)."""
        with self._changed:
            return self._eof or not self.reading or tcp.unread(self.sock) == 0

    def wait(self, condition, within: float, still: float | None = None) -> bool:
        """Until condition(bytes received) holds, the connection ends, or `within` passes;
        with `still`, also once nothing moved for that long: no byte arrived and the server
        used no CPU (a slow server reading a long line is still at work)."""
        deadline = time.monotonic() + within
        mark, moved, self.stalled = None, time.monotonic(), False
        with self._changed:
            while not condition(self._data):
                now = time.monotonic()
                if still is not None:
                    state = (len(self._data) + len(self._tail), procfs.cpu_ns(self.server.pid))
                    if state != mark:
                        mark, moved = state, now
                    elif now - moved >= still:
                        self.stalled = True
                        return False
                if now >= deadline or self._eof:
                    return bool(condition(self._data))
                self._changed.wait(min(deadline - now, 0.25))
            return True

    def find(self, needle: bytes, start: int, within: float) -> int:
        """Where `needle` shows up in what it receives from `start` on (-1: not within)."""
        searched = [start]

        def found(data) -> bool:
            if data.find(needle, searched[0]) >= 0:
                return True
            searched[0] = max(searched[0], len(data) - len(needle) + 1)
            return False

        self.wait(found, within)
        with self._changed:
            return self._data.find(needle, start)

    def send(self, data: str | bytes) -> bytes:
        """Send `data`; returns the lines it completed (what the others are due)."""
        data = data.encode() if isinstance(data, str) else data
        lines, newline, unfinished = (self.unfinished + data).rpartition(b"\n")
        completed = lines + newline
        self.sent_lines.update(re.findall(rb"[^\n]*\n", completed))  # before: see _read
        self.unfinished = unfinished
        self.conn.send(data)
        return completed

    def send_in_background(self, data: bytes) -> threading.Thread:
        """sendall() in a thread of its own (a server that stalls blocks the thread, not us)."""
        self.conn.steps.sent(f"{self.name} (in the background)", data)

        def pump():
            with contextlib.suppress(OSError):
                self.sock.sendall(data)

        thread = threading.Thread(target=pump, daemon=True)
        thread.start()
        return thread

    def close(self, reset: bool = False) -> None:
        """Close the connection: a FIN, or with `reset` an RST (SO_LINGER 0)."""
        if reset:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RD)  # wakes our reader; sends nothing
        if self._reader is not None:
            self._reader.join(2.0)
        self.reading = False
        if reset and self.sock.fileno() >= 0:
            self.conn.steps.add(f"{self.name} resets its connection (RST)")
        self.conn.close()

    # ---- what it is due ------------------------------------------------------------------

    def expect(self, more: bytes, why: str, within: float = EXPECT,
               help: str | None = None) -> None:
        """It is due `more` too: check everything it received so far."""
        self.owe(more, why)
        self.check(within=within, help=help)

    def owe(self, more: bytes, why: str) -> None:
        """It is due `more` too (checked later)."""
        self._events.append((len(self.due), why))
        self.due += more

    def check(self, why: str = "", within: float = EXPECT, help: str | None = None,
              more: bool = False) -> None:
        """What it received so far must be exactly what it is due, whatever the TCP split;
        waits up to `within` for the rest of it. Extra bytes fail too, unless `more` (then
        what it received must only begin with what it is due)."""
        if not self.reading:
            return
        want = self.due

        def ready(data) -> bool:
            end = min(len(data), len(want))
            if data[self._verified:end] != want[self._verified:end]:
                return True  # it differs already: no use waiting
            self._verified = end
            return len(data) >= len(want)

        self.wait(ready, within, still=EXPECT)  # a long wait only while things move
        got = self.received
        if got != want and not (more and got.startswith(want)):
            raise self._mismatch(got, want, why, within, help)
        if len(want) > self._shown:
            self.conn.steps.received(self.name, want[self._shown:])
        self._shown = len(want)

    def expect_in_any_order(self, lines: list[bytes], why: str, within: float = EXPECT,
                            help: str | None = None) -> None:
        """It is due `lines` too, in any order (they happened at the same moment)."""
        self.check(more=True)
        start, size = len(self.due), sum(map(len, lines))
        self.wait(lambda data: len(data) >= start + size, within)
        got = self.received[start:start + size]
        if sorted(got.splitlines(keepends=True)) == sorted(lines):
            self.expect(got, why, within, help)
        else:
            raise self._mismatch(self.received, self.due + b"".join(lines),
                                 why + " (in any order)", within, help)

    def learn_id(self, message, why: str, within: float = EXPECT, help: str | None = None
                 ) -> int:
        """The id N in the next line it receives, which must be message(N)'s first line."""
        self.check(more=True)
        probe = message(SENTINEL)
        head, _, tail = probe.partition(b"%d" % SENTINEL)
        tail = tail[:min(tail.index(b"\n") + 1, 64)]
        pattern = re.compile(re.escape(head) + rb"(-?\d+)" + re.escape(tail))
        start, limit = len(self.due), len(head) + len(tail) + 24
        self.wait(lambda data: pattern.match(data, start) or len(data) >= start + limit
                  or data.find(b"\n", start) >= 0, within)
        got = self.received
        match = pattern.match(got, start)
        if match is None:
            shown = show(probe, 120).replace(str(SENTINEL), "N")
            raise self._mismatch(got, self.due + probe, why, within, help,
                                 expected=f"{shown} (N: any id)")
        return int(match.group(1))

    def _mismatch(self, got: bytes, want: bytes, why: str, within: float, help: str | None,
                  expected: str | None = None) -> Mismatch:
        start = self._shown
        exp, act = want[start:], got[start:]
        same = _common(exp, act)
        if act == exp[:len(act)]:
            what = "received nothing" if not act else \
                f"received only {len(act):,} of the {len(exp):,} bytes due"
            if self.stalled:
                what += f" ({EXPECT:g} s without a byte, nor any CPU time used by " \
                        f"{self.server.name})"
            elif not self._eof:
                what += f" within {within:g} s"
        else:
            what = (f"received {len(act) - len(exp):,} bytes more than was due"
                    if act[:len(exp)] == exp else "received something else than was due")
            lines = exp[:same].count(b"\n")
            what += {0: "", 1: " (the first line as due)"}.get(
                lines, f" (the first {lines:,} lines as due)")
        why = why or self._event_at(start + same)
        note = ""
        line = act[act.rfind(b"\n", 0, same) + 1:]
        if own := self._own(line[:line.find(b"\n") + 1]):
            note = f": {own}"
            help = "send to every client but the one a message is about: the sender of a " \
                   "line, the newcomer of an arrival"
        if self._tail:
            note += f" (then an unfinished line: {show(bytes(self._tail))})"
        if not self.server.running:
            note += f"; {ended(self.server)}"
        elif self._eof:
            note += f"; {self.server.name} closed {self.name}'s connection"
        return Mismatch(expected or _excerpt(exp, same), _excerpt(act, same) or "(nothing)",
                        rationale=f"{self.name} {what} {why}{note}", help=help)

    def _event_at(self, offset: int) -> str:
        """The event that made the bytes due at `offset` of its stream (or the last one)."""
        return next((why for at, why in reversed(self._events) if at <= offset), "")

    def _own(self, line: bytes) -> str:
        """What is wrong with `line`, received, if it is about this very client; else ""."""
        if self.id is None or not line:
            return ""
        if line == arrived(self.id):
            return f"{show(line)} announces {self.name} to itself"
        prefix = b"client %d: " % self.id
        if line.startswith(prefix) and line[len(prefix):] in self.sent_lines:
            return f"{show(line)} is its own line, sent back to it"
        return ""


def ended(server) -> str:
    """"your mini_serv was killed by SIGPIPE (Broken pipe)", with its last words on stderr."""
    return f"{server.name} {server.describe_exit()}{server.stderr_note()}"


def _common(a: bytes, b: bytes) -> int:
    """The length of the common start of a and b."""
    n, at = min(len(a), len(b)), 0
    while at < n and a[at:at + 4096] == b[at:at + 4096]:
        at += 4096
    while at < n and a[at] == b[at]:
        at += 1
    return min(at, n)


SENTINEL = 7310421987  # stands for the id in a message whose id is learned


def _excerpt(data: bytes, same: int) -> str:
    """Feedback text of a stream: whole when short, else from just before the difference."""
    if len(data) <= 300 or same < 100:
        return show(data, 300)
    return f"[{same - 40:,} bytes as due, then] {show(data[same - 40:], 260)}"


# ---- the chat: the server and its clients ------------------------------------------------------

class Chat:
    """A mini_serv under test on `port`, and its clients in the order they connected."""

    def __init__(self, server, port: int, connect, lenient: bool, strict: bool):
        self.server, self.port, self.connect = server, port, connect
        self.lenient, self.strict = lenient, strict
        self.clients: list[Client] = []
        self.first: Client | None = None
        self.joined = 0
        self.seen = {ARRIVAL_SHAPE: 0, DEPARTURE_SHAPE: 0}  # lenient: lines the first is due
        self.last = "right after it started"  # what happened last, for feedback

    def join(self, *, id: int | None = None, lazy: bool = False, now: bool = True) -> Client:
        """One more client connects; returns once every earlier client has received its
        arrival line, with its id (`id`, or learned from the first of them). With
        `now=False` only the id is learned at once; what they received is checked later."""
        self.joined += 1
        self.expect_running(self.last)
        try:
            conn = self.connect(("127.0.0.1", self.port), name=f"client #{self.joined}",
                                server=self.server)
        except Failure:
            self.expect_running(f"{self.last}, or as client #{self.joined} connected")
            raise
        client = Client(conn, self.server, lazy, echoes=not (self.strict or self.lenient))
        earlier, self.clients = self.clients, [*self.clients, client]
        self.first = self.first or client
        why = self.last = f"when {client.name} connected"
        if not earlier:
            client.id = id
        elif self.lenient:
            self._shape(ARRIVAL_SHAPE, why)
        else:
            client.id = self._tell(earlier, arrived, id, why, now,
                                   HELP_IDS if id is not None else HELP_ARRIVAL)
        return client

    def say(self, sender: Client, text: str | bytes, *, now: bool | list[Client] = True,
            within: float = EXPECT, help: str | None = None) -> None:
        """`sender` sends `text`; every other reading client is due its complete lines as
        "client N: line". An unfinished line waits in the sender's buffer: then the server
        just reads it (this returns once it is idle again). `now`: whom to check at once
        (True: everyone; False: nobody, they are checked later; or a list)."""
        lines = sender.send(text)
        if not lines:
            if now is not False:
                self.server.wait_idle(SETTLE)
            return
        others = [c for c in self.clients if c is not sender]
        self.last = f"after {sender.name} sent {show(text)}"
        sender.id = self._tell(others, lambda n: said(n, lines), sender.id, self.last, now,
                               help or HELP_RELAY, within)

    def leave(self, *gone: Client, reset: bool = False) -> None:
        """`gone` close their connections (with `reset`, an RST). The others are due one
        departure line each: in order for one client; for several, which close while the
        server is stopped (SIGSTOP) and so find them all at once, in any order."""
        with self.stopped() if len(gone) > 1 else contextlib.nullcontext():
            for client in gone:
                client.close(reset)
        self.clients = [c for c in self.clients if c not in gone]
        names = ", ".join(c.name for c in gone)
        why = self.last = f"after {names} {'reset' if reset else 'closed'} " \
            f"{'its connection' if len(gone) == 1 else 'their connections at once'}"
        if self.lenient:
            for _ in gone:
                self._shape(DEPARTURE_SHAPE, why)
        elif len(gone) == 1:
            self._tell(self.clients, left, gone[0].id, why, True, HELP_DEPARTURE)
        else:
            assert all(c.id is not None for c in gone), "the ids of clients leaving together"
            for client in self.readers():
                client.expect_in_any_order([left(c.id) for c in gone], why,
                                           help=HELP_DEPARTURE + "; " + HELP_SIGPIPE)

    def settle(self, help: str | None = None) -> None:
        """Once the server is idle in select() again (a busy one gets SETTLE s) and every
        client has read what the kernel holds for it: each has received exactly what it
        was due, nothing more (no line of its own, no arrival of its own)."""
        self.server.wait_idle(SETTLE)
        readers = self.readers()
        wait_until(lambda: all(c.caught_up() for c in readers), EXPECT,
                   "the clients to read what they were sent")
        for client in readers:
            client.check("once your server was idle again: nothing more was due",
                         help=help or HELP_RELAY)
        self.expect_running(self.last)

    @contextlib.contextmanager
    def stopped(self):
        """The server stopped (SIGSTOP) inside: it finds what happened meanwhile at once."""
        self.server.suspend()
        try:
            yield
        finally:
            self.server.resume()

    def expect_running(self, when: str) -> None:
        """Fail if the server has ended; `when`: the moment, as "after client #2 sent ..."."""
        if not self.server.running:
            raise Failure(f"{ended(self.server)} {when}", help=HELP_SIGPIPE)

    def readers(self) -> list[Client]:
        return [c for c in self.clients if c.reading]

    def close(self) -> None:
        for client in self.clients:
            client.close()

    def _tell(self, receivers: list[Client], message, n: int | None, why: str,
              now: bool | list[Client], help: str, within: float = EXPECT) -> int | None:
        """Every reading client of `receivers` is due message(n); an unknown n is learned
        from the first of them. Returns n."""
        readers = [c for c in receivers if c.reading]
        if not readers:
            return n
        if n is None:
            n = readers[0].learn_id(message, why, within, help)
        for client in readers:
            client.owe(message(n), why)
        checked = readers if now is True else [] if now is False else now
        for client in checked:
            client.check(within=within, help=help)
        return n

    def _shape(self, shape: re.Pattern, why: str) -> None:
        """Lenient: the first client has one more line of this shape, whatever its id."""
        self.seen[shape] += 1
        count, first = self.seen[shape], self.first
        if not first.wait(lambda data: len(shape.findall(data)) >= count, EXPECT):
            kind, like = (("an arrival", arrived) if shape is ARRIVAL_SHAPE else
                          ("a departure", left))
            state = "" if self.server.running else f"; {ended(self.server)}"
            raise Failure(f"{why}, {first.name} was not told of {kind} within {EXPECT:g} s "
                          f"(a line like {show(like(7)).replace('7', 'N')}, any N); it "
                          f"received {show(first.received[-200:], 200)}{state}",
                          help=HELP_ARRIVAL if shape is ARRIVAL_SHAPE else HELP_DEPARTURE)


@pytest.fixture
def start_server(names, connect):
    """start_server(launcher, lenient=False, strict=False, ready=READY, **spawn) -> Chat:
    `./mini_serv PORT` on a free port, once it listens (seen in /proc/net/tcp, without
    connecting; `ready` s at most).
    `lenient`: arrivals and departures are recognised by their shape (mechanism checks).
    `strict`: a line sent back to its sender fails; else it is set aside, so that this one
    flaw costs only the check about it."""
    chats = []

    def start(launcher, *, lenient: bool = False, strict: bool = False, ready: float = READY,
              **spawn) -> Chat:
        port = names.port()
        server = launcher.spawn("mini_serv", port, **spawn)
        tcp.wait_listening(server, port, within=ready)
        chats.append(Chat(server, port, connect, lenient, strict))
        return chats[-1]

    yield start
    for chat in chats:
        chat.close()


def printable(rng: random.Random, size: int) -> bytes:
    return rng.randbytes(size).translate(PRINTABLE)


# ---- starting -----------------------------------------------------------------------------------

def expect_error(program, message: str, when: str) -> None:
    """`program` exits 1 with exactly `message` on stderr and nothing on stdout."""
    advice = f"write exactly {message!r} on stderr (fd 2), nothing on stdout, then exit(1)"
    program.expect_exit(1, within=EXIT_DEADLINE, when=when, help=advice)
    if program.stderr != message or program.stdout_bytes:
        raise Mismatch(f"stderr {show(message)}, stdout empty",
                       f"stderr {show(program.stderr)}, stdout {show(program.stdout)}",
                       rationale=f"{when}, {program.name} exited 1 but did not write exactly "
                                 f"{message!r} on stderr alone", help=advice)


def test_argument_errors(student):
    expect_error(student.spawn("mini_serv"), "Wrong number of arguments\n", "with no argument")


FATAL = {"the port is in use": None,
         "socket() fails (EMFILE)": "socket:error=EMFILE",
         "listen() fails (EADDRINUSE)": "listen:error=EADDRINUSE"}


@pytest.mark.parametrize("case", FATAL)
def test_port_in_use(student, names, case):
    fault = FATAL[case]
    with socket.socket() as holder:  # listening, no SO_REUSEADDR: nobody else can bind
        if fault is None:
            holder.bind(("127.0.0.1", 0))
            holder.listen()
        port = holder.getsockname()[1] if fault is None else names.port()
        server = student.spawn("mini_serv", port, inject=[fault] if fault else ())
        expect_error(server, "Fatal error\n", f"when {case}")


def test_listens_on_loopback_only(student, start_server):
    chat = start_server(student)
    where = tcp.listening(chat.port)
    if where != [("127.0.0.1", chat.port)]:
        shown = ", ".join(f"{address}:{port}" for address, port in where)
        raise Failure(f"your mini_serv listens on {shown}, not on 127.0.0.1:{chat.port} only",
                      help="bind to 127.0.0.1: htonl(INADDR_LOOPBACK) or htonl(2130706433), "
                           "never INADDR_ANY (0.0.0.0), which opens the chat to the network")
    with socket.socket() as probe:
        probe.settimeout(2.0)
        with contextlib.suppress(ConnectionRefusedError):
            probe.connect(("127.0.0.2", chat.port))
            raise Failure(f"a connection to 127.0.0.2:{chat.port} was accepted: your mini_serv "
                          f"listens on more than 127.0.0.1",
                          help="bind to htonl(INADDR_LOOPBACK), never INADDR_ANY")


# ---- behaviour: bytes compared per receiving client --------------------------------------------

def test_arrival_and_ids(student, start_server):
    chat = start_server(student)
    chat.join(id=0)
    chat.join(id=1)  # the first: "server: client 1 just arrived\n"
    chat.join(id=2)  # the first two: "server: client 2 just arrived\n"
    chat.settle(help="the newcomer itself receives nothing: tell only the others")


def test_broadcast_to_others(student, start_server):
    chat = start_server(student, strict=True)  # a line sent back to its sender fails here
    a, _, c = chat.join(), chat.join(), chat.join()
    chat.say(a, "hello world\n")
    chat.say(c, "hi from the third client\n")
    chat.settle(help="a client never receives its own lines: send to everyone but the sender")


def test_several_lines_one_send(student, start_server):
    chat = start_server(student)
    a, b, _ = chat.join(), chat.join(), chat.join()  # the third only receives
    chat.say(a, "one\ntwo\nthree\n", help=HELP_BUFFER)
    chat.say(b, "".join(f"line {k}\n" for k in range(100)), help=HELP_BUFFER)


def test_line_in_pieces(student, start_server):
    chat = start_server(student)
    a, b, _ = chat.join(), chat.join(), chat.join()  # the third only receives
    for piece in ("hel", "lo wo", "rld\n"):  # each read by the server before the next
        chat.say(a, piece, help=HELP_BUFFER)
    chat.say(b, "ok\n", help=HELP_BUFFER)


def test_interleaved_partial_lines(student, start_server):
    chat = start_server(student)
    a, b, _ = chat.join(), chat.join(), chat.join()  # the third only receives
    chat.say(a, "abc")  # an unfinished line: nothing to relay yet
    chat.say(b, "xyz\n", help="a client's unfinished line must hold up nobody: never wait in "
                              "recv() for the end of a line; " + HELP_BUFFER)
    chat.say(a, "def\n", help=HELP_BUFFER)  # "client <a>: abcdef\n"


def test_departure_and_no_reuse(student, start_server):
    chat = start_server(student)
    a, b, c = chat.join(id=0), chat.join(id=1), chat.join(id=2)
    chat.leave(b)             # a, c: "server: client 1 just left\n"
    d = chat.join(id=3)       # it gets b's file descriptor, not its id
    chat.say(d, "hi\n")
    chat.leave(c)
    e = chat.join(id=4)
    chat.say(e, "bye\n")
    chat.say(a, "still client 0\n", help=HELP_IDS)


def test_reset_with_unread_data(student, start_server):
    chat = start_server(student)
    a, b, c = chat.join(), chat.join(lazy=True), chat.join()  # b never reads
    chat.say(c, "unread\n")
    wait_until(lambda: tcp.unread(b.sock) > 0, EXPECT, f"data for {b.name}, which never reads")
    b_port, c_port = b.sock.getsockname()[1], c.sock.getsockname()[1]
    line = "while resetting\n"  # (a line for the others, due below)
    with chat.stopped():  # the server finds the reset and a new line at once
        b.close(reset=True)
        c.send(line)
        wait_until(lambda: tcp.connection_state(chat.port, b_port) is None
                   and (tcp.queued(chat.port, c_port) or 0) >= len(line), EXPECT,
                   "the reset and the line to reach the stopped server's sockets")
    chat.clients.remove(b)
    why = f"after {b.name} reset its connection (with data unread) and {c.name} sent a line"
    a.expect_in_any_order([said(c.id, line.encode()), left(b.id)], why,
                          help=HELP_SIGPIPE)
    c.expect(left(b.id), why, help=HELP_SIGPIPE)
    chat.join()
    chat.say(c, "after\n")  # a and the newcomer


# ---- the mechanism: lazy clients, long lines, many clients, leaks, speed ------------------------

def test_lazy_client_no_stall(student, start_server):
    chat = start_server(student, lenient=True)
    reader, lazy, sender, marker = (chat.join(), chat.join(lazy=True), chat.join(),
                                    chat.join())
    start, size = reader.lines, len(reader.received)
    started = time.monotonic()
    sender.send_in_background(LAZY_LINE * LAZY_LINES)
    # the marker goes once the reader has it all, has received nothing for STILL s, or after
    # PUMP_MAX s (a slow server is still at work: no need to wait for all of it)
    eventually(lambda: reader.lines >= start + LAZY_LINES
               or time.monotonic() - max(reader.last_change, started) >= STILL, PUMP_MAX)
    before = len(reader.received)
    marker.send("marker\n")
    if reader.find(b"marker\n", before, MARKER_SECONDS) < 0:
        chat.expect_running(f"while {lazy.name} read nothing")
        raise Failure(f"the line {marker.name} sent ('marker\\n') did not reach {reader.name} "
                      f"within {MARKER_SECONDS:g} s: your mini_serv is stuck. {sender.name} "
                      f"sent {LAZY_LINES * len(LAZY_LINE):,} bytes while {lazy.name} read "
                      f"nothing; {reader.name} had received {before - size:,} of them",
                      help=HELP_LAZY)
    if gone := DEPARTURE_SHAPE.search(reader.received):
        raise Failure(f"{reader.name} was told {show(gone.group())}: a client that does not "
                      f"read must never be disconnected for it", help=HELP_LAZY)
    state = tcp.connection_state(chat.port, lazy.sock.getsockname()[1])
    if state != "ESTABLISHED":
        raise Failure(f"your mini_serv's side of {lazy.name}'s connection is "
                      f"{state or 'gone'}, not ESTABLISHED: it closed the connection of a "
                      f"client that only did not read", help=HELP_LAZY)
    chat.expect_running(f"after {lazy.name} read nothing")


def random_lines(rng: random.Random, total: int, longest: int) -> list[bytes]:
    lines, size = [], 0
    while size < total:
        lines.append(printable(rng, rng.randint(0, longest)) + b"\n")
        size += len(lines[-1])
    return lines


def test_reading_client_gets_all(student, start_server):
    chat = start_server(student)
    reader, _, sender = chat.join(), chat.join(lazy=True), chat.join()  # the second never reads
    rng = random.Random(5)
    data = b"".join(random_lines(rng, 1 << 20, 4000))
    at = pieces = 0
    while at < len(data):  # random pieces, lines cut anywhere, sent back to back
        size = rng.randint(1, 65536)
        chat.say(sender, data[at:at + size], now=False)
        at, pieces = at + size, pieces + 1
    reader.check(f"after {sender.name} sent {len(data):,} bytes of lines (0 to 4,000 bytes "
                 f"long) in {pieces} pieces", within=MIB_SECONDS, help=HELP_BUFFER)


def test_long_lines(student, start_server):
    chat = start_server(student)
    a, b, c = chat.join(), chat.join(), chat.join()
    rng = random.Random(3)
    for size in (100 * 1024, 1 << 20):
        chat.say(a, printable(rng, size - 1) + b"\n", within=MIB_SECONDS,
                 help="a line has no length limit: grow the client's buffer (realloc(), or "
                      "the subject's str_join()) instead of a fixed char buf[4096]")
    chat.say(b, "after\n", help="after a long line the server's state must still be right")
    chat.say(c, "x\n", help="after a long line the server's state must still be right")


def test_two_hundred_clients(student, start_server):
    chat = start_server(student)
    crowd = [chat.join(now=False) for _ in range(CROWD)]  # each once the first was told
    first, last = crowd[0], crowd[-1]
    chat.say(first, "first one\n", now=[last])
    chat.say(last, "last one\n")  # everyone: every later arrival, and both lines
    chat.settle()


def test_fd_leak(student, start_server):
    chat = start_server(student, lenient=True)
    chat.join()
    chat.join()
    chat.server.wait_idle()
    before = chat.server.open_fds()
    for _ in range(CYCLES):
        client = chat.join()
        client.send("ping\n")
        chat.leave(client)
    chat.server.wait_idle()
    after = chat.server.open_fds()
    if len(after) > len(before):
        raise Failure(f"your mini_serv held {len(before)} file descriptors, and "
                      f"{len(after)} after {CYCLES} clients connected, sent a line and left",
                      help="close() the socket of every client that leaves (recv() returned "
                           "0 or failed), and free what it held")


_reference_seconds: list[float] = []  # the reference's relay time, once per grading process


def relay_time(chat: Chat, budget: float) -> float:
    """Seconds for SPEED_BLOCKS MiB of lines from one client to reach another, 1 MiB at a
    time (the next once the reader has every line of the last). Lines are counted only."""
    reader, sender = chat.join(), chat.join()
    start, started = reader.lines, time.monotonic()
    for block in range(SPEED_BLOCKS):
        sender.send(SPEED_BLOCK * SPEED_LINES)
        goal = start + SPEED_LINES * (block + 1)
        if not reader.wait(lambda _, goal=goal: reader.lines >= goal,
                           budget - (time.monotonic() - started)):
            chat.expect_running(f"after {sender.name} sent {block + 1} MiB of lines")
            raise Failure(f"{reader.name} had received {reader.lines - start:,} of the "
                          f"{SPEED_LINES * SPEED_BLOCKS:,} lines of 1 KiB after "
                          f"{time.monotonic() - started:.1f} s")
    return time.monotonic() - started


def test_throughput(student, reference, start_server):
    if not _reference_seconds:
        try:
            _reference_seconds.append(relay_time(start_server(reference, lenient=True), 60.0))
        except Failure as failure:
            raise RuntimeError(f"the reference could not be timed: {failure}") from None
    ours = _reference_seconds[0]
    budget = max(SPEED_FLOOR, SPEED_FACTOR * ours)
    chat = start_server(student, lenient=True)
    try:
        relay_time(chat, budget)
    except Failure as failure:
        if not chat.server.running:
            raise  # it says how the server ended, and when
        raise Failure(f"too slow: {failure.rationale}; the reference relayed them all in "
                      f"{ours:.2f} s here, and {budget:.1f} s are allowed",
                      help="read in large chunks (recv() of 4 KiB or more per select() round, "
                           "not one byte), and relay every complete line of a chunk") from None


IDLE_HELP = ("block in select() with no timeout (or a long one), never a zero timeout or a "
             "sleep; and put a client in the write set only when you have something to send "
             "it: a socket is almost always writable, so select() would return at once")


def test_idle_cpu(student, start_server):
    chat = start_server(student, lenient=True)
    expect_idle(chat.server, when="right after it started", cpu_share=IDLE_CPU_SHARE,
                wakeups_per_second=WAKEUPS_PER_SECOND, seconds=IDLE_WINDOW, help=IDLE_HELP)
    a, b, _ = chat.join(), chat.join(), chat.join()
    a.send("hi\n")
    b.find(b"hi\n", 0, EXPECT)  # relayed or not: delivery is other checks' business
    chat.server.wait_idle()
    expect_idle(chat.server, when="after three clients came and one sent a line",
                cpu_share=IDLE_CPU_SHARE, wakeups_per_second=WAKEUPS_PER_SECOND,
                seconds=IDLE_WINDOW, help=IDLE_HELP)


MULTIPLEXERS = ["poll", "ppoll", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_wait",
                "epoll_pwait", "?epoll_pwait2", "clone", "clone3", "fork", "vfork"]
SLEEPS = ["nanosleep", "clock_nanosleep"]


def zero_timeout(call) -> bool:
    timeout = call.fields(4)
    return timeout.get("tv_sec") == "0" and timeout.get("tv_nsec", timeout.get("tv_usec")) == "0"


def test_select_multiplexing(student, start_server, connect):
    """The gate: one thread of one process waits for every socket with select(). Two
    clients connect; what they receive, and whether the server survives them, is other
    checks' business: this one reads the trace."""
    chat = start_server(student, ready=SETUP_SECONDS, trace=",".join(["select", *MULTIPLEXERS]))
    with contextlib.suppress(Failure):
        for _ in range(2):
            connect(("127.0.0.1", chat.port), server=chat.server)
        chat.server.wait_idle()
    chat.server.signal(signal.SIGKILL)
    chat.server.wait(EXIT_DEADLINE)
    trace = chat.server.trace
    if other := trace.never([name.lstrip("?") for name in MULTIPLEXERS]):
        what = ("a thread or a child process" if "clone" in other[0].name or "fork" in
                other[0].name else "another way to wait than select()")
        raise Failure(f"your mini_serv called {other[0].short()}: {what}",
                      help="one process, one thread: wait for every socket with select() "
                           "(or pselect()), never poll/epoll, threads or fork()")
    if not trace.used("select"):
        raise Failure("your mini_serv never called select() or pselect(); its calls: "
                      f"{trace.excerpt(None, 8)}")


def test_select_only(student, start_server):
    chat = start_server(student, lenient=True, trace=",".join(["select", *SLEEPS]))
    a, b, _ = chat.join(), chat.join(), chat.join()
    a.send("one\n")
    b.find(b"one\n", 0, EXPECT)
    chat.leave(b)
    chat.join()
    chat.server.wait_idle()
    chat.expect_running("during a short conversation, traced")
    chat.server.signal(signal.SIGKILL)
    chat.server.wait(EXIT_DEADLINE)
    trace = chat.server.trace
    if sleeps := trace.never(SLEEPS):
        raise Failure(f"your mini_serv called {sleeps[0].short()}: a sleep",
                      help="never sleep: wait for every socket with select() (or pselect())")
    if len(zero := [c for c in trace.calls("select") if zero_timeout(c)]) > ZERO_TIMEOUTS:
        raise Failure(f"your mini_serv called select() {len(zero)} times with a zero timeout "
                      f"({zero[0].short()}): it spins instead of waiting", help=IDLE_HELP)


def test_leaving_together(student, start_server):
    chat = start_server(student)
    _, *others = [chat.join() for _ in range(10)]  # the first stays
    chat.leave(*others)  # nine close while the server is stopped: it finds them all at once
    newcomer = chat.join()
    chat.say(newcomer, "still here\n")
