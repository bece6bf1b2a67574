"""One grading of a batch, in a process of its own (started by grader.batch.runner):

    python -m grader.batch.worker ASSIGNMENT_FOLDER SUBMISSION OUT.json --backend docker
                                  --parent PID [--only CHECK,CHECK] [-k EXPR]

It is `grade` for one submission, writing the GradeReport as JSON. A process of its own, so
that a grading that crashes the Python running it (or eats its memory) costs one
submission an error verdict and not the batch; so that the batch can stop it at once (SIGTERM:
the sandbox is destroyed as on Ctrl-C); and so that it dies with the batch (the runner starts
it under `setpriv --pdeathsig KILL`; the docker container follows its keeper, the local run
its parent-death signal).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

from grader.assignment import load_assignment
from grader.grading import SubmissionError, grade
from grader.sandbox import SandboxError


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    parser = argparse.ArgumentParser(prog="python -m grader.batch.worker")
    parser.add_argument("assignment", type=Path, help="the assignment's folder")
    parser.add_argument("submission", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--backend", required=True)
    parser.add_argument("--parent", type=int, required=True)
    parser.add_argument("--only")
    parser.add_argument("-k", dest="keyword")
    args = parser.parse_args(argv)
    if os.getppid() != args.parent:  # the batch died before the death signal was armed
        return 3
    only = frozenset(args.only.split(",")) if args.only else None
    try:
        report = grade(load_assignment(args.assignment), args.submission, args.backend,
                       only=only, keyword=args.keyword)
    except KeyboardInterrupt:
        return 130
    except (SandboxError, SubmissionError) as error:
        print(f"grade: {error}", file=sys.stderr)
        return 2
    report.save(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
