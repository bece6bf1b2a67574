"""Waiting for an event with a deadline: the one polling loop of the engine and the checks.

A check never sleeps for a guessed time: it waits until something is true (a queue exists,
a line was printed, every thread sleeps) and fails, naming what it waited for, when the
deadline passes. When the program it waits on ends meanwhile, the failure says that
instead, with the exit status: "your server was killed by SIGSEGV while the check waited
for ...", never a misleading "did not happen in time".
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, TypeVar

from grader.failure import Failure

if TYPE_CHECKING:
    from grader.process import Program

T = TypeVar("T")
POLL = 0.002  # seconds between two looks: far below any deadline, cheap for /proc reads
SETUP_SECONDS = 2.0
"""How long a program has, from its start, to set up its channel (listen on its socket,
create its queue or segment, print its PID): a gate check waits no longer, so a program
that never does fails fast (the handouts say so)."""


def eventually(condition: Callable[[], T], within: float, every: float = POLL) -> T:
    """Poll `condition` until it returns something truthy, and return that; after `within`
    seconds, return its last (falsy) value."""
    deadline = time.monotonic() + within
    while True:
        value = condition()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(every)


def wait_until(condition: Callable[[], T], within: float, what: str | Callable[[], str],
               *, watch: Program | Iterable[Program] = (), help: str | None = None,
               every: float = POLL) -> T:
    """Poll `condition` until it returns something truthy, and return that.

    Fails after `within` seconds with "waited N s for <what>" (`what` may be a function, to
    describe the state at the deadline), and `help` as the failure's advice. With `watch`, a
    program that ends before the condition holds fails the wait at once, naming how it ended.

        wait_until(lambda: queue.exists(), 3, f"your chat to create {queue.name}", watch=chat)
    """
    watched = [watch] if hasattr(watch, "running") else list(watch)  # type: ignore[arg-type]
    deadline = time.monotonic() + within
    while True:
        value = condition()
        if value:
            return value
        for program in watched:
            if not program.running:
                value = condition()  # it may have done it just before it ended
                if value:
                    return value
                raise Failure(f"{program.name} {program.describe_exit()} while the check "
                              f"waited for {_say(what)}", help=help)
        if time.monotonic() >= deadline:
            raise Failure(f"waited {within:g} s for {_say(what)}", help=help)
        time.sleep(every)


def _say(what: str | Callable[[], str]) -> str:
    return what() if callable(what) else what
