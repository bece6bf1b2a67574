"""The grader as wheels: its own, built from the source tree, and its dependencies' for the
Pythons a platform runs, so that a package installs with no network (`pip install --no-index
--find-links wheels ipc-grader`).

Wheels come from the package index, with the wheel cache that docker/build-image.sh keeps
($WHEEL_CACHE, default /var/cache/ipc-grader/wheels) as extra links; when the index does not
answer, from the cache alone. Versions are the grading image's pins (docker/constraints.txt):
every platform grades with the libraries the image grades with.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from grader.package import PackageError

SOURCE = Path(__file__).resolve().parents[2]
"""The source tree the grader is built from: pyproject.toml, README.md, grader/."""

PYTHONS = ("3.11", "3.12")
"""Pythons whose dependency wheels a package carries by default: Debian 12's python3, the
python3.11 package of Ubuntu 22.04 (whose python3 is 3.10, too old) and Ubuntu 24.04's
python3 (3.12). The grader needs 3.11 or later."""

SOURCE_DATE_EPOCH = "315532800"  # the same sources give the same wheel, byte for byte


def wheel_cache() -> Path:
    return Path(os.environ.get("WHEEL_CACHE", "/var/cache/ipc-grader/wheels"))


def _pip(args: list[str], env: dict[str, str] | None = None) -> None:
    """pip with the index (the cache as extra links), then with the cache alone."""
    cache = wheel_cache()
    links = ["--find-links", str(cache)] if cache.is_dir() else []
    attempts = [links, ["--no-index", *links]] if links else [[]]
    for extra in attempts:
        done = subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check",
                               "-q", *args, *extra], capture_output=True, text=True,
                              env=env, check=False)
        if done.returncode == 0:
            return
    tail = "\n".join(done.stderr.strip().splitlines()[-5:])
    raise PackageError(f"pip {args[0]} failed (with the index, then with the wheel cache "
                       f"{cache}):\n{tail}")


def grader_wheel(dest: Path) -> Path:
    """Build the grader's wheel from the source tree into `dest`."""
    if not (SOURCE / "pyproject.toml").is_file():
        raise PackageError(f"{SOURCE}: no pyproject.toml: packages are made from the grader's "
                           f"source tree (a checkout of the repository)")
    with tempfile.TemporaryDirectory() as staging:
        for name in ("pyproject.toml", "README.md", "LICENSE"):
            if (SOURCE / name).is_file():
                shutil.copy(SOURCE / name, staging)
        shutil.copytree(SOURCE / "grader", Path(staging) / "grader",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        _pip(["wheel", "--no-deps", "-w", str(dest), staging],
             env={**os.environ, "SOURCE_DATE_EPOCH": SOURCE_DATE_EPOCH})
    wheels = sorted(dest.glob("ipc_grader-*.whl"))
    if len(wheels) != 1:
        raise PackageError(f"{dest}: expected one ipc_grader wheel, found {len(wheels)}")
    return wheels[0]


def dependency_wheels(wheel: Path, dest: Path, pythons: tuple[str, ...] = PYTHONS) -> None:
    """Download into `dest` the wheels of `wheel`'s dependencies, for CPython `pythons` on
    Linux of this machine's architecture (manylinux: glibc 2.17 or later)."""
    machine = platform.machine()
    platforms = [arg for tag in ("manylinux_2_28", "manylinux_2_17", "manylinux2014")
                 for arg in ("--platform", f"{tag}_{machine}")]
    constraints = SOURCE / "docker" / "constraints.txt"
    pins = ["-c", str(constraints)] if constraints.is_file() else []
    for version in pythons:
        abi = "cp" + version.replace(".", "")
        _pip(["download", "-d", str(dest), "--only-binary=:all:", "--implementation", "cp",
              "--python-version", version, "--abi", abi, *platforms, *pins, str(wheel)])


def all_wheels(dest: Path, pythons: tuple[str, ...] = PYTHONS, pip: bool = False) -> Path:
    """The grader's wheel and its dependencies' in `dest` (and pip's, which runs from its
    wheel: a venv made --without-pip, as Debian's python3 without python3-venv can, needs no
    ensurepip); returns the grader's."""
    dest.mkdir(parents=True, exist_ok=True)
    wheel = grader_wheel(dest)
    dependency_wheels(wheel, dest, pythons)
    if pip:
        _pip(["download", "--no-deps", "--only-binary=:all:", "-d", str(dest), "pip"])
    return wheel
