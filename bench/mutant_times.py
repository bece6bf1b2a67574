"""What a broken submission costs to grade: every mutant's grading time as a ratio to its
reference's, for each assignment.

    python bench/mutant_times.py [ASSIGNMENT ...] [-j 2]

Grades the reference, then every mutant (the reference with the mutant's patch, as
`grade validate` builds it), and two programs that never set up anything (every program
exits 1 at once; every program sleeps in pause() until killed), on the local backend, and
prints each one's score, time and ratio to the reference graded in the same process. A gate
check (rubric `requires`) is what keeps a cheat, or a program that never sets up its
channel, from waiting out the deadline of every check: for those the figure to watch is
"within max(3 x reference, reference + 5 s)"; for the worst mutant of each assignment,
"within 10 x". Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from grader.assignment import Assignment, all_assignments, find_assignment
from grader.grading import grade
from grader.validate import Mutant, load_mutants, materialize

CHEAT_BOUND = 3.0     # x the reference's time, or the reference + CHEAT_SLACK s if larger
CHEAT_SLACK = 5.0
WORST_BOUND = 10.0    # x the reference's time, for the slowest mutant


NEVER_SET_UP = {  # name: the body of main() of every program
    "exits at once": "return 1;",
    "sleeps until killed": "for (;;) pause();",
}


def fails_at_setup(assignment: Assignment, mutant: Mutant) -> bool:
    """A cheat, or a mutant that fails a gate: the kind that must fail fast."""
    gates = {n for c in assignment.checks for n in c.requires}
    return mutant.cheat or bool(mutant.fails & gates)


def never_set_up(assignment: Assignment, body: str, dest: Path) -> Path:
    """A submission whose every program runs `body` and nothing else."""
    dest.mkdir()
    for program in assignment.programs:
        (dest / f"{program}.c").write_text(f"#include <unistd.h>\nint main(void) {{ {body} }}\n")
    return dest


def bench(assignment: Assignment, jobs: int) -> list[str]:
    """Grade the reference and the mutants; print a table; return the bounds missed."""
    mutants = load_mutants(assignment)
    with tempfile.TemporaryDirectory(prefix="ipc-grader-bench-") as tmp, \
            ThreadPoolExecutor(jobs) as pool:
        # the baseline sees the machine the mutants see: `jobs` gradings at once
        reference = statistics.median(pool.map(
            lambda _: grade(assignment, assignment.reference).duration_s, range(jobs)))
        reports = list(pool.map(lambda m: grade(assignment, materialize(
            assignment, m, Path(tmp) / m.name)), mutants))
        reports += pool.map(lambda item: grade(assignment, never_set_up(
            assignment, item[1], Path(tmp) / item[0].replace(" ", "-"))), NEVER_SET_UP.items())
    gated = [fails_at_setup(assignment, m) for m in mutants]
    rows = [(m.name + (" (gate)" if gate else ""), gate)
            for m, gate in zip(mutants, gated, strict=True)]
    rows += [(f"[{name}]", True) for name in NEVER_SET_UP]
    print(f"\n{assignment.id}: reference {reference:.1f} s ({len(mutants)} mutants, -j {jobs})")
    print(f"  {'mutant':32} {'score':>6} {'seconds':>8} {'ratio':>6}")
    missed = []
    cheat_limit = max(CHEAT_BOUND * reference, reference + CHEAT_SLACK)
    for (name, fast), report in sorted(zip(rows, reports, strict=True),
                                       key=lambda pair: -pair[1].duration_s):
        ratio = report.duration_s / reference
        mark = ""
        if fast and report.duration_s > cheat_limit:
            mark = f"  over {cheat_limit:.1f} s"
            missed.append(f"{assignment.id}/{name}: {report.duration_s:.1f} s, over "
                          f"{cheat_limit:.1f} s")
        print(f"  {name:32} {report.score:6.1f} {report.duration_s:8.1f} {ratio:6.2f}{mark}")
    worst = max(report.duration_s for report in reports[:len(mutants)]) / reference
    print(f"  worst: {worst:.2f} x the reference (bound {WORST_BOUND:g} x)")
    if worst > WORST_BOUND:
        missed.append(f"{assignment.id}: the worst mutant takes {worst:.2f} x the reference")
    return missed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("assignments", nargs="*", help="ids (default: all)")
    parser.add_argument("-j", "--jobs", type=int, default=2)
    args = parser.parse_args()
    chosen = [find_assignment(a) for a in args.assignments] or all_assignments()
    missed = [line for assignment in chosen for line in bench(assignment, args.jobs)]
    print("\nbounds missed:" if missed else "\nevery bound held")
    for line in missed:
        print(f"  {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
