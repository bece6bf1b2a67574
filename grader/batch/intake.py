"""The intake: INPUT (a folder of submissions, or an archive of them) to one Intake per
submission: whose it is, and either its clean sources in OUTDIR/sources/<key>/ or the
verdict that refuses it.

The top level of INPUT is read like an LMS export (see identity.py): each folder or archive
is a submission; loose files are grouped by the identity their names carry (Canvas and
Moodle's flat exports: one file per upload, the student in the prefix). An archive of the
whole class is unpacked first (with the class's caps); an entry of it that breaks a rule
refuses only the submission it belongs to. A single folder wrapping everything is entered.
"""

from __future__ import annotations

import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path

from grader.batch.identity import (
    GRADESCOPE_METADATA,
    Identity,
    Roster,
    classroom_prefix,
    from_name,
    gradescope_metadata,
    safe_key,
)
from grader.batch.unpack import (
    CLASS_CAPS,
    SUBMISSION_CAPS,
    Budget,
    Caps,
    Entry,
    Refused,
    Unsafe,
    content_hash,
    is_archive,
    is_junk,
    place,
    prepare,
    raw_hash,
    unpack,
)


class IntakeError(Exception):
    """INPUT as a whole cannot be read (a corrupt class archive, one submission's folder):
    one line for the instructor."""


@dataclass
class Intake:
    """One submission, before grading."""

    key: str                          # OUTDIR's name for it (unique, file-name safe)
    identity: Identity
    members: list[Identity]           # everyone it is graded for (Gradescope groups)
    sources: list[str]                # its names in INPUT
    folder: Path | None = None        # the clean sources, when accepted
    status: str = "ok"                # ok | unsafe | too_large | corrupt | empty | no_sources
    verdict: str = ""
    notes: list[str] = field(default_factory=list)
    content_hash: str = ""

    @property
    def accepted(self) -> bool:
        return self.status == "ok"


@dataclass
class _Group:
    identity: Identity
    members: list[Identity]
    paths: list[tuple[Path, str | None]]  # (path, name in the submission for a loose file)


def read_input(source: Path, work: Path, sources_dir: Path, *, programs: tuple[str, ...] = (),
               roster: Roster | None = None, caps: Caps = SUBMISSION_CAPS,
               class_caps: Caps = CLASS_CAPS) -> list[Intake]:
    """Every submission of INPUT `source`, unpacked into `sources_dir`/<key>/ (replacing
    what was there), staged in `work` (removed after)."""
    if not source.exists():
        raise IntakeError(f"{source}: no such file or folder")
    work.mkdir(parents=True, exist_ok=True)
    refusals: dict[str, Refused] = {}
    if source.is_dir():
        root = source
    else:
        root = work / "class"
        try:
            unpack(source, root, Budget(class_caps), refusals)
        except Refused as error:
            raise IntakeError(f"{source}: {error}") from None
    root, prefix = _enter(root)
    groups = _groups(root, roster)
    intakes = []
    used: set[str] = set()
    sources_dir.mkdir(parents=True, exist_ok=True)
    for number, group in enumerate(groups):
        key = _unique(safe_key(group.identity.key), used)
        names = [f"{prefix}{p.name}" for p, _ in group.paths]
        intake = Intake(key, group.identity, group.members, names)
        refused = next((refusal for name in names for entry, refusal in refusals.items()
                        if entry == name or entry.startswith(f"{name}/")), None)
        try:
            if refused is not None:
                raise refused
            staged = work / f"s{number}"
            budget = Budget(caps)
            for path, file_name in group.paths:
                if file_name is None and (path.is_dir() or is_archive(path)):
                    unpack(path, staged, budget)
                else:  # one file of a flat export, under its own name
                    unpack_file(path, staged / (file_name or path.name), budget)
            unpacked = prepare(staged, budget, programs)
            intake.notes = unpacked.notes
            intake.content_hash = content_hash(unpacked.folder)
            final = sources_dir / key
            if final.exists() or final.is_symlink():
                shutil.rmtree(final) if final.is_dir() and not final.is_symlink() \
                    else final.unlink()
            shutil.move(str(unpacked.folder), final)
            intake.folder = final
        except Refused as refusal:
            intake.status, intake.verdict = refusal.status, str(refusal)
            intake.content_hash = _hash_all(p for p, _ in group.paths)
        intakes.append(intake)
    shutil.rmtree(work, ignore_errors=True)
    return intakes


def unpack_file(path: Path, target: Path, budget: Budget) -> None:
    """One loose file of a flat export into the submission, by the rules of any entry."""
    info = path.lstat()
    if not stat.S_ISREG(info.st_mode):
        kind = "a symbolic link" if stat.S_ISLNK(info.st_mode) else "not a regular file"
        raise Unsafe(f"'{path.name}' is {kind}")
    if info.st_nlink > 1:
        raise Unsafe(f"'{path.name}' is a hard link to another file")
    entry = Entry(target.name, "file", info.st_size, executable=bool(info.st_mode & 0o100),
                  open=lambda: open(path, "rb"))  # noqa: SIM115
    target.parent.mkdir(parents=True, exist_ok=True)
    place(entry, target.parent, budget, (target.name,))


def _hash_all(paths) -> str:
    return "+".join(raw_hash(p)[:32] for p in paths)


def _unique(key: str, used: set[str]) -> str:
    candidate, n = key, 1
    while candidate.lower() in used:
        n += 1
        candidate = f"{key}-{n}"
    used.add(candidate.lower())
    return candidate


def _visible(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if not is_junk((p.name,)))


def _enter(root: Path) -> tuple[Path, str]:
    """Enter folders that wrap everything ("export/"): the folder that holds the
    submissions, and the path prefix of their names in the class archive."""
    prefix = ""
    while True:
        inside = _visible(root)
        if len(inside) != 1 or not inside[0].is_dir() or inside[0].is_symlink() or \
                (root / GRADESCOPE_METADATA).exists() or \
                from_name(inside[0].name).identity.pattern != "name":
            return root, prefix  # (a class of one named submission is still a class)
        root = inside[0]
        prefix += f"{root.name}/"


def _groups(root: Path, roster: Roster | None) -> list[_Group]:
    """The submissions at the top of `root`, with their identities."""
    metadata = gradescope_metadata(root)
    inside = [p for p in _visible(root) if p.name != GRADESCOPE_METADATA]
    if not inside:
        raise IntakeError(f"{root}: no submissions in it")
    named = {p.name: from_name(p.name) for p in inside}
    loose_sources = [p.name for p in inside if p.is_file() and not is_archive(p)
                     and named[p.name].identity.pattern == "name"
                     and (p.suffix in (".c", ".h") or p.name == "Makefile")]
    if loose_sources:
        raise IntakeError(f"{root}: it looks like one submission ({loose_sources[0]} at its "
                          f"top), not a folder of submissions: grade it with "
                          f"`grade ASSIGNMENT FOLDER`, or give the folder that holds it")
    whole = [p.name for p in inside if p.is_dir() or is_archive(p)]
    prefix = ""
    if not metadata and all(named[n].identity.pattern == "name" for n in named):
        prefix = classroom_prefix(whole)
    groups: dict[str, _Group] = {}
    for path in inside:
        entry = named[path.name]
        identity = entry.identity
        members = [identity]
        if path.name in metadata:
            members = metadata[path.name]
            identity = members[0]
        elif prefix and path.name.startswith(prefix):
            identity.key = identity.key[len(prefix):]
            identity.pattern = "classroom"
            identity.sis_login_id = identity.key
        loose = path.is_file() and not is_archive(path) and entry.file_name is not None
        if roster is not None:
            members = [roster.complete(m) for m in members]
            identity = members[0]
        group_key = identity.key.lower() if identity.pattern in ("canvas", "moodle") \
            else f"{path.name}\0"
        group = groups.setdefault(group_key, _Group(identity, members, []))
        group.identity.late = group.identity.late or identity.late
        group.paths.append((path, entry.file_name if loose else None))
    return sorted(groups.values(), key=lambda g: g.identity.key.lower())
