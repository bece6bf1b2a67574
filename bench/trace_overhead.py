"""What syscall tracing costs a grading: the assignment1 reference, traced and untraced.

Run: python bench/trace_overhead.py [--runs 5]

Grades the reference of assignment1 `runs` times with tracing on (the normal grading) and
`runs` times with IPC_GRADER_TRACING=off (the same scenarios, run without strace; the trace
checks then fail at their first assertion, fault injection still runs under strace), the two
interleaved so that machine load hits both alike. Prints the medians and their ratio.
Target: at most 1.3.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def grade_once(tracing: bool) -> float:
    """Wall time of one `grade assignment1 reference/assignment1` (a fresh interpreter, so the
    tracing switch, read at import, takes effect)."""
    env = {**os.environ, "IPC_GRADER_TRACING": "on" if tracing else "off"}
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "grader", "assignment1",
                    str(ROOT / "reference" / "assignment1")], cwd=ROOT, env=env,
                   stdout=subprocess.DEVNULL, check=False)
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    traced, untraced = [], []
    for _ in range(runs):
        traced.append(grade_once(True))
        untraced.append(grade_once(False))
    on, off = statistics.median(traced), statistics.median(untraced)
    print(f"grading assignment1's reference, {runs} runs each (median wall time):")
    print(f"  tracing on : {on:6.2f} s   ({', '.join(f'{t:.2f}' for t in traced)})")
    print(f"  tracing off: {off:6.2f} s   ({', '.join(f'{t:.2f}' for t in untraced)})")
    print(f"  ratio on/off: {on / off:.2f}  (target <= 1.3)")


if __name__ == "__main__":
    main()
