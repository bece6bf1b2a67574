"""grader.process.Program: real programs on a pty and pipes, under prlimit, as we are (root).

The small C programs are in tests/submissions/programs/ and compiled once per session.
"""

from __future__ import annotations

import re
import signal
import time
from dataclasses import replace
from pathlib import Path

import pytest

from grader.assignment import Limits
from grader.confinement import Confinement
from grader.failure import Failure, Mismatch
from grader.process import Program
from grader.waiting import eventually

LIMITS = Limits(check_seconds=5)


@pytest.fixture
def start(tmp_path):
    """start(argv, limits=LIMITS, name=...) -> Program; every program is reaped at the end."""
    started: list[Program] = []

    def start(argv: list[str], limits: Limits = LIMITS, name: str = "the test program"
              ) -> Program:
        program = Program.start(name, argv, cwd=tmp_path, confinement=Confinement(limits))
        started.append(program)
        return program

    yield start
    for program in started:
        program.reap()


def _state(pid: int) -> str | None:
    """A process's state letter, or None once it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


def _group(pgid: int) -> list[int]:
    """Live (non-zombie) processes of process group `pgid`."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] not in "ZX":
            found.append(int(stat.parent.name))
    return found


def test_expect_sees_printf_output_without_fflush(start, c_programs):
    program = start([c_programs("line_buffered")])
    program.expect(r"^ready\r?\n", timeout=5)  # it is still running, blocked in read()
    assert program.running
    program.send("12345")
    program.close_stdin()
    program.expect_line("got 5 bytes")
    assert program.wait().exit_code == 0


def test_stdout_as_a_pipe_is_block_buffered(tmp_path, c_programs):
    """terminal=False gives stdout a pipe, as `./program | cat` does: printf output stays in
    stdio's buffer until the program exits (the behaviour a piped-stdout check relies on)."""
    program = Program.start("the test program", [c_programs("line_buffered")], cwd=tmp_path,
                            confinement=Confinement(LIMITS), terminal=False)
    try:
        assert program.wait_idle(5)  # blocked in read(), "ready" printed into its buffer
        assert program.stdout == ""
        program.close_stdin()
        program.wait()
        assert program.stdout == "ready\ngot 0 bytes\n"
    finally:
        program.reap()


def test_close_stdin_gives_eof(start):
    program = start(["cat"])
    program.sendline("one line")
    program.close_stdin()
    program.wait()
    assert program.exit_code == 0
    assert program.stdout == "one line\n"


def test_stdout_and_stderr_are_kept_apart(start, c_programs):
    program = start([c_programs("out_and_err")]).wait()
    assert program.stdout == "to stdout\n"
    assert program.stderr == "to stderr\n"
    assert program.exit_code == 3
    assert program.killed_by is None
    assert program.describe_exit() == "exited with code 3"


def test_wait_timeout_raises_failure_naming_the_program(start):
    program = start(["sleep", "60"], name="your sleepy server")
    with pytest.raises(Failure) as failed:
        program.wait(0.2)
    assert "your sleepy server" in failed.value.rationale
    assert "did not exit within 0.2 s" in failed.value.rationale
    assert program.running
    assert program.describe_exit() == "is still running"


def test_expect_reports_the_exit_and_what_was_printed(start, c_programs):
    program = start([c_programs("out_and_err")], name="your client")
    with pytest.raises(Mismatch) as mismatch:
        program.expect("SUM 3", timeout=5)
    assert mismatch.value.expected == "SUM 3"
    assert "to stdout" in mismatch.value.actual
    assert "your client exited with code 3 before printing SUM 3" in mismatch.value.rationale


def test_segfault_is_described(start, c_programs):
    program = start([c_programs("segfault")]).wait()
    assert program.killed_by == signal.SIGSEGV
    assert program.exit_code is None
    assert program.describe_exit() == "was killed by SIGSEGV (Segmentation fault)"
    assert "was killed by SIGSEGV" in program.transcript()


def test_cpu_limit_is_described(start, c_programs):
    """The CPU time limit is a soft limit below the hard one: the kernel sends SIGXCPU at the
    soft limit, and the verdict names the limit. (At a hard limit the kernel sends SIGKILL,
    and "killed by SIGKILL" would not tell the student their program never stops.)"""
    program = start([c_programs("spin")], replace(LIMITS, cpu_seconds=1)).wait(30)
    assert program.killed_by == signal.SIGXCPU
    assert program.describe_exit() == "was killed: CPU time limit (1 s) exceeded"


@pytest.mark.parametrize("stream", ["out", "err"])
def test_output_over_the_cap_is_discarded_and_the_program_goes_on(start, c_programs, stream):
    """A program that prints a lot is not stopped (a client printing a line per bit may be
    correct): what is over the cap is read and discarded, and the transcript says so."""
    program = start([c_programs("flood"), stream], replace(LIMITS, output_kib=16))
    discarded = eventually(lambda: program.output_discarded > 1 << 20, 10)
    assert discarded, "the flood was not drained"
    assert program.running
    flooded = program.stdout_bytes if stream == "out" else program.stderr.encode()
    assert len(flooded) == 16 * 1024
    assert flooded.startswith(b"all work and no play")
    program.stop()
    program.wait()
    assert "(output over 16 KiB discarded:" in program.transcript()
    assert "printed more than 16 KiB" in program.discard_note()


def test_stop_kills_grandchildren_in_the_process_group(start):
    program = start(["sh", "-c", "sleep 300 & sleep 300 & echo started; wait"])
    program.expect_line("started")
    group = _group(program.popen.pid)
    assert len(group) >= 3, f"expected sh and two sleeps in the group, found {group}"
    program.stop()
    program.wait()
    assert program.killed_by == signal.SIGKILL
    # the sleeps were reparented; they are gone once their new parent reaps them
    survivors = [pid for pid in group if _state(pid) not in (None, "Z", "X")]
    assert survivors == [], f"still running after stop(): {survivors}"


def test_wait_idle_returns_once_the_program_blocks_in_read(start, c_programs, tmp_path):
    done = tmp_path / "done"
    program = start([c_programs("work_then_read"), str(done)])
    assert program.wait_idle(5)  # started, nothing to read yet
    program.sendline()
    assert program.wait_idle(30)
    assert done.exists(), "wait_idle returned before the program finished its work"
    assert program.running


def test_wait_idle_is_false_while_the_program_stays_busy(start, c_programs):
    program = start([c_programs("spin")])
    assert program.wait_idle(0.3) is False
    assert program.running


def test_context_switches_count_wakeups(start, c_programs):
    """A program blocked in read() does not wake up; one that sleeps 10 ms in a loop does,
    about 20 times in 0.2 s (a wait with a timeout in a loop: polling)."""
    def wakeups(program) -> int:
        before = program.context_switches(voluntary_only=True)
        time.sleep(0.2)
        return program.context_switches(voluntary_only=True) - before

    reader = start(["cat"])
    assert reader.wait_idle(5)
    assert wakeups(reader) == 0
    ticker = start([c_programs("ticker")])
    ticker.expect("tick parent 2")
    assert wakeups(ticker) >= 10
    assert ticker.context_switches() >= ticker.context_switches(voluntary_only=True) > 0


def test_programs_start_with_default_signal_dispositions(start):
    """Student code starts with every signal at its default and none blocked, whatever the
    grader inherited: the grader may itself run with SIGINT ignored (`grade ... &` in a
    script), ignored signals survive fork and exec, and a check that sends SIGINT or SIGTERM
    must see the student's own handling of it."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        program = start(["cat", "/proc/self/status"])
    finally:
        signal.signal(signal.SIGINT, previous)
    program.wait()
    status = dict(line.split(":\t", 1) for line in program.stdout.splitlines() if ":\t" in line)
    assert int(status["SigIgn"], 16) == 0, f"ignored signals: {status['SigIgn']}"
    assert int(status["SigBlk"], 16) == 0, f"blocked signals: {status['SigBlk']}"


def test_sigint_reaches_a_program_with_default_disposition(start):
    program = start(["sleep", "60"])
    program.signal(signal.SIGINT)
    program.wait(5)
    assert program.killed_by == signal.SIGINT
    assert program.describe_exit() == "was killed by SIGINT (Interrupt)"


def test_new_session_without_controlling_terminal(start):
    program = start(["cat", "/proc/self/stat"]).wait()
    fields = program.stdout.rsplit(")", 1)[1].split()
    pid, pgrp, session, tty = program.popen.pid, int(fields[2]), int(fields[3]), int(fields[4])
    assert (pgrp, session) == (pid, pid)
    assert tty == 0


def test_suspend_and_resume(start, c_programs):
    program = start([c_programs("ticker")])
    program.expect(r"tick child \d+")
    program.suspend()
    group = _group(program.popen.pid)
    assert len(group) == 2
    assert {_state(pid) for pid in group} == {"T"}
    program.resume()
    assert all(_state(pid) != "T" for pid in group)
    # before the stop, at most one more line per process can still be on its way to us
    for who in ("parent", "child"):
        last = max(int(n) for n in re.findall(rf"tick {who} (\d+)", program.stdout) or [0])
        program.expect(rf"tick {who} {last + 3}\n", timeout=5)


def test_suspend_during_a_vfork(start, c_programs):
    """A program caught between vfork() and exec (system(), posix_spawn(), a shell running
    a command) cannot stop: its parent waits in the kernel, state D, SIGSTOP pending, until
    the child execs, and the child is stopped. It runs no code either way, so suspend()
    counts it as suspended: the parent stops, its SIGSTOP first, as soon as it leaves the
    kernel. (A shell running commands, dash uses vfork, is caught this way at random.)
    """
    program = start([c_programs("vfork_pending")])
    program.expect_line("ready")
    program.suspend()
    states = sorted(_state(pid) for pid in _group(program.popen.pid))
    assert states == ["D", "T"]
    program.resume()
    states = sorted(_state(pid) for pid in _group(program.popen.pid))
    assert states == ["D", "S"]  # the child pause()s again; the parent still waits for it


def test_send_to_a_program_that_stopped_reading_fails(start):
    program = start(["sleep", "60"], name="your server")
    with pytest.raises(Failure) as failed:
        program.send(b"x" * (4 << 20), timeout=0.3)
    assert failed.value.rationale.startswith("your server stopped reading its input")


def test_send_after_exit_fails_with_the_exit(start, c_programs):
    program = start([c_programs("out_and_err")], name="your client")
    program.popen.wait()
    with pytest.raises(Failure) as failed:
        program.send("1\n0\n" * 100000)
    assert failed.value.rationale == "your client closed its input early; it exited with code 3"


def test_stop_and_reap_are_safe_twice(start):
    program = start(["sleep", "60"])
    program.reap()
    program.reap()
    program.stop()
    assert program.killed_by == signal.SIGKILL


def test_limits_apply_to_the_program(start):
    limits = replace(LIMITS, open_files=37, cpu_seconds=3, memory_mib=100, processes=21)
    program = start(["cat", "/proc/self/limits"], limits).wait()
    rows = {line[:26].strip(): line[26:].split() for line in program.stdout.splitlines()[1:]}
    assert rows["Max open files"][:2] == ["37", "37"]
    assert rows["Max cpu time"][0] == "3"  # the soft limit; the hard one may be higher
    assert rows["Max address space"][:2] == [str(100 << 20)] * 2
    assert rows["Max processes"][:2] == ["21", "21"]
    assert rows["Max core file size"][:2] == ["0", "0"]


def test_environment_is_minimal(start, tmp_path, monkeypatch):
    monkeypatch.setenv("IPC_GRADER_TEST_SECRET", "leak")
    program = start(["env"]).wait()
    env = dict(line.split("=", 1) for line in program.stdout.splitlines())
    assert "IPC_GRADER_TEST_SECRET" not in env
    assert env["HOME"] == str(tmp_path)
