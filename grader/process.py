"""One handle for a running program: feed its stdin, wait for its output, signal it, reap it.

Why not pexpect: a check needs stdout and stderr apart (a usage message belongs on stderr),
needs clean EOF on stdin (closing a pipe, not a ^D on a terminal line), and must survive a
program that floods its output. So a program gets:
  stdin  a pipe (close it for EOF),
  stdout a pty in raw mode (C's stdio line-buffers a terminal, so lines arrive as printed),
  stderr a pipe (unbuffered in C anyway),
and two reader threads drain stdout and stderr the moment bytes arrive, so a program never
blocks on a full pipe. The first `output_kib` KiB of each stream are kept; the rest is read
and discarded, so a program that prints a lot goes on running (its checks can still pass),
the grader's memory stays bounded, and feedback says "output over 256 KiB discarded".

Every program starts in a new session (its own process group, default signal dispositions,
no controlling terminal) under `prlimit`, as the sandbox's student user when there is one, and
is killed with its whole group when its check ends. Readiness is always awaited by event:
a regex on the output, a connect() that succeeds, an exit; never a fixed sleep.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import queue
import re
import select
import signal
import subprocess
import threading
import time
import tty
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from grader import procfs
from grader.assignment import Limits
from grader.confinement import DEFAULT_ENV, Confinement
from grader.failure import Failure, Mismatch
from grader.memory import MemoryCgroup
from grader.steps import StepLog
from grader.text import decode, shorten, show, show_lines

TRACING = os.environ.get("IPC_GRADER_TRACING", "on") != "off"
"""IPC_GRADER_TRACING=off skips observation traces (fault injection still runs under strace):
bench/trace_overhead.py uses it to measure what tracing costs. Trace checks then error."""


class _Capture:
    """Drains one file descriptor in a thread; keeps the first `cap` bytes, counts the rest,
    and with `digest` hashes every byte (all of a large output is compared that way)."""

    def __init__(self, fd: int, cap: int, digest: bool = False):
        self.data = bytearray()
        self.cap = cap
        self.discarded = 0
        self.digest = hashlib.sha256() if digest else None
        self.closed = False
        self.changed = threading.Condition()
        self._thread = threading.Thread(target=self._drain, args=(fd,), daemon=True)
        self._thread.start()

    def _drain(self, fd: int) -> None:
        try:
            while True:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:  # EIO: the pty's last writer closed it
                    chunk = b""
                if not chunk:
                    break
                with self.changed:
                    room = max(self.cap - len(self.data), 0)
                    self.data += chunk[:room]
                    self.discarded += max(len(chunk) - room, 0)
                    if self.digest is not None:
                        self.digest.update(chunk)
                    self.changed.notify_all()
        finally:
            os.close(fd)
            with self.changed:
                self.closed = True
                self.changed.notify_all()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)


@dataclass
class Program:
    """A started program. `name` is how feedback calls it: "your server", "the reference client"."""

    name: str
    argv: list[str]
    popen: subprocess.Popen
    limits: Limits
    trace_prefix: Path | None = None
    steps: StepLog = field(default_factory=StepLog)
    _stdin: int | None = None
    _stdout: _Capture = field(init=False)
    _stderr: _Capture = field(init=False)
    _read_pos: int = 0
    _tracee: int | None = None
    _trace: object | None = None
    memory: MemoryCgroup | None = None
    _oom_baseline: int = 0
    stopped: bool = False  # killed by the grader (end of check), not by a limit
    started_at: float = 0.0  # time.monotonic() at its start...
    exited_at: float | None = None  # ...and at its exit, to the millisecond (a waiter thread)
    _exited: threading.Event = field(default_factory=threading.Event)
    _feed: queue.Queue | None = None
    _stdin_lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def start(cls, name: str, argv: list[str], *, cwd: Path, confinement: Confinement,
              trace_prefix: Path | None = None, wrapper: Sequence[str] = (),
              env: dict[str, str] | None = None, terminal: bool = True,
              digest: bool = False, closed_stdout: bool = False,
              steps: StepLog | None = None) -> Program:
        """Start `wrapper + argv` (the wrapper: strace, when traced); `argv` is what feedback
        shows as the command. `terminal=False` gives stdout a pipe instead of a pty, as in
        `./chat | cat`: C's stdio then buffers whole blocks, and only a program that flushes
        its lines shows them in time. `digest=True` (a pipe too) also hashes all of stdout,
        beyond the output cap: `stdout_digest` and `stdout_size` judge gigabytes exactly.
        `closed_stdout=True`: stdout is a pipe whose reading end is closed before the start,
        as in `./reader | head -c 0`: every write() to it fails with EPIPE (or SIGPIPE kills
        the program, unless it ignores SIGPIPE); the program's stdout is then empty."""
        terminal = terminal and not digest and not closed_stdout
        if closed_stdout:
            master, slave = os.pipe()
            os.close(master)
            master, unused = os.pipe()  # what the capture reads: at once EOF
            os.close(unused)
        elif terminal:
            master, slave = os.openpty()
            tty.setraw(slave)  # output bytes arrive exactly as written: no "\n" -> "\r\n"
        else:
            master, slave = os.pipe()
        stdin_r, stdin_w = os.pipe()
        stderr_r, stderr_w = os.pipe()
        try:
            popen = subprocess.Popen(
                [*confinement.entry(), *wrapper, *confinement.prefix(cwd), *argv],
                stdin=stdin_r, stdout=slave, stderr=stderr_w,
                cwd=cwd, env={**DEFAULT_ENV, "HOME": str(cwd), **(env or {})},
                start_new_session=True, close_fds=True,
            )
        except OSError as error:
            for fd in (master, slave, stdin_r, stdin_w, stderr_r, stderr_w):
                os.close(fd)
            raise Failure(f"could not start {name}: {error.strerror}") from None
        for fd in (slave, stdin_r, stderr_w):
            os.close(fd)
        os.set_blocking(stdin_w, False)
        memory = confinement.memory
        steps = steps if steps is not None else StepLog()
        argv = [_shown(arg) for arg in argv]  # what feedback shows: valid text
        steps.add(f"{name} started: $ {' '.join(argv)}")
        program = cls(name=name, argv=argv, popen=popen, limits=confinement.limits,
                      trace_prefix=trace_prefix, steps=steps, _stdin=stdin_w, memory=memory,
                      _oom_baseline=memory.oom_kills() if memory else 0)
        cap = confinement.limits.output_kib * 1024
        program._stdout = _Capture(master, cap, digest)
        program._stderr = _Capture(stderr_r, cap)
        program.started_at = time.monotonic()
        threading.Thread(target=program._await_exit, daemon=True).start()
        return program

    def _await_exit(self) -> None:
        """The waiter thread: blocks in waitpid(), so the exit is known (and the process
        reaped) the moment it happens, not at the next poll."""
        self.popen.wait()
        self.exited_at = time.monotonic()
        self._exited.set()

    # ---- identity -------------------------------------------------------------------------

    @property
    def pid(self) -> int:
        """The program's own pid (under strace, the tracee's, not strace's)."""
        if self.trace_prefix is None:
            return self.popen.pid
        if self._tracee is None:
            from grader.trace import tracee_pid

            self._tracee = tracee_pid(self.popen.pid)
        return self._tracee or self.popen.pid

    # ---- input ----------------------------------------------------------------------------

    def send(self, data: str | bytes, timeout: float | None = None, *,
             until_closed: bool = False) -> None:
        """Write to stdin; fails if the program stops reading for `timeout` seconds.

        With `until_closed`, a program that exits without reading all its input is fine
        (a client that fails to connect need not read stdin).
        """
        if self._stdin is None:
            raise Failure(f"{self.name}'s input is already closed")
        self.steps.sent(f"{self.name}'s stdin", data)
        payload = memoryview(data.encode() if isinstance(data, str) else data)
        deadline = time.monotonic() + (timeout or self.limits.check_seconds)
        while payload:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([], [self._stdin], [], left)[1]:
                raise Failure(f"{self.name} stopped reading its input "
                              f"({len(payload)} bytes could not be written)")
            try:
                payload = payload[os.write(self._stdin, payload):]
            except BrokenPipeError:
                if until_closed:
                    return
                # Its stdin closes as it exits, a moment before the exit itself is seen: wait
                # for that, or the verdict would be "closed its input early; it is still
                # running" for a program that exited (tests/submissions/hostile/kill_all).
                self._exited.wait(1.0)
                raise Failure(f"{self.name} closed its input early; it {self.describe_exit()}") \
                    from None
            except BlockingIOError:
                continue

    def sendline(self, line: str = "") -> None:
        self.send(line + "\n")

    def feed(self, data: bytes, *, then_close: bool = False) -> None:
        """Write `data` to stdin in the background (in order with earlier feeds), so a check
        goes on while the program reads megabytes at its own pace; `then_close` closes stdin
        once all is written (`feed(b"", then_close=True)`: close it after what was fed
        before). Do not mix with send() on the same program: the feeding thread writes with
        blocking writes (the kernel moves the bytes as the program reads them; a Python loop
        around non-blocking writes woke up for every page freed, seconds for 64 MiB)."""
        if self._feed is None:
            if self._stdin is None:
                raise Failure(f"{self.name}'s input is already closed")
            # A descriptor of the feeding thread's own: the check may close stdin's (wait(),
            # reap()) while a write blocks, and the number may then be reused elsewhere.
            fd = os.dup(self._stdin)
            os.set_blocking(fd, True)
            self._feed = queue.Queue()
            threading.Thread(target=self._feeder, args=(fd,), daemon=True).start()
        if data:
            self.steps.sent(f"{self.name}'s stdin (in the background)", data[:200])
        self._feed.put(data)
        if then_close:
            self._feed.put(None)

    def wait_fed(self, timeout: float | None = None) -> bool:
        """Until everything fed so far is written (read by the program, or in its pipe)."""
        if self._feed is None:
            return True
        deadline = time.monotonic() + (timeout or self.limits.check_seconds)
        while self._feed.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.002)
        return True

    def _feeder(self, fd: int) -> None:
        try:
            while (data := self._feed.get()) is not None and data is not ...:
                payload = memoryview(data)
                with contextlib.suppress(OSError):  # EPIPE: the program ended, or closed stdin
                    while payload:
                        payload = payload[os.write(fd, payload):]
                self._feed.task_done()
        finally:
            os.close(fd)
        if data is None:
            self.close_stdin()
        self._feed.task_done()

    def _end_feed(self) -> None:
        if self._feed is not None:
            self._feed.put(...)  # the feeder ends: a program that is gone reads nothing

    def close_stdin(self) -> None:
        """End of input: the program's next read() returns 0. Safe from two threads at once
        (a check's wait() and the feeding thread's close): the descriptor is closed once."""
        with self._stdin_lock:
            fd, self._stdin = self._stdin, None
        if fd is not None:
            os.close(fd)
            self.steps.add(f"{self.name}'s stdin closed (EOF)")

    # ---- output ---------------------------------------------------------------------------

    @property
    def stdout_bytes(self) -> bytes:
        with self._stdout.changed:
            return bytes(self._stdout.data)

    @property
    def stdout(self) -> str:
        return decode(self.stdout_bytes)

    @property
    def stderr(self) -> str:
        with self._stderr.changed:
            return decode(bytes(self._stderr.data))

    @property
    def stdout_digest(self) -> str:
        """sha256 (hex) of everything printed on stdout so far (with spawn(digest=True))."""
        with self._stdout.changed:
            return self._stdout.digest.hexdigest()

    @property
    def stdout_size(self) -> int:
        """Bytes printed on stdout so far, those over the cap included."""
        with self._stdout.changed:
            return len(self._stdout.data) + self._stdout.discarded

    @property
    def output_discarded(self) -> int:
        """Bytes of stdout and stderr over the output cap, read and thrown away."""
        return self._stdout.discarded + self._stderr.discarded

    def discard_note(self) -> str:
        """" (output over 256 KiB discarded ...)" when the cap was reached, else "". A hashed
        stdout (digest=True) over the cap is not such a case: all of it was judged."""
        hashed = self._stdout.discarded if self._stdout.digest is not None else 0
        if not self.output_discarded - hashed:
            return ""
        return (f" ({self.name} printed more than {self.limits.output_kib} KiB: the output "
                f"over that was discarded, and the check could not see it)")

    def expect(self, pattern: str, timeout: float | None = None, what: str | None = None,
               *, why: str = "", help: str | None = None) -> re.Match:
        """Wait until stdout, past what earlier expects consumed, matches `pattern`.

        On failure the feedback names `what` was due (default: the pattern), says `why`
        it was due ("the reference chat sent it"), and gives `help`."""
        regex = re.compile(pattern)
        budget = timeout or self.limits.check_seconds
        deadline = time.monotonic() + budget
        capture = self._stdout
        with capture.changed:
            while True:
                text = decode(bytes(capture.data))
                match = regex.search(text, self._read_pos)
                if match:
                    self._read_pos = match.end()
                    self.steps.received(f"{self.name}'s stdout", match.group(0))
                    return match
                left = deadline - time.monotonic()
                if capture.closed or left <= 0:
                    break
                capture.changed.wait(left)
        seen = text[self._read_pos:]
        wanted = what or pattern
        context = f" ({why})" if why else ""
        if capture.closed:
            self._exited.wait()
            reason = f"{self.name} {self.describe_exit()} before printing {wanted}{context}"
        else:
            reason = f"{self.name} did not print {wanted} within {budget:g} s{context}"
        raise Mismatch(wanted, shorten(seen) or "(nothing)",
                       rationale=reason + self.discard_note(), help=help)

    def expect_line(self, line: str, timeout: float | None = None, *, why: str = "",
                    help: str | None = None) -> None:
        """Wait for exactly this line (the next lines may come later)."""
        self.expect(rf"(?m)^{re.escape(line)}\r?$", timeout, what=repr(line), why=why,
                    help=help)

    def lines(self) -> list[str]:
        """Exactly the lines printed so far, split at '\\n' (an unfinished last line is left
        out; a '\\r' is the program's own: stdout is a raw pty)."""
        return self.stdout.split("\n")[:-1]

    def expect_lines(self, expected: list[str], *, until: str, after: str,
                     within: float | None = None, help: str | None = None,
                     stuck_help: str | None = None) -> None:
        """The program prints exactly `expected`, then the line `until` (a marker the check
        sent last, so that when it shows, everything before it has arrived). `after` says
        what happened ("500 lines written to your chat"); `help` is the advice for wrong
        lines, `stuck_help` for a marker that never came.

            chat.expect_lines(burst, until="END", after="500 lines sent at once")
        """
        budget = within or self.limits.check_seconds
        try:
            self.expect_line(until, budget)
        except Failure:
            got = self.lines()
            raise Mismatch(show_lines([*expected, until]), show_lines(got),
                           rationale=f"after {after}, {self.name} did not print the closing "
                                     f"line {until!r} within {budget:g} s ({len(got)} lines "
                                     f"printed; it {self.describe_exit()}){self.discard_note()}",
                           help=stuck_help or help) from None
        got = self.lines()
        got = got[:next(i for i, line in enumerate(got) if line.rstrip("\r") == until)]
        if got == expected:
            return
        first = next((i for i, (g, e) in enumerate(zip(got, expected, strict=False)) if g != e),
                     min(len(got), len(expected)))
        raise Mismatch(show_lines(expected[first:], 6), show_lines(got[first:], 6),
                       rationale=f"after {after}, {self.name} printed {len(got)} lines where "
                                 f"{len(expected)} were due; the first difference is at line "
                                 f"{first + 1} (shown from there)", help=help)

    def expect_printed(self, expected: list[str], why: str, help: str | None = None) -> None:
        """Everything the program printed so far is exactly the lines `expected`."""
        if (got := self.lines()) != expected:
            raise Mismatch(show_lines(expected), show_lines(got),
                           rationale=f"{why}, {self.name} printed something else", help=help)

    # ---- signals and exit -----------------------------------------------------------------

    def signal(self, sig: int) -> None:
        self.steps.add(f"{signal.Signals(sig).name} sent to {self.name}")
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, sig)

    def wait(self, timeout: float | None = None) -> Program:
        """Wait for exit (and for its output to drain); fail if it outlives `timeout`."""
        budget = timeout or self.limits.check_seconds
        if not self._exited.wait(budget):
            raise Failure(f"{self.name} did not exit within {budget:g} s")
        self.close_stdin()
        self._join_captures()  # a leftover child may hold the pipes; stop() will end it
        self.steps.add(f"{self.name} {self.describe_exit()}")
        return self

    def expect_exit(self, code: int | None = 0, *, within: float, stderr: bool | str = False,
                    when: str = "", help: str | None = None) -> Program:
        """Wait for the exit and hold it to the handout: exit status `code` (None: any
        status but 0, from exit()), and with `stderr` a message on stderr (True: anything;
        a str: a regex it must match). The wording of every such verdict lives here.

            server.expect_exit(1, within=3, stderr=True, when="with a file at the path")
        """
        lead = f"{when}, " if when else ""
        wanted = "exit 0" if code == 0 else ("a non-zero exit status" if code is None
                                              else f"exit {code}")
        if stderr and code != 0:
            wanted += " with a message on stderr"
        try:
            self.wait(within)
        except Failure:
            raise Failure(f"{lead}{self.name} did not exit within {within:g} s "
                          f"(expected: {wanted})", help=help) from None
        status = self.exit_code
        right = status is not None and (status != 0 if code is None else status == code)
        if not right:
            raise Failure(f"{lead}{self.name} {self.describe_exit()} (expected: {wanted})"
                          + self.stderr_note(), help=help)
        said = self.stderr.strip()
        if stderr is True and not said:
            raise Failure(f"{lead}{self.name} exited {status} without a message on stderr",
                          help=help)
        if isinstance(stderr, str) and not re.search(stderr, said):
            raise Failure(f"{lead}{self.name} exited {status}, but its message on stderr does "
                          f"not say {stderr!r}: {show(said[-200:], 200) if said else 'nothing'}",
                          help=help)
        return self

    def stderr_note(self) -> str:
        """"; stderr: '...'" (its end), or nothing when the program said nothing there."""
        said = self.stderr.strip()
        return f"; stderr: {show(said[-200:], 200)}" if said else ""

    @property
    def running(self) -> bool:
        return not self._exited.is_set()

    @property
    def exit_code(self) -> int | None:
        code = self._exit_status()
        return code if code is not None and code >= 0 else None

    @property
    def killed_by(self) -> int | None:
        code = self._exit_status()
        return -code if code is not None and code < 0 else None

    def _exit_status(self) -> int | None:
        """returncode, but a traced program's own status comes from its trace."""
        code = self.popen.returncode if self._exited.is_set() else None
        if code is None or self.trace_prefix is None:
            return code
        traced = self.trace.exit_status()  # the main process: the tracee
        return code if traced is None else traced

    def describe_exit(self) -> str:
        """The verdict a student can act on: "exited with code 1", "killed: CPU limit ..."."""
        if self.running:
            return "is still running"
        sig = self.killed_by
        if sig is None:
            return f"exited with code {self.exit_code}"
        if sig == signal.SIGXCPU:
            return f"was killed: CPU time limit ({self.limits.cpu_seconds} s) exceeded"
        if sig == signal.SIGXFSZ:
            return f"was killed: file size limit ({self.limits.file_mib} MiB) exceeded"
        if (sig == signal.SIGKILL and not self.stopped and self.memory
                and self.memory.oom_kills() > self._oom_baseline):
            if not self.memory.own:
                return "was killed: out of memory (the grading container's limit)"
            return f"was killed: memory limit ({self.limits.memory_mib} MiB) exceeded"
        name = signal.Signals(sig).name
        return f"was killed by {name} ({signal.strsignal(sig)})"

    # ---- what it does: /proc --------------------------------------------------------------

    def context_switches(self, voluntary_only: bool = False) -> int:
        """Context switches of all the program's threads so far. A voluntary one is a thread
        going to sleep: counted over an idle moment, it says how often the program woke up."""
        return procfs.wakeups(self.pid) if voluntary_only else procfs.context_switches(self.pid)

    def open_fds(self) -> list[int]:
        """The file descriptors the program holds now. One that has ended holds none, which
        says nothing about leaks: the check fails with how it ended, whenever it ended."""
        fds = procfs.open_fds(self.pid)
        if not fds:  # a process that is ending holds none a moment before its end is seen
            self._exited.wait(1.0)
        if not self.running:
            raise Failure(f"{self.name} {self.describe_exit()} before its file descriptors "
                          f"could be counted{self.stderr_note()}")
        return fds

    def cpu_seconds(self) -> float:
        """User + system CPU time used so far by all its threads (nanosecond precision)."""
        return procfs.cpu_ns(self.pid) / 1e9

    def wait_idle(self, timeout: float = 1.0, steady: float = 0.0) -> bool:
        """Wait until every thread of the program's process group sleeps (state S), for
        `steady` seconds in a row if given.

        A blocked read()/accept()/pause() means the program consumed what it was sent and
        waits for more: the event a check needs before its next step (one byte per read, an
        fd count after the last connection). Right after its start a program may look asleep
        before it has done anything: `steady` (say 0.05) waits until it stays so. False if
        it stayed busy for `timeout` seconds; True at once if it has ended.
        """
        return wait_all_idle([self], timeout, steady)

    def suspend(self) -> None:
        """SIGSTOP the whole process group and wait until every thread of it is stopped.
        (A program that has ended is left alone: what it did is for the check to say.)"""
        pgid = self.popen.pid  # it leads its own process group (a new session)
        try:
            os.killpg(pgid, signal.SIGSTOP)
        except ProcessLookupError:
            return
        self.steps.add(f"{self.name} stopped (SIGSTOP)")
        deadline = time.monotonic() + 5
        # D: in the kernel (e.g. a vfork parent); it stops before it runs user code again
        while not procfs.group_in_states(pgid, {"T", "t", "D", "Z", "X"}):
            if time.monotonic() > deadline:
                raise Failure(f"{self.name} could not be stopped with SIGSTOP")
            time.sleep(0.001)

    def resume(self) -> None:
        self.steps.add(f"{self.name} continued (SIGCONT)")
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGCONT)

    def stop(self) -> None:
        """SIGKILL the whole process group. Safe to call at any time, any number of times."""
        self.stopped = self.stopped or self.running
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)

    def reap(self) -> None:
        """Kill and collect: called for every program when its check ends, pass or fail."""
        self.stop()
        self._exited.wait()
        self._end_feed()
        self.close_stdin()
        self._join_captures()

    def _join_captures(self, budget: float = 1.0) -> None:
        deadline = time.monotonic() + budget
        for capture in (self._stdout, self._stderr):
            capture.join(max(0.0, deadline - time.monotonic()))

    # ---- tracing --------------------------------------------------------------------------

    @property
    def trace(self):
        """The syscall trace (a grader.trace.Trace) of a program spawned with trace=...."""
        if self.trace_prefix is None:
            raise RuntimeError(f"{self.name} was not started with trace=...")
        if self._trace is None:
            from grader.trace import Trace

            if self.running:
                raise RuntimeError("read a program's trace after it has exited")
            self._trace = Trace.load(self.trace_prefix, main_pid=self._tracee,
                                     program=self.argv[0])
        return self._trace

    def transcript(self) -> str:
        """Evidence for feedback: the end of what the program printed, and how it ended."""
        parts = [f"$ {' '.join(self.argv)}"]
        hashed = self._stdout.digest is not None
        if hashed:  # a byte stream, judged by its hash: its size and its first bytes
            out = self.stdout_bytes
            parts.append(f"stdout (hashed): {self.stdout_size:,} bytes, sha256 "
                         f"{self.stdout_digest[:16]}..." + (f", beginning {out[:48]!r}"
                                                            if out else ""))
        elif self.stdout:
            parts.append(f"stdout:\n{shorten(self.stdout)}")
        if self.stderr:
            parts.append(f"stderr:\n{shorten(self.stderr, 300)}")
        discarded = self.output_discarded - (self._stdout.discarded if hashed else 0)
        if discarded:
            parts.append(f"(output over {self.limits.output_kib} KiB discarded: "
                         f"{discarded} bytes)")
        parts.append(self.describe_exit())
        return "\n".join(parts)


IDLE_STATES = frozenset({"S", "T", "Z", "X", "I"})
"""States of a thread that counts as idle for wait_idle (asleep, stopped, gone)."""


def wait_all_idle(programs: Sequence[Program], timeout: float = 1.0,
                  steady: float = 0.0) -> bool:
    """Program.wait_idle for several programs at once: until every thread of each one's
    process group sleeps (or the program has ended), all of them for `steady` seconds in a
    row. Two programs that wait for each other have then both done what they could:

        wait_all_idle([writer, reader], 1.0, steady=0.05)

    False if one stayed busy for `timeout` seconds; True at once when all have ended."""
    deadline = time.monotonic() + timeout
    asleep_since = None
    while any(p.running for p in programs):
        now = time.monotonic()
        if all(not p.running or procfs.group_in_states(p.popen.pid, IDLE_STATES)
               for p in programs):
            asleep_since = asleep_since or now
            if now - asleep_since >= steady:
                return True
        else:
            asleep_since = None
        if now > deadline:
            return False
        time.sleep(0.0005)
    return True


def wait_group_gone(pgid: int, timeout: float = 2.0) -> bool:
    """After a SIGKILL to a group: wait until its processes are really gone (dying ones
    still hold files and cwd for a moment)."""
    deadline = time.monotonic() + timeout
    while not procfs.group_in_states(pgid, procfs.GONE):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.001)
    return True


def traces_folder(workdir: Path) -> Path:
    """Where the traces of the programs a check runs in `workdir` go: beside the checks'
    folders, not among them (root's only: student code neither writes nor reads a trace, and
    a student filling its disk, grader/jail.py, cannot cut one short)."""
    return workdir.parent.with_name(f"{workdir.parent.name}.traces") / workdir.name


class Launcher:
    """Starts the programs of one build (the student's or the reference) for one check.

    Remembers what it started so the check's teardown can reap it all.
    """

    def __init__(self, folder: Path, owner: str, *, cwd: Path, confinement: Confinement,
                 steps: StepLog | None = None):
        self.folder = folder
        self.owner = owner  # "your" or "the reference"
        self.cwd = cwd
        self.confinement = confinement
        self.steps = steps if steps is not None else StepLog()
        self.started: list[Program] = []

    def path(self, program: str) -> Path:
        return self.folder / program

    def spawn(self, program: str, *args: str | bytes | int,
              trace: str | Sequence[str] | None = None, inject: Sequence[str] = (),
              name: str | None = None, terminal: bool = True,
              digest: bool = False, closed_stdout: bool = False) -> Program:
        """Start `program args...`; with `trace`, under strace limited to those syscalls.

        `name` is how feedback calls it (default: "your server"); "chat A" tells two apart.
        `terminal=False`: stdout is a pipe, not a terminal; `digest=True`: a pipe whose
        every byte is hashed; `closed_stdout=True`: a pipe nobody reads, closed before the
        start, so writes fail with EPIPE (see Program.start)."""
        argv = [str(self.path(program)), *map(_argument, args)]
        prefix, wrapper = None, []
        if not TRACING and not inject:
            trace = None
        if trace is not None or inject:
            from grader.trace import strace_command

            traces = traces_folder(self.cwd)
            traces.parent.mkdir(mode=0o700, exist_ok=True)
            traces.mkdir(mode=0o700, exist_ok=True)
            prefix = traces / f"{program}-{len(self.started)}"
            wrapper = strace_command(prefix, trace or [], inject)
        name = name or f"{self.owner} {program}"
        started = Program.start(name, argv, cwd=self.cwd, confinement=self.confinement,
                                trace_prefix=prefix, wrapper=wrapper, terminal=terminal,
                                digest=digest, closed_stdout=closed_stdout, steps=self.steps)
        self.started.append(started)
        return started

    def run(self, program: str, *args: str, input: str | bytes = b"",
            timeout: float | None = None, **kwargs) -> Program:
        """Start, feed all of `input`, close stdin, and wait for the exit."""
        started = self.spawn(program, *args, **kwargs)
        if input:
            started.send(input, timeout, until_closed=True)
        started.close_stdin()
        return started.wait(timeout)

    def reap_all(self) -> None:
        for started in self.started:
            started.reap()


def _argument(arg: str | bytes | int) -> str:
    """A command-line argument: bytes as they are (any byte but NUL), through Popen, which
    encodes str arguments back with surrogateescape."""
    return arg.decode("utf-8", "surrogateescape") if isinstance(arg, bytes) else str(arg)


def _shown(arg: str) -> str:
    """An argument as feedback shows it: undecodable bytes as \\xNN escapes."""
    return arg.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
