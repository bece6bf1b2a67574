"""Is a waiting program really asleep? CPU time and wake-ups over a quiet moment.

A program that waits for input should block in the kernel (read, select, sigsuspend,
sem_wait...) and use no CPU. Two ways to fail: spinning (CPU time) and polling with sleeps
(wake-ups: each is a voluntary context switch). Both are measured over a window on every
thread of the program, CPU time in nanoseconds from the scheduler (schedstat), so a given
program gets the same verdict on every run: with 10 ms ticks and a short window, a program
near the limit would pass or fail by luck.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from grader import procfs
from grader.failure import Failure

if TYPE_CHECKING:
    from grader.process import Program

WINDOW = 0.5  # seconds: long enough for a few timer periods, short enough for a grading


@dataclass(frozen=True)
class Idle:
    """What a program did during a quiet window."""

    seconds: float
    cpu_seconds: float
    wakeups: int

    @property
    def cpu_share(self) -> float:
        """The share of one CPU it used (0.0 to 1.0 per thread)."""
        return self.cpu_seconds / self.seconds

    @property
    def wakeups_per_second(self) -> float:
        return self.wakeups / self.seconds


def measure_idle(programs: Program | Iterable[Program], seconds: float = WINDOW) -> Idle:
    """CPU time and wake-ups of all threads of `programs` (together) over `seconds`."""
    group = [programs] if hasattr(programs, "pid") else list(programs)  # type: ignore[arg-type]
    pids = [p.pid for p in group]
    cpu = sum(procfs.cpu_ns(pid) for pid in pids)
    woke = sum(procfs.wakeups(pid) for pid in pids)
    started = time.monotonic()
    time.sleep(seconds)
    cpu = sum(procfs.cpu_ns(pid) for pid in pids) - cpu
    woke = sum(procfs.wakeups(pid) for pid in pids) - woke
    return Idle(time.monotonic() - started, cpu / 1e9, woke)


def measure_idle_each(programs: Iterable[Program], seconds: float = WINDOW) -> list[Idle]:
    """Like measure_idle, but one Idle per program, all over the same window: two programs
    that wait for each other are judged each on its own, in one window instead of two.

        writer_idle, reader_idle = measure_idle_each([writer, reader], seconds=1.0)
    """
    group = list(programs)
    cpu = [procfs.cpu_ns(p.pid) for p in group]
    woke = [procfs.wakeups(p.pid) for p in group]
    started = time.monotonic()
    time.sleep(seconds)
    cpu = [procfs.cpu_ns(p.pid) - before for p, before in zip(group, cpu, strict=True)]
    woke = [procfs.wakeups(p.pid) - before for p, before in zip(group, woke, strict=True)]
    elapsed = time.monotonic() - started
    return [Idle(elapsed, c / 1e9, w) for c, w in zip(cpu, woke, strict=True)]


def expect_idle(program: Program, *, when: str, cpu_share: float = 0.05,
                wakeups_per_second: float | None = None, seconds: float = WINDOW,
                help: str | None = None, measured: Idle | None = None) -> Idle:
    """Fail unless `program` stays below `cpu_share` of a CPU (and, if given, below
    `wakeups_per_second`) over `seconds` while it has nothing to do. `measured`: judge a
    window measured already (by measure_idle_each) instead of measuring one now.

        expect_idle(server, when="right after it started", cpu_share=0.1,
                    wakeups_per_second=100, help="wait in sigsuspend(), not in a loop")
    """
    idle = measured if measured is not None else measure_idle(program, seconds)
    if not program.running:
        raise Failure(f"{program.name} {program.describe_exit()} while it should have been "
                      f"waiting ({when})")
    if idle.cpu_share > cpu_share:
        raise Failure(f"with nothing to do ({when}), {program.name} used "
                      f"{idle.cpu_seconds * 1000:.0f} ms of CPU in {idle.seconds:.1f} s "
                      f"({idle.cpu_share:.0%} of a CPU; at most {cpu_share:.0%} is allowed): "
                      f"it spins instead of blocking", help=help)
    if wakeups_per_second is not None and idle.wakeups_per_second > wakeups_per_second:
        raise Failure(f"with nothing to do ({when}), {program.name} woke up {idle.wakeups} "
                      f"times in {idle.seconds:.1f} s (at most {wakeups_per_second:g} per "
                      f"second are allowed): it polls (a sleep or a timeout in a loop) instead "
                      f"of blocking until something happens", help=help)
    return idle
