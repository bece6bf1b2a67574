"""A busy machine, on purpose: CPU hogs on every core, and a program stopped now and then.

A program that depends on being scheduled in time (a sender on a timer, a reader that polls)
works on a quiet machine and fails on a busy one, at random. A check that wants to see that
failure every time makes the machine busy itself, here, in a way that does not depend on
luck. The hogs run at SCHED_IDLE: they take every idle cycle but yield at once to any other
task, so the machine is busy without starving the grader or the program under test.

    with busy_machine(server):       # hogs, and the server stopped 10 ms out of every 50
        deliver(...)
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from grader.process import Program


@contextlib.contextmanager
def cpu_hogs() -> Iterator[None]:
    """A spinning process pinned to each core, at the lowest scheduling class."""
    hogs = []
    try:
        for cpu in sorted(os.sched_getaffinity(0)):
            hog = subprocess.Popen(["sh", "-c", "while :; do :; done"], start_new_session=True)
            hogs.append(hog)
            with contextlib.suppress(OSError):
                os.sched_setaffinity(hog.pid, {cpu})
                os.sched_setscheduler(hog.pid, os.SCHED_IDLE, os.sched_param(0))
        yield
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()


@contextlib.contextmanager
def stutter(program: Program, stopped: float = 0.01, every: float = 0.05) -> Iterator[None]:
    """`program` is stopped (SIGSTOP) for `stopped` seconds out of every `every`."""
    done = threading.Event()

    def run() -> None:
        with contextlib.suppress(ProcessLookupError):  # the program may end meanwhile
            while not done.wait(every - stopped):
                os.kill(program.pid, signal.SIGSTOP)
                done.wait(stopped)
                os.kill(program.pid, signal.SIGCONT)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
        with contextlib.suppress(ProcessLookupError):
            os.kill(program.pid, signal.SIGCONT)


@contextlib.contextmanager
def busy_machine(program: Program) -> Iterator[None]:
    """CPU hogs on every core, and `program` stopped 10 ms out of every 50."""
    with cpu_hogs(), stutter(program):
        yield
