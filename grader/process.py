"""One handle for a running program: feed its stdin, wait for its output, signal it, reap it.

Why not pexpect: a check needs stdout and stderr apart (a usage message belongs on stderr),
needs clean EOF on stdin (closing a pipe, not a ^D on a terminal line), and must survive a
program that floods its output. So a program gets:
  stdin  a pipe (close it for EOF),
  stdout a pty in raw mode (C's stdio line-buffers a terminal, so lines arrive as printed),
  stderr a pipe (unbuffered in C anyway),
and two reader threads drain stdout and stderr into capped buffers the moment bytes arrive, so
a flooding program never blocks on a full pipe and never fills the grader's memory.

Every program starts in a new session (its own process group, default signal dispositions,
no controlling terminal) under `prlimit`, as the sandbox's student user when there is one, and
is killed with its whole group when its check ends. Readiness is always awaited by event:
a regex on the output, a connect() that succeeds, an exit; never a fixed sleep.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import signal
import subprocess
import threading
import time
import tty
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from grader.assignment import Limits
from grader.failure import Failure, Mismatch
from grader.memory import MemoryCgroup

DEFAULT_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
TRACING = os.environ.get("IPC_GRADER_TRACING", "on") != "off"
"""IPC_GRADER_TRACING=off skips observation traces (fault injection still runs under strace):
bench/trace_overhead.py uses it to measure what tracing costs. Trace checks then error."""


@dataclass(frozen=True)
class Confinement:
    """How student code is held: resource limits, the user it runs as (None: as we are), and
    the memory cgroup that limits it (None: an address-space rlimit does).

    A program's command line is `entry() + [strace ...] + prefix() + program`: the harness
    side (joining the cgroup, strace) runs as the harness, and only then does `setpriv` drop
    to the student user and `prlimit` set the limits. So student code never owns its tracer
    or its trace files, and no preexec_fn runs in a threaded process.
    """

    limits: Limits
    uid: int | None = None
    gid: int | None = None
    memory: MemoryCgroup | None = None

    def entry(self) -> list[str]:
        """The harness-side start: into the memory cgroup, so everything after counts."""
        return self.memory.join_prefix() if self.memory else []

    def prefix(self) -> list[str]:
        """The student-side start: drop to the student user, set the limits, exec."""
        lim = self.limits
        # Our own cgroup limits exactly; a container's is shared with the harness, so there
        # the per-process rlimit stays and the container's limit is the backstop.
        exact = self.memory is not None and self.memory.own
        address_space = [] if exact else [f"--as={lim.memory_mib * 1024 * 1024}"]
        gid = self.uid if self.gid is None else self.gid
        drop = [] if self.uid is None else [
            "setpriv", f"--reuid={self.uid}", f"--regid={gid}", "--clear-groups",
            "--no-new-privs", "--"]
        return [
            *drop,
            "env", "--default-signal",  # even if the grader was started with SIGINT ignored
            "prlimit",
            f"--cpu={lim.cpu_seconds}:{lim.cpu_seconds + 1}",  # soft: SIGXCPU, a verdict
            *address_space,
            f"--nproc={lim.processes}",
            f"--nofile={lim.open_files}",
            f"--fsize={64 * 1024 * 1024}",
            "--core=0",
            "--",
        ]

    def processes_at_limit(self) -> bool:
        """True when the student user runs as many tasks as RLIMIT_NPROC allows (a fork loop).

        Only knowable when student code has a user id of its own."""
        if self.uid is None:
            return False
        count = 0
        for task in live_tasks():
            with contextlib.suppress(OSError):
                count += task.stat().st_uid == self.uid
        return count >= self.limits.processes

    def kill_leftovers(self) -> None:
        """Kill every process of the student user: catches daemons that left their group."""
        if self.uid is not None:
            subprocess.run(["kill", "-KILL", "-1"], user=self.uid, group=self.gid,
                           extra_groups=[], stderr=subprocess.DEVNULL, check=False)


class _Capture:
    """Drains one file descriptor in a thread into a capped buffer that waiters can watch."""

    def __init__(self, fd: int, cap: int, on_overflow):
        self.data = bytearray()
        self.cap = cap
        self.overflowed = False
        self.closed = False
        self.changed = threading.Condition()
        self._on_overflow = on_overflow
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
                    room = self.cap - len(self.data)
                    self.data += chunk[:max(room, 0)]
                    if len(chunk) > room and not self.overflowed:
                        self.overflowed = True
                        self._on_overflow()
                    self.changed.notify_all()
        finally:
            os.close(fd)
            with self.changed:
                self.closed = True
                self.changed.notify_all()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)


def _text(data: bytes) -> str:
    """Decode output without ever failing: invalid bytes survive as surrogate escapes."""
    return data.decode("utf-8", "surrogateescape")


def shorten(text: str, limit: int = 600) -> str:
    """Keep the end of a long output: the last lines say most about what went wrong."""
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    if len(text) <= limit:
        return text
    return f"[... {len(text) - limit} characters before ...]\n" + text[-limit:]


@dataclass
class Program:
    """A started program. `name` is how feedback calls it: "your server", "the reference client"."""

    name: str
    argv: list[str]
    popen: subprocess.Popen
    limits: Limits
    trace_prefix: Path | None = None
    _stdin: int | None = None
    _stdout: _Capture = field(init=False)
    _stderr: _Capture = field(init=False)
    _read_pos: int = 0
    _tracee: int | None = None
    _trace: object | None = None
    memory: MemoryCgroup | None = None
    _oom_baseline: int = 0
    stopped: bool = False  # killed by the grader (end of check, output flood), not by a limit
    output_exceeded: bool = False

    @classmethod
    def start(cls, name: str, argv: list[str], *, cwd: Path, confinement: Confinement,
              trace_prefix: Path | None = None, wrapper: Sequence[str] = (),
              env: dict[str, str] | None = None, terminal: bool = True) -> Program:
        """Start `wrapper + argv` (the wrapper: strace, when traced); `argv` is what feedback
        shows as the command. `terminal=False` gives stdout a pipe instead of a pty, as in
        `./chat | cat`: C's stdio then buffers whole blocks, and only a program that flushes
        its lines shows them in time."""
        if terminal:
            master, slave = os.openpty()
            tty.setraw(slave)  # output bytes arrive exactly as written: no "\n" -> "\r\n"
        else:
            master, slave = os.pipe()
        stdin_r, stdin_w = os.pipe()
        stderr_r, stderr_w = os.pipe()
        try:
            popen = subprocess.Popen(
                [*confinement.entry(), *wrapper, *confinement.prefix(), *argv],
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
        program = cls(name=name, argv=argv, popen=popen, limits=confinement.limits,
                      trace_prefix=trace_prefix, _stdin=stdin_w, memory=memory,
                      _oom_baseline=memory.oom_kills() if memory else 0)
        cap = confinement.limits.output_kib * 1024
        program._stdout = _Capture(master, cap, program._flooded)
        program._stderr = _Capture(stderr_r, cap, program._flooded)
        return program

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
                raise Failure(f"{self.name} closed its input early; it {self.describe_exit()}") \
                    from None
            except BlockingIOError:
                continue

    def sendline(self, line: str = "") -> None:
        self.send(line + "\n")

    def close_stdin(self) -> None:
        """End of input: the program's next read() returns 0."""
        if self._stdin is not None:
            os.close(self._stdin)
            self._stdin = None

    # ---- output ---------------------------------------------------------------------------

    @property
    def stdout_bytes(self) -> bytes:
        with self._stdout.changed:
            return bytes(self._stdout.data)

    @property
    def stdout(self) -> str:
        return _text(self.stdout_bytes)

    @property
    def stderr(self) -> str:
        with self._stderr.changed:
            return _text(bytes(self._stderr.data))

    def expect(self, pattern: str, timeout: float | None = None, what: str | None = None
               ) -> re.Match:
        """Wait until stdout, past what earlier expects consumed, matches `pattern`."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + (timeout or self.limits.check_seconds)
        capture = self._stdout
        with capture.changed:
            while True:
                text = _text(bytes(capture.data))
                match = regex.search(text, self._read_pos)
                if match:
                    self._read_pos = match.end()
                    return match
                left = deadline - time.monotonic()
                if capture.closed or left <= 0:
                    break
                capture.changed.wait(left)
        seen = text[self._read_pos:]
        wanted = what or pattern
        if capture.closed:
            self.popen.wait()
            reason = f"{self.name} {self.describe_exit()} before printing {wanted}"
        else:
            budget = timeout or self.limits.check_seconds
            reason = f"{self.name} did not print {wanted} within {budget:g} s"
        raise Mismatch(wanted, shorten(seen) or "(nothing)", rationale=reason)

    def expect_line(self, line: str, timeout: float | None = None) -> None:
        """Wait for exactly this line (the next lines may come later)."""
        self.expect(rf"(?m)^{re.escape(line)}\r?$", timeout, what=repr(line))

    def _flooded(self) -> None:
        self.output_exceeded = True
        self.stop()

    # ---- signals and exit -----------------------------------------------------------------

    def signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, sig)

    def wait(self, timeout: float | None = None) -> Program:
        """Wait for exit (and for its output to drain); fail if it outlives `timeout`."""
        budget = timeout or self.limits.check_seconds
        try:
            self.popen.wait(budget)
        except subprocess.TimeoutExpired:
            raise Failure(f"{self.name} did not exit within {budget:g} s") from None
        self.close_stdin()
        self._join_captures()  # a leftover child may hold the pipes; stop() will end it
        return self

    @property
    def running(self) -> bool:
        return self.popen.poll() is None

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
        code = self.popen.poll()
        if code is None or self.trace_prefix is None:
            return code
        traced = self.trace.exit_status()  # the main process: the tracee
        return code if traced is None else traced

    def describe_exit(self) -> str:
        """The verdict a student can act on: "exited with code 1", "killed: CPU limit ..."."""
        if self.running:
            return "is still running"
        if self.output_exceeded:
            return f"was stopped: output limit ({self.limits.output_kib} KiB) exceeded"
        sig = self.killed_by
        if sig is None:
            return f"exited with code {self.exit_code}"
        if sig == signal.SIGXCPU:
            return f"was killed: CPU time limit ({self.limits.cpu_seconds} s) exceeded"
        if sig == signal.SIGXFSZ:
            return "was killed: file size limit exceeded"
        if (sig == signal.SIGKILL and not self.stopped and self.memory
                and self.memory.oom_kills() > self._oom_baseline):
            if not self.memory.own:
                return "was killed: out of memory (the grading container's limit)"
            return f"was killed: memory limit ({self.limits.memory_mib} MiB) exceeded"
        name = signal.Signals(sig).name
        return f"was killed by {name} ({signal.strsignal(sig)})"

    def context_switches(self, voluntary_only: bool = False) -> int:
        """Context switches of all the program's threads so far. A voluntary one is a thread
        going to sleep: counted over an idle moment, it says how often the program woke up."""
        kinds = "voluntary" if voluntary_only else "(?:non)?voluntary"
        total = 0
        for task in live_tasks(self.pid):
            with contextlib.suppress(OSError):
                total += sum(int(n) for n in re.findall(rf"^{kinds}_ctxt_switches:\s+(\d+)",
                                                         (task / "status").read_text(), re.M))
        return total

    def cpu_seconds(self) -> float:
        """User + system CPU time used so far (for "idles without burning CPU" checks)."""
        fields_ = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields_[11]) + int(fields_[12])) / os.sysconf("SC_CLK_TCK")

    def wait_idle(self, timeout: float = 1.0) -> bool:
        """Wait until every thread of the program's process group sleeps (state S).

        A blocked read()/accept()/pause() means the program consumed what it was sent and
        waits for more: the event a check needs before its next step (one byte per read, an
        fd count after the last connection). False if it stayed busy for `timeout` seconds.
        """
        pgid = self.popen.pid
        deadline = time.monotonic() + timeout
        while not _group_in_states(pgid, {"S", "T", "Z", "X", "I"}):  # "t": mid-strace stop
            if time.monotonic() > deadline or not self.running:
                return not self.running
            time.sleep(0.0005)
        return True

    def suspend(self) -> None:
        """SIGSTOP the whole process group and wait until every thread of it is stopped."""
        pgid = os.getpgid(self.popen.pid)
        os.killpg(pgid, signal.SIGSTOP)
        deadline = time.monotonic() + 5
        # D: in the kernel (e.g. a vfork parent); it stops before it runs user code again
        while not _group_in_states(pgid, {"T", "t", "D", "Z", "X"}):
            if time.monotonic() > deadline:
                raise Failure(f"{self.name} could not be stopped with SIGSTOP")
            time.sleep(0.001)

    def resume(self) -> None:
        os.killpg(os.getpgid(self.popen.pid), signal.SIGCONT)

    def stop(self) -> None:
        """SIGKILL the whole process group. Safe to call at any time, any number of times."""
        self.stopped = self.stopped or self.running
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)

    def reap(self) -> None:
        """Kill and collect: called for every program when its check ends, pass or fail."""
        self.stop()
        self.popen.wait()
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

            if self.popen.poll() is None:
                raise RuntimeError("read a program's trace after it has exited")
            self._trace = Trace.load(self.trace_prefix, main_pid=self._tracee,
                                     program=self.argv[0])
        return self._trace

    def transcript(self) -> str:
        """Evidence for feedback: the end of what the program printed, and how it ended."""
        parts = [f"$ {' '.join(self.argv)}"]
        if self.stdout:
            parts.append(f"stdout:\n{shorten(self.stdout)}")
        if self.stderr:
            parts.append(f"stderr:\n{shorten(self.stderr, 300)}")
        parts.append(self.describe_exit())
        return "\n".join(parts)


def wait_group_gone(pgid: int, timeout: float = 2.0) -> bool:
    """After a SIGKILL to a group: wait until its processes are really gone (dying ones
    still hold files and cwd for a moment)."""
    deadline = time.monotonic() + timeout
    while not _group_in_states(pgid, {"Z", "X"}):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.001)
    return True


def live_tasks(pid: int | str = "*") -> Iterator[Path]:
    """/proc/PID/task/TID of every thread of process `pid` (default: of every process).

    Processes come and go while we look: one that is gone is skipped (Path.glob would raise
    FileNotFoundError for a folder that vanished between two steps of its walk)."""
    pids = [str(pid)] if pid != "*" else [p for p in os.listdir("/proc") if p.isdigit()]
    for each in pids:
        try:
            tids = os.listdir(f"/proc/{each}/task")
        except OSError:
            continue
        yield from (Path(f"/proc/{each}/task/{tid}") for tid in tids)


def _group_in_states(pgid: int, states: set[str]) -> bool:
    """True when every thread of every process in group `pgid` is in one of `states`."""
    for task in live_tasks():
        try:
            fields_ = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields_[2]) == pgid and fields_[0] not in states:
            return False
    return True


class Launcher:
    """Starts the programs of one build (the student's or the reference) for one check.

    Remembers what it started so the check's teardown can reap it all.
    """

    def __init__(self, folder: Path, owner: str, *, cwd: Path, confinement: Confinement):
        self.folder = folder
        self.owner = owner  # "your" or "the reference"
        self.cwd = cwd
        self.confinement = confinement
        self.started: list[Program] = []

    def path(self, program: str) -> Path:
        return self.folder / program

    def spawn(self, program: str, *args: str, trace: str | Sequence[str] | None = None,
              inject: Sequence[str] = (), name: str | None = None,
              terminal: bool = True) -> Program:
        """Start `program args...`; with `trace`, under strace limited to those syscalls.

        `name` is how feedback calls it (default: "your server"); "chat A" tells two apart.
        `terminal=False`: stdout is a pipe, not a terminal (see Program.start)."""
        argv = [str(self.path(program)), *map(str, args)]
        prefix, wrapper = None, []
        if not TRACING and not inject:
            trace = None
        if trace is not None or inject:
            from grader.trace import strace_command

            traces = self.cwd.with_name(f"{self.cwd.name}.traces")  # the student cannot write
            traces.mkdir(mode=0o755, exist_ok=True)
            prefix = traces / f"{program}-{len(self.started)}"
            wrapper = strace_command(prefix, trace or [], inject)
        name = name or f"{self.owner} {program}"
        started = Program.start(name, argv, cwd=self.cwd, confinement=self.confinement,
                                trace_prefix=prefix, wrapper=wrapper, terminal=terminal)
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
