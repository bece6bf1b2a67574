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
from grader.render import FORMATS, terminal
from grader.sandbox import SandboxError

BAD_INPUT = 2
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
    run.add_argument("--format", action="append", type=_format_names, metavar="NAME[,NAME]",
                     help=f"the report's formats: {', '.join(FORMATS)} (default terminal); "
                          "repeat or separate with commas for several")
    run.add_argument("-o", "--output", action="append", type=Path, metavar="FILE",
                     help="the file of a --format, in their order; a format without one is "
                          "printed (one at most)")
    for name in FORMATS:
        if name != "terminal":
            run.add_argument(f"--{name}", type=Path, metavar="FILE",
                             help=f"also write the {name} report to FILE")
    run.add_argument("--only", metavar="CHECK[,CHECK]",
                     help="run only these checks (ids from the report); the score is out of "
                          "their points")
    run.add_argument("-k", dest="keyword", metavar="EXPR",
                     help="run only the checks whose names match this pytest -k expression")
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
    if argv and not argv[0].startswith("-") and argv[0] not in COMMAND_FUNCTIONS:
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


def _format_names(value: str) -> list[str]:
    """`--format html,junit` -> ["html", "junit"], every name one of FORMATS."""
    names = [name.strip() for name in value.split(",")]
    for name in names:
        if name not in FORMATS:
            raise argparse.ArgumentTypeError(
                f"unknown format {name!r} (choose from {', '.join(FORMATS)})")
    return names


def _outputs(args: argparse.Namespace) -> list[tuple[str, Path | None]]:
    """(format, file) for every report this run writes; None is stdout. The terminal table
    is printed unless another format claims stdout (a pipe wants the JUnit XML alone)."""
    names = [name for value in args.format or [] for name in value]
    files = args.output or []
    if len(files) > len(names):
        raise ValueError("more -o FILE than --format names: each -o is the file of one format")
    outputs = [(name, files[i] if i < len(files) else None) for i, name in enumerate(names)]
    outputs += [(name, getattr(args, name)) for name in FORMATS
                if name != "terminal" and getattr(args, name)]
    printed = [name for name, file in outputs if file is None]
    if len(printed) > 1:
        raise ValueError(f"only one format can be printed, not {', '.join(printed)}: "
                         "give the others -o FILE")
    return outputs if printed else [*outputs, ("terminal", None)]


def _write(path: Path, text: str) -> None:
    """Write the whole file or none of it: a platform reading it (Gradescope's results.json)
    must never find half a report. Characters UTF-8 cannot encode (a lone surrogate in the
    raw JSON report) are written as backslash escapes, which JSON reads back the same."""
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8", errors="backslashreplace")
    partial.replace(path)


def _run(args: argparse.Namespace) -> int:
    try:
        outputs = _outputs(args)
    except ValueError as error:
        print(f"grade: {error}", file=sys.stderr)
        return BAD_INPUT
    assignment = find_assignment(args.assignment)
    only = frozenset(args.only.split(",")) if args.only else None
    report = grade(assignment, args.folder.resolve(), args.backend, only=only,
                   keyword=args.keyword).for_student()
    for name, file in outputs:
        if file is not None:
            _write(file, FORMATS[name](report))
    colour = args.color == "always" or (args.color == "auto" and sys.stdout.isatty())
    for name, file in outputs:
        if file is None:  # after the files, so the terminal table is the last thing shown
            print(terminal.render(report, colour=colour) if name == "terminal"
                  else FORMATS[name](report))
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
