"""assignment4 checks: text messages sent one bit at a time with kill(), SIGUSR1 and SIGUSR2.

The encoding is the student's, so their client and server are always graded together and the
grader never decodes a signal: a delivery check starts the server, reads its PID, runs
clients, and looks for each message as an intact run of bytes in the server's output.

Lost signals. Two signals of one kind sent before the first is handled merge into one, so a
client that sleeps a fixed time per bit instead of waiting for the server's answer loses bits
whenever the server is not scheduled in time. The delivery checks run on a quiet machine; one
check, busy_machine, makes the machine busy on purpose, in a way that does not depend on luck:
the server is stopped (SIGSTOP) until the client's first signal is pending and HOLD seconds
more, and the message runs against a CPU hog on every core while the server is stopped again
and again. A pair that waits for each answer only gets slower; a racy pair loses bits.

Waiting. A deadline per message comes from a calibration run of the reference on this host
(DEADLINE_FACTOR times its time, never less than the floor). A lost signal usually leaves the
client and the server both asleep, each waiting for the other: when neither has run for
STALL_SECONDS the check fails at once with that diagnosis instead of waiting out the deadline.
"""

import contextlib
import os
import random
import re
import signal
import time

import pytest

from grader.checks import (
    CHANNEL_TRACE,
    SETUP_SECONDS,
    Failure,
    Mismatch,
    busy_machine,
    eventually,
    expect_idle,
    measure_idle,
    other_channels,
    procfs,
    sentence,
    shorten,
    show,
    wait_until,
)

STALL_SECONDS = 1.0       # client and server both asleep, nothing moving: a signal was lost
LATE_OUTPUT = 2.0         # the client has ended: the message may still be on its way
DEADLINE_FACTOR = 20      # a message may take this many times what the reference takes...
FLOOR_SECONDS = 10.0      # ...and never less than this
FLOOR_PER_CHAR = 0.003    # ...nor 3 ms per character (10,000 characters: 30 s)
PID_SECONDS = 5.0         # the server has this long to print its PID
SURVIVAL_SECONDS = 0.3    # a signal at its first output must not have killed it by then
BAD_ARGS_SECONDS = 2.0    # a client given bad arguments has this long to exit
IDLE_CPU_SHARE = 0.10     # an idle server may use this share of one CPU...
WAKEUPS_PER_SECOND = 100  # ...and wake up this often, whatever wakes it
POLLS_PER_SECOND = 33     # sleeping calls allowed per second while idle (sleep(1) is fine)
HOLD = 0.3                # busy_machine: the server stays stopped once a client has started
STOPPED_SECONDS = 0.8     # a client must wait at least 1 s for an answer (the handout)
WRITE_DELAY = 1.5         # seconds the server's write of a message is held back...
PTY_LAG = 0.5             # ...and how late its bytes may reach us after the confirmation
ORPHAN_SECONDS = 6.0      # a client whose server died: watched this long, must never exit 0

ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")
HELP_WAIT_FOR_ANSWER = ("signals of one kind do not queue: send the next bit only after the "
                        "server has answered the previous one (server: kill(si_pid, ...) "
                        "once the bit is stored; client: block SIGUSR1/SIGUSR2 and wait with "
                        "sigsuspend() or sigwaitinfo())")


# ---- deadlines: a calibration run of the reference ----------------------------------------

_seconds_per_char: list[float] = []  # one calibration per grading process


@pytest.fixture
def deadline(reference):
    """deadline(chars): the seconds a message of `chars` characters may take (the handout)."""
    if not _seconds_per_char:
        server = start_server(reference)
        text = b"calibration " * 84  # 1,008 characters
        started = time.monotonic()
        client = reference.spawn("client", server.pid, text)
        wait_for(server, client, text, len(server.stdout_bytes), 60.0)
        _seconds_per_char.append((time.monotonic() - started) / len(text))
        client.stop()
        server.stop()
    return lambda chars: max(FLOOR_SECONDS, FLOOR_PER_CHAR * chars,
                             DEADLINE_FACTOR * _seconds_per_char[0] * max(chars, 100))


# ---- the server and its PID -------------------------------------------------------------


def pid_printed(server) -> bool:
    """The server's PID is in its output (stdout or stderr, colours stripped)."""
    number = re.compile(rb"(?<!\d)%d(?!\d)" % server.pid)
    return bool(number.search(ANSI.sub(b"", server.stdout_bytes))
                or number.search(ANSI.sub(b"", server.stderr.encode(errors="surrogateescape"))))


def start_server(launcher, within: float = PID_SECONDS, **kwargs):
    """Start a server, wait for its PID (`within` s) and for it to wait for signals."""
    server = launcher.spawn("server", **kwargs)
    wait_until(lambda: pid_printed(server), within,
               lambda: f"{server.name} to print its PID, {server.pid}", watch=server,
               help='print it as the first line of stdout and flush it, e.g. '
                    'printf("%d\\n", getpid()); fflush(stdout);')
    server.wait_idle()  # in its wait for signals: handlers are in place
    return server


def output_after_pid(server) -> bytes:
    """The server's stdout without its PID line (when the PID was printed on stdout)."""
    out = server.stdout_bytes
    first, newline, rest = out.partition(b"\n")
    if newline and re.search(rb"(?<!\d)%d(?!\d)" % server.pid, ANSI.sub(b"", first)):
        return rest
    return out


# ---- waiting for a message ----------------------------------------------------------------


def wait_for(server, client, data: bytes | None, start: int, seconds: float) -> int:
    """Wait until `data` is in the server's output past `start` (None: do not look) and the
    client has exited. Returns where the message ends. Fails on the deadline, on a stall,
    as soon as the server ends, and when the client has ended but the message does not
    come (after LATE_OUTPUT seconds: its last bytes may still be on their way)."""
    sent = shorten(client.argv[-1], 60)
    give_up = time.monotonic() + seconds
    still, since, client_gone = None, time.monotonic(), None
    while True:
        server_alive = server.running  # before reading: a dead server's output is complete
        if not server_alive:
            server.wait()  # and the last of its output, which the pty may still hold
        out = server.stdout_bytes
        found = -1 if data is None else out.find(data, start)
        now = time.monotonic()
        if not client.running:
            client.wait()
            if found >= 0 or data is None:
                return start if data is None else found + len(data)
            client_gone = client_gone or now
        if not server_alive and data is not None and found < 0:
            raise Failure(f"{server.name} {server.describe_exit()} while {client.name} was "
                          f"sending {sent!r}")
        if found < 0 and server.output_discarded:
            raise Failure(f"the message was not found in what {server.name} printed"
                          + server.discard_note())
        if client_gone and now - client_gone >= LATE_OUTPUT:
            raise Mismatch(show(data, 300), show(out[start:], 300) or "(nothing)",
                           rationale=f"{client.name} {client.describe_exit()}, and "
                                     f"{LATE_OUTPUT:g} s later {server.name} had not printed "
                                     f"the message whole{client.stderr_note()}",
                           help=HELP_WAIT_FOR_ANSWER)
        mark = procfs.sleeping_marks([server.pid, client.pid]) if client.running else None
        if mark is None or mark != still:
            still, since = mark, now
        elif now - since >= STALL_SECONDS and (data is None or found < 0):
            raise Mismatch(sent, show(out[start:], 300) or "(nothing)",
                           rationale=f"your client and your server both waited for a signal "
                                     f"for {STALL_SECONDS:g} s before the message was "
                                     f"printed: a signal was lost",
                           help=HELP_WAIT_FOR_ANSWER)
        if now > give_up:
            if data is None:
                raise Failure(f"{client.name} was still sending {sent!r} after {seconds:g} s")
            if found >= 0:
                raise Failure(f"{server.name} printed the message but {client.name} was still "
                              f"running {seconds:g} s later",
                              help="exit once the whole message is sent (and confirmed)")
            raise Mismatch(show(data, 300), show(out[start:], 300) or "(nothing)",
                           rationale=f"{client.name} was still sending after {seconds:g} s "
                                     f"and the message was not printed whole (the "
                                     f"deadline for {len(data):,} characters)")
        time.sleep(0.002)


def deliver(student, server, data: bytes, seconds: float, hold: bool = False):
    """Run the student's client with `data` and wait until the server has printed it.
    With `hold`, the server is stopped as the client starts, until the client's first
    signal is pending and HOLD seconds more. Returns (client, end of the message)."""
    start = len(server.stdout_bytes)
    if hold:
        server.suspend()
    try:
        client = student.spawn("client", server.pid, data)
        if hold:
            usr = {signal.SIGUSR1, signal.SIGUSR2}
            eventually(lambda: procfs.pending_signals(server.pid) & usr or not client.running,
                       2.0, every=0.0005)
            eventually(lambda: not client.running, HOLD)  # HOLD seconds, or until it ended
    finally:
        if hold:
            server.resume()
    return client, wait_for(server, client, data or None, start, seconds)


# ---- delivery ---------------------------------------------------------------------------


def test_short_message(student, deadline):
    for text in (b"Hello, signals! One bit at a time, 8 bits a byte.",
                 b"A second server, and a second short message."):
        server = start_server(student)
        deliver(student, server, text, deadline(len(text)))


def test_empty_message(student, deadline):
    server = start_server(student)
    for after in (b"After an empty message, this one arrives intact.",
                  b"And after a second empty message, so does this one, still in step."):
        deliver(student, server, b"", deadline(0))
        deliver(student, server, after, deadline(len(after)))


def test_thousand_chars(student, deadline):
    text = sentence(1000, 1000)
    deliver(student, start_server(student), text, deadline(len(text)))


def test_ten_thousand_chars(student, deadline):
    text = sentence(10000, 10000)
    deliver(student, start_server(student), text, deadline(len(text)))


def test_seventy_thousand_chars(student, deadline):
    text = sentence(70000, 70000)
    deliver(student, start_server(student), text, deadline(len(text)))


CONTENTS = {"UTF-8 text": "Grüße, ça marche ✓ — 日本語のテキスト 🎉 Ελληνικά".encode(),
            "every byte value 1..255": bytes(range(1, 256)),
            "a message starting with '-'": b"-n --help -- a message, not options"}


@pytest.mark.parametrize("content", CONTENTS)
def test_utf8_and_all_bytes(student, deadline, content):
    text = CONTENTS[content]
    deliver(student, start_server(student), text, deadline(len(text)))


def test_five_clients(student, deadline):
    server = start_server(student)
    for n in range(1, 6):
        text = b"client %d of 5 says: " % n + sentence(n, 20 + 7 * n)
        deliver(student, server, text, deadline(len(text)))


def test_whole_and_in_order(student, deadline):
    rng = random.Random(7)
    texts = [b"#%02d:" % n + bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz")
                                   for _ in range(length))
             for n, length in enumerate([1, 150, 3, 40, 0, 90, 7, 300, 12, 64, 2, 25])]
    server = start_server(student)
    ends = [deliver(student, server, text, deadline(len(text)))[1] for text in texts]
    out = server.stdout_bytes
    for text in texts:
        if out.count(text) != 1:
            raise Mismatch(f"{show(text, 60)} printed once",
                           f"printed {out.count(text)} times: {show(output_after_pid(server))}",
                           rationale="a message was printed more than once: the text of a "
                                     "previous message was still in the buffer",
                           help="empty your buffer (length back to 0) after printing a message")
    if ends != sorted(ends):
        raise Failure("the messages were not printed in the order they were sent")


def test_exact_format(student, deadline):
    texts = [b"First message: a plain line of text, printed on a line of its own.", b"",
             b"The third one comes after an empty message, which is an empty line.",
             b"And a fourth one (4/5), then a newline, and nothing else after it.",
             b"The fifth ends in a newline of its own,\nso it is followed by two.\n"]
    server = start_server(student)
    for text in texts:
        deliver(student, server, text, deadline(len(text)))
    expected = b"".join(text + b"\n" for text in texts)
    eventually(lambda: output_after_pid(server) == expected, 0.5)  # a late "\n" on its way
    actual = output_after_pid(server)
    if actual != expected:
        raise Mismatch(show(expected, 300), show(actual, 300),
                       rationale="after the PID line, the server should print each message "
                                 "followed by a newline, and nothing else",
                       help="no banner, prefix or NUL byte; an empty message is an empty line")


def test_busy_machine(student, deadline):
    server = start_server(student)
    for n, chars in enumerate((120, 600)):
        text = sentence(chars, chars)
        seconds = deadline(len(text)) * 2
        try:
            if n == 0:
                deliver(student, server, text, seconds, hold=True)
            else:
                with busy_machine(server):
                    deliver(student, server, text, seconds, hold=True)
        except Failure as failure:
            moment = ("the server was stopped (SIGSTOP) until your client's first signal "
                      f"had arrived, and {HOLD:g} s more" if n == 0 else
                      "the server was stopped 10 ms out of every 50 and a CPU hog ran on "
                      "every core")
            failure.rationale = f"on a busy machine ({moment}): {failure.rationale}"
            failure.help = failure.help or HELP_WAIT_FOR_ANSWER
            raise


VICTIM = b"~" * 10000  # a message long enough to be killed in the middle of


def test_killed_client(student, deadline):
    server = start_server(student)
    _, calm = deliver(student, server, b"before the storm", deadline(16))
    switches = server.context_switches()
    victim = student.spawn("client", str(server.pid), VICTIM.decode())
    eventually(lambda: server.context_switches() >= switches + 100 or not victim.running, 2.0)
    victim.stop()  # the server has taken some bits of the victim's message
    victim.wait()
    time.sleep(0.5)  # the handout allows a server to reset after half a second of silence
    text = b"after the storm: a client was killed mid-message"
    _, end = deliver(student, server, text, deadline(len(text)))
    between = server.stdout_bytes[calm:end]  # from the end of the message before the storm
    if any(len(run) != len(VICTIM) for run in re.findall(rb"~+", between)):  # a part of it
        glued = between.endswith(b"~" + text)
        raise Mismatch(show(text + b"\n", 300), show(between, 300),
                       rationale="the next message came out glued to what the killed client "
                                 "had sent" if glued else
                                 "the server printed part of the killed client's message",
                       help="drop an unfinished message when a new sender (si_pid) starts")


IDLE_HELP = "wait for signals in pause() or sigsuspend(), not in a loop"


def test_idle_cpu(student, deadline):
    server = start_server(student)
    expect_idle(server, when="right after it started", cpu_share=IDLE_CPU_SHARE, help=IDLE_HELP)
    with contextlib.suppress(Failure):  # delivery is other checks' business
        deliver(student, server, b"one message, then quiet", deadline(23))
    if server.running:  # a server that ends after a message loses other checks
        server.wait_idle()
        expect_idle(server, when="after a message", cpu_share=IDLE_CPU_SHARE, help=IDLE_HELP)


SLEEPS = ["nanosleep", "clock_nanosleep", "select", "pselect6", "poll", "ppoll", "epoll_wait",
          "epoll_pwait", "epoll_pwait2", "rt_sigtimedwait"]


def test_no_sleep_polling(student, deadline):
    server = start_server(student, trace=",".join(SLEEPS))
    windows = [quiet_window(server)]
    text = b"a message between two quiet moments"
    with contextlib.suppress(Failure):  # delivery is other checks' business
        deliver(student, server, text, deadline(len(text)))
    server.wait_idle()
    windows.append(quiet_window(server))
    server.signal(signal.SIGKILL)
    server.wait(5)
    for first, last, wakeups in windows:
        calls = [c for c in server.trace.calls(SLEEPS) if first <= c.time <= last]
        assert len(calls) <= POLLS_PER_SECOND * (last - first), \
            f"while idle, your server called {calls[0].name}() {len(calls)} times in " \
            f"{last - first:.1f} s ({calls[0].short()}): {IDLE_HELP}, which sleep until a " \
            f"signal comes, instead of polling a flag"
        assert wakeups <= WAKEUPS_PER_SECOND * (last - first), \
            f"while idle, your server woke up {wakeups} times in {last - first:.1f} s (a " \
            f"timer, or a wait with a timeout, in a loop?): {IDLE_HELP}"


def quiet_window(server) -> tuple[float, float, int]:
    """An idle window: its start, its end (trace clock), and how often the server woke up."""
    first = time.time()
    idle = measure_idle(server)
    return first, first + idle.seconds, idle.wakeups


# ---- the confirmation: a table of scenarios ---------------------------------------------


def stopped_server(student, deadline):
    text = b"Are you there? You are stopped, so my client has to wait for you."
    server = start_server(student)
    start = len(server.stdout_bytes)
    server.suspend()
    try:
        client = student.spawn("client", server.pid, text)
        if eventually(lambda: not client.running, STOPPED_SECONDS):
            if client.exit_code == 0:
                raise Failure("your client exited 0 while the server was stopped (SIGSTOP): "
                              "it did not wait for the server to confirm the message",
                              help="have the server answer (kill(si_pid, ...)) and exit 0 "
                                   "only after the answer to the last bit, or to the message")
            raise Failure(f"while the server was stopped for {STOPPED_SECONDS:g} s, your "
                          f"client gave up: it {client.describe_exit()} (wait at least a "
                          f"second for an answer)")
    finally:
        server.resume()
    wait_for(server, client, text, start, deadline(len(text)))
    assert client.exit_code == 0, \
        f"once the stopped server was continued, it printed the message, but your client " \
        f"{client.describe_exit()}"


def running_server(student, deadline):
    text = b"Confirm this one, please: the server is running now."
    client, _ = deliver(student, start_server(student), text, deadline(len(text)))
    assert client.exit_code == 0, \
        f"the server printed the message, but your client {client.describe_exit()}" \
        f"{client.stderr_note()}"


def slow_printing_server(student, deadline):
    """The server's write of the message is held back: the confirmation must wait for it.
    Which write that is comes from a first run of the same server: it is the first write
    after those that printed its PID (a PID may be printed in several writes)."""
    probe = start_server(student, trace="write")
    probe.signal(signal.SIGKILL)
    probe.wait(5)
    pid_writes = len(probe.trace.calls("write"))
    text = b"Print me first, then confirm: printing takes a while this time."
    server = start_server(student, inject=[f"write:delay_enter={int(WRITE_DELAY * 1e6)}"
                                           f":when={pid_writes + 1}"])
    start = len(server.stdout_bytes)
    client = student.spawn("client", server.pid, text)
    wait_for(server, client, None, start, deadline(len(text)) + WRITE_DELAY)
    printed = eventually(lambda: server.stdout_bytes.find(text, start) >= 0, PTY_LAG)
    if client.exit_code == 0 and not printed:
        raise Failure(f"your client exited 0 before the server had printed the message (its "
                      f"write was held back {WRITE_DELAY:g} s here)",
                      help="the server confirms the message only after printing it, and the "
                           "client exits 0 only after that confirmation, not after sending")


def dead_server(student, deadline):
    """The server is killed mid-message: no confirmation will ever come."""
    server = start_server(student)
    client = student.spawn("client", server.pid, sentence(3, 2000))
    switches = server.context_switches()
    eventually(lambda: server.context_switches() >= switches + 50 or not client.running, 2.0)
    server.stop()
    server.wait()
    if not client.running:
        return  # the message went through before the server was killed: nothing to see
    if eventually(lambda: not client.running, ORPHAN_SECONDS) and client.exit_code == 0:
        raise Failure("your server was killed in the middle of the message, and your client "
                      "exited 0 anyway: it was never confirmed",
                      help="exit 0 only after the confirmation; after a timeout (or when "
                           "kill() fails with ESRCH) print a message and exit 1")


CONFIRMATIONS = {"the server stopped for a while": stopped_server,
                 "a running server": running_server,
                 "a server slow to print": slow_printing_server,
                 "a server killed mid-message": dead_server}


@pytest.mark.parametrize("case", CONFIRMATIONS)
def test_confirmation(student, deadline, case):
    CONFIRMATIONS[case](student, deadline)


# ---- arguments (run where a stray kill() reaches nothing: every kill() is faked) ---------

FAKE_KILL = ["kill,tkill,tgkill,rt_sigqueueinfo:retval=0"]
BAD_PIDS = [[], ["{pid}"], ["{pid}", "hello", "extra"], ["abc", "hello"], ["0", "hello"],
            ["-1", "hello"], ["12x", "hello"], ["", "hello"], ["0x1f", "hello"],
            ["4294967295", "hello"], ["99999999999999999999", "hello"]]


@pytest.mark.parametrize("args", BAD_PIDS,
                         ids=[" ".join(repr(a) for a in args) or "no arguments"
                              for args in BAD_PIDS])
def test_client_arguments(student, args):
    args = [a.format(pid=os.getpid()) for a in args]
    shown = " ".join(repr(a) for a in args) or "no arguments"
    client = student.spawn("client", *args, trace="%signal", inject=FAKE_KILL)
    exited = eventually(lambda: not client.running, BAD_ARGS_SECONDS)
    client.stop()  # its trace is complete once it has ended
    client.wait()
    sent = [s for s in client.trace.signals_sent() if s.signal not in ("0", "?")]
    if sent:
        whom = {0: "its own process group", -1: "every process it may signal"}.get(
            sent[0].target, f"process {sent[0].target}")
        raise Failure(f"with {shown}, your client sent {sent[0].signal} to {whom} (kill() was "
                      f"faked here, so nothing arrived)",
                      help="check the arguments first: exactly two, and a PID made of digits "
                           "only, greater than 0 and at most INT_MAX (strtol with an end "
                           "pointer and base 10)")
    if not exited:
        raise Failure(f"with {shown}, your client did not exit within {BAD_ARGS_SECONDS:g} s "
                      f"(expected: a usage line on stderr and exit 1)")
    client.expect_exit(1, within=BAD_ARGS_SECONDS, stderr=True, when=f"with {shown}")


# ---- what the programs really do: syscall traces -------------------------------------------

def test_signals_only(student, deadline):
    text = b"nothing but signals"
    server = start_server(student, within=SETUP_SECONDS, trace=CHANNEL_TRACE)
    message_began = time.time()  # the server is judged from here on; the client all along
    client = student.spawn("client", server.pid, text, trace=f"%signal,{CHANNEL_TRACE}")
    with contextlib.suppress(Failure):  # delivery is other checks' business
        wait_for(server, client, None, len(server.stdout_bytes), deadline(len(text)))
    for program in (client, server):
        program.signal(signal.SIGKILL)
        program.wait()
    for program, since in ((client, 0.0), (server, message_began)):
        if other := [c for c in other_channels(program.trace) if c.time >= since]:
            raise Failure(f"{program.name} used {other[0].short()}: the message must travel "
                          f"as signals only")
    trace = client.trace
    sent = trace.signals_sent()
    for s in sent:
        if s.target != server.pid or s.signal not in ("SIGUSR1", "SIGUSR2", "0"):
            raise Failure(f"your client sent {s.signal} to {s.target}: only SIGUSR1 and "
                          f"SIGUSR2 to the server's PID ({server.pid}) carry a message")
        if s.call.name != "kill":
            raise Failure(f"your client sent {s.signal} with {s.call.short()}: only kill() "
                          f"may send the message (sigqueue() carries data beside the signal)")
    bits = sum(1 for s in sent if s.signal in ("SIGUSR1", "SIGUSR2"))
    if client.exit_code == 0 and bits < len(text):
        raise Failure(f"your client sent only {bits} signals for a {len(text)}-byte message: "
                      f"the data must travel as signals", help=trace.excerpt(None, 8))


def test_server_sigaction(student):
    server = start_server(student, trace="%signal")
    server.signal(signal.SIGKILL)
    server.wait(5)
    calls = server.trace.calls("sigaction", ok=True)
    for name in ("SIGUSR1", "SIGUSR2"):
        set_ = [c for c in calls if c.arg(0) == name and c.arg(1) not in (None, "NULL")]
        assert set_, f"your server never installed a handler for {name} (sigaction); " \
                     f"its calls: {server.trace.excerpt('rt_sigaction')}"
        last = set_[-1]
        handler = last.fields(1).get("sa_handler", "")
        assert handler not in ("SIG_DFL", "SIG_IGN"), \
            f"your server left {name} at {handler}: {last.short()}"
        assert not re.search(r"SA_RESETHAND|SA_ONESHOT", last.arg(1) or ""), \
            f"your server's {name} handler is one-shot ({last.short()}): after the first " \
            f"{name} the default action (terminate) is back"


def test_ready_when_pid_printed(student):
    server = student.spawn("server", inject=["write:signal=SIGUSR1:when=1"])
    printed = eventually(lambda: not alive(server) or pid_printed(server), PID_SECONDS)
    if eventually(lambda: not alive(server), SURVIVAL_SECONDS):
        eventually(lambda: not server.running, 2.0)
        raise Failure(f"a SIGUSR1 sent at the moment of your server's first write() (its first "
                      f"output, where a client may learn its PID) found no handler: your "
                      f"server {server.describe_exit()}",
                      help="install the handlers (sigaction) before printing anything")
    if not printed:
        raise Failure(f"your server printed no PID within {PID_SECONDS:g} s: no client could "
                      f"have reached it")


def alive(program) -> bool:
    """The program's own process lives (a killed one is a zombie until its tracer reaps it)."""
    return any(state not in procfs.GONE for state in procfs.states(program.pid))
