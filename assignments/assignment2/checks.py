"""assignment2 checks: a two-way chat over two POSIX message queues.

Most checks pair the student's chat with the reference chat, started first so the student's
chat finds its peer's queue at once: a failure then points at the student's side. Checks about
two chats running the same code (deadlock, typing at once, urgent lines, /bye, two pairs) pair
two copies of the student's chat, the first one started and waiting before the second starts.
Each grading run has its own /dev/mqueue, which the checks read to see the queues.
Rubric entries (titles, points) are in assignment.yaml.
"""

import ctypes
import os
import re
import signal
import time
from pathlib import Path

import pytest

from grader.checks import Failure, Mismatch

MQUEUE = Path("/dev/mqueue")
EXPECT = 3.0         # seconds for a message to show up (the reference needs milliseconds)
EXIT_DEADLINE = 3.0  # seconds a chat gets to exit after its last event
LATE = 3.0           # seconds a late peer starts after the chat (the chat waits up to 10 s)
IDLE_WINDOW = 0.5    # seconds of idleness measured at a time...
IDLE_CPU_SHARE = 0.2  # ...during which a chat may use this share of one CPU
END = "END"          # a closing line that tells the check everything before it has arrived


# ---- queues in /dev/mqueue ------------------------------------------------------------------

def queue_file(name: str) -> Path:
    return MQUEUE / name.lstrip("/")


def queues_left() -> list[str]:
    return sorted("/" + p.name for p in MQUEUE.iterdir())


def wait_for_queue(name: str, timeout: float = EXPECT) -> bool:
    deadline = time.monotonic() + timeout
    while not queue_file(name).exists():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.002)
    return True


def queued_bytes(name: str) -> int:
    """QSIZE of a queue: the bytes of all messages waiting in it."""
    try:
        return int(re.search(r"QSIZE:(\d+)", queue_file(name).read_text()).group(1))
    except OSError:
        return -1


def wait_until_queued(name: str, nbytes: int, timeout: float = EXPECT) -> bool:
    """Until queue `name` holds at least `nbytes` bytes of messages; False after `timeout`."""
    deadline = time.monotonic() + timeout
    while queued_bytes(name) < nbytes:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.002)
    return True


class _MqAttr(ctypes.Structure):
    _fields_ = [("mq_flags", ctypes.c_long), ("mq_maxmsg", ctypes.c_long),
                ("mq_msgsize", ctypes.c_long), ("mq_curmsgs", ctypes.c_long),
                ("reserved", ctypes.c_long * 4)]


def _librt():
    try:
        return ctypes.CDLL("librt.so.1", use_errno=True)
    except OSError:  # glibc >= 2.34 has mq_open in libc itself
        return ctypes.CDLL("libc.so.6", use_errno=True)


def inject_message(name: str, data: bytes, priority: int) -> None:
    """Put one message into a queue, as some other sender would."""
    librt = _librt()
    fd = librt.mq_open(name.encode(), os.O_WRONLY | os.O_NONBLOCK)
    if fd < 0:
        raise RuntimeError(f"mq_open({name}): {os.strerror(ctypes.get_errno())}")
    if librt.mq_send(fd, data, len(data), priority) != 0:
        raise RuntimeError(f"mq_send({name}): {os.strerror(ctypes.get_errno())}")
    os.close(fd)


def expect_no_queues(names, why: str) -> None:
    """No queue of this check (its names share one token) is left: checks run in parallel."""
    if left := [q for q in queues_left() if q.startswith(f"/ipcg-{names.token}-")]:
        raise Failure(f"{why}, these queues are still in /dev/mqueue: {', '.join(left)}",
                      help="create only your own queue, and remove it before exiting")


def make_leftover_queue(name: str, maxmsg: int, msgsize: int, owner: Path) -> None:
    """Create a queue as a crashed chat would leave it, owned by the owner of `owner`."""
    try:
        librt = ctypes.CDLL("librt.so.1", use_errno=True)
    except OSError:  # glibc >= 2.34 has mq_open in libc itself
        librt = ctypes.CDLL("libc.so.6", use_errno=True)
    attr = _MqAttr(0, maxmsg, msgsize, 0)
    fd = librt.mq_open(name.encode(), os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0o600,
                       ctypes.byref(attr))
    if fd < 0:
        raise RuntimeError(f"mq_open({name}): {os.strerror(ctypes.get_errno())}")
    os.close(fd)
    st = owner.stat()
    os.chown(queue_file(name), st.st_uid, st.st_gid)


# ---- starting chats -------------------------------------------------------------------------

@pytest.fixture
def own(names):
    """The queue the student's chat receives on."""
    return names.queue()


@pytest.fixture
def peer(names):
    """The queue of the student's chat's peer."""
    return names.queue()


def wait_until_waiting(chat, queue: str) -> None:
    """Until `chat` created `queue` and sleeps (waiting for its peer), or exited."""
    deadline = time.monotonic() + 1.0
    while chat.running and time.monotonic() < deadline:
        if queue_file(queue).exists() and chat.wait_idle(0.05):
            return
        time.sleep(0.002)


def with_reference(student, reference, own, peer, name="your chat", **kwargs):
    """The reference chat on `peer` (started first), then the student's chat on `own`."""
    ref = reference.spawn("chat", peer, own, name="the reference chat")
    wait_for_queue(peer)
    chat = student.spawn("chat", own, peer, **kwargs, name=name)
    return chat, ref


def two_students(student, a, b, first="your chat A", second="your chat B", **kwargs):
    """Two copies of the student's chat: A on queue a starts and waits, then B on queue b."""
    chat_a = student.spawn("chat", a, b, **kwargs, name=f"{first} ({a})")
    wait_until_waiting(chat_a, a)
    chat_b = student.spawn("chat", b, a, name=f"{second} ({b})")
    return chat_a, chat_b


# ---- comparing what a chat printed ----------------------------------------------------------

def show(line: str) -> str:
    if len(line) > 60:
        return repr(line[:40] + f"... ({len(line)} characters)")
    return repr(line)


def show_lines(lines: list[str], limit: int = 12) -> str:
    shown = "\n".join(show(line) for line in lines[:limit])
    more = f"\n... and {len(lines) - limit} more lines" if len(lines) > limit else ""
    return (shown + more) or "(no lines)"


def printed_lines(chat) -> list[str]:
    """Exactly what was printed, split at '\\n' (stdout is a raw pty: a '\\r' is the program's)."""
    return chat.stdout.split("\n")[:-1]


def index_of_marker(lines: list[str], marker: str) -> int:
    return next(i for i, line in enumerate(lines) if line.rstrip("\r") == marker)


def expect_lines(chat, expected: list[str], what: str, marker: str = END,
                 timeout: float = EXPECT, help: str | None = None,
                 stuck_help: str | None = None) -> None:
    """`chat` prints exactly `expected`, then the line `marker` (sent last, after them).

    `help` is the advice for wrong lines, `stuck_help` for a marker that never came.
    """
    try:
        chat.expect_line(marker, timeout)
    except Failure:
        got = printed_lines(chat)
        raise Mismatch(show_lines([*expected, marker]), show_lines(got),
                       rationale=f"after {what}, {chat.name} did not print the closing line "
                                 f"{marker!r} within {timeout:g} s ({len(got)} lines printed; "
                                 f"it {chat.describe_exit()})",
                       help=stuck_help or help) from None
    got = printed_lines(chat)
    got = got[:index_of_marker(got, marker)]
    if got == expected:
        return
    first = next((i for i, (g, e) in enumerate(zip(got, expected, strict=False)) if g != e),
                 min(len(got), len(expected)))
    raise Mismatch(show_lines(expected[first:], 6), show_lines(got[first:], 6),
                   rationale=f"after {what}, {chat.name} printed {len(got)} lines where "
                             f"{len(expected)} were due; the first difference is at line "
                             f"{first + 1} (shown from there)",
                   help=help)


def expect_no_busy_wait(chat, when: str, help: str) -> None:
    """`chat` uses at most IDLE_CPU_SHARE of one CPU over IDLE_WINDOW seconds."""
    before = chat.cpu_seconds()
    time.sleep(IDLE_WINDOW)
    if (used := chat.cpu_seconds() - before) > IDLE_CPU_SHARE * IDLE_WINDOW:
        raise Failure(f"{when}, {chat.name} used {used:.2f} s of CPU in {IDLE_WINDOW:g} s: it "
                      f"busy-waits", help=help)


def stderr_note(chat) -> str:
    """"; stderr: '...'" (its end), or nothing when the program said nothing there."""
    said = chat.stderr.strip()
    return f"; stderr: {said[-200:]!r}" if said else ""


def expect_exit_0(chat, why: str) -> None:
    chat.wait(EXIT_DEADLINE)
    if chat.exit_code != 0:
        raise Failure(f"{why}, {chat.name} {chat.describe_exit()} (expected: exit 0)"
                      + stderr_note(chat))


def expect_gone(name: str, why: str) -> None:
    if queue_file(name).exists():
        raise Failure(f"{why}, queue {name} is still in /dev/mqueue",
                      help="call mq_unlink() on your own queue before exiting")


ONE_LINE_ONE_MESSAGE = ("read() returns whatever is there, many lines or part of one: split "
                        "what you read at each '\\n', send each line as one message, and keep "
                        "an unfinished line for later")


def numbered(prefix: str, count: int) -> list[str]:
    return [f"{prefix} {i}" for i in range(count)]


def text(lines: list[str]) -> str:
    return "".join(line + "\n" for line in lines)


# ---- checks ---------------------------------------------------------------------------------

def test_one_line_each_way(student, reference, own, peer):
    chat, ref = with_reference(student, reference, own, peer)
    chat.sendline("hello from your chat")
    ref.expect_line("hello from your chat", EXPECT)
    ref.sendline("hello from the reference")
    chat.expect_line("hello from the reference", EXPECT)


def test_many_lines_in_order(student, reference, own, peer):
    chat, ref = with_reference(student, reference, own, peer)
    mine, theirs = numbered("line from you", 50), numbered("line from the reference", 50)
    for line in [*mine, END]:
        chat.sendline(line)
    expect_lines(ref, mine, "50 lines typed into your chat one by one")
    for line in [*theirs, END]:
        ref.sendline(line)
    expect_lines(chat, theirs, "50 lines typed into the reference chat one by one")


def test_burst_500_lines(student, reference, own, peer):
    chat, ref = with_reference(student, reference, own, peer)
    burst = [f"burst {i} " + "x" * (i % 50) for i in range(500)]
    chat.send(text([*burst, END]))
    expect_lines(ref, burst, "500 lines written to your chat's stdin at once",
                 help=ONE_LINE_ONE_MESSAGE)
    ref.send(text([*burst, END]))
    expect_lines(chat, burst, "500 lines sent by the reference chat at once",
                 help="keep receiving until the queue is empty; print each message once")


def test_no_deadlock_both_send_1000(student, own, peer):
    a, b = two_students(student, own, peer)
    from_a, from_b = numbered("A", 1000), numbered("B", 1000)
    a.send(text([*from_a, END]))
    b.send(text([*from_b, END]))
    advice = ("a queue holds 10 messages: when the peer's queue is full, your chat must go on "
              "receiving (non-blocking send and a pending line, a sending thread, ...), or both "
              "chats wait for each other forever")
    for chat, lines in ((b, from_a), (a, from_b)):
        expect_lines(chat, lines, "1,000 lines typed into each chat at the same moment",
                     timeout=6, stuck_help=advice, help=ONE_LINE_ONE_MESSAGE)


def test_stale_queue_msgsize_8192(student, reference, own, peer, workdir):
    make_leftover_queue(own, maxmsg=10, msgsize=8192, owner=workdir)
    chat, ref = with_reference(student, reference, own, peer)
    long_line = "L" * 1024
    ref.send(text([long_line, "short", END]))
    expect_lines(chat, [long_line, "short"],
                 f"the reference chat sent two messages into a leftover {own} (mq_msgsize 8192)",
                 help="use the existing queue as it is, and size the receive buffer from "
                      "mq_getattr()'s mq_msgsize: mq_receive() fails with EMSGSIZE when the "
                      "buffer is smaller")
    chat.sendline("reply")
    ref.expect_line("reply", EXPECT)
    chat.close_stdin()
    ref.close_stdin()
    expect_exit_0(chat, "after a session on a leftover queue")
    expect_gone(own, "after a session on a leftover queue (it is your queue now)")


def test_both_typing_at_once(student, own, peer):
    a, b = two_students(student, own, peer)
    from_a, from_b = numbered("A says", 20), numbered("B says", 10)
    for rnd in range(5):
        a.send(text(from_a[4 * rnd:4 * rnd + 4]))
        b.send(text(from_b[2 * rnd:2 * rnd + 2]))
        b.expect_line(from_a[4 * rnd + 3], EXPECT)
        a.expect_line(from_b[2 * rnd + 1], EXPECT)
    a.sendline(END)
    b.sendline(END)
    expect_lines(b, from_a, "A typed 20 lines while B typed 10, in five rounds")
    expect_lines(a, from_b, "A typed 20 lines while B typed 10, in five rounds")


def test_arrives_while_stdin_idle(student, reference, own, peer, names):
    chat, ref = with_reference(student, reference, own, peer)
    wait_for_queue(own)
    advice = ("wait for stdin and the queue at the same time: poll()/select() on both "
              "descriptors, a receiving thread, mq_notify(), or a second process")
    chat.wait_idle()
    expect_no_busy_wait(chat, "with nothing to do", help="block in poll()/select()/"
                                                          "mq_receive() without a zero timeout")
    for word in ("ping", "pong"):
        chat.wait_idle()  # nothing to do: it waits for input
        ref.sendline(word)
        try:
            chat.expect_line(word, 1.0)
        except Failure:
            raise Failure(f"the reference chat sent {word!r} while nothing was typed into "
                          f"your chat; it did not print it within 1 s", help=advice) from None
    for i in range(8):  # a steady stream: never quiet for long
        ref.sendline(f"tick {i}")
        try:
            chat.expect_line(f"tick {i}", 0.5)
        except Failure:
            raise Failure(f"the reference chat sent a line every 0.15 s; your chat did not "
                          f"print 'tick {i}' within 0.5 s (print each message as it comes)"
                          ) from None
        time.sleep(0.15)
    own, peer = names.queue(), names.queue()  # now with stdout a pipe: stdio buffers blocks
    chat, ref = with_reference(student, reference, own, peer, terminal=False,
                               name="your chat (stdout a pipe)")
    ref.sendline("through a pipe")
    try:
        chat.expect_line("through a pipe", 1.0)
    except Failure:
        raise Failure("with stdout a pipe (`./chat ... | cat`), your chat did not print a "
                      "message within 1 s", help="call fflush(stdout) after each line, or "
                                                "use write()") from None


def test_message_boundaries(student, reference, own, peer):
    chat, ref = with_reference(student, reference, own, peer)
    lines = ["", "a", "M" * 1024, "  spaced  out  ", "", "N" * 1023, "tab\there", "x!", "",
             "/bye?", "/byebye", "/by"]
    chat.send(text([*lines, END]))
    expect_lines(ref, lines, "empty, short, 1023- and 1024-byte lines written to your chat "
                             "at once", help="one line (without its '\\n') is one message, "
                                             "an empty line is a message of length 0")
    ref.send(text([*lines, END]))
    expect_lines(chat, lines, "the reference chat sent empty, short, 1023- and 1024-byte "
                              "messages", help="print each message, even an empty one, "
                                               "followed by one '\\n'")


def test_urgent_overtakes_normal(student, own, peer):
    a, b = two_students(student, own, peer)
    a.sendline("hello")
    b.expect_line("hello", EXPECT)
    b.suspend()  # every thread of B stopped: messages wait in its queue
    inject_message(peer, b"five", 5)  # another sender's message at priority 5
    a.send("normal 1\nnormal 2\nnormal 3\n!\n!urgent\n")
    if not wait_until_queued(peer, 34):  # 4 + the messages: 8 + 8 + 8 + 0 + 6 bytes
        b.resume()
        raise Failure(f"while B was stopped, A got 'normal 1', 'normal 2', 'normal 3', '!' "
                      f"and '!urgent'; {peer} holds {queued_bytes(peer)} bytes after "
                      f"{EXPECT:g} s, not the 34 of these five messages and 'five'")
    b.resume()
    a.sendline(END)
    expect_lines(b, ["hello", "", "urgent", "five", "normal 1", "normal 2", "normal 3"],
                 "3 normal lines and then '!urgent' were sent to B while it was stopped",
                 help="send a line starting with '!' without the '!' at priority 10, others "
                      "at priority 0: the queue then hands out the urgent one first")


def test_peer_starts_late_or_early(student, reference, names):
    own, peer = names.queue(), names.queue()
    chat = student.spawn("chat", own, peer, name="your chat")
    deadline = time.monotonic() + LATE
    while chat.running and time.monotonic() < deadline:
        time.sleep(0.01)  # the peer is late: it starts LATE seconds after your chat
    if not chat.running:
        raise Failure(f"started before its peer, your chat {chat.describe_exit()} within "
                      f"{LATE:g} s instead of waiting (up to 10 s) for {peer} to appear"
                      + stderr_note(chat),
                      help="retry mq_open() while it fails with ENOENT, with a short sleep "
                           "between tries, until 10 s have passed")
    ref = reference.spawn("chat", peer, own,
                          name=f"the reference chat (started {LATE:g} s later)")
    chat.sendline("you are late")
    ref.expect_line("you are late", EXPECT)
    ref.sendline("sorry")
    chat.expect_line("sorry", EXPECT)

    own, peer = names.queue(), names.queue()
    ref = reference.spawn("chat", peer, own, name="the reference chat (started first)")
    wait_until_waiting(ref, peer)
    chat = student.spawn("chat", own, peer, name="your chat (started after its peer)")
    chat.sendline("I am here")
    ref.expect_line("I am here", EXPECT)
    ref.sendline("welcome")
    chat.expect_line("welcome", EXPECT)


def test_bye_handshake(student, own, peer, names):
    a, b = two_students(student, own, peer)
    a.sendline("hi B")
    b.expect_line("hi B", EXPECT)
    b.sendline("hi A")
    a.expect_line("hi A", EXPECT)
    a.close_stdin()  # A sends /bye, and prints until B's /bye
    a.wait_idle()
    if not a.running:
        raise Failure(f"at EOF {a.name} {a.describe_exit()} before B's /bye arrived",
                      help="at EOF send /bye, then keep printing until the peer's /bye")
    b.sendline("after your bye")
    a.expect_line("after your bye", EXPECT)
    b.close_stdin()
    for chat in (a, b):
        expect_exit_0(chat, "after both /bye messages")
    for chat, lines in ((a, ["hi A", "after your bye"]), (b, ["hi B"])):
        got = printed_lines(chat)
        if got != lines:
            raise Mismatch(show_lines(lines), show_lines(got),
                           rationale=f"{chat.name} printed something else in the whole "
                                     f"session (the /bye message is never printed)")
    for name in (own, peer):
        expect_gone(name, "after both chats exited")
    expect_no_queues(names, "after both chats exited")

    # B types 3 lines and ends while A is busy; A reaches EOF too, then goes on
    own, peer = names.queue(), names.queue()
    a, b = two_students(student, own, peer)
    a.sendline("hello")
    b.expect_line("hello", EXPECT)
    a.suspend()
    b.send("last 1\nlast 2\nlast 3\n")
    b.close_stdin()
    wait_until_queued(own, 22)  # 3 lines and /bye
    b.wait_idle()  # B has done all it does at EOF, and waits for A's /bye
    a.close_stdin()  # A wakes up to its EOF, B's lines and B's /bye all at once
    a.resume()
    for chat in (a, b):
        expect_exit_0(chat, "after both ended at nearly the same time")
    if (got := printed_lines(a)) != ["last 1", "last 2", "last 3"]:
        raise Mismatch(show_lines(["last 1", "last 2", "last 3"]), show_lines(got),
                       rationale="B typed 3 lines and ended while A was busy, then A reached "
                                 "EOF: A must print every line sent before B's /bye")


def test_signal_cleanup(student, reference, names):
    for sig in (signal.SIGTERM, signal.SIGINT):
        own, peer = names.queue(), names.queue()
        chat, ref = with_reference(student, reference, own, peer)
        chat.sendline("about to be signalled")
        ref.expect_line("about to be signalled", EXPECT)
        chat.signal(sig)
        expect_exit_0(chat, f"on {sig.name} while chatting")
        expect_gone(own, f"after {sig.name} while chatting")

        alone, nobody = names.queue(), names.queue()
        chat = student.spawn("chat", alone, nobody, name="your chat (waiting for its peer)")
        wait_until_waiting(chat, alone)
        expect_no_busy_wait(chat, "while waiting for its peer",
                            help="sleep a little between two mq_open() tries (busy-waiting, "
                                 "the CPU limit kills it before 10 s)")
        if queue_file(nobody).exists():
            raise Failure(f"while waiting for its peer, your chat created the peer's queue "
                          f"{nobody}", help="open the peer's queue without O_CREAT, and "
                                            "retry while it fails with ENOENT")
        if sig == signal.SIGINT:
            os.killpg(os.getpgid(chat.popen.pid), sig)  # Ctrl-C: the whole process group
        else:
            chat.signal(sig)
        expect_exit_0(chat, f"on {sig.name} while waiting for the peer")
        expect_gone(alone, f"after {sig.name} while waiting for the peer")


def test_with_reference_both_roles(student, reference, names):
    for first in ("your chat", "the reference chat"):
        own, peer = names.queue(), names.queue()
        chat, ref = with_reference(student, reference, own, peer)
        chat.sendline("from you")
        ref.expect_line("from you", EXPECT)
        ref.sendline("from the reference")
        chat.expect_line("from the reference", EXPECT)
        closer, other = (chat, ref) if first == "your chat" else (ref, chat)
        closer.close_stdin()  # its /bye goes out; it prints until the other's /bye
        closer.wait_idle()  # EOF handled (EOF and a message at once: bye_handshake's business)
        if other is chat:  # the last line without its '\n', then EOF, while the peer sleeps
            ref.suspend()
            chat.send("one more line")
            chat.close_stdin()
            wait_until_queued(peer, 17)  # the line and /bye
            ref.resume()
            closer.expect_line("one more line", EXPECT)
        else:
            other.sendline("one more line")
            closer.expect_line("one more line", EXPECT)
            other.close_stdin()
        why = f"after a session where {first} reached EOF first"
        for program in (chat, ref):
            expect_exit_0(program, why)
        late = ["one more line"]
        for program, lines in ((chat, ["from the reference", *(late if closer is chat else [])]),
                               (ref, ["from you", *(late if closer is ref else [])])):
            got = printed_lines(program)
            if got != lines:
                raise Mismatch(show_lines(lines), show_lines(got),
                               rationale=f"{why}, {program.name} printed something else")
        for name in (own, peer):
            expect_gone(name, why)


def test_argument_errors(student, names):
    q1, q2, q3 = names.queue(), names.queue(), names.queue()
    before = queues_left()
    for args in ((), (q1,), (q1, q2, q3), ("alice", q2), (q1, "bob")):
        shown = " ".join(("./chat", *args))
        chat = student.spawn("chat", *args)
        try:
            chat.wait(EXIT_DEADLINE)
        except Failure:
            raise Failure(f"`{shown}` did not exit within {EXIT_DEADLINE:g} s (expected: "
                          f"usage on stderr, exit 1)") from None
        if chat.exit_code != 1:
            raise Failure(f"`{shown}`: your chat {chat.describe_exit()} (expected: exit 1)")
        if not chat.stderr.strip():
            raise Failure(f"`{shown}`: your chat printed no usage message on stderr")
        if queues_left() != before:
            raise Failure(f"`{shown}` created a queue: {queues_left()}",
                          help="check the arguments before creating anything")


def mq_descriptors(trace, name: str) -> set[int]:
    """The descriptors mq_open returned for queue `name`."""
    return {c.retval for c in trace.calls("mq_open", ok=True, arg0=name)}


def offending_calls(trace) -> list:
    """Calls that could carry a message some other way than a message queue."""
    found = trace.never({"pipe", "socketpair", "mkfifo", "shmget", "shmat", "memfd_create",
                         "shm_open"})
    found += [c for c in trace.calls("socket") if c.argument("domain") != "AF_NETLINK"]
    found += trace.calls("mmap", flags="MAP_SHARED")
    found += trace.files_written()
    return sorted(found, key=lambda c: c.time)


def session_until_exit(a, b, line_a: str, line_b: str) -> None:
    """One line each way, then EOF on both sides: both chats end with the /bye handshake."""
    a.sendline(line_a)
    b.expect_line(line_a, EXPECT)
    b.sendline(line_b)
    a.expect_line(line_b, EXPECT)
    a.close_stdin()
    b.close_stdin()
    for chat in (a, b):
        try:
            chat.wait(EXIT_DEADLINE)
        except Failure:
            raise Failure(f"after EOF on both sides, {chat.name} did not exit within "
                          f"{EXIT_DEADLINE:g} s, so its trace cannot be read") from None


def test_only_message_queues(student, own, peer):
    a, b = two_students(student, own, peer,
                        trace="/^mq_,%net,%ipc,pipe,mkfifo,open,creat,mmap,memfd_create")
    session_until_exit(a, b, "a traced line", "a traced reply")
    trace = a.trace
    if bad := offending_calls(trace):
        raise Failure(f"{a.name} made calls that can carry data outside the queues: "
                      + "; ".join(c.short() for c in bad[:3]),
                      help="messages travel only through the two message queues: no "
                           "pipes, FIFOs, sockets, files or shared memory, also not between "
                           "your own threads or processes")
    sends = trace.calls("mq_send", ok=True, msg_ptr=b"a traced line")
    if not sends:
        raise Failure(f"the line typed into {a.name} was never sent by mq_send/mq_timedsend "
                      f"as one message; its queue calls: "
                      f"{trace.excerpt(['mq_open', 'mq_send', 'mq_receive'], 6)}")
    to_peer = mq_descriptors(trace, peer)
    if not {c.value(0) for c in sends} <= to_peer:
        raise Failure(f"{a.name} sent the line on a descriptor that mq_open({peer!r}) did "
                      f"not return: {sends[0].short()}")
    receives = trace.calls("mq_receive", ok=True, msg_ptr=b"a traced reply")
    if not receives:
        raise Failure(f"{a.name} printed the reply without receiving it with "
                      f"mq_receive/mq_timedreceive")
    if not {c.value(0) for c in receives} <= mq_descriptors(trace, own):
        raise Failure(f"{a.name} received the reply on a descriptor that mq_open({own!r}) "
                      f"did not return: {receives[0].short()}")
    for call in trace.calls("mq_open", oflag="O_CREAT"):
        if (call.string(0) or b"").lstrip(b"/") != own.lstrip("/").encode():
            raise Failure(f"{a.name} creates a queue that is not its own {own}: "
                          f"{call.short(80)}", help="create only OWN_QUEUE")
        attr = call.fields(3)  # {} for NULL: the kernel's default of 8192-byte messages
        if (call.value(2) != 0o600 or int(attr.get("mq_maxmsg", 0)) != 10
                or int(attr.get("mq_msgsize", 0)) != 1024):
            raise Failure(f"{a.name} creates its queue with {call.short(120)}; expected mode "
                          f"0600, mq_maxmsg 10 and mq_msgsize 1024",
                          help="pass a struct mq_attr with mq_maxmsg = 10 and mq_msgsize = "
                               "1024, and mode 0600")


def test_unlinks_own_queue(student, reference, own, peer):
    chat, ref = with_reference(student, reference, own, peer, trace="/^mq_")
    session_until_exit(chat, ref, "from you", "from the reference")
    trace = chat.trace
    if trace.calls("mq_unlink", arg0=peer):
        raise Failure(f"your chat called mq_unlink on the peer's queue {peer}: "
                      f"{trace.calls('mq_unlink', arg0=peer)[0].short()}",
                      help="remove only your own queue: the peer removes its own")
    if not trace.unlinked(own):
        raise Failure(f"your chat never removed its own queue {own} with mq_unlink; its "
                      f"mq_unlink calls: {trace.excerpt('mq_unlink') or 'none'}",
                      help="mq_close() only closes the descriptor; mq_unlink() removes the "
                           "queue's name")


def test_reports_mq_failures(student, reference, names):
    def expect_reported(chat, call_pattern: str, what: str) -> None:
        try:
            chat.wait(EXIT_DEADLINE)
        except Failure:
            raise Failure(f"with {what}, your chat did not exit within {EXIT_DEADLINE:g} s "
                          f"(expected: a message naming the call, exit 1)") from None
        if chat.exit_code != 1:
            raise Failure(f"with {what}, your chat {chat.describe_exit()} (expected: exit 1)")
        if not re.search(call_pattern, chat.stderr):
            raise Failure(f"with {what}, your chat's stderr does not name the call: "
                          f"{chat.stderr.strip()[-200:]!r}")

    own, peer = names.queue(), names.queue()
    chat = student.spawn("chat", own, peer, inject=["mq_open:error=EACCES"])
    expect_reported(chat, r"mq_open", "every mq_open failing with EACCES")

    own, peer = names.queue(), names.queue()
    chat = student.spawn("chat", own, peer, inject=["mq_open:error=EACCES:when=2"])
    expect_reported(chat, r"mq_open", "the second mq_open (the peer's queue) failing with EACCES")
    expect_gone(own, "after a failed mq_open of the peer's queue")

    own, peer = names.queue(), names.queue()
    chat, _ref = with_reference(student, reference, own, peer,
                                inject=["mq_send:error=EBADF"])
    chat.sendline("this send fails")
    expect_reported(chat, r"mq_(timed)?send", "mq_send failing with EBADF")
    expect_gone(own, "after a failed mq_send")


def test_two_pairs_no_interference(student, names):
    base = names.queue()
    rooms = []
    for room in (1, 2):
        def long_name(tail: str) -> str:  # 255 characters, '/' included
            return f"{base}-" + "n" * (255 - len(base) - 1 - len(tail)) + tail
        a = long_name(f"-alice-talks-to-bob-in-room-{room}")
        b = long_name(f"-bob-talks-to-alice-in-room-{room}")
        rooms.append((room, a, b, *two_students(student, a, b, f"room {room}: your chat A",
                                                f"room {room}: your chat B")))
    for _room, a, b, *_chats in rooms:
        for name in (a, b):
            if not wait_for_queue(name, 1.0):
                raise Failure(f"four chats run in two rooms at once; queue {name} never "
                              f"appeared in /dev/mqueue (there: {', '.join(queues_left())})",
                              help="use the names exactly as given: are they cut short?")
    for room, _a, _b, chat_a, chat_b in rooms:
        chat_a.send(text([*numbered(f"room {room}: A", 5), END]))
        chat_b.send(text([*numbered(f"room {room}: B", 5), END]))
    for room, _a, _b, chat_a, chat_b in rooms:
        expect_lines(chat_b, numbered(f"room {room}: A", 5), "both rooms chatting at once")
        expect_lines(chat_a, numbered(f"room {room}: B", 5), "both rooms chatting at once")
