"""The Gradescope autograder zip of one assignment.

Gradescope's contract (gradescope/autograder_samples docs/specs.md, docs/manual_docker.md;
shared/research/platforms.md section 1): the zip's root holds `setup.sh`, run once as root
when the image is built (`apt-get update && bash /autograder/source/setup.sh`, the zip
unpacked in /autograder/source), and `run_autograder`, copied to /autograder/run_autograder
and run for every submission in /autograder; it must leave /autograder/results/results.json,
else the student sees "The autograder failed to execute correctly".

    setup.sh  run_autograder  README.md
    wheels/                    the grader and its dependencies, for Python 3.11 and 3.12
    assignments/<id>/          rubric, handout, every check (hidden ones too)
    reference/<id>/            the reference sources (no mutants)

The reference goes as sources, built at each grading beside the submission: by the image's
own compiler and C library, where binaries built here might not run (Ubuntu 22.04's glibc is
older than Debian 12's), for a fraction of a second. The zip never reaches students.
"""

from __future__ import annotations

import shutil
import stat
import tempfile
import zipfile
from pathlib import Path

from grader import __version__
from grader.assignment import Assignment
from grader.inside import prepare_sources
from grader.package import PackageError, fill
from grader.package.wheels import PYTHONS, all_wheels

DEFAULT_TIMEOUT = 600.0  # Gradescope's default autograder timeout (10 minutes)
EXECUTABLE = ("setup.sh", "run_autograder")


def gradescope_zip(assignment: Assignment, out: Path, timeout: float = DEFAULT_TIMEOUT,
                   pythons: tuple[str, ...] = PYTHONS) -> Path:
    """Write the autograder zip of `assignment` to `out`, whole or not at all. `timeout` is
    the autograder timeout set on Gradescope: the grading stops before it, with results."""
    if not assignment.checks_file.is_file():
        raise PackageError(f"{assignment.checks_file}: file not found")
    values = {"assignment": assignment.id, "version": __version__, "timeout": f"{timeout:g}"}
    with tempfile.TemporaryDirectory() as staging:
        root = Path(staging)
        (root / "setup.sh").write_text(fill("gradescope-setup.sh", **values))
        (root / "run_autograder").write_text(fill("gradescope-run_autograder", **values))
        (root / "README.md").write_text(fill("gradescope-README.md", **values))
        shutil.copytree(assignment.folder, root / "assignments" / assignment.id,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        prepare_sources(assignment.reference, root / "reference" / assignment.id, assignment,
                        None, None)
        all_wheels(root / "wheels", pythons)
        partial = out.with_name(f".{out.name}.partial")
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(root.rglob("*")):
                if path.is_file():  # files at the zip's root, never under a folder
                    _add(archive, path, path.relative_to(root).as_posix())
        partial.replace(out)
    return out


def _add(archive: zipfile.ZipFile, path: Path, name: str) -> None:
    """Add a file with a fixed date (the same sources give the same zip) and its mode:
    the scripts executable, as Gradescope runs run_autograder directly."""
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    mode = 0o755 if name in EXECUTABLE else 0o644
    info.external_attr = (stat.S_IFREG | mode) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, path.read_bytes())
