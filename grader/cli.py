"""The `grade` command.

    grade assignment1 [FOLDER]        grade the C sources in FOLDER (default: here)
    grade list                        the assignments
    grade spec assignment1            print the handout
    grade validate assignment1        prove the checks against the reference and its mutants
    grade image build                 build the docker grading image, offline

Exit status: 0 at full marks (or a successful list/spec/validate), 1 below full marks or a
failed validation, 2 for bad input (unknown assignment, missing folder, broken YAML).
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
from pathlib import Path

from grader import __version__
from grader.assignment import ROOT, AssignmentError, all_assignments, find_assignment
from grader.grading import SubmissionError, grade
from grader.render import markdown, terminal
from grader.sandbox import SandboxError

BAD_INPUT = 2
COMMANDS = ("list", "spec", "validate", "run", "image")
BACKENDS = ["auto", "local", "docker"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="grade", description="Grade Linux IPC assignments written in C.",
        epilog="examples:\n  grade assignment1                 grade the sources in this folder\n"
               "  grade uds-server ~/hw1 --json r.json\n  grade validate assignment1",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"ipc-grader {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="grade a submission (also: grade ASSIGNMENT [FOLDER])",
                         epilog="example: grade run assignment1 ~/hw1 --json report.json")
    run.add_argument("assignment", help="assignment id or slug, e.g. assignment1 or uds-server")
    run.add_argument("folder", nargs="?", type=Path, default=Path.cwd(),
                     help="the submission folder (default: the current folder)")
    run.add_argument("--json", type=Path, metavar="FILE", help="also write the report as JSON")
    run.add_argument("--markdown", type=Path, metavar="FILE",
                     help="also write the report as Markdown")
    run.add_argument("--backend", choices=BACKENDS, default="auto",
                     help="where to grade (default auto: local on Linux, else docker)")
    run.add_argument("--color", choices=["auto", "always", "never"], default="auto")

    sub.add_parser("list", help="list the assignments", epilog="example: grade list")
    spec = sub.add_parser("spec", help="print an assignment's handout",
                          epilog="example: grade spec assignment1")
    spec.add_argument("assignment")

    val = sub.add_parser("validate", help="prove the checks against the reference and mutants",
                         epilog="example: grade validate assignment1 --runs 5")
    val.add_argument("assignment")
    val.add_argument("--runs", type=int, default=5, help="reference runs (default 5)")
    val.add_argument("-j", "--jobs", type=int, default=1, help="gradings in parallel")
    val.add_argument("--backend", choices=BACKENDS, default="auto")

    image = sub.add_parser("image", help="build the docker grading image (offline)",
                           epilog="example: grade image build")
    image.add_argument("action", choices=["build"])
    image.add_argument("--offline", action="store_true", help="use only cached wheels")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and not argv[0].startswith("-") and argv[0] not in COMMANDS:
        argv.insert(0, "run")  # `grade assignment1` means `grade run assignment1`
    args = _parser().parse_args(argv)
    # SIGTERM (a batch system, `timeout`) ends a grading like Ctrl-C: sandboxes destroyed.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        return COMMAND_FUNCTIONS[args.command](args)
    except (AssignmentError, SubmissionError, SandboxError) as error:
        print(f"grade: {error}", file=sys.stderr)
        return BAD_INPUT
    except KeyboardInterrupt:
        print("grade: interrupted", file=sys.stderr)
        return 130


def _run(args: argparse.Namespace) -> int:
    assignment = find_assignment(args.assignment)
    report = grade(assignment, args.folder.resolve(), args.backend).for_student()
    if args.json:
        args.json.write_text(report.to_json())
    if args.markdown:
        args.markdown.write_text(markdown.render(report))
    colour = args.color == "always" or (args.color == "auto" and sys.stdout.isatty())
    print(terminal.render(report, colour=colour))
    return 0 if report.full_marks else 1


def _list(args: argparse.Namespace) -> int:
    for assignment in all_assignments():
        print(f"{assignment.id:<12} {assignment.slug:<14} {assignment.title}")
    return 0


def _spec(args: argparse.Namespace) -> int:
    handout = find_assignment(args.assignment).handout
    if not handout.is_file():
        raise AssignmentError(f"{handout}: file not found (every assignment needs a handout)")
    print(handout.read_text())
    return 0


def _validate(args: argparse.Namespace) -> int:
    from grader.validate import validate

    assignment = find_assignment(args.assignment)
    started = time.monotonic()
    result = validate(assignment, runs=args.runs, backend=args.backend, jobs=args.jobs)
    problems = result.problems()
    print()
    for problem in problems:
        print(f"problem: {problem}")
    verdict = "FAILED" if problems else "passed"
    print(f"validate {assignment.id}: {verdict} ({len(result.mutants)} mutants, "
          f"{len(result.reference_runs)} reference runs, {time.monotonic() - started:.0f} s)")
    return 1 if problems else 0


def _image(args: argparse.Namespace) -> int:
    """Start a docker engine if needed, build the base image from Debian packages, then the
    grading image: the scripts in docker/ do the work (see docker/README.md)."""
    scripts = ROOT / "docker"
    for script in ("start-dockerd.sh", "build-base-image.sh", "build-image.sh"):
        extra = ["--offline"] if args.offline and script == "build-image.sh" else []
        if subprocess.run(["bash", str(scripts / script), *extra], check=False).returncode:
            print(f"grade: docker/{script} failed", file=sys.stderr)
            return 1
    return 0


COMMAND_FUNCTIONS = {"run": _run, "list": _list, "spec": _spec, "validate": _validate,
                     "image": _image}

if __name__ == "__main__":
    sys.exit(main())
