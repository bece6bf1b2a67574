"""An assignment: its rubric, programs, build rule and limits, loaded from assignment.yaml.

The YAML file is written by instructors, so every mistake in it is reported as one line that
names the file, the key and what is wrong; nothing here raises a bare KeyError.
"""

from __future__ import annotations

import ast
import os
import re
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(os.environ.get("GRADER_ROOT", Path(__file__).resolve().parents[1]))
"""Where assignments/ and reference/ live: the source tree, or GRADER_ROOT in the image."""

TOTAL_POINTS = 100


class AssignmentError(Exception):
    """A broken or unknown assignment; its message is one line meant for the instructor."""


@dataclass(frozen=True)
class Limits:
    """Resource limits for student code. Per process unless the name says otherwise."""

    check_seconds: float = 10.0   # wall clock for one check, all its processes together
    build_seconds: float = 60.0   # wall clock for the whole build
    cpu_seconds: int = 5
    memory_mib: int = 256         # address space
    processes: int = 64           # processes and threads of the student user
    output_kib: int = 256         # stdout and stderr kept per process; the rest is discarded
    open_files: int = 256
    file_mib: int = 64            # largest file a student process may write
    disk_mib: int = 64            # each folder student code may write (its build folder, the
    #                               checks' folders, /tmp) is a disk of this size (grader/jail.py)


@dataclass(frozen=True)
class CheckSpec:
    """One rubric line: the check `test_<id>` in checks.py is worth `points`.

    `seconds` is its own wall-clock budget (default: the assignment's check_seconds), shared
    by its cases. A `concurrent` check runs beside the others, in a process of its own: a
    check that must wait long (a peer that never comes) then adds nothing to the grading.

    A hidden check whose test checks.py does not define is `deferred`: graded after
    submission, where the whole checks.py is (a student kit ships its checks.py without the
    hidden tests, `grade package student`). It is listed with its points and never run.

    `requires` names the checks that must pass before this one runs, in check50's spirit: a
    gate ("the data travels through the assignment's mechanism") that a cheat or a program
    that never sets up its channel fails at once, so the checks that need it are not run
    and earn nothing, and the grading does not wait out their deadlines."""

    id: str
    title: str
    points: float
    hidden: bool = False
    seconds: float | None = None
    concurrent: bool = False
    deferred: bool = False
    requires: tuple[str, ...] = ()

    def budget(self, limits: Limits) -> float:
        return self.seconds or limits.check_seconds


@dataclass(frozen=True)
class Assignment:
    id: str
    slug: str
    title: str
    programs: tuple[str, ...]
    build: str | None        # a shell command; None means `make` or the default compile rule
    limits: Limits
    checks: tuple[CheckSpec, ...]
    folder: Path
    aliases: tuple[str, ...] = ()  # more names for `grade NAME` ("miniserv")

    @property
    def handout(self) -> Path:
        return self.folder / "README.md"

    @property
    def checks_file(self) -> Path:
        return self.folder / "checks.py"

    @property
    def reference(self) -> Path:
        """reference/<id>/ beside the assignments/ folder this assignment was loaded from."""
        return self.folder.parent.parent / "reference" / self.id

    def check(self, check_id: str) -> CheckSpec:
        return next(c for c in self.checks if c.id == check_id)

    def select(self, only: frozenset[str] | None) -> tuple[CheckSpec, ...]:
        """The checks named in `only` (all when None), in rubric order. Raises
        AssignmentError for a name that is not a check of this assignment."""
        if only is None:
            return self.checks
        if unknown := sorted(only - {c.id for c in self.checks}):
            raise AssignmentError(f"{self.id} has no check {unknown[0]!r}; its checks: "
                                  f"{', '.join(c.id for c in self.checks)}")
        return tuple(c for c in self.checks if c.id in only)

    def in_running_order(self, ids: list[str]) -> list[str]:
        """`ids` in rubric order, but every check after the checks it requires: gates first."""
        order = {c.id: i for i, c in enumerate(self.checks)}
        placed: list[str] = []

        def place(ident: str) -> None:
            if ident in placed or ident not in ids:
                return
            for needed in sorted(self.check(ident).requires, key=order.__getitem__):
                place(needed)
            placed.append(ident)

        for ident in sorted(ids, key=order.__getitem__):
            place(ident)
        return placed


_ID = re.compile(r"^[a-z][a-z0-9_]*$")
_PROGRAM = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


class _Reader:
    """Reads one YAML mapping, remembering the file for error messages."""

    def __init__(self, path: Path):
        self.path = path

    def fail(self, key: str, problem: str) -> AssignmentError:
        return AssignmentError(f"{self.path}: {key}: {problem}")

    def get(self, data: dict, key: str, kind: type | tuple, where: str = "", default: Any = ...):
        name = f"{where}{key}"
        if key not in data:
            if default is ...:
                raise self.fail(name, "missing (required)")
            return default
        value = data[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            kinds = kind if isinstance(kind, tuple) else (kind,)
            expected = "/".join(k.__name__ for k in kinds)
            raise self.fail(name, f"must be {expected}, got {value!r}")
        return value


def load_assignment(folder: Path) -> Assignment:
    """Load and validate `folder/assignment.yaml`."""
    path = folder / "assignment.yaml"
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise AssignmentError(f"{path}: file not found") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "?"
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise AssignmentError(f"{path}: {where}: invalid YAML: {problem}") from None
    r = _Reader(path)
    if not isinstance(data, dict):
        raise r.fail("(top level)", "must be a mapping of keys like id, title, checks")
    known = {"id", "slug", "aliases", "title", "programs", "build", "limits", "checks"}
    if unknown := sorted(set(data) - known):
        raise r.fail(unknown[0], f"unknown key (expected one of {', '.join(sorted(known))})")

    ident = r.get(data, "id", str)
    if ident != folder.name:
        raise r.fail("id", f"is {ident!r} but the folder is {folder.name!r}: they must match")
    programs = _names(r, r.get(data, "programs", list), "programs")
    return Assignment(
        id=ident,
        slug=r.get(data, "slug", str),
        title=r.get(data, "title", str),
        programs=tuple(programs),
        build=r.get(data, "build", str, default=None),
        limits=_limits(r, r.get(data, "limits", dict, default={})),
        checks=_defer(_checks(r, r.get(data, "checks", list)), folder / "checks.py"),
        folder=folder,
        aliases=tuple(_names(r, r.get(data, "aliases", list, default=[]), "aliases")),
    )


def _names(r: _Reader, data: list, key: str) -> list[str]:
    for i, name in enumerate(data):
        if not isinstance(name, str) or not _PROGRAM.match(name):
            raise r.fail(f"{key}[{i}]", f"must be a plain name, got {name!r}")
    return data


def _limits(r: _Reader, data: dict) -> Limits:
    names = {f.name: f for f in fields(Limits)}
    values = {}
    for key, _value in data.items():
        if key not in names:
            raise r.fail(f"limits.{key}", f"unknown limit (expected one of {', '.join(names)})")
        kind = float if names[key].type == "float" else int
        number = r.get(data, key, kind, where="limits.")
        if number <= 0:
            raise r.fail(f"limits.{key}", f"must be positive, got {number}")
        values[key] = number
    return Limits(**values)


def _checks(r: _Reader, data: list) -> tuple[CheckSpec, ...]:
    checks: list[CheckSpec] = []
    for i, entry in enumerate(data):
        where = f"checks[{i}]."
        if not isinstance(entry, dict):
            raise r.fail(f"checks[{i}]", "must be a mapping with id, title, points")
        keys = ("id", "title", "points", "hidden", "seconds", "concurrent", "requires")
        if unknown := sorted(set(entry) - set(keys)):
            raise r.fail(f"{where}{unknown[0]}", f"unknown key (expected {', '.join(keys)})")
        ident = r.get(entry, "id", str, where)
        if not _ID.match(ident):
            raise r.fail(f"{where}id", f"{ident!r} must be snake_case (it names test_{ident})")
        if any(c.id == ident for c in checks):
            raise r.fail(f"{where}id", f"{ident!r} appears twice")
        points = r.get(entry, "points", float, where)
        if points <= 0:
            raise r.fail(f"{where}points", f"must be positive, got {points}")
        seconds = r.get(entry, "seconds", float, where, default=None)
        if seconds is not None and seconds <= 0:
            raise r.fail(f"{where}seconds", f"must be positive, got {seconds}")
        requires = r.get(entry, "requires", list, where, default=[])
        checks.append(CheckSpec(ident, r.get(entry, "title", str, where), points,
                                r.get(entry, "hidden", bool, where, default=False), seconds,
                                r.get(entry, "concurrent", bool, where, default=False),
                                requires=tuple(requires)))
    total = sum(c.points for c in checks)
    if abs(total - TOTAL_POINTS) > 1e-9:
        raise r.fail("checks", f"points add up to {total:g}, they must add up to {TOTAL_POINTS}")
    _check_requirements(r, checks)
    return tuple(checks)


def _check_requirements(r: _Reader, checks: list[CheckSpec]) -> None:
    """Every required check exists, runs in the grading's own process (not concurrent: its
    verdict must be known before the checks that need it start), and no check needs itself,
    directly or not."""
    known = {c.id: c for c in checks}
    for i, check in enumerate(checks):
        where = f"checks[{i}].requires"
        for needed in check.requires:
            if needed not in known:
                raise r.fail(where, f"{needed!r} is not a check of this assignment")
            if known[needed].concurrent:
                raise r.fail(where, f"{needed!r} is concurrent: a required check must run "
                                    f"before the checks that need it")
        seen, todo = set(), list(check.requires)
        while todo:
            needed = todo.pop()
            if needed == check.id:
                through = f" (through {', '.join(sorted(seen))})" if seen else ""
                raise r.fail(where, f"{check.id!r} requires itself{through}")
            if needed not in seen:
                seen.add(needed)
                todo.extend(known[needed].requires)


def module_names(tree: ast.Module) -> dict[str, ast.stmt]:
    """The names a module binds at its top level (functions, classes, assignments, imports),
    each with the statement that binds it: what checks.py defines, read without running it."""
    names: dict[str, ast.stmt] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names[node.name] = node
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update({(a.asname or a.name).split(".")[0]: node for a in node.names})
        else:
            targets = node.targets if isinstance(node, ast.Assign) else \
                [node.target] if isinstance(node, ast.AnnAssign | ast.AugAssign) else []
            for target in targets:
                names.update({n.id: node for n in ast.walk(target) if isinstance(n, ast.Name)})
    return names


def _defer(checks: tuple[CheckSpec, ...], checks_file: Path) -> tuple[CheckSpec, ...]:
    """Mark the hidden checks that checks.py has no test for as deferred (see CheckSpec)."""
    try:
        defined = module_names(ast.parse(checks_file.read_text()))
    except (OSError, SyntaxError, ValueError):
        return checks  # no readable checks.py: the grading run says so
    return tuple(replace(c, deferred=c.hidden and f"test_{c.id}" not in defined)
                 for c in checks)


def all_assignments(root: Path | None = None) -> list[Assignment]:
    """Every assignment under ROOT/assignments (or `root`/assignments), in id order."""
    folders = sorted(((root or ROOT) / "assignments").glob("*/assignment.yaml"))
    return [load_assignment(f.parent) for f in folders]


def find_assignment(name: str, root: Path | None = None) -> Assignment:
    """Find an assignment by id (`assignment3`), slug (`shm`) or alias (`miniserv`), in ROOT
    (or in another tree holding assignments/, such as a platform's job folder)."""
    folder = (root or ROOT) / "assignments" / name
    if (folder / "assignment.yaml").is_file():
        return load_assignment(folder)
    assignments = all_assignments(root)  # a broken one is reported, with its file and key
    for assignment in assignments:
        if name == assignment.slug or name in assignment.aliases:
            return assignment
    known = ", ".join(f"{a.id} ({a.slug})" for a in assignments)
    raise AssignmentError(f"unknown assignment {name!r}; known: {known}")
