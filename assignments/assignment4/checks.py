"""assignment4 checks: text messages sent one bit at a time with kill(), SIGUSR1 and SIGUSR2.

The encoding is the student's, so their client and server are always graded together and the
grader never decodes a signal: a delivery check starts the server, reads its PID, runs
clients, and looks for each message as an intact run of bytes in the server's output.

Lost signals. Two signals of one kind sent before the first is handled merge into one, so a
client that sleeps a fixed time per bit instead of waiting for the server's answer works on
an idle machine and loses bits on a busy one. The delivery checks make the machine busy on
purpose, in a way that does not depend on luck: the server is stopped (SIGSTOP) before each
client starts, and continued PAUSE seconds after the client's first signal is pending; the
1,000-character message also runs against a CPU hog on every core while the server is
stopped again and again. A pair that waits for each answer only gets slower; a racy pair
loses bits every time.

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
import subprocess
import threading
import time
from pathlib import Path

from grader.checks import Failure, Mismatch
from grader.process import shorten

PAUSE = 0.02              # seconds the server stays stopped once a client has started sending
STALL_SECONDS = 1.0       # client and server both asleep, nothing moving: a signal was lost
DEADLINE_FACTOR = 20      # a message may take this many times what the reference takes...
FLOOR_SECONDS = 10.0      # ...and never less than this
FLOOR_PER_CHAR = 0.003    # ...nor 3 ms per character (10,000 characters: 30 s)
PID_SECONDS = 5.0         # the server has this long to print its PID
BAD_ARGS_SECONDS = 2.0    # a client given bad arguments has this long to exit
IDLE_WINDOW = 0.3         # seconds of idleness measured at a time
IDLE_CPU_SHARE = 0.10     # an idle server may use this share of one CPU
POLLS_PER_WINDOW = 10     # sleep calls allowed in an idle window (sleep(1) in a loop is fine)
WAKEUPS_PER_WINDOW = 30   # times an idle server may wake up in a window, whatever woke it
STOPPED_SECONDS = 1.2     # a client must wait at least 1 s for an answer (the handout)
WRITE_DELAY = 1.5         # seconds the server's first write of a message is held back...
PTY_LAG = 0.5             # ...and how late its bytes may reach us after the confirmation

ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")
HELP_WAIT_FOR_ANSWER = ("signals of one kind do not queue: send the next bit only after the "
                        "server has answered the previous one (server: kill(si_pid, ...) "
                        "once the bit is stored; client: block SIGUSR1/SIGUSR2 and wait with "
                        "sigsuspend() or sigwaitinfo())")


def text_of(data: bytes) -> str:
    """Bytes as a program argument (Popen encodes str back with surrogateescape)."""
    return data.decode("utf-8", "surrogateescape")


def show(data: bytes, limit: int = 300) -> str:
    return shorten(text_of(data), limit)


def spawn_client(launcher, server, data: bytes, **kwargs):
    """Start a client sending `data` to `server`."""
    client = launcher.spawn("client", str(server.pid), text_of(data), **kwargs)
    if not data.isascii():  # feedback shows argv and must stay valid UTF-8: escape it there
        client.argv[-1] = data.decode("utf-8", "backslashreplace")
    return client


# ---- deadlines: a calibration run of the reference ----------------------------------------

_seconds_per_char: list[float] = []


def deadline(reference, chars: int) -> float:
    """Seconds a message of `chars` characters may take (see the handout)."""
    if not _seconds_per_char:
        server = start_server(reference)
        text = "calibration " * 84  # 1,008 characters
        started = time.monotonic()
        client = reference.spawn("client", str(server.pid), text)
        wait_for(server, client, text.encode(), len(server.stdout_bytes), 60.0)
        _seconds_per_char.append((time.monotonic() - started) / len(text))
        client.stop()
        server.stop()
    return max(FLOOR_SECONDS, FLOOR_PER_CHAR * chars,
               DEADLINE_FACTOR * _seconds_per_char[0] * max(chars, 100))


# ---- the server and its PID -------------------------------------------------------------


def start_server(launcher, **kwargs):
    """Start a server, wait for its PID (stdout or stderr, colours stripped) and its wait."""
    server = launcher.spawn("server", **kwargs)
    pid = server.pid
    number = re.compile(rb"(?<!\d)%d(?!\d)" % pid)
    give_up = time.monotonic() + PID_SECONDS
    while not (number.search(ANSI.sub(b"", server.stdout_bytes))
               or number.search(ANSI.sub(b"", server.stderr.encode(errors="surrogateescape")))):
        if not server.running:
            raise Failure(f"{server.name} {server.describe_exit()} before printing its PID")
        if time.monotonic() > give_up:
            raise Mismatch(str(pid), show(server.stdout_bytes) or "(nothing)",
                           rationale=f"{server.name} did not print its PID ({pid}) within "
                                     f"{PID_SECONDS:g} s",
                           help='print it as the first line of stdout and flush it, e.g. '
                                'printf("%d\\n", getpid()); fflush(stdout);')
        time.sleep(0.002)
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


def _asleep(programs) -> tuple | None:
    """Context-switch counts if every program sleeps (state S), else None (one can move)."""
    marks = []
    for program in programs:
        try:
            status = Path(f"/proc/{program.pid}/status").read_text()
        except OSError:
            return None
        state = re.search(r"^State:\s+(\S)", status, re.M)
        if state is None or state.group(1) not in "SD":
            return None
        marks += re.findall(r"ctxt_switches:\s+(\d+)", status)
    return tuple(marks)


def wait_for(server, client, data: bytes | None, start: int, seconds: float) -> int:
    """Wait until `data` is in the server's output past `start` (None: do not look) and the
    client has exited. Returns where the message ends. Fails on the deadline, on a stall,
    or if the server dies."""
    sent = shorten(client.argv[-1], 60)
    give_up = time.monotonic() + seconds
    still, since = None, time.monotonic()
    while True:
        server_alive = server.running  # before reading: a dead server's output is complete
        if not server_alive:
            server.wait()  # and the last of its output, which the pty may still hold
        out = server.stdout_bytes
        found = -1 if data is None else out.find(data, start)
        if (data is None or found >= 0) and not client.running:
            client.wait()
            return start if data is None else found + len(data)
        if not server_alive and found < 0 and data is not None:
            raise Failure(f"{server.name} {server.describe_exit()} while {client.name} was "
                          f"sending {sent!r}")
        now = time.monotonic()
        watched = [p for p in (server, client) if p.running]
        mark = _asleep(watched)
        if mark is None or mark != still:
            still, since = mark, now
        elif now - since >= STALL_SECONDS and (data is None or found < 0):
            who = {2: "your client and your server both",
                   1: "your client has exited and your server" if server.running else
                      f"your server {server.describe_exit()} and your client"}[len(watched)]
            raise Mismatch(sent, show(out[start:]) or "(nothing)",
                           rationale=f"{who} waited for a signal for {STALL_SECONDS:g} s "
                                     f"before the message was printed: a signal was lost",
                           help=HELP_WAIT_FOR_ANSWER)
        if now > give_up:
            if data is None:
                raise Failure(f"{client.name} was still sending {sent!r} after {seconds:g} s")
            if found >= 0:
                raise Failure(f"{server.name} printed the message but {client.name} was still "
                              f"running {seconds:g} s later",
                              help="exit once the whole message is sent (and confirmed)")
            raise Mismatch(show(data), show(out[start:]) or "(nothing)",
                           rationale=f"the message was not printed whole within {seconds:g} s")
        time.sleep(0.002)


def deliver(student, server, data: bytes, seconds: float, pause: bool = True):
    """Run the student's client with `data` (the server stopped as it starts), and wait until
    the server has printed it. Returns (client, end of the message in the server's output)."""
    start = len(server.stdout_bytes)
    if pause:
        server.suspend()
    try:
        client = spawn_client(student, server, data)
        if pause:
            _hold(server, client)
    finally:
        if pause:
            server.resume()
    return client, wait_for(server, client, data or None, start, seconds)


USR_SIGNALS = 1 << (signal.SIGUSR1 - 1) | 1 << (signal.SIGUSR2 - 1)


def _hold(server, client) -> None:
    """Keep the stopped server stopped until the client's first signal is pending, and PAUSE
    seconds more (a client that does not wait for answers sends many bits meanwhile)."""
    give_up = time.monotonic() + 2.0
    while not _pending(server) & USR_SIGNALS and client.running:
        if time.monotonic() > give_up:
            return
        time.sleep(0.0005)
    until = time.monotonic() + PAUSE
    while client.running and time.monotonic() < until:
        time.sleep(0.001)


def _pending(program) -> int:
    """The signals pending for the whole process (kill() sends there)."""
    try:
        status = Path(f"/proc/{program.pid}/status").read_text()
    except OSError:
        return 0
    found = re.search(r"^ShdPnd:\s+([0-9a-f]+)", status, re.M)
    return int(found.group(1), 16) if found else 0


@contextlib.contextmanager
def busy_machine(server):
    """A CPU hog on every core, and the server stopped 10 ms out of every 50."""
    hogs = []
    for cpu in sorted(os.sched_getaffinity(0)):
        hog = subprocess.Popen(["sh", "-c", "while :; do :; done"], start_new_session=True)
        with contextlib.suppress(OSError):
            os.sched_setaffinity(hog.pid, {cpu})
            os.sched_setscheduler(hog.pid, os.SCHED_IDLE, os.sched_param(0))
        hogs.append(hog)
    done = threading.Event()

    def stutter():
        while not done.wait(0.04):
            server.signal(signal.SIGSTOP)
            done.wait(0.01)
            server.signal(signal.SIGCONT)

    thread = threading.Thread(target=stutter, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
        server.signal(signal.SIGCONT)
        for hog in hogs:
            hog.kill()
            hog.wait()


def sentence(rng: random.Random, chars: int) -> bytes:
    words = ["signal", "kill", "bit", "byte", "pause", "mask", "handler", "pid", "ack", "zero",
             "one", "Linux", "SIGUSR1", "SIGUSR2", "message", "server", "client", "42", "(ok)"]
    out = ""
    while len(out) < chars:
        out += rng.choice(words) + rng.choice([" ", " ", ", ", ". ", "; ", "! "])
    return out[:chars].encode()


# ---- delivery ---------------------------------------------------------------------------


def test_short_message(student, reference):
    for text in (b"Hello, signals! One bit at a time, 8 bits a byte.",
                 b"A second server, and a second short message."):
        server = start_server(student)
        deliver(student, server, text, deadline(reference, len(text)))


def test_empty_message(student, reference):
    server = start_server(student)
    for after in (b"After an empty message, this one arrives intact.",
                  b"And after a second empty message, so does this one, still in step."):
        deliver(student, server, b"", deadline(reference, 0))
        deliver(student, server, after, deadline(reference, len(after)))


def test_thousand_chars(student, reference):
    text = sentence(random.Random(1000), 1000)
    server = start_server(student)
    seconds = deadline(reference, len(text))
    with busy_machine(server):
        deliver(student, server, text, seconds)


def test_ten_thousand_chars(student, reference):
    text = sentence(random.Random(10000), 10000)
    server = start_server(student)
    deliver(student, server, text, deadline(reference, len(text)))


def test_utf8_and_all_bytes(student, reference):
    server = start_server(student)
    utf8 = "Grüße, ça marche ✓ — 日本語のテキスト 🎉 Ελληνικά".encode()
    deliver(student, server, utf8, deadline(reference, len(utf8)))
    every_byte = bytes(range(1, 256))
    deliver(student, server, every_byte, deadline(reference, len(every_byte)))


def test_five_clients(student, reference):
    server = start_server(student)
    for n in range(1, 6):
        text = b"client %d of 5 says: " % n + sentence(random.Random(n), 20 + 7 * n)
        if n == 3:
            text = b"-n --help -- " + text  # a message, not options
        deliver(student, server, text, deadline(reference, len(text)))


def test_whole_and_in_order(student, reference):
    rng = random.Random(7)
    texts = [b"#%02d:" % n + bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz")
                                   for _ in range(length))
             for n, length in enumerate([1, 150, 3, 40, 0, 90, 7, 300, 12, 64, 2, 25])]
    server = start_server(student)
    ends = [deliver(student, server, text, deadline(reference, len(text)))[1] for text in texts]
    out = server.stdout_bytes
    for text in texts:
        if out.count(text) != 1:
            raise Mismatch(f"{show(text, 60)!r} printed once",
                           f"printed {out.count(text)} times: {show(output_after_pid(server))}",
                           rationale="a message was printed more than once: the text of a "
                                     "previous message was still in the buffer",
                           help="empty your buffer (length back to 0) after printing a message")
    if ends != sorted(ends):
        raise Failure("the messages were not printed in the order they were sent")


def test_exact_format(student, reference):
    texts = [b"First message: a plain line of text, printed on a line of its own.", b"",
             b"The third one comes after an empty message, which is an empty line.",
             b"And a fourth one (4/5), then a newline, and nothing else after it.",
             b"The fifth ends in a newline of its own,\nso it is followed by two.\n"]
    server = start_server(student)
    for text in texts:
        deliver(student, server, text, deadline(reference, len(text)))
    expected = b"".join(text + b"\n" for text in texts)
    give_up = time.monotonic() + 0.5
    while output_after_pid(server) != expected and time.monotonic() < give_up:
        time.sleep(0.005)  # a newline written on its own may still be on its way
    actual = output_after_pid(server)
    if actual != expected:
        raise Mismatch(show(expected), show(actual),
                       rationale="after the PID line, the server should print each message "
                                 "followed by a newline, and nothing else",
                       help="no banner, prefix or NUL byte; an empty message is an empty line")


VICTIM = b"~" * 10000  # a message long enough to be killed in the middle of


def test_killed_client(student, reference):
    server = start_server(student)
    _, calm = deliver(student, server, b"before the storm", deadline(reference, 16))
    switches = server.context_switches()
    victim = student.spawn("client", str(server.pid), VICTIM.decode())
    give_up = time.monotonic() + 2.0
    while (server.context_switches() < switches + 100 and victim.running
           and time.monotonic() < give_up):
        time.sleep(0.002)  # until the server has taken some bits of the victim's message
    victim.stop()
    victim.wait()
    time.sleep(0.5)  # the handout allows a server to reset after half a second of silence
    text = b"after the storm: a client was killed mid-message"
    _, end = deliver(student, server, text, deadline(reference, len(text)))
    between = server.stdout_bytes[calm:end]  # from the end of the message before the storm
    if any(len(run) != len(VICTIM) for run in re.findall(rb"~+", between)):  # a part of it
        glued = between.endswith(b"~" + text)
        raise Mismatch(show(text + b"\n"), show(between),
                       rationale="the next message came out glued to what the killed client "
                                 "had sent" if glued else
                                 "the server printed part of the killed client's message",
                       help="drop an unfinished message when a new sender (si_pid) starts")


def test_idle_cpu(student, reference):
    server = start_server(student)
    _idle_share(server, "right after it started")
    with contextlib.suppress(Failure):  # delivery is other checks' business
        deliver(student, server, b"one message, then quiet", deadline(reference, 23))
    if server.running:
        server.wait_idle()
        _idle_share(server, "after a message")


def _idle_share(server, when: str) -> None:
    before = server.cpu_seconds()
    time.sleep(IDLE_WINDOW)
    used = server.cpu_seconds() - before
    assert used <= IDLE_CPU_SHARE * IDLE_WINDOW, \
        f"with nothing to do ({when}), your server used {used:.2f} s of CPU in " \
        f"{IDLE_WINDOW:g} s: wait for signals in pause() or sigsuspend(), not in a loop"


def test_confirmation(student, reference):
    text = b"Are you there? You are stopped, so my client has to wait for you."
    server = start_server(student)
    start = len(server.stdout_bytes)
    server.suspend()
    try:
        client = spawn_client(student, server, text)
        time.sleep(STOPPED_SECONDS)  # the server is stopped: it can confirm nothing
        early = client.exit_code
    finally:
        server.resume()
    if early == 0:
        raise Failure("your client exited 0 while the server was stopped (SIGSTOP): it did "
                      "not wait for the server to confirm the message",
                      help="have the server answer (kill(si_pid, ...)) and exit 0 only after "
                           "the answer to the last bit, or to the whole message")
    if early is not None:
        raise Failure(f"while the server was stopped for {STOPPED_SECONDS:g} s, your client "
                      f"gave up: it {client.describe_exit()} (wait at least a second for an "
                      f"answer)")
    wait_for(server, client, text, start, deadline(reference, len(text)))
    assert client.exit_code == 0, \
        f"once the stopped server was continued, it printed the message, but your client " \
        f"{client.describe_exit()}"

    text = b"Confirm this one, please: the server is running now."
    server = start_server(student)
    client, _ = deliver(student, server, text, deadline(reference, len(text)), pause=False)
    assert client.exit_code == 0, \
        f"the server printed the message, but your client {client.describe_exit()}; its " \
        f"stderr: {show(client.stderr.encode(errors='surrogateescape'), 200)!r}"

    # The server's first write after its PID line is held back: the confirmation must wait.
    text = b"Print me first, then confirm: printing takes a while this time."
    server = start_server(student, inject=[f"write:delay_enter={int(WRITE_DELAY * 1e6)}:when=2"])
    start = len(server.stdout_bytes)
    client = spawn_client(student, server, text)
    wait_for(server, client, None, start, deadline(reference, len(text)) + WRITE_DELAY)
    if client.exit_code == 0 and not _printed_within(server, text, start, PTY_LAG):
        raise Failure(f"your client exited 0 before the server had printed the message (its "
                      f"write was held back {WRITE_DELAY:g} s here)",
                      help="the server confirms the message only after printing it, and the "
                           "client exits 0 only after that confirmation, not after sending")


def _printed_within(server, data: bytes, start: int, seconds: float) -> bool:
    """True if `data` shows up in the server's output past `start` within `seconds`."""
    give_up = time.monotonic() + seconds
    while server.stdout_bytes.find(data, start) < 0:
        if time.monotonic() > give_up:
            return False
        time.sleep(0.002)
    return True


# ---- arguments (run where a stray kill() reaches nothing: every kill() is faked) ---------

FAKE_KILL = ["kill,tkill,tgkill,rt_sigqueueinfo:retval=0"]


def test_client_arguments(student):
    pid = str(os.getpid())
    cases = [[], [pid], [pid, "hello", "extra"], ["abc", "hello"], ["0", "hello"],
             ["-1", "hello"], ["12x", "hello"], ["", "hello"], ["0x1f", "hello"],
             ["4294967295", "hello"], ["99999999999999999999", "hello"]]
    for args in cases:
        client = student.spawn("client", *args, trace="%signal", inject=FAKE_KILL)
        try:
            client.wait(BAD_ARGS_SECONDS)
        except Failure:
            client.signal(signal.SIGKILL)
            client.wait()
        shown = " ".join(repr(a) for a in args) or "no arguments"
        sent = [s for s in client.trace.signals_sent()
                if s.signal not in ("0", "?") and since_exec(client, [s.call])]
        if sent:
            s = sent[0]
            whom = {0: "its own process group", -1: "every process it may signal"}.get(
                s.target, f"process {s.target}")
            raise Failure(f"with {shown}, your client sent {s.signal} to {whom} (kill() was "
                          f"faked here, so nothing arrived)",
                          help="check the arguments first: exactly two, and a PID made of "
                               "digits only, greater than 0 and at most INT_MAX (strtol "
                               "with an end pointer and base 10)")
        assert client.exit_code == 1, f"with {shown}, your client {client.describe_exit()} " \
                                      f"(expected: a usage line on stderr and exit 1)"
        assert client.stderr.strip(), f"with {shown}, your client exited 1 without a message " \
                                      f"on stderr"


# ---- what the programs really do: syscall traces -------------------------------------------

def since_exec(program, calls):
    """The calls made by the program itself: strace also sees the commands that start it
    (dropping to the student user, setting limits) before they exec the program."""
    path = program.argv[0].encode()
    starts = [c.time for c in program.trace.calls("execve", ok=True) if c.string(0) == path]
    return [c for c in calls if c.time >= starts[-1]] if starts else list(calls)


CHANNELS = {"pipe", "mkfifo", "socket", "socketpair", "mq_open", "shm_open", "shmget", "shmat",
            "msgget", "msgsnd", "msgrcv", "semget", "semop", "memfd_create",
            "process_vm_writev", "process_vm_readv", "ptrace", "pidfd_getfd",
            "pidfd_send_signal"}
CHANNEL_TRACE = ("%net,%ipc,%file,%desc,%memory,/^mq_,process_vm_writev,process_vm_readv,"
                 "ptrace,pidfd_getfd,pidfd_send_signal")
ANOTHER_PROCESS = re.compile(rb"/proc/(\d+)/(?:task/\d+/)?(?:cmdline|environ|mem|fd/)")


def other_channel(program) -> str | None:
    """A call by which `program` could move a message without signals, shown; or None."""
    trace = program.trace
    if other := since_exec(program, trace.never(CHANNELS)):
        return other[0].short()
    for call in since_exec(program, trace.calls("mmap", ok=True)):
        if "MAP_SHARED" in call.args_text and call.value(4) != -1:
            return f"{call.short()} (a shared mapping of a file)"
    for call in since_exec(program, trace.calls("open", ok=True)):
        other_pid = ANOTHER_PROCESS.match(call.argument("pathname") or b"")
        if other_pid and int(other_pid.group(1)) != program.pid:
            return f"{call.short()} (another process's arguments, memory or files)"
    return None


def test_signals_only(student, reference):
    text = b"nothing but signals"
    server = start_server(student, trace=CHANNEL_TRACE)
    client = spawn_client(student, server, text, trace=f"%signal,{CHANNEL_TRACE}")
    with contextlib.suppress(Failure):  # delivery is other checks' business
        wait_for(server, client, None, len(server.stdout_bytes), deadline(reference, len(text)))
    for program in (client, server):
        program.signal(signal.SIGKILL)
        program.wait()
    for program in (client, server):
        if other := other_channel(program):
            raise Failure(f"{program.name} used {other}: the message must travel as signals "
                          f"only")
    trace = client.trace
    if written := since_exec(client, trace.files_written()):
        raise Failure(f"your client opened a file for writing: {written[0].short()}; the "
                      f"message must travel as signals only")
    sent = [s for s in trace.signals_sent() if since_exec(client, [s.call])]
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
    calls = since_exec(server, server.trace.calls("sigaction", ok=True))
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


SLEEPS = ["nanosleep", "clock_nanosleep", "select", "pselect6", "poll", "ppoll", "epoll_wait",
          "epoll_pwait", "epoll_pwait2", "rt_sigtimedwait"]


def test_no_sleep_polling(student, reference):
    server = start_server(student, trace=",".join(SLEEPS))
    windows = [_quiet(server)]
    text = b"a message between two quiet moments"
    with contextlib.suppress(Failure):  # delivery is other checks' business
        deliver(student, server, text, deadline(reference, len(text)), pause=False)
    server.wait_idle()
    windows.append(_quiet(server))
    server.signal(signal.SIGKILL)
    server.wait(5)
    trace = server.trace
    for first, last, wakeups in windows:
        calls = [c for c in since_exec(server, trace.calls(SLEEPS)) if first <= c.time <= last]
        assert len(calls) <= POLLS_PER_WINDOW, \
            f"while idle, your server called {calls[0].name}() {len(calls)} times in " \
            f"{last - first:.1f} s ({calls[0].short()}): wait in pause() or sigsuspend(), " \
            f"which sleep until a signal comes, instead of polling a flag"
        assert wakeups <= WAKEUPS_PER_WINDOW, \
            f"while idle, your server woke up {wakeups} times in {last - first:.1f} s (a " \
            f"timer, or a wait with a timeout, in a loop?): wait in pause() or sigsuspend(), " \
            f"which sleep until a signal comes"


def _quiet(server) -> tuple[float, float, int]:
    """An idle window: its start, its end, and how often the server woke up meanwhile."""
    before = server.context_switches(voluntary_only=True)
    first = time.time()
    time.sleep(IDLE_WINDOW)
    return first, time.time(), server.context_switches(voluntary_only=True) - before
