"""Progress of a batch: a live bar with rich on a terminal (done / running / failed, elapsed,
ETA), plain lines elsewhere (a CI log, a pipe, `nohup`), one per finished submission.

Both go to stderr: stdout keeps the summary alone.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO


class Progress:
    """Told when a grading starts and ends; thread-safe."""

    def __init__(self, total: int, done: int = 0, stream: TextIO | None = None,
                 live: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.total, self.done, self.running, self.failed = total, done, 0, 0
        self.live = self.stream.isatty() if live is None else live
        self.started = time.monotonic()
        self._lock = threading.Lock()
        self._bar = None

    def __enter__(self) -> Progress:
        if self.live:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )
            from rich.progress import Progress as Bar

            self._bar = Bar(TextColumn("grading"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("running {task.fields[running]}  "
                                       "failed {task.fields[failed]}"),
                            TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                            console=Console(file=self.stream), transient=False)
            self._bar.__enter__()
            self._task = self._bar.add_task("grading", total=self.total,
                                            completed=self.done, running=0, failed=0)
        return self

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)
            self._bar = None

    def _update(self) -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=self.done, running=self.running,
                             failed=self.failed)

    def start(self, key: str) -> None:
        with self._lock:
            self.running += 1
            self._update()

    def finish(self, key: str, line: str, failed: bool, graded: bool = True) -> None:
        """A submission is done: `line` says how ("94/100 (3.1 s)")."""
        with self._lock:
            self.running -= 1 if graded else 0
            self.done += 1
            self.failed += int(failed)
            self._update()
            text = f"[{self.done}/{self.total}] {key}: {line}"
            if self._bar is not None:
                self._bar.console.print(text, highlight=False, markup=False)
            else:
                print(text, file=self.stream, flush=True)

    def say(self, text: str) -> None:
        with self._lock:
            if self._bar is not None:
                self._bar.console.print(text, highlight=False, markup=False)
            else:
                print(text, file=self.stream, flush=True)
