"""Running a program to completion under strace, for the tests (the engine runs programs
through grader.process, which also traces): the stopping discipline of
grader/trace/command.py, written out."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from grader.trace import Trace, strace_command, tracee_pid


@dataclass
class TracedRun:
    """A finished traced run (run_traced): strace's status, output and the parsed trace."""

    returncode: int
    stdout: bytes
    stderr: bytes
    trace: Trace


def run_traced(argv: Sequence[str], out_prefix: Path, syscalls: str | Sequence[str],
               inject: Sequence[str] = (), *, input: bytes = b"",
               timeout: float = 30.0, cwd: Path | None = None) -> TracedRun:
    """Run a program to completion under strace and load its trace.

    Shows the stopping discipline the module docstring describes: on timeout the tracee
    gets SIGKILL first (so the trace records it), then the whole process group.
    """
    command = strace_command(out_prefix, syscalls, inject) + list(argv)
    with subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, cwd=cwd, start_new_session=True) as popen:
        try:
            stdout, stderr = popen.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            stop(popen)
            stdout, stderr = popen.communicate()
    return TracedRun(popen.returncode, stdout, stderr, Trace.load(out_prefix))


def stop(popen: subprocess.Popen, grace: float = 1.0) -> None:
    """Stop a traced program for good: SIGKILL the tracee, let strace record it, then kill
    the process group (strace and any child the program left behind)."""
    pid = tracee_pid(popen.pid, timeout=0)
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            popen.wait(grace)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(popen.pid, signal.SIGKILL)
    popen.wait()
