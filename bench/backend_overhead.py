"""What the docker backend costs: assignment1's reference graded locally and in docker.

    python bench/backend_overhead.py [--runs 5]

Grades the reference `runs` times with each backend (alternating, so both see the same
machine), then times the bare container lifecycle (prepare + destroy of an empty
DockerSandbox) and each step of a docker grading. Prints medians; asserts nothing.
Needs the grading image (docker/build-image.sh) and a docker engine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from grader.assignment import find_assignment
from grader.grading import grade, run_budget
from grader.sandbox.docker import DockerSandbox


def median_ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:7.0f} ms"


def spread(values: list[float]) -> str:
    return f"(min {min(values):.2f} s, max {max(values):.2f} s)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    assignment = find_assignment("assignment1")
    reference = assignment.reference

    DockerSandbox(name="bench-warmup").__enter__().destroy()  # image and engine caches
    seconds: dict[str, list[float]] = {"local": [], "docker": []}
    for run in range(args.runs):
        for backend in ("local", "docker"):
            started = time.monotonic()
            report = grade(assignment, reference, backend)
            seconds[backend].append(time.monotonic() - started)
            if not report.full_marks:
                print(f"warning: run {run + 1} on {backend}: {report.score:g}/100 "
                      f"(failed {', '.join(report.failed_checks())})", file=sys.stderr)

    steps: dict[str, list[float]] = {k: [] for k in
                                     ("prepare", "copy_in", "run", "copy_out", "destroy")}
    empty: list[float] = []
    with tempfile.TemporaryDirectory() as out:
        for _ in range(args.runs):
            started = time.monotonic()
            box = DockerSandbox(name="bench-empty")
            box.prepare()
            box.destroy()
            empty.append(time.monotonic() - started)

            box = DockerSandbox(name="bench-steps")
            mark = time.monotonic()

            def step(name: str, mark_: float) -> float:
                now = time.monotonic()
                steps[name].append(now - mark_)
                return now

            try:
                box.prepare()
                mark = step("prepare", mark)
                box.copy_in(reference, "submission")
                mark = step("copy_in", mark)
                box.run([box.python, "-m", "grader.inside", assignment.id, "submission",
                         "--out", "report.json", "--backend", box.name,
                         *box.student_args()], timeout=run_budget(assignment))
                mark = step("run", mark)
                box.copy_out("report.json", Path(out) / "report.json")
                mark = step("copy_out", mark)
            finally:
                box.destroy()
                step("destroy", mark)

    local, docker = statistics.median(seconds["local"]), statistics.median(seconds["docker"])
    print(f"assignment1 reference, {args.runs} gradings per backend (medians):")
    print(f"  local   {local:6.2f} s  {spread(seconds['local'])}")
    print(f"  docker  {docker:6.2f} s  {spread(seconds['docker'])}")
    print(f"  docker / local = {docker / local:.2f}, docker adds {docker - local:+.2f} s "
          f"per submission")
    print(f"empty container, prepare + destroy: {median_ms(empty)}")
    print("a docker grading, step by step:")
    for name, values in steps.items():
        print(f"  {name:<9}{median_ms(values)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
