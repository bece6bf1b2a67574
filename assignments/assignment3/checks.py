"""assignment3 checks: a pipe through POSIX shared memory, `writer NAME` | `reader NAME`.

Every check runs a writer and a reader of the student's together (the reference's only to
time the throughput rule), each pair on a fresh NAME from `names`. The reader's stdout is a
pipe the grader hashes as it streams (`digest=True`), so the reader's output is compared
with the writer's input by sha256 and size, beyond the output cap, and the first KiB kept
name the first byte that differs. The writer's input is fed in the background (`feed`), or
line by line (`send`) where a check paces it.

Start orders (the handout's "Start order in the checks"). Unless a check says otherwise the
writer starts first with its input, and the reader as soon as the writer is asleep (blocked:
its buffer full, or waiting for input or for its reader) or has exited, or after SETTLE s
(a writer that spins never sleeps: the scenario goes on without it). A program is attached
when /proc/PID/maps shows a shared mapping of a file in /dev/shm, of any name (the naming
rule is shm_only's and two_pairs' business).

Leftovers are looked at only where a check says so (cleanup_*, stale_objects, partner_death,
back_to_back, argument_errors): `shm.objects(NAME)` counts `NAME...` and `sem.NAME...`.
A program the grader kills is reaped at once (its waiter thread), before anything else
starts, so that kill(pid, 0) on it fails as it would in a shell.
"""

import functools
import hashlib
import signal
import time

import pytest

from grader.checks import (
    SETUP_SECONDS,
    Failure,
    Mismatch,
    eventually,
    expect_idle,
    measure_idle_each,
    other_channels,
    procfs,
    random_bytes,
    sentence,
    shm,
    show,
    wait_all_idle,
    wait_until,
)

DEADLINE = 10.0        # s: a transfer is complete, both programs exited (reference: < 0.3 s)
SETTLE = 1.0           # s: the most a start order waits for the first program to block...
STEADY = 0.03          # ...asleep this long in a row (right after exec it may look asleep)
ATTACH = 5.0           # s: for both programs to map the segment
LATENCY = 0.5          # s: a line the writer has read is at the reader's stdout
SIGNAL_EXIT = 1.0      # s: to exit after SIGINT or SIGTERM
PARTNER = 5.0          # s: to notice a dead partner (or end after a signalled one)
ARGS_EXIT = 2.0        # s: to reject bad arguments
BUFFER = 65536         # bytes: what the pair's shm_open() objects may hold in all
PIPE = 65536           # bytes: what a pipe holds (a writer's first input, given at once)
IDLE_SECONDS = 0.5     # the idle window...
IDLE_CPU = 0.05        # ...in which each program may use 5% of a CPU (25 ms)...
IDLE_WAKEUPS = 20      # ...and wake up 20 times a second (10 times)
PACE = 0.05            # s between two lines of the paced transfer (blocking_waits)...
PACED_LINES = 10       # ...that many, after a first one: half a second
PACED_SLEEPS = 20      # sleeps and timed-out waits allowed per second in it, each program
PACED_CPU = 0.20       # share of a CPU each may use in it
THROUGHPUT = 64 << 20  # bytes, the reader started first...
FACTOR = 10            # ...in at most 10 times the reference's best time...
FLOOR, CEILING = 2.5, 5.0  # ...never less than 2.5 s allowed, never more than 5 s
TURNS = ("reference", "yours", "reference", "yours", "reference")  # its best of 3, yours of 2

WRITER_FIRST, READER_FIRST, TOGETHER = "the writer first", "the reader first", "both at once"

HELP_STUCK = ("each side must wake the other: the writer posts after every slot it fills "
              "and after its end mark, the reader after every slot it empties; and a reader "
              "that starts after its writer (or after it has exited) must still find the "
              "segment and the data in it")
HELP_END = ("at EOF the writer puts an end mark into the buffer (a slot of length 0, an "
            "end flag), and the reader exits 0 once it has written everything before it")
HELP_EARLY = ("the reader exits 0 only at the writer's end mark: a wait that times out (a "
              "pause in the writer's input) is not the end of the stream, and a writer that "
              "died before its end mark is an error (exit non-zero)")
HELP_BINARY = ("the data is binary: copy it with read(), write() and a length, never with "
               "strlen(), strcpy(), printf(\"%s\") or fgets(), which stop at a NUL byte")
HELP_ORDER = ("a slot may be filled again only after the reader has emptied it: one "
              "semaphore counts the free slots (it starts at the number of slots, not of "
              "bytes), one the full slots (it starts at 0); and write() may write fewer "
              "bytes than asked: loop until all are out")
HELP_ATTACH = ("the writer creates the segment (shm_open with O_CREAT, ftruncate, mmap with "
               "MAP_SHARED) before it waits for anything; the reader maps it as soon as it "
               "exists (retrying shm_open every 10 to 50 ms until then)")
HELP_BLOCK = ("block until something happens: sem_wait() or sem_timedwait() (or a condition "
              "variable, a futex) for room or data, poll() or read() for input; a timeout of "
              "a quarter of a second or more, to look at the partner, is fine; a loop around "
              "usleep(), sched_yield() or sem_trywait() is not")
HELP_STREAM = ("hand over whatever one read() returns, at once (a slot need not be full): "
               "never wait for a full buffer or for EOF before posting")
HELP_CLEANUP = ("remove what you create (shm_unlink(), sem_unlink()): once both have mapped "
                "the segment, or at the end, also after a signal or a dead partner")
HELP_SIGNALS = ("catch SIGINT and SIGTERM with sigaction() (without SA_RESTART, so that a "
                "blocking wait returns EINTR): remove your objects, wake the partner, exit")
HELP_PARTNER = ("wait in slices (sem_timedwait() with 0.25 to 1 s) and look at the partner "
                "in between: kill(pid, 0) with its PID stored in the segment fails once it is "
                "gone; then remove the objects and exit non-zero. A writer that has posted "
                "its end mark is not dead but done: take what it left first")
HELP_STALE = ("a writer that starts replaces whatever is at NAME: shm_unlink() (and "
              "sem_unlink()) first, then create anew with O_CREAT | O_EXCL and initialise "
              "every field and semaphore; a reader takes a segment only from a live writer, "
              "or one that marked its stream finished")
HELP_EPIPE = ("ignore SIGPIPE and check every write(): when stdout fails (EPIPE), tell the "
              "writer (a flag in the segment, a post), remove your objects, exit non-zero")
HELP_ARGS = ("check the arguments before creating anything: exactly one NAME, a '/' and 1 to "
             "99 more characters, none of them a '/'; else print 'usage: ...' on stderr and "
             "exit 1")
HELP_SPEED = ("move kilobytes per handoff (a slot filled by one read()) and block in "
              "sem_wait() instead of sleeping: a handoff per byte, or a usleep() per wait, "
              "is far too slow")


# ---- data: sentence(seed, size) for text, random_bytes(seed, size) for binary ---------------

@functools.lru_cache(maxsize=4)
def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---- starting a pair ------------------------------------------------------------------------

def start_writer(launcher, name: str, data: bytes = b"", *, close: bool = True,
                 label: str | None = None, **kwargs):
    """A writer on NAME (`label`: how feedback calls it) given `data`: the first 64 KiB at
    once (a pipe holds them), so that it never looks idle for want of input, the rest in the
    background. Its stdin is closed after it, unless not `close` (then feed more, or
    `feed(b"", then_close=True)`, later)."""
    writer = launcher.spawn("writer", name, name=label, **kwargs)
    writer.send(data[:PIPE], until_closed=True)
    if data[PIPE:]:
        writer.feed(data[PIPE:], then_close=close)
    elif close:
        writer.close_stdin()
    return writer


def start_reader(launcher, name: str, *, label: str | None = None, **kwargs):
    """A reader on NAME whose stdout is a pipe the grader hashes."""
    return launcher.spawn("reader", name, name=label, digest=True, **kwargs)


def settled(*programs) -> None:
    """Until the programs block (all asleep STEADY s in a row) or end; SETTLE s at most."""
    wait_all_idle(programs, SETTLE, steady=STEADY)


def pair(launcher, name: str, data: bytes = b"", order: str = WRITER_FIRST, *,
         close: bool = True, gap: float = 0.0):
    """A writer fed `data` and a reader on NAME, started in `order`: the second once the first
    has blocked (settled), and `gap` s later. Returns (writer, reader)."""
    if order == READER_FIRST:
        reader = start_reader(launcher, name)
        settled(reader)
        time.sleep(gap)  # the scenario's head start, if any
        return start_writer(launcher, name, data, close=close), reader
    writer = start_writer(launcher, name, data, close=close)
    if order == WRITER_FIRST:
        settled(writer)
        time.sleep(gap)
    return writer, start_reader(launcher, name)


def attached(*programs) -> None:
    """Until each program has mapped a segment (MAP_SHARED, a file in /dev/shm), and then
    blocks: the moment a scenario needs "both attached and asleep"."""
    wait_until(lambda: all(procfs.shared_mappings(p.pid) for p in programs), ATTACH,
               lambda: " and ".join(p.name for p in programs
                                    if not procfs.shared_mappings(p.pid))
               + " to map the segment (a MAP_SHARED mapping of a file in /dev/shm)",
               watch=programs, help=HELP_ATTACH)
    settled(*programs)


# ---- how programs end -----------------------------------------------------------------------

def drained(program) -> None:
    """An ended program, its output all read (a writer's feeding thread done first)."""
    program.wait_fed(2)
    program.wait()


def finished(programs, within: float) -> bool:
    """Wait until every program has exited, or one has failed (non-zero status, a signal:
    the verdict is known), `within` s at most. True unless one still runs for nothing."""
    def known():
        ended = [p for p in programs if not p.running]
        return len(ended) == len(programs) or any(p.exit_code != 0 for p in ended)

    done = eventually(known, within)
    for program in programs:
        if not program.running:
            drained(program)
    return bool(done)


def kill(*programs) -> None:
    """SIGKILL, and reap at once: kill(pid, 0) fails on them from now on."""
    for program in programs:
        program.stop()
    for program in programs:
        eventually(lambda p=program: not p.running, 5)
        drained(program)


def expect_end(program, within: float, when: str, help: str | None = None) -> None:
    """`program` ends within `within` s, with any status."""
    if not eventually(lambda: not program.running, within):
        raise Failure(f"{when}, {program.name} was still running {within:g} s later",
                      help=help)
    drained(program)


def nothing_left(name: str, when: str) -> None:
    """No object of NAME (NAME..., sem.NAME...) is in /dev/shm."""
    if left := shm.objects(name):
        listed = ", ".join(f"{key} ({size:,} bytes)" for key, size in left.items())
        raise Failure(f"{when}, these objects are still in /dev/shm: {listed}",
                      help=HELP_CLEANUP)


# ---- the verdict of a transfer --------------------------------------------------------------

def first_difference(data: bytes, out: bytes) -> int | None:
    """The offset of the first byte where `out` (what was kept of it) and `data` differ, or
    None when one is a prefix of the other."""
    common = min(len(data), len(out))
    for start in range(0, common, 4096):
        end = min(start + 4096, common)
        if data[start:end] != out[start:end]:
            return next(i for i in range(start, end) if data[i] != out[i])
    return None


def bytes_at(data: bytes, at: int) -> str:
    """A few bytes from offset `at`, quoted as bytes (binary data stays readable)."""
    return f"bytes from {at:,}: {data[at:at + 32]!r}" + ("..." if len(data) > at + 32 else "")


def arrival(data: bytes, reader) -> tuple[str, str, str, str | None]:
    """What the reader printed, against `data`: (summary, expected, actual, hint); the
    summary is "" when it printed exactly `data`."""
    size, out = reader.stdout_size, reader.stdout_bytes
    if size == len(data) and reader.stdout_digest == sha256(data):
        return "", "", "", None
    at = first_difference(data, out)
    said = f"the reader printed {size:,} bytes where {len(data):,} were sent"
    if at is None and len(out) < size:  # the first KiB kept are right; the rest is not kept
        return (f"{said}; the first {len(out):,} bytes are right, a later one differs",
                f"{len(data):,} bytes, sha256 {sha256(data)[:16]}...",
                f"{size:,} bytes, sha256 {reader.stdout_digest[:16]}...", HELP_ORDER)
    if size == 0:
        return (f"the reader printed nothing where {len(data):,} bytes were sent",
                bytes_at(data, 0), "(nothing)", HELP_STUCK)
    if at is None and size < len(data):
        return (f"{said}: they are right, but the output stops there", bytes_at(data, size),
                "(nothing more)", HELP_EARLY if reader.exit_code == 0 else HELP_STUCK)
    if at is None:
        return (f"{said}: the sent bytes, then more", "(nothing more)",
                bytes_at(out, len(data)), HELP_ORDER)
    hint = HELP_BINARY if 0 in data[max(0, at - 1):at + 1] else HELP_ORDER
    return (f"{said}; the first difference is at byte {at:,}", bytes_at(data, at),
            bytes_at(out, at), hint)


def hint_for(program) -> str:
    """Advice for a program that ended badly after a transfer."""
    if program.killed_by == signal.SIGBUS:
        return ("SIGBUS: a store into the mapping beyond the end of the object; a new object "
                "is 0 bytes long until ftruncate() sizes it (and a reader must check the "
                "size with fstat() before it maps a segment still being set up)")
    if program.killed_by == signal.SIGSEGV:
        return "SIGSEGV: check mmap()'s result (MAP_FAILED) and every index into the ring"
    return HELP_END


def transferred(writer, reader, data: bytes, what: str, *, within: float = DEADLINE) -> None:
    """The verdict of a transfer of `data` (`what`: how it was sent): both programs exit 0
    within `within` s, and the reader printed exactly `data`."""
    done = finished([writer, reader], within)
    ended = (f"{writer.name} {writer.describe_exit()}{writer.stderr_note()}, "
             f"{reader.name} {reader.describe_exit()}{reader.stderr_note()}"
             + ("" if done else f" (after {within:g} s)"))
    crashed = [p for p in (writer, reader) if p.killed_by in (signal.SIGBUS, signal.SIGSEGV)]
    printed, out = reader.stdout_size, reader.stdout_bytes
    if not done and printed <= len(data) and first_difference(data, out) is None:
        moving = printed < len(data) and eventually(lambda: reader.stdout_size > printed, 0.2)
        so_far = "nothing" if not printed else f"{printed:,} of the {len(data):,} bytes" + (
            ", all right" if printed == len(out) else f", the first {len(out):,} of them right")
        raise Failure(f"{what}: {ended}; the reader had printed {so_far}"
                      + (", and was still printing" if moving else ""),
                      help=hint_for(crashed[0]) if crashed else HELP_SPEED if moving
                      else HELP_END if printed == len(data) else HELP_STUCK)
    summary, expected, actual, hint = arrival(data, reader)
    if summary:
        raise Mismatch(expected, actual, rationale=f"{what}: {summary}; {ended}",
                       help=hint_for(crashed[0]) if crashed else hint)
    arrived = f"all {len(data):,} bytes arrived" if data else "nothing was printed, rightly"
    for program in (writer, reader):
        program.expect_exit(0, within=0.1, when=f"{what}: {arrived}", help=hint_for(program))


# ---- transfers ------------------------------------------------------------------------------

def test_transfer_small(student, names):
    data = b"hello, world\nshared memory\n"
    writer, reader = pair(student, names.shm(), data)
    transferred(writer, reader, data, "27 bytes of text (the writer started first)")


def test_transfer_empty(student, names):
    writer, reader = pair(student, names.shm(), b"")
    transferred(writer, reader, b"", "an empty input (the writer's stdin closed at once)")


def test_transfer_one_byte(student, names):
    writer, reader = pair(student, names.shm(), b"x")
    transferred(writer, reader, b"x", "the single byte 'x'")


@pytest.mark.parametrize("size", [65535, 65536, 65537],
                         ids=["65,535 bytes", "65,536 bytes", "65,537 bytes"])
def test_buffer_boundaries(student, names, size):
    data = sentence(size, size)
    writer, reader = pair(student, names.shm(), data)
    transferred(writer, reader, data, "text, the writer's buffer full before the reader "
                                      "started")


def test_ten_mib_binary(student, names):
    data = random_bytes(10, 10 << 20)
    writer, reader = pair(student, names.shm(), data)
    transferred(writer, reader, data, "10 MiB of random bytes, NULs included")


GAP = 0.3              # s: a head start in the start-order check, once the first is asleep
START_ORDERS = {  # case: (who starts first, bytes of text)
    "the reader 0.3 s before its writer": (READER_FIRST, 200_000),
    "the writer 0.3 s before its reader, more input than the buffer holds":
        (WRITER_FIRST, 200_000),
    "the writer 0.3 s before its reader, a few bytes": (WRITER_FIRST, 11),
}


@pytest.mark.parametrize("case", START_ORDERS)
def test_start_order(student, names, case):
    order, size = START_ORDERS[case]
    data = sentence(7, size)
    writer, reader = pair(student, names.shm(), data, order, gap=GAP)
    transferred(writer, reader, data, f"{len(data):,} bytes of text")


def printed(reader, size: int, within: float) -> bool:
    """The reader has printed `size` bytes, or does within `within` s."""
    return eventually(lambda: reader.stdout_size >= size, within)


def test_streaming(student, names):
    writer, reader = pair(student, names.shm(), close=False)
    attached(writer, reader)
    sent = b""
    for line in (b"first line\n", b"second\n", b"3\n"):
        writer.send(line, until_closed=True)
        sent += line
        if not printed(reader, len(sent), LATENCY):
            raise Mismatch(show(sent), show(reader.stdout_bytes) or "(nothing)",
                           rationale=f"{show(line)} was written to your writer's stdin (kept "
                                     f"open), and {LATENCY:g} s later your reader had not "
                                     f"printed it; your writer {writer.describe_exit()}, "
                                     f"your reader {reader.describe_exit()}",
                           help=HELP_STREAM)
        time.sleep(0.1)  # the scenario: lines typed 0.1 s apart
    writer.close_stdin()
    transferred(writer, reader, sent, "three lines typed 0.1 s apart, then EOF")


def test_slow_reader(student, names):
    data = sentence(3, 512 << 10)
    writer, reader = pair(student, names.shm(), data[:64 << 10], close=False)
    attached(writer, reader)  # the first 64 KiB have gone through
    reader.suspend()
    writer.feed(data[64 << 10:], then_close=True)
    settled(writer)  # the buffer is full: it waits for room
    time.sleep(1.0)  # the scenario: the reader stays stopped for a second
    reader.resume()
    transferred(writer, reader, data, "512 KiB of text, the reader stopped (SIGSTOP) for 1 s "
                                      "after the first 64 KiB while the writer filled its "
                                      "buffer")


BURSTS = [(1, 0.05), (700, 1.0), (5000, 0.02), (20000, 0.3), (3, 0.1), (12000, 0.0)]


def test_slow_writer(student, names):
    writer, reader = pair(student, names.shm(), close=False)
    bursts = [(sentence(size, size), pause) for size, pause in BURSTS]
    for burst, pause in bursts:
        writer.send(burst, until_closed=True)
        time.sleep(pause)  # the scenario: the writer's input pauses, up to 1 s
    writer.close_stdin()
    transferred(writer, reader, b"".join(burst for burst, _ in bursts),
                "six bursts of 1 to 20,000 bytes with pauses of 0.02 to 1 s between them")


# ---- speed and waiting ----------------------------------------------------------------------

def timed(launcher, name: str, data: bytes, within: float) -> float | None:
    """A transfer of `data`, the reader first: the seconds from the writer's start until both
    have exited, or None if they are not done within `within` s (then killed)."""
    writer, reader = pair(launcher, name, data, READER_FIRST)
    if not finished([writer, reader], within):
        kill(writer, reader)
        return None
    transferred(writer, reader, data, f"{len(data) >> 20} MiB of random bytes, "
                                      f"{READER_FIRST}", within=0)
    return max(writer.exited_at, reader.exited_at) - writer.started_at


def test_throughput(student, reference, names):
    data = random_bytes(64, THROUGHPUT)
    # The two take turns, so that both meet the same conditions on a machine that other
    # work slows down now and then.
    runs = {"reference": [], "yours": []}
    for whose in TURNS:
        runs[whose].append(timed(reference if whose == "reference" else student, names.shm(),
                                 data, DEADLINE if whose == "reference" else CEILING))
    best = min(s for s in runs["reference"] if s is not None)
    limit = min(CEILING, max(FLOOR, FACTOR * best))
    tries = [s for s in runs["yours"] if s is not None]
    took = (f"took {min(tries):.2f} s at best" if tries else
            f"did not finish within {CEILING:g} s")
    if not tries or min(tries) > limit:
        raise Failure(f"64 MiB of random bytes, the reader started first: in "
                      f"{len(runs['yours'])} tries "
                      f"your pair {took}; the limit is {limit:.2f} s ({FACTOR} times the "
                      f"reference's {best:.2f} s here, at least {FLOOR:g} s, at most "
                      f"{CEILING:g} s)", help=HELP_SPEED)


def test_idle(student, names):
    writer, reader = pair(student, names.shm(), close=False)
    attached(writer, reader)
    when = "both attached, the writer's stdin open and silent"
    windows = measure_idle_each([writer, reader], IDLE_SECONDS)
    if not (writer.running and reader.running):
        raise Failure(f"while both should have waited ({when}), {writer.name} "
                      f"{writer.describe_exit()}{writer.stderr_note()}, and {reader.name} "
                      f"{reader.describe_exit()}{reader.stderr_note()}", help=HELP_EARLY)
    for program, window in zip((writer, reader), windows, strict=True):
        expect_idle(program, when=when, cpu_share=IDLE_CPU, wakeups_per_second=IDLE_WAKEUPS,
                    measured=window, help=HELP_BLOCK)
    writer.close_stdin()
    transferred(writer, reader, b"", f"an idle half second ({when}), then EOF")


PACED_TRACE = ("futex,nanosleep,clock_nanosleep,poll,ppoll,select,pselect6,epoll_wait,"
               "epoll_pwait,epoll_pwait2,sched_yield")
SLEEPS = {"nanosleep", "clock_nanosleep", "sched_yield"}
POLLS = {"poll", "ppoll", "select", "pselect6", "epoll_wait", "epoll_pwait", "epoll_pwait2"}


def idle_turns(trace, first: float, last: float) -> list:
    """Sleeps, and waits that ended by their timeout, between `first` and `last`."""
    return [c for c in trace.calls(PACED_TRACE.split(","))
            if first <= c.time <= last and (c.name in SLEEPS or c.errno == "ETIMEDOUT"
                                            or (c.name in POLLS and c.retval == 0))]


def test_blocking_waits(student, names):
    name = names.shm()
    writer = start_writer(student, name, close=False, trace=PACED_TRACE)
    settled(writer)
    reader = start_reader(student, name, trace=PACED_TRACE)
    attached(writer, reader)
    lines = [b"start\n"] + [b"line %d\n" % i for i in range(PACED_LINES)]
    writer.send(lines[0], until_closed=True)
    first, cpu = time.time(), [p.cpu_seconds() for p in (writer, reader)]
    for line in lines[1:]:
        writer.send(line, until_closed=True)
        time.sleep(PACE)  # the scenario: a line every 50 ms, for half a second
    last, cpu = time.time(), [p.cpu_seconds() - c for p, c in zip((writer, reader), cpu,
                                                                  strict=True)]
    writer.close_stdin()
    transferred(writer, reader, b"".join(lines), f"{len(lines)} lines sent {PACE:g} s apart")
    span = last - first
    for program, used in zip((writer, reader), cpu, strict=True):
        turns = idle_turns(program.trace, first, last)
        if len(turns) > PACED_SLEEPS * span:
            raise Failure(f"while a line came every {PACE * 1000:.0f} ms, {program.name} slept "
                          f"or timed out {len(turns)} times in {span:.1f} s (at most "
                          f"{PACED_SLEEPS} a second are allowed), e.g. {turns[-1].short()}: "
                          f"it polls instead of blocking until data or room comes",
                          help=HELP_BLOCK)
        if used > PACED_CPU * span:
            raise Failure(f"while a line came every {PACE * 1000:.0f} ms, {program.name} used "
                          f"{used * 1000:.0f} ms of CPU in {span:.1f} s ({used / span:.0%} of "
                          f"a CPU; at most {PACED_CPU:.0%} is allowed): it spins",
                          help=HELP_BLOCK)


# ---- leftovers, signals, stale objects, dead partners ---------------------------------------

@pytest.mark.parametrize("order", [WRITER_FIRST, READER_FIRST])
def test_cleanup_normal(student, names, order):
    name = names.shm()
    data = b"short\n" if order == WRITER_FIRST else sentence(5, 1000)
    writer, reader = pair(student, name, data, order)
    transferred(writer, reader, data, f"{len(data):,} bytes of text")
    nothing_left(name, "after the transfer, both exited")


SIGNAL_CASES = {  # case: (victim, signal, moment)
    "SIGTERM to a writer alone, its buffer full": ("writer", signal.SIGTERM, "alone"),
    "SIGINT to a writer alone, its buffer full": ("writer", signal.SIGINT, "alone"),
    "SIGTERM to a reader alone, waiting for its writer": ("reader", signal.SIGTERM, "alone"),
    "SIGTERM to the reader of an attached pair": ("reader", signal.SIGTERM, "pair"),
    "SIGINT to the reader of an attached pair": ("reader", signal.SIGINT, "pair"),
    "SIGTERM to the writer of an attached pair": ("writer", signal.SIGTERM, "pair"),
    "SIGINT to the writer of an attached pair": ("writer", signal.SIGINT, "pair"),
}


@pytest.mark.parametrize("case", SIGNAL_CASES)
def test_cleanup_signals(student, names, case):
    role, sig, moment = SIGNAL_CASES[case]
    name = names.shm()
    if moment == "alone":
        victim = (start_writer(student, name, sentence(2, 200_000), close=False)
                  if role == "writer" else start_reader(student, name))
        settled(victim)
        partner = None
    else:
        writer, reader = pair(student, name, b"hello\n", close=False)
        attached(writer, reader)
        victim, partner = (writer, reader) if role == "writer" else (reader, writer)
    victim.signal(sig)
    expect_end(victim, SIGNAL_EXIT, "after the signal", help=HELP_SIGNALS)
    if role == "reader" and partner is not None:
        partner.feed(b"", then_close=True)  # the writer's input ends: it finishes, or notices
    if partner is not None:
        expect_end(partner, PARTNER, f"after the signal ({victim.name} "
                                     f"{victim.describe_exit()})",
                   help=HELP_PARTNER)
    nothing_left(name, "after the signal, once the programs had ended")


def leave_stale_objects(student, name: str, killed: str) -> None:
    """The objects a SIGKILLed writer alone ("writer"), or a SIGKILLed pair in mid-transfer
    ("pair"), leave at NAME: made by the student's own programs, never planted."""
    writer = start_writer(student, name, b"STALE!" * 50_000, close=False)
    settled(writer)  # its buffer is full
    if killed == "writer":
        kill(writer)
        return
    reader = start_reader(student, name)
    eventually(lambda: reader.stdout_size >= 100_000 or not reader.running, 5)
    reader.suspend()
    settled(writer)
    kill(writer, reader)


STALE_CASES = {  # case: (what was killed, start order of the next pair)
    "a writer killed alone, then the writer first": ("writer", WRITER_FIRST),
    "a pair killed mid-transfer, then the writer first": ("pair", WRITER_FIRST),
    "a writer killed alone, then the reader first": ("writer", READER_FIRST),
}


@pytest.mark.parametrize("case", STALE_CASES)
def test_stale_objects(student, names, case):
    killed, order = STALE_CASES[case]
    name = names.shm()
    leave_stale_objects(student, name, killed)
    data = sentence(9, 100_000)
    writer, reader = pair(student, name, data, order)
    try:
        transferred(writer, reader, data, "100,000 fresh bytes on the same NAME")
    except Failure as failure:
        if b"STALE!" in reader.stdout_bytes:
            failure.rationale += "; it printed bytes of the killed pair ('STALE!STALE!...')"
            failure.help = HELP_STALE
        elif writer.running or reader.running:
            failure.help = HELP_STALE
        raise
    nothing_left(name, "after the fresh transfer, both exited")


def reader_killed(student, name: str) -> None:
    data = sentence(4, 512 << 10)
    writer, reader = pair(student, name, data[:16 << 10], close=False)
    attached(writer, reader)
    reader.suspend()
    writer.feed(data[16 << 10:], then_close=True)
    settled(writer)  # it waits for room
    if not writer.running:
        raise Failure(f"your reader was stopped (SIGSTOP) after 16 KiB, and your writer, given "
                      f"512 KiB in all, {writer.describe_exit()}{writer.stderr_note()} instead "
                      f"of waiting for room (the buffer holds 64 KiB at most)",
                      help=HELP_ORDER if writer.exit_code == 0 else hint_for(writer))
    kill(reader)
    writer.expect_exit(None, within=PARTNER, help=HELP_PARTNER,
                       when="after your reader was killed (SIGKILL) while your writer waited "
                            "for room (the reader stopped, 512 KiB given in all)")


def writer_killed(student, name: str) -> None:
    writer, reader = pair(student, name, b"some data\n", close=False)
    attached(writer, reader)
    kill(writer)
    reader.expect_exit(None, within=PARTNER, help=HELP_PARTNER,
                       when="after your writer was killed (SIGKILL) while your reader waited "
                            "for data (the writer given a line, its stdin kept open)")


DEATHS = {"the reader killed while the writer waits for room": reader_killed,
          "the writer killed while the reader waits for data": writer_killed}


@pytest.mark.parametrize("case", DEATHS)
def test_partner_death(student, names, case):
    name = names.shm()
    DEATHS[case](student, name)
    nothing_left(name, "once the survivor had ended")


# ---- arguments, a closed stdout, and what the programs really do ----------------------------

BAD_ARGUMENTS = {  # case: the arguments, from a fresh NAME
    "no NAME": lambda name: [],
    "a NAME and an extra argument": lambda name: [name, "extra"],
    "a NAME without its '/'": lambda name: [name[1:]],
    "a '/' and 100 characters": lambda name: [name + "y" * (101 - len(name))],
    "a NAME with a second '/'": lambda name: [name + "/b"],
    "an empty NAME": lambda name: [""],
}


@pytest.mark.parametrize("case", BAD_ARGUMENTS)
@pytest.mark.parametrize("program", ["writer", "reader"])
def test_argument_errors(student, names, program, case):
    args = BAD_ARGUMENTS[case](names.shm())
    shown = " ".join(repr(arg) for arg in args) or "no arguments"
    started = student.spawn(program, *args)
    if program == "writer":
        started.send(b"data\n", until_closed=True)
    started.close_stdin()
    started.expect_exit(1, within=ARGS_EXIT, stderr=True, when=f"with {shown}",
                        help=HELP_ARGS)
    first = started.stderr.strip().splitlines()[0]
    if not first.lower().startswith("usage:"):
        raise Mismatch("a first line starting with 'usage:'", show(first),
                       rationale=f"with {shown}, {started.name} exited 1, but the first line "
                                 f"of its stderr does not start with 'usage:'", help=HELP_ARGS)
    nothing_left(names.prefix, f"with {shown}, {started.name} exited 1, but")


def test_closed_stdout(student, names):
    name = names.shm()
    writer = start_writer(student, name, sentence(8, 512 << 10), close=False)
    settled(writer)
    reader = start_reader(student, name, closed_stdout=True)
    eventually(lambda: not reader.running
               or (procfs.shared_mappings(reader.pid) and reader.wait_idle(0.2, STEADY)),
               ATTACH)
    writer.feed(b"", then_close=True)  # no end mark before the reader has tried to write
    when = "with its stdout a pipe nobody reads (its reading end closed)"
    expect_end(reader, PARTNER, when, help=HELP_EPIPE)
    if reader.exit_code == 0 or (reader.killed_by and reader.killed_by != signal.SIGPIPE):
        raise Failure(f"{when}, every write() of {reader.name} failed (EPIPE), but it "
                      f"{reader.describe_exit()} (expected: a non-zero exit status, or death "
                      f"by SIGPIPE)", help=HELP_EPIPE)
    expect_end(writer, PARTNER, f"after {reader.name} {reader.describe_exit()} ({when})",
               help=HELP_PARTNER)


SHM_TRACE = ("%file,%net,%ipc,/^mq_,ftruncate,mmap,memfd_create,pipe,pipe2,process_vm_writev,"
             "process_vm_readv,ptrace,pidfd_getfd")
NOT_SHM = {"shmget", "shmat", "memfd_create", "msgget", "msgsnd", "msgrcv"}


def segment_use(trace, name: str) -> tuple[set[bytes], dict[bytes, int], list]:
    """What a traced program did with the objects it shm_open'ed whose name begins with NAME:
    (the paths it mapped MAP_SHARED, path -> the largest size ftruncate() gave it, every
    mmap() of one of them)."""
    stem = b"/dev/shm/" + name[1:].encode()
    fds: dict[tuple[int, int], bytes] = {}
    mapped, sizes, maps = set(), {}, []
    for call in trace.calls(["shm_open", "ftruncate", "mmap", "close"], ok=True):
        process = trace.process_of(call.pid)
        if call.name == "openat":
            path = call.argument("pathname")
            if isinstance(path, bytes) and path.startswith(stem):
                fds[process, call.retval] = path
        elif call.name == "close":
            fds.pop((process, call.value(0)), None)
        elif (path := fds.get((process, call.value(0 if call.name == "ftruncate" else 4)))):
            if call.name == "ftruncate":
                sizes[path] = max(sizes.get(path, 0), call.value(1) or 0)
            else:
                maps.append(call)
                if "MAP_SHARED" in (call.arg(3) or ""):
                    mapped.add(path)
    return mapped, sizes, maps


def traced_transfer(student, name: str, within: float = ATTACH):
    """A writer on NAME, then once it has mapped its segment a reader, both under strace,
    moving 200,000 bytes: each must map a segment from /dev/shm (MAP_SHARED), or be done,
    `within` s of its start. Returns them once ended (or DEADLINE s later): their traces
    tell what they really did."""
    writer = start_writer(student, name, sentence(2, 200_000), trace=SHM_TRACE)
    mapped_or_done(writer, within)
    reader = start_reader(student, name, trace=SHM_TRACE)
    mapped_or_done(reader, within)
    finished([writer, reader], DEADLINE)
    return writer, reader


def mapped_or_done(program, within: float) -> None:
    """Until `program` has mapped a segment (MAP_SHARED, a file in /dev/shm) or ended."""
    wait_until(lambda: procfs.shared_mappings(program.pid) or not program.running, within,
               f"{program.name} to map a segment (a MAP_SHARED mapping of a file in /dev/shm)",
               help=HELP_ATTACH)


def test_data_through_segment(student, names):
    """The gate: both programs map shared memory at once, and nothing else carries data.
    Whether the transfer completes is other checks' business: what still runs is killed,
    and the traces tell what the programs did."""
    for program in traced_transfer(student, names.shm(), within=SETUP_SECONDS):
        program.signal(signal.SIGKILL)
        program.wait()
        trace = program.trace
        if other := other_channels(trace, allow={"shm", "sysv"}) + trace.never(NOT_SHM):
            raise Failure(f"{program.name} used {other[0].short()}: only POSIX shared memory "
                          f"(shm_open + mmap) may carry the data: no pipe, FIFO, socket, "
                          f"message queue, System V memory, memfd, file written, or another "
                          f"process's memory or /proc files")
        mapped, _, maps = segment_use(trace, "/")  # any name: NAME is shm_only's business
        if not [path for path in mapped if not path.startswith(b"/dev/shm/sem.")]:
            raise Failure(f"{program.name} never mapped with MAP_SHARED an object it opened "
                          f"with shm_open(); its mmap() calls of one: "
                          f"{'; '.join(c.short() for c in maps[:3]) or 'none'}",
                          help="mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0): "
                               "a MAP_PRIVATE mapping is a private copy nobody else sees")


def test_shm_only(student, names):
    name = names.shm()
    sizes: dict[bytes, int] = {}
    for program in traced_transfer(student, name):
        if program.running:
            raise Failure(f"in a traced transfer of 200,000 bytes, {program.name} was still "
                          f"running after {DEADLINE:g} s", help=HELP_STUCK)
        program.expect_exit(0, within=0.1, when="in a traced transfer of 200,000 bytes",
                            help=HELP_STUCK)
        mapped, sized, maps = segment_use(program.trace, name)
        if not mapped:
            opened = [c.short() for c in program.trace.calls("shm_open", ok=True)]
            raise Failure(f"{program.name} never mapped with MAP_SHARED an object it opened "
                          f"with shm_open() under a name beginning with {name}; its shm_open "
                          f"calls: {'; '.join(opened[:3]) or 'none'}; its mmap() of them: "
                          f"{'; '.join(c.short() for c in maps[:3]) or 'none'}",
                          help="shm_open(NAME, ...) (or a name that begins with NAME), then "
                               "mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0): "
                               "a MAP_PRIVATE mapping is a private copy nobody else sees")
        for path, size in sized.items():
            sizes[path] = max(sizes.get(path, 0), size)
    segments = {p: s for p, s in sizes.items() if not p.startswith(b"/dev/shm/sem.")}
    listed = ", ".join(f"{p.decode(errors='replace')} ({s:,})" for p, s in segments.items())
    if not segments:
        raise Failure("neither program gave the segment a size with ftruncate(): an object "
                      "that shm_open() creates is 0 bytes long, and touching its mapping "
                      "is SIGBUS", help="ftruncate(fd, size) right after shm_open(O_CREAT)")
    if sum(segments.values()) > BUFFER:
        raise Failure(f"the objects your pair sized with ftruncate() hold "
                      f"{sum(segments.values()):,} bytes in all ({listed}): at most "
                      f"{BUFFER:,} are allowed, control data included",
                      help="a smaller ring: e.g. 8 slots of 7,680 bytes and a 4 KiB header")


# ---- hidden: robustness ---------------------------------------------------------------------

def test_back_to_back(student, names):
    name = names.shm()
    orders = [READER_FIRST, WRITER_FIRST, TOGETHER]
    for i in range(20):
        data = sentence(i, i * 9973 % 150_000)
        writer, reader = pair(student, name, data, orders[i % 3])
        transferred(writer, reader, data, f"pair {i + 1} of 20 on the same NAME "
                                          f"({orders[i % 3]}, {len(data):,} bytes)")
    nothing_left(name, "after 20 pairs on the same NAME")


def test_two_pairs(student, names):
    stem = names.prefix + "two-"
    runs = {label: (stem + "x" * (99 - len(stem)) + label, sentence(seed, 256 << 10))  # 100 chars
            for label, seed in (("A", 1), ("B", 2))}
    writers = {label: start_writer(student, name, data, label=f"your writer {label}")
               for label, (name, data) in runs.items()}
    for writer in writers.values():
        settled(writer)
    readers = {label: start_reader(student, name, label=f"your reader {label}")
               for label, (name, _) in runs.items()}
    for label, (_, data) in runs.items():
        transferred(writers[label], readers[label], data,
                    f"256 KiB through pair {label}, while the other pair ran on a 100-character "
                    f"NAME that differs only in its last character")
