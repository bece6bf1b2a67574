"""assignment2 checks: a two-way chat over two POSIX message queues.

Most checks pair the student's chat with the reference chat, started first so the student's
chat finds its peer's queue at once: a failure then points at the student's side. Checks about
two chats running the same code (deadlock, typing at once, urgent lines, /bye, two pairs) pair
two copies of the student's chat, the first one started and waiting before the second starts.
Each grading run has its own /dev/mqueue, which the checks read to see the queues.
Rubric entries (titles, points) are in assignment.yaml.
"""

import os
import signal
import threading
import time

import pytest

from grader.checks import (
    CHANNEL_TRACE,
    SETUP_SECONDS,
    Failure,
    Program,
    eventually,
    expect_idle,
    mqueue,
    other_channels,
    wait_until,
)
from grader.checks.mqueue import Queue, expect_gone

EXPECT = 3.0         # seconds for a message to show up (the reference needs milliseconds)
EXIT_DEADLINE = 3.0  # seconds a chat gets to exit after its last event
LATE = 3.0           # seconds a late peer starts after the chat (the chat waits 10 s at least)
PEER_WAIT = (9.0, 12.0)  # a lonely chat still waits at the first, has given up by the second
IDLE_CPU_SHARE = 0.2     # share of one CPU a chat with nothing to do may use
END = "END"          # a closing line that tells the check everything before it has arrived


# ---- starting chats -------------------------------------------------------------------------

@pytest.fixture
def own(names):
    """The queue the student's chat receives on."""
    return names.queue()


@pytest.fixture
def peer(names):
    """The queue of the student's chat's peer."""
    return names.queue()


def waiting_for_peer(chat, queue: str) -> None:
    """Until `chat` has created `queue` and sleeps (waiting for its peer), or exited."""
    eventually(lambda: not chat.running or (Queue(queue).exists() and chat.wait_idle(0.05)), 1.0)


def with_reference(student, reference, own, peer, name="your chat", **kwargs):
    """The reference chat on `peer` (started first), then the student's chat on `own`."""
    ref = reference.spawn("chat", peer, own, name="the reference chat")
    eventually(Queue(peer).exists, EXPECT)
    chat = student.spawn("chat", own, peer, **kwargs, name=name)
    return chat, ref


def two_students(student, a, b, first="your chat A", second="your chat B", **kwargs):
    """Two copies of the student's chat: A on queue a starts and waits, then B on queue b."""
    chat_a = student.spawn("chat", a, b, **kwargs, name=f"{first} ({a})")
    waiting_for_peer(chat_a, a)
    chat_b = student.spawn("chat", b, a, name=f"{second} ({b})")
    return chat_a, chat_b


# ---- what a chat printed and left ----------------------------------------------------------

def expect_no_queues(names, why: str) -> None:
    """No queue of this check is left (checks run side by side: only this check's names)."""
    if left := mqueue.queues(names.prefix):
        raise Failure(f"{why}, these queues are still in /dev/mqueue: {', '.join(left)}",
                      help="create only your own queue, and remove it before exiting")


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
    ref.expect_lines(mine, until=END, after="50 lines typed into your chat one by one")
    for line in [*theirs, END]:
        ref.sendline(line)
    chat.expect_lines(theirs, until=END,
                      after="50 lines typed into the reference chat one by one")


def test_burst_500_lines(student, reference, own, peer):
    chat, ref = with_reference(student, reference, own, peer)
    burst = [f"burst {i} " + "x" * (i % 50) for i in range(500)]
    chat.send(text([*burst, END]))
    ref.expect_lines(burst, until=END, after="500 lines written to your chat's stdin at once",
                     help=ONE_LINE_ONE_MESSAGE)
    ref.send(text([*burst, END]))
    chat.expect_lines(burst, until=END, after="500 lines sent by the reference chat at once",
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
        chat.expect_lines(lines, until=END, within=6, stuck_help=advice,
                          after="1,000 lines typed into each chat at the same moment",
                          help=ONE_LINE_ONE_MESSAGE)


def test_stale_queue_msgsize_8192(student, reference, own, peer, workdir):
    Queue.create(own, maxmsg=10, msgsize=8192, owner=workdir)  # as a crashed chat leaves it
    chat, ref = with_reference(student, reference, own, peer)
    long_line = "L" * 1024
    ref.send(text([long_line, "short", END]))
    chat.expect_lines([long_line, "short"], until=END,
                      after=f"the reference chat sent two messages into a leftover {own} "
                            f"(mq_msgsize 8192)",
                      help="use the existing queue as it is, and size the receive buffer from "
                           "mq_getattr()'s mq_msgsize: mq_receive() fails with EMSGSIZE when "
                           "the buffer is smaller")
    chat.sendline("reply")
    ref.expect_line("reply", EXPECT)
    chat.close_stdin()
    ref.close_stdin()
    chat.expect_exit(0, within=EXIT_DEADLINE, when="after a session on a leftover queue")
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
    b.expect_lines(from_a, until=END, after="A typed 20 lines while B typed 10, in five rounds")
    a.expect_lines(from_b, until=END, after="A typed 20 lines while B typed 10, in five rounds")


def test_arrives_while_stdin_idle(student, reference, own, peer, names):
    chat, ref = with_reference(student, reference, own, peer)
    eventually(Queue(own).exists, EXPECT)
    chat.wait_idle()
    expect_idle(chat, when="with nothing to do", cpu_share=IDLE_CPU_SHARE,
                help="block in poll()/select()/mq_receive() without a zero timeout")
    advice = ("wait for stdin and the queue at the same time: poll()/select() on both "
              "descriptors, a receiving thread, mq_notify(), or a second process")
    for word in ("ping", "pong"):
        chat.wait_idle()  # nothing to do: it waits for input
        ref.sendline(word)
        chat.expect_line(word, 1.0, why="the reference chat sent it while nothing was typed "
                                        "into your chat", help=advice)
    ticks = [f"tick {i}" for i in range(16)]
    stream = threading.Thread(target=send_paced, args=(ref, ticks, 0.15), daemon=True)
    stream.start()  # a steady stream, never quiet for long: batching would never flush
    for tick in ticks:
        chat.expect_line(tick, 1.5, why="the reference chat sends a line every 0.15 s",
                         help="print each message as it comes")
    stream.join()
    own, peer = names.queue(), names.queue()  # now with stdout a pipe: stdio buffers blocks
    chat, ref = with_reference(student, reference, own, peer, terminal=False,
                               name="your chat (stdout a pipe, as in `./chat ... | cat`)")
    ref.sendline("through a pipe")
    chat.expect_line("through a pipe", 1.0,
                     help="call fflush(stdout) after each line, or use write()")


def send_paced(program: Program, lines: list[str], pace: float) -> None:
    """One line every `pace` seconds: the pace is the scenario, not a wait for an event."""
    for line in lines:
        program.sendline(line)
        time.sleep(pace)


def test_message_boundaries(student, reference, own, peer):
    chat, ref = with_reference(student, reference, own, peer)
    lines = ["", "a", "M" * 1024, "  spaced  out  ", "", "N" * 1023, "tab\there", "x!", "",
             "/bye?", "/byebye", "/by"]
    chat.send(text([*lines, END]))
    ref.expect_lines(lines, until=END,
                     after="empty, short, 1023- and 1024-byte lines written to your chat at once",
                     help="one line (without its '\\n') is one message, an empty line is a "
                          "message of length 0")
    ref.send(text([*lines, END]))
    chat.expect_lines(lines, until=END,
                      after="the reference chat sent empty, short, 1023- and 1024-byte messages",
                      help="print each message, even an empty one, followed by one '\\n'")


def test_urgent_overtakes_normal(student, own, peer):
    a, b = two_students(student, own, peer)
    a.sendline("hello")
    b.expect_line("hello", EXPECT)
    b.suspend()  # every thread of B stopped: messages wait in its queue
    queue = Queue(peer)
    queue.send(b"five", 5)  # another sender's message at priority 5
    a.send("normal 1\nnormal 2\nnormal 3\n!\n!urgent\n")
    try:
        wait_until(lambda: queue.queued_bytes() >= 34, EXPECT,  # 4 + 8 + 8 + 8 + 0 + 6 bytes
                   lambda: f"{peer} to hold the 34 bytes of 'five' and the five lines A got "
                           f"while B was stopped ('normal 1', 'normal 2', 'normal 3', '!', "
                           f"'!urgent'); it holds {queue.queued_bytes()}", watch=a)
    finally:
        b.resume()
    a.sendline(END)
    b.expect_lines(["hello", "", "urgent", "five", "normal 1", "normal 2", "normal 3"],
                   until=END,
                   after="3 normal lines and then '!urgent' were sent to B while it was stopped",
                   help="send a line starting with '!' without the '!' at priority 10, others "
                        "at priority 0: the queue then hands out the urgent one first")


def test_peer_starts_late_or_early(student, reference, names):
    own, peer = names.queue(), names.queue()
    chat = student.spawn("chat", own, peer, name="your chat")
    if eventually(lambda: not chat.running, LATE):  # the peer starts LATE seconds after it
        raise Failure(f"started before its peer, your chat {chat.describe_exit()} within "
                      f"{LATE:g} s instead of waiting (10 s at least) for {peer} to appear"
                      + chat.stderr_note(),
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
    waiting_for_peer(ref, peer)
    chat = student.spawn("chat", own, peer, name="your chat (started after its peer)")
    chat.sendline("I am here")
    ref.expect_line("I am here", EXPECT)
    ref.sendline("welcome")
    chat.expect_line("welcome", EXPECT)


def test_peer_never_comes(student, own, peer):
    chat = student.spawn("chat", own, peer, name="your chat (its peer never comes)")
    still, gone = PEER_WAIT
    started = time.monotonic()
    if eventually(lambda: not chat.running, still):
        raise Failure(f"your chat {chat.describe_exit()} {time.monotonic() - started:.1f} s "
                      f"after it started, while its peer's queue {peer} did not exist yet: "
                      f"it must wait at least 10 s" + chat.stderr_note(),
                      help="retry mq_open() while it fails with ENOENT, with a short sleep "
                           "between tries, until 10 s have passed")
    if not eventually(lambda: not chat.running, gone - (time.monotonic() - started)):
        raise Failure(f"your chat was still waiting for its peer {gone:g} s after it started",
                      help="give up once 10 s have passed: a message on stderr, remove your "
                           "queue, exit 1")
    chat.expect_exit(1, within=1, stderr=True, when="when its peer had not come after 10 s")
    expect_gone(own, "after giving up on its peer")


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
        chat.expect_exit(0, within=EXIT_DEADLINE, when="after both /bye messages")
    why = "in the whole session (the /bye message is never printed)"
    a.expect_printed(["hi A", "after your bye"], why)
    b.expect_printed(["hi B"], why)
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
    eventually(lambda: Queue(own).queued_bytes() >= 22, EXPECT)  # 3 lines and /bye
    b.wait_idle()  # B has done all it does at EOF, and waits for A's /bye
    a.close_stdin()  # A wakes up to its EOF, B's lines and B's /bye all at once
    a.resume()
    for chat in (a, b):
        chat.expect_exit(0, within=EXIT_DEADLINE,
                         when="after both ended at nearly the same time")
    a.expect_printed(["last 1", "last 2", "last 3"],
                   "B typed 3 lines and ended while A was busy, then A reached EOF: A must "
                   "print every line sent before B's /bye")


SIGNAL_CASES = {f"{sig.name} {when}": (sig, when) for sig in (signal.SIGTERM, signal.SIGINT)
                for when in ("while chatting", "while waiting for the peer")}


@pytest.mark.parametrize("case", SIGNAL_CASES)
def test_signal_cleanup(student, reference, own, peer, case):
    sig, when = SIGNAL_CASES[case]
    if when == "while chatting":
        chat, ref = with_reference(student, reference, own, peer)
        chat.sendline("about to be signalled")
        ref.expect_line("about to be signalled", EXPECT)
    else:
        chat = student.spawn("chat", own, peer, name="your chat (waiting for its peer)")
        waiting_for_peer(chat, own)
        expect_idle(chat, when="while waiting for its peer", cpu_share=IDLE_CPU_SHARE,
                    help="sleep a little between two mq_open() tries (busy-waiting, the CPU "
                         "limit kills it before 10 s)")
        if Queue(peer).exists():
            raise Failure(f"while waiting for its peer, your chat created the peer's queue "
                          f"{peer}", help="open the peer's queue without O_CREAT, and retry "
                                          "while it fails with ENOENT")
    if sig == signal.SIGINT:  # Ctrl-C: the whole process group
        chat.steps.add("SIGINT sent to the process group of your chat (Ctrl-C)")
        os.killpg(chat.popen.pid, sig)
    else:  # kill PID: the process started
        chat.signal(sig)
    chat.expect_exit(0, within=EXIT_DEADLINE, when=f"on {case}")
    expect_gone(own, f"after {case}")


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
            eventually(lambda p=peer: Queue(p).queued_bytes() >= 17, EXPECT)  # line + /bye
            ref.resume()
            closer.expect_line("one more line", EXPECT)
        else:
            other.sendline("one more line")
            closer.expect_line("one more line", EXPECT)
            other.close_stdin()
        why = f"after a session where {first} reached EOF first"
        for program in (chat, ref):
            program.expect_exit(0, within=EXIT_DEADLINE, when=why)
        late = ["one more line"]
        chat.expect_printed(["from the reference", *(late if closer is chat else [])], why)
        ref.expect_printed(["from you", *(late if closer is ref else [])], why)
        for name in (own, peer):
            expect_gone(name, why)


BAD_ARGUMENTS = {"no arguments": [], "one queue": ["{q1}"], "three queues": ["{q1}", "{q2}",
                                                                                "{q3}"],
                 "OWN_QUEUE without '/'": ["alice", "{q2}"],
                 "PEER_QUEUE without '/'": ["{q1}", "bob"]}


@pytest.mark.parametrize("case", BAD_ARGUMENTS)
def test_argument_errors(student, names, case):
    queues = {"q1": names.queue(), "q2": names.queue(), "q3": names.queue()}
    args = [arg.format(**queues) for arg in BAD_ARGUMENTS[case]]
    before = set(mqueue.queues())
    chat = student.spawn("chat", *args)
    chat.expect_exit(1, within=EXIT_DEADLINE, stderr=True,
                     when=f"with {case} (`{' '.join(['./chat', *args])}`)")
    if created := sorted(set(mqueue.queues()) - before):
        raise Failure(f"`{' '.join(['./chat', *args])}` created a queue: {', '.join(created)}",
                      help="check the arguments before creating anything")


def mq_descriptors(trace, name: str) -> set[int]:
    """The descriptors mq_open returned for queue `name`."""
    return {c.retval for c in trace.calls("mq_open", ok=True, arg0=name)}


def session_until_exit(a, b, line_a: str, line_b: str) -> None:
    """One line each way, then EOF on both sides: both chats end with the /bye handshake."""
    a.sendline(line_a)
    b.expect_line(line_a, EXPECT)
    b.sendline(line_b)
    a.expect_line(line_b, EXPECT)
    a.close_stdin()
    b.close_stdin()
    for chat in (a, b):
        chat.expect_exit(0, within=EXIT_DEADLINE, when="after EOF on both sides (its trace "
                                                        "is read once it has exited)")


def test_messages_through_queues(student, reference, own, peer):
    """The gate: a typed line leaves by mq_send on the peer's queue (the reference chat,
    which speaks nothing else, is the peer). What the reference printed is other checks'
    business; the trace is this one's."""
    chat, ref = with_reference(student, reference, own, peer, trace="/^mq_")
    wait_until(Queue(own).exists, SETUP_SECONDS, f"your chat to create its queue {own}",
               watch=chat, help="create your own queue with mq_open(OWN_QUEUE, O_CREAT ...) "
                                "as soon as the chat starts")
    line = "a line through the queue"
    chat.sendline(line)
    eventually(lambda: line in ref.stdout or not chat.running, EXPECT)
    chat.signal(signal.SIGKILL)
    chat.wait()
    trace = chat.trace
    sends = trace.calls("mq_send", ok=True, msg_ptr=line.encode())
    if not {c.value(0) for c in sends} & mq_descriptors(trace, peer):
        raise Failure(f"the line typed into your chat never left by mq_send/mq_timedsend on "
                      f"its peer's queue {peer}; its queue calls: "
                      f"{trace.excerpt(['mq_open', 'mq_send'], 6)}",
                      help="open the peer's queue with mq_open(PEER_QUEUE, O_WRONLY) and send "
                           "each typed line with mq_send (mq_timedsend) on it")


def test_only_message_queues(student, own, peer):
    a, b = two_students(student, own, peer, trace=CHANNEL_TRACE)
    session_until_exit(a, b, "a traced line", "a traced reply")
    trace = a.trace
    if bad := other_channels(trace, allow={"mqueue"}, sockets={"AF_NETLINK"}):
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
    if not {c.value(0) for c in sends} <= mq_descriptors(trace, peer):
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


MQ_FAULTS = {
    "every mq_open failing with EACCES": ("mq_open:error=EACCES", False),
    "the second mq_open (the peer's queue) failing with EACCES":
        ("mq_open:error=EACCES:when=2", False),
    "mq_send failing with EBADF": ("mq_send:error=EBADF", True),
}


@pytest.mark.parametrize("case", MQ_FAULTS)
def test_reports_mq_failures(student, reference, own, peer, case):
    fault, chatting = MQ_FAULTS[case]
    if chatting:
        chat, _ref = with_reference(student, reference, own, peer, inject=[fault])
        chat.sendline("this send fails")
    else:
        chat = student.spawn("chat", own, peer, inject=[fault])
    call = fault.split(":")[0]
    chat.expect_exit(1, within=EXIT_DEADLINE, stderr=call.replace("mq_", r"mq_(timed)?"),
                     when=f"with {case} (a message naming the call is expected)")
    expect_gone(own, f"after {case}")


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
    for _room, a, b, *chats in rooms:
        for name in (a, b):
            wait_until(Queue(name).exists, 1.0,
                       lambda n=name: f"queue {n} to appear in /dev/mqueue while four chats "
                                      f"run in two rooms (there: {', '.join(mqueue.queues())})",
                       watch=chats, help="use the names exactly as given: are they cut short?")
    for room, _a, _b, chat_a, chat_b in rooms:
        chat_a.send(text([*numbered(f"room {room}: A", 5), END]))
        chat_b.send(text([*numbered(f"room {room}: B", 5), END]))
    for room, _a, _b, chat_a, chat_b in rooms:
        for chat, sender in ((chat_b, "A"), (chat_a, "B")):
            chat.expect_lines(numbered(f"room {room}: {sender}", 5), until=END,
                              after="both rooms chatting at once")
