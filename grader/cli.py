"""The `grade` command.

    grade assignment1 [FOLDER]        grade the C sources in FOLDER (default: here)
    grade list                        the assignments
    grade spec assignment1            print the handout
    grade validate assignment1        prove the checks against the reference and its mutants
    grade image build                 build the docker grading image, offline
    grade batch assignment1 IN -o OUT grade a whole class: gradebooks, class report, resumable
    grade package student A1 -o kit/  a student kit (grader/package/), or a Gradescope zip
    grade entrypoint prairielearn A1  grade in a platform's container (PrairieLearn, Gradescope)
    grade serve [--config FILE]       the LMS integration: webhooks and uploads in, grades back
    grade worker [--concurrency N]    grade a PostgreSQL-backed `grade serve`'s jobs (scale-out)

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

    batch = sub.add_parser(
        "batch", help="grade a whole class: gradebooks, a class report; resumable",
        epilog="examples:\n  grade batch assignment1 moodle-export.zip -o hw1-grades -j 4\n"
               "  grade batch uds-server submissions/ -o out --roster roster.csv --regrade",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    batch.add_argument("assignment", help="assignment id or slug")
    batch.add_argument("input", type=Path, help="a folder of submissions (folders, archives, "
                       "an LMS export's files), or a .zip/.tar(.gz) of them")
    batch.add_argument("-o", "--output", type=Path, required=True, metavar="OUTDIR",
                       help="where results, reports, gradebooks and the class report go; "
                            "rerunning into it grades only what changed")
    batch.add_argument("-j", "--jobs", type=int, default=0,
                       help="gradings in parallel (default: one per core)")
    batch.add_argument("--backend", choices=BACKENDS, default="auto",
                       help="default auto: docker, else local as root (the local backend "
                            "without root does not isolate student code and is refused)")
    batch.add_argument("--roster", type=Path, metavar="CSV", help="ids to names, e-mails and "
                       "LMS ids (a Canvas gradebook export or Moodle worksheet works as is)")
    batch.add_argument("--regrade", action="store_true",
                       help="grade every submission again, even those already graded")
    batch.add_argument("--only", metavar="CHECK[,CHECK]", help="grade only these checks")
    batch.add_argument("-k", dest="keyword", metavar="EXPR",
                       help="grade only the checks matching this pytest -k expression")
    batch.add_argument("--base", type=Path, action="append", default=[], metavar="DIR",
                       help="code every student was given (a skeleton): not evidence of "
                            "copying (the reference always is excluded)")
    batch.add_argument("--similarity", type=float, default=0.5, metavar="SHARE",
                       help="list pairs at least this alike, 0-1 (default 0.5)")
    batch.add_argument("--no-similarity", action="store_true", help="skip the similarity check")
    batch.add_argument("--canvas-column", metavar="'NAME (ID)'",
                       help="the Canvas assignment column of canvas.csv (default: the "
                            "assignment's title and id)")

    package = sub.add_parser(
        "package", help="what leaves the repository: a student kit, a Gradescope autograder",
        epilog="examples:\n  grade package student assignment1 assignment2 -o kit/\n"
               "  grade package gradescope assignment1 -o autograder.zip --timeout 600",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    package.add_argument("kind", choices=["student", "gradescope"],
                         help="student: visible checks and compiled reference programs only; "
                              "gradescope: the autograder zip (one assignment)")
    package.add_argument("assignments", nargs="+", metavar="ASSIGNMENT")
    package.add_argument("-o", "--output", type=Path, required=True, metavar="PATH",
                         help="the kit's folder (new or empty), or the zip")
    package.add_argument("--python", default="3.11,3.12", metavar="X.Y[,X.Y]",
                         help="the Pythons whose dependency wheels go in (default 3.11,3.12)")
    package.add_argument("--timeout", type=float, default=600.0, metavar="SECONDS",
                         help="gradescope: the autograder timeout set on Gradescope (default "
                              "600); the grading stops before it, with results")

    entry = sub.add_parser(
        "entrypoint", help="grade in a platform's container: Gradescope, PrairieLearn",
        epilog="example (a PrairieLearn question's externalGradingOptions.entrypoint):\n"
               "  /usr/local/bin/grade entrypoint prairielearn assignment1 --timeout 120",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    entry.add_argument("platform", choices=["gradescope", "prairielearn"])
    entry.add_argument("assignment", nargs="?",
                       help="default: params.assignment of /grade/data/data.json, or the only "
                            "assignment there is")
    entry.add_argument("--job", type=Path, metavar="DIR",
                       help="the job folder (default /autograder, /grade)")
    entry.add_argument("--timeout", type=float, metavar="SECONDS",
                       help="the platform's time limit: the grading stops before it")

    serve = sub.add_parser(
        "serve", help="the LMS integration: webhooks and uploads in, grades to the gradebook",
        epilog="examples:\n  grade serve --config grader.toml     serve (README: \"grade serve\")\n"
               "  grade serve keys --new tool-key.pem  make the tool's key, print its JWKS\n"
               "  grade serve keys --config grader.toml  print the JWKS for the platform",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    serve.add_argument("action", nargs="?", choices=["keys"],
                       help="keys: print the tool's public JWKS (for the LMS registration)")
    serve.add_argument("--config", type=Path, default=Path("grader.toml"),
                       help="the service's configuration (default ./grader.toml)")
    serve.add_argument("--new", type=Path, metavar="PEM",
                       help="with keys: make a new tool key in this file first")
    serve.add_argument("--check", action="store_true",
                       help="tell whether the database, the queue and a docker engine answer "
                            "(exit 0 when they do), and serve nothing")

    worker = sub.add_parser(
        "worker", help="grade the jobs of a `grade serve` on PostgreSQL (any number of machines)",
        epilog="example:\n  grade worker --config grader.toml --concurrency 2\n"
               "SIGTERM: no new job, the gradings under way finish (up to the shutdown "
               "timeout), exit 0",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    worker.add_argument("--config", type=Path, default=Path("grader.toml"),
                        help="the service's configuration (default ./grader.toml); its "
                             "server.database must be PostgreSQL")
    worker.add_argument("--concurrency", type=int, default=1, metavar="N",
                        help="gradings at once (default 1; one core each)")
    worker.add_argument("--shutdown-timeout", type=float, metavar="SECONDS",
                        help="on SIGTERM, how long gradings under way may finish (default "
                             "server.shutdown_timeout_s, 600)")
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


def _package(args: argparse.Namespace) -> int:
    """Make a student kit or a Gradescope autograder zip (grader/package/)."""
    from grader.package import PackageError
    from grader.package.gradescope import gradescope_zip
    from grader.package.student import student_kit

    assignments = [find_assignment(name) for name in args.assignments]
    pythons = tuple(v.strip() for v in args.python.split(",") if v.strip())
    try:
        if args.kind == "student":
            for note in student_kit(assignments, args.output, pythons):
                print(f"note: {note}")
        elif len(assignments) > 1:
            raise PackageError("a Gradescope autograder grades one assignment: make one zip "
                               "per assignment")
        else:
            gradescope_zip(assignments[0], args.output, args.timeout, pythons)
    except PackageError as error:
        print(f"grade: {error}", file=sys.stderr)
        return 1
    print(f"wrote {args.output}")
    return 0


def _entrypoint(args: argparse.Namespace) -> int:
    """Grade a platform's job folder and leave its results file, always (exit 0)."""
    from grader.package.entrypoint import PLATFORMS, run

    return run(PLATFORMS[args.platform], args.assignment, args.job, args.timeout)


def _batch(args: argparse.Namespace) -> int:
    """Grade a class (grader/batch/); the summary on stdout, progress on stderr."""
    from grader.batch.runner import BatchError, BatchOptions, run_batch, summary

    assignment = find_assignment(args.assignment)
    options = BatchOptions(
        assignment, args.input.resolve(), args.output.resolve(), backend=args.backend,
        jobs=max(args.jobs, 0), roster=args.roster, regrade=args.regrade,
        only=frozenset(args.only.split(",")) if args.only else None, keyword=args.keyword,
        base=tuple(p.resolve() for p in args.base), canvas_column=args.canvas_column,
        similarity=None if args.no_similarity else args.similarity)
    try:
        outcome = run_batch(options)
    except BatchError as error:
        print(f"grade: {error}", file=sys.stderr)
        return BAD_INPUT
    except KeyboardInterrupt:
        print(f"grade batch: interrupted; every finished result is kept in "
              f"{options.outdir / 'results'}: run the same command again to finish",
              file=sys.stderr)
        return 130
    print(summary(outcome, options))
    return 0


def _serve(args: argparse.Namespace) -> int:
    """`grade serve` (grader/service/), or `grade serve keys`."""
    from grader.service.app import keys, serve

    if args.action == "keys":
        return keys(args.config, args.new)
    if args.check:
        from grader.service.app import check

        return check(args.config)
    return serve(args.config)


def _worker(args: argparse.Namespace) -> int:
    """`grade worker` (grader/service/worker.py): it handles SIGTERM itself (the gradings
    under way may finish), so main()'s SIGTERM-as-Ctrl-C is taken back here."""
    from grader.service.worker import work

    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # until its event loop installs its own
    return work(args.config, args.concurrency, args.shutdown_timeout)


COMMAND_FUNCTIONS = {"run": _run, "list": _list, "spec": _spec, "validate": _validate,
                     "image": _image, "package": _package, "entrypoint": _entrypoint,
                     "batch": _batch, "serve": _serve, "worker": _worker}

if __name__ == "__main__":
    sys.exit(main())
