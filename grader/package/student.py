"""The student kit: what an instructor hands out so that students grade themselves.

    kit/
      README.md, install.sh, grade     how to install (once) and run it: ./grade assignment1
      wheels/                          the grader and its dependencies (offline install)
      assignments/<id>/                the handout, the rubric, checks.py without hidden tests
      reference/<id>/<program>         the reference programs, compiled and stripped

Nothing of the answers leaves: no reference source, no mutant, no hidden check (their
tests, and what only they used, are cut out of checks.py: grader/package/visible.py). The
rubric keeps the hidden checks' titles and points, so the kit's reports list them as "graded
after submission" and give the score out of the visible points.

The reference programs are linked statically (`make CC='cc -static'`, or -static in the
default compile rule) so that one build runs on any Linux of the same architecture and in
the student image (docker/build-image.sh --kit), whatever its C library; a reference that
does not link statically is linked as usual, and the kit's README says which glibc it needs.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from grader import __version__
from grader.assignment import Assignment, load_assignment
from grader.build import build_commands
from grader.inside import prepare_sources
from grader.package import PackageError, fill
from grader.package.visible import visible_checks
from grader.package.wheels import PYTHONS, all_wheels

SKIPPED = shutil.ignore_patterns("checks.py", "__pycache__", "*.pyc")


def student_kit(assignments: list[Assignment], out: Path,
                pythons: tuple[str, ...] = PYTHONS) -> list[str]:
    """Write the kit of `assignments` to the folder `out` (new, or empty), whole or not at
    all. Returns what was worth saying (a reference linked dynamically)."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise PackageError(f"{out}: exists and is not an empty folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix=f".{out.name}-", dir=out.parent) as staging:
        kit = Path(staging) / "kit"
        for assignment in assignments:
            if not assignment.checks_file.is_file():
                raise PackageError(f"{assignment.checks_file}: file not found")
            folder = kit / "assignments" / assignment.id
            shutil.copytree(assignment.folder, folder, ignore=SKIPPED)
            hidden = [c.id for c in assignment.checks if c.hidden]
            (folder / "checks.py").write_text(
                visible_checks(assignment.checks_file.read_text(), hidden,
                               str(assignment.checks_file)))
            deferred = [c.id for c in load_assignment(folder).checks if c.deferred]
            if deferred != hidden:  # the grader would not list them as graded after submission
                raise PackageError(f"{folder}: hidden checks {hidden}, deferred {deferred}")
            if not compiled_reference(assignment, kit / "reference" / assignment.id):
                notes.append(f"{assignment.id}: the reference does not link statically: its "
                             f"programs need this machine's C library (glibc) or a later one")
        all_wheels(kit / "wheels", pythons, pip=True)
        ids = " ".join(a.id for a in assignments)
        (kit / "README.md").write_text(fill("kit-README.md", assignments=ids,
                                            version=__version__, example=assignments[0].id))
        for script in ("install.sh", "grade"):
            (kit / script).write_text(fill(f"kit-{script}", version=__version__))
            (kit / script).chmod(0o755)
        (kit / ".gitignore").write_text(".venv/\n")
        with contextlib.suppress(FileNotFoundError):
            out.rmdir()  # the empty folder the kit replaces
        kit.rename(out)
    return notes


def compiled_reference(assignment: Assignment, dest: Path) -> bool:
    """The reference programs of `assignment`, compiled, stripped, in `dest`. True when they
    are linked statically; PackageError when the reference does not build at all."""
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch) / assignment.id
        prepare_sources(assignment.reference, work, assignment, None, None)
        static = True
        log = _compile(work, assignment, static=True)
        if log is not None:
            static = False
            log = _compile(work, assignment, static=False)
        if log is not None:
            raise PackageError(f"{assignment.reference}: the reference does not build:\n{log}")
        dest.mkdir(parents=True)
        strip = shutil.which("strip")
        if strip is None:
            raise PackageError("strip (binutils) is needed to strip the reference programs")
        for program in assignment.programs:
            shutil.copy(work / program, dest / program)
            subprocess.run([strip, "--strip-all", dest / program], check=True)
            (dest / program).chmod(0o755)
    return static


def _compile(folder: Path, assignment: Assignment, static: bool) -> str | None:
    """Build the reference in `folder` the way a grading would (grader.build), statically
    linked if asked: `make CC='cc -static'`, `cc -static ...`, or $CC for a rubric's own
    build command. None when it built, else the log."""
    cc = "cc -static" if static else "cc"
    commands = [[*argv, f"CC={cc}"] if argv == ["make"] else
                [*cc.split(), *argv[1:]] if argv[0] == "cc" else argv
                for argv in build_commands(folder, assignment)]
    for program in assignment.programs:
        (folder / program).unlink(missing_ok=True)
    log = []
    for argv in commands:
        done = subprocess.run(argv, cwd=folder, capture_output=True, text=True, check=False,
                              env={**os.environ, "CC": cc},
                              timeout=assignment.limits.build_seconds)
        log.append(f"$ {' '.join(argv)}\n{done.stdout}{done.stderr}")
        if done.returncode != 0:
            return "\n".join(log)
    missing = [p for p in assignment.programs if not os.access(folder / p, os.X_OK)]
    return f"no {', '.join(missing)} after:\n" + "\n".join(log) if missing else None
