"""`grade batch` throughput: the same generated assignment1 class at -j 1 and -j 2.

    python bench/batch_throughput.py [--mutants N] [--only CHECK,CHECK] [--singles 3]

The class is tests/batch_class.py's (the reference, the alternatives, every mutant unless
--mutants cuts them, broken, hostile and malformed submissions). Each -j runs `grade batch`
--regrade into a fresh folder (so everything is graded), docker backend. Prints submissions
per minute at each -j and the ratio (the figure: on 2 cores, >= 1.7x is the target), then
the time per submission inside the batch against single `grade` calls of the reference
(a whole `grade` process each, as a student or a script would run it). Asserts nothing.
Needs the grading image (docker/build-image.sh) and a docker engine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from batch_class import make_class  # noqa: E402  (tests/batch_class.py)

from grader.assignment import find_assignment  # noqa: E402


def grade_batch(archive: Path, out: Path, jobs: int, only: str | None) -> float:
    argv = [sys.executable, "-m", "grader", "batch", "assignment1", str(archive), "-o",
            str(out), "-j", str(jobs), "--backend", "docker", "--regrade", "--no-similarity"]
    argv += ["--only", only] if only else []
    started = time.monotonic()
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    elapsed = time.monotonic() - started
    if done.returncode != 0:
        sys.exit(f"grade batch failed:\n{done.stderr[-2000:]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mutants", type=int, default=None, help="only the first N mutants")
    parser.add_argument("--only", default=None, help="grade only these checks")
    parser.add_argument("--singles", type=int, default=3, help="single `grade` calls timed")
    args = parser.parse_args()
    assignment = find_assignment("assignment1")
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
        klass = make_class(assignment, Path(tmp), mutants=args.mutants)
        print(f"class: {klass.size} submissions ({args.only or 'all checks'}), docker backend")
        rates = {}
        for jobs in (1, 2):
            out = Path(tmp) / f"out-j{jobs}"
            seconds = grade_batch(klass.archive, out, jobs, args.only)
            graded = [json.loads(p.read_text()) for p in (out / "results").glob("*.json")]
            durations = [r["duration_s"] for r in graded if r["status"] == "graded"]
            rates[jobs] = klass.size / seconds * 60
            print(f"-j {jobs}: {seconds:6.1f} s, {rates[jobs]:5.1f} submissions/min; "
                  f"median grading {statistics.median(durations):.2f} s "
                  f"({len(durations)} graded)")
        print(f"ratio -j 2 / -j 1: {rates[2] / rates[1]:.2f}x (target >= 1.7x on 2 cores)")
        singles = []
        for _ in range(args.singles):
            argv = [sys.executable, "-m", "grader", "assignment1", str(assignment.reference),
                    "--backend", "docker"] + (["--only", args.only] if args.only else [])
            started = time.monotonic()
            subprocess.run(argv, capture_output=True, check=False)
            singles.append(time.monotonic() - started)
        single = statistics.median(singles)
        print(f"per submission: -j 1 {60 / rates[1]:.2f} s, -j 2 {60 / rates[2]:.2f} s; "
              f"a single `grade` call of the reference {single:.2f} s (median of "
              f"{len(singles)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
