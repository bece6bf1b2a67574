"""The grading run inside a sandbox: build, run the checks, write the GradeReport as JSON.

Every backend runs exactly this (`python -m grader.inside ...`), so a score never depends on
where it was computed. Whatever happens, a report is written.

    python -m grader.inside assignment1 submission --out report.json [--uid N --gid N]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shutil
import sys
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from grader.assignment import Assignment, find_assignment
from grader.build import build
from grader.checks.plugin import CheckSession
from grader.memory import MemoryCgroup
from grader.process import Confinement
from grader.report import BuildResult, CheckResult, GradeReport, Status


def prepare_sources(source: Path, dest: Path, assignment: Assignment, uid: int | None,
                    gid: int | None) -> None:
    """Copy sources to a build folder the student user owns, without stale binaries.

    Prebuilt programs and object files are removed so that `make` cannot skip the build and
    run binaries compiled somewhere else.
    """
    shutil.copytree(source, dest, symlinks=True, ignore=shutil.ignore_patterns("mutants"))
    for program in assignment.programs:
        (dest / program).unlink(missing_ok=True)
    for stale in dest.rglob("*.o"):
        stale.unlink()
    if uid is not None:
        for path in [dest, *dest.rglob("*")]:
            os.lchown(path, uid, gid if gid is not None else -1)


def run_checks(assignment: Assignment, student: Path, reference: Path, workroot: Path,
               confinement: Confinement) -> list[CheckResult]:
    """Run checks.py under pytest with the grader plugin; one result per rubric entry."""
    session = CheckSession(assignment, student, reference, workroot, confinement)
    args = [str(assignment.checks_file), "-p", "no:cacheprovider", "-p", "no:randomly",
            "-o", "python_files=checks.py", "-o", "python_functions=test_*",
            "--rootdir", str(assignment.folder), "-q", "--no-header", "-p", "pytest_timeout",
            "-W", "ignore::pytest.PytestAssertRewriteWarning"]
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # only our plugins, whatever is installed
    os.umask(0)  # files a check creates (a stale socket, a decoy file) are usable by students
    log = io.StringIO()
    with contextlib.redirect_stdout(log):
        pytest.main(args, plugins=[session])
    if session.problems:
        raise RuntimeError(session.problems[0])
    missing = "the check did not run"
    return [session.results.get(c.id) or CheckResult.unearned(c, missing, Status.ERROR)
            for c in assignment.checks]


def grade_here(assignment: Assignment, submission: Path, work: Path,
               confinement: Confinement, backend: str) -> GradeReport:
    """Build the submission and the reference in `work`, run every check, return the report."""
    started = time.monotonic()
    uid, gid = confinement.uid, confinement.gid
    student, reference = work / "build" / "student", work / "build" / "reference"
    prepare_sources(submission, student, assignment, uid, gid)
    prepare_sources(assignment.reference, reference, assignment, uid, gid)
    with ThreadPoolExecutor(2) as pool:  # the two builds are independent: overlap them
        student_build = pool.submit(build, student, assignment, confinement)
        reference_build = pool.submit(build, reference, assignment, confinement).result()
        built = student_build.result()
    report = GradeReport(assignment.id, assignment.title, submission.name, built, [],
                         backend=backend)
    if not built.ok:
        report.checks = [CheckResult.unearned(c, "not run: the build failed (see the build log)")
                         for c in assignment.checks]
    elif not reference_build.ok:
        raise RuntimeError(f"the reference of {assignment.id} does not build:\n"
                           f"{reference_build.log}")
    else:
        checks_root = work / "checks"
        checks_root.mkdir()
        report.checks = run_checks(assignment, student, reference, checks_root, confinement)
    report.duration_s = round(time.monotonic() - started, 3)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader.inside")
    parser.add_argument("assignment")
    parser.add_argument("submission", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--uid", type=int)
    parser.add_argument("--gid", type=int)
    parser.add_argument("--backend", default="local")
    args = parser.parse_args(argv)
    assignment = find_assignment(args.assignment)
    work = Path.cwd()
    memory = (MemoryCgroup.create(work.name, assignment.limits.memory_mib << 20)
              or MemoryCgroup.current())
    confinement = Confinement(assignment.limits, args.uid, args.gid, memory)
    try:
        report = grade_here(assignment, args.submission.resolve(), work, confinement,
                            args.backend)
    except Exception as error:  # the run must still write a report
        traceback.print_exc()
        report = GradeReport(assignment.id, assignment.title, args.submission.name,
                             BuildResult(False, "", ""), [], backend=args.backend)
        report.checks = [CheckResult.unearned(c, "not run: the grader failed", Status.ERROR)
                         for c in assignment.checks]
        report.notes.append(f"grader error: {type(error).__name__}: {str(error)[:500]}")
    finally:
        confinement.kill_leftovers()
    args.out.write_text(report.to_json())
    return 0


if __name__ == "__main__":
    sys.exit(main())
