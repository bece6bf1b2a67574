"""The step log of a check: what it sent, what came back, which signals and exits happened.

Written by the engine's own calls (Program.send/expect/signal/wait, Connection.send/expect),
never by hand, so feedback cannot drift from what a check really did (a message saying
"four invalid lines" after sixteen were sent). The report keeps the log of a failed check:
the student reads the scenario as it ran, step by step.
"""

from __future__ import annotations

from collections import deque

from grader.text import show

KEPT = 40


class StepLog:
    """The last KEPT steps of one check, oldest first."""

    def __init__(self, kept: int = KEPT):
        self._steps: deque[str] = deque(maxlen=kept)
        self._count = 0

    def add(self, step: str) -> None:
        self._count += 1
        self._steps.append(step)

    def sent(self, to: str, data: str | bytes) -> None:
        self.add(f"{to} <- {show(data)}")

    def received(self, source: str, data: str | bytes) -> None:
        self.add(f"{source} -> {show(data)}")

    def lines(self) -> list[str]:
        earlier = self._count - len(self._steps)
        return ([f"({earlier} earlier steps)"] if earlier else []) + list(self._steps)
