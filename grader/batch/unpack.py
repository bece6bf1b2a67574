"""Safe unpacking: an instructor's input in, one clean folder per submission out, or a named
verdict for the submission that cannot be unpacked safely, and the batch goes on.

Every way in (a folder copied, a .zip, a .tar/.tar.gz/.tgz/.tar.bz2/.tar.xz) is read as one
stream of entries, and one function (`place`) applies every rule to each entry:
  - no path outside the submission's folder: "../", absolute paths, drive letters and
    backslash tricks refuse the submission (zip slip);
  - a symbolic link must point inside the submission; a hard link must name a file already
    unpacked inside it (it becomes a copy);
  - device files, FIFOs and sockets are refused;
  - caps on the number of files, the total size, one file's size, and the compression ratio
    of an entry (zip bombs), counted on the bytes really written, not on what headers claim;
  - an unreadable archive is "corrupt", an encrypted one says so.
A refusal is an exception naming its status ("unsafe", "too_large", "corrupt") and the entry.

Then, inside a submission: archives in it are unpacked in place (a Moodle folder holding
hw1.zip; depth-limited, sharing the submission's caps); junk (__MACOSX, .DS_Store) and
shipped binaries (ELF, Mach-O, PE, objects, libraries) are removed and named; when the top
folder has no C sources, the sources in a subfolder are found and graded from there, and
the note says so; no files at all is "empty", files but no C sources is "no_sources".
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import lzma
import os
import shutil
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from grader.batch.identity import ARCHIVE_SUFFIXES, strip_archive_suffix

MiB = 1 << 20
CHUNK = 1 << 16


@dataclass(frozen=True)
class Caps:
    """What one unpacking may produce."""

    files: int = 2000
    total_bytes: int = 64 * MiB
    file_bytes: int = 16 * MiB
    ratio: float = 100.0          # uncompressed / compressed, for entries above ratio_floor
    ratio_floor: int = 1 * MiB
    depth: int = 3                # archives within archives


SUBMISSION_CAPS = Caps()
CLASS_CAPS = Caps(files=500_000, total_bytes=8 << 30, file_bytes=512 * MiB, ratio=100.0)


class Refused(Exception):
    """The submission cannot be unpacked safely; str() says why, for the student too."""

    status = "refused"


class Unsafe(Refused):
    status = "unsafe"


class TooLarge(Refused):
    status = "too_large"


class Corrupt(Refused):
    status = "corrupt"


class Empty(Refused):
    status = "empty"


class NoSources(Refused):
    status = "no_sources"


# ---- entries: one stream, whatever the container --------------------------------------------

@dataclass
class Entry:
    name: str                 # the path as stored (untrusted)
    kind: str                 # file | dir | symlink | hardlink | device | fifo | other
    size: int = 0             # declared size (a header may lie: writing counts again)
    packed: int | None = None  # compressed size, when the container says
    target: str = ""          # a link's target
    executable: bool = False
    open: Callable[[], BinaryIO] | None = None


def is_archive(path: Path) -> bool:
    return path.is_file() and path.name.lower().endswith(ARCHIVE_SUFFIXES)


def entries(path: Path) -> Iterator[Entry]:
    """The entries of a folder (links not followed) or of an archive (by its content)."""
    if path.is_dir() and not path.is_symlink():
        yield from _folder_entries(path)
        return
    with open(path, "rb") as handle:
        magic = handle.read(4)
    if magic[:2] == b"PK":
        yield from _zip_entries(path)
    else:
        yield from _tar_entries(path)


def _folder_entries(root: Path) -> Iterator[Entry]:
    inodes: dict[tuple[int, int], int] = {}
    found = []
    for parent, dirs, files in os.walk(root):
        dirs.sort()
        for name in [*dirs, *sorted(files)]:
            path = Path(parent, name)
            info = path.lstat()
            found.append((path, info))
            if stat.S_ISREG(info.st_mode):
                inodes[info.st_dev, info.st_ino] = inodes.get((info.st_dev, info.st_ino), 0) + 1
    for path, info in found:
        rel = path.relative_to(root).as_posix()
        mode = info.st_mode
        if stat.S_ISDIR(mode):
            yield Entry(rel, "dir")
        elif stat.S_ISLNK(mode):
            yield Entry(rel, "symlink", target=os.readlink(path))
        elif stat.S_ISREG(mode):
            if info.st_nlink > inodes[info.st_dev, info.st_ino]:
                raise Unsafe(f"'{rel}' is a hard link to a file outside the submission")
            yield Entry(rel, "file", info.st_size, executable=bool(mode & stat.S_IXUSR),
                        open=lambda path=path: open(path, "rb"))  # noqa: SIM115
        elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            yield Entry(rel, "device")
        elif stat.S_ISFIFO(mode):
            yield Entry(rel, "fifo")
        else:
            yield Entry(rel, "other")


def _zip_entries(path: Path) -> Iterator[Entry]:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise Corrupt(f"{path.name}: not a readable zip archive ({error})") from None
    with archive:
        for info in archive.infolist():
            mode = info.external_attr >> 16 if info.create_system == 3 else 0
            if info.flag_bits & 0x1:
                raise Corrupt(f"{path.name}: '{info.filename}' is encrypted (a password "
                              f"protected archive cannot be graded)")
            if stat.S_ISLNK(mode):
                target = archive.read(info)[:4096].decode("utf-8", "replace")
                yield Entry(info.filename, "symlink", target=target)
            elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
                yield Entry(info.filename, "device")
            elif stat.S_ISFIFO(mode):
                yield Entry(info.filename, "fifo")
            elif stat.S_ISSOCK(mode):
                yield Entry(info.filename, "other")
            elif info.is_dir():
                yield Entry(info.filename, "dir")
            else:
                yield Entry(info.filename, "file", info.file_size, info.compress_size,
                            executable=bool(mode & stat.S_IXUSR),
                            open=lambda info=info: archive.open(info))


def _tar_entries(path: Path) -> Iterator[Entry]:
    try:
        archive = tarfile.open(path, "r:*")  # noqa: SIM115 (closed below, after the stream)
    except (tarfile.TarError, OSError, EOFError, zlib.error, lzma.LZMAError) as error:
        raise Corrupt(f"{path.name}: not a readable zip or tar archive ({error})") from None
    with archive:
        for member in archive:  # streamed: each is extracted before the next is read
            if member.isdir():
                yield Entry(member.name, "dir")
            elif member.issym():
                yield Entry(member.name, "symlink", target=member.linkname)
            elif member.islnk():
                yield Entry(member.name, "hardlink", target=member.linkname)
            elif member.ischr() or member.isblk():
                yield Entry(member.name, "device")
            elif member.isfifo():
                yield Entry(member.name, "fifo")
            elif member.isfile():
                yield Entry(member.name, "file", member.size,
                            executable=bool(member.mode & stat.S_IXUSR),
                            open=lambda member=member: archive.extractfile(member))
            else:
                yield Entry(member.name, "other")


# ---- placing entries, every rule in one place -----------------------------------------------

JUNK = {"__MACOSX", ".DS_Store", "Thumbs.db", "desktop.ini"}


@dataclass
class Budget:
    """What one submission (or the class archive) has used of its caps, nested archives
    included."""

    caps: Caps
    files: int = 0
    bytes: int = 0

    def add_file(self, name: str) -> None:
        self.files += 1
        if self.files > self.caps.files:
            raise TooLarge(f"more than {self.caps.files} files (at '{name}')")

    def add_bytes(self, count: int, name: str, so_far: int) -> None:
        self.bytes += count
        if so_far > self.caps.file_bytes:
            raise TooLarge(f"'{name}' is larger than {_size(self.caps.file_bytes)}")
        if self.bytes > self.caps.total_bytes:
            raise TooLarge(f"more than {_size(self.caps.total_bytes)} in all (at '{name}')")


def _size(count: int) -> str:
    return f"{count / MiB:g} MiB" if count >= MiB else f"{count} bytes"


def safe_parts(name: str) -> tuple[str, ...]:
    """The components of an entry's path, or Unsafe when it leaves the folder it is
    unpacked in (absolute, a drive letter, "..", NUL). "" and "." parts are dropped."""
    shown = name.replace("\0", "\\0")
    if "\0" in name:
        raise Unsafe(f"'{shown}': a NUL byte in a file name")
    unified = name.replace("\\", "/")
    if unified.startswith("/") or (len(unified) > 1 and unified[1] == ":"):
        raise Unsafe(f"'{shown}' is an absolute path: it would be written outside the "
                     f"submission's folder")
    parts = tuple(p for p in unified.split("/") if p not in ("", "."))
    if ".." in parts:
        raise Unsafe(f"'{shown}' climbs out of the submission's folder (zip slip)")
    return parts


def is_junk(parts: tuple[str, ...]) -> bool:
    return any(p in JUNK or p.startswith("._") for p in parts)


def _inside(path: Path, root: Path) -> bool:
    real, top = os.path.realpath(path), os.path.realpath(root)
    return real == top or real.startswith(top + os.sep)


def place(entry: Entry, dest: Path, budget: Budget, parts: tuple[str, ...]) -> None:
    """Write one entry below `dest`, or raise why it may not be."""
    rel = "/".join(parts)
    target = dest.joinpath(*parts)
    if not _inside(target.parent, dest):
        raise Unsafe(f"'{rel}' would be written through a link, outside the submission")
    if entry.kind == "dir":
        target.mkdir(parents=True, exist_ok=True)
        return
    if entry.kind in ("device", "fifo", "other"):
        what = {"device": "a device file", "fifo": "a FIFO (named pipe)",
                "other": "a socket or special file"}[entry.kind]
        raise Unsafe(f"'{rel}' is {what}: only files, folders and links are accepted")
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.is_symlink() or target.exists():
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        else:
            target.unlink()
    if entry.kind == "symlink":
        link = entry.target.replace("\\", "/")
        resolved = os.path.normpath(os.path.join(os.path.dirname(rel), link))
        if link.startswith("/") or resolved == ".." or resolved.startswith("../"):
            raise Unsafe(f"'{rel}' is a symbolic link out of the submission (-> {link})")
        os.symlink(link, target)
        return
    if entry.kind == "hardlink":
        try:
            source = dest.joinpath(*safe_parts(entry.target))
        except Unsafe:
            source = dest / ".."  # refused just below, as a link out
        if not (_inside(source, dest) and source.is_file() and not source.is_symlink()):
            raise Unsafe(f"'{rel}' is a hard link out of the submission (-> {entry.target})")
        budget.add_file(rel)
        budget.add_bytes(source.stat().st_size, rel, source.stat().st_size)
        shutil.copyfile(source, target)
        return
    budget.add_file(rel)
    caps = budget.caps
    if entry.packed is not None and entry.size > caps.ratio_floor and \
            entry.size > caps.ratio * max(entry.packed, 1):
        raise TooLarge(f"'{rel}' expands {entry.size / max(entry.packed, 1):.0f} times "
                       f"(to {_size(entry.size)}): a zip bomb")
    if entry.size > caps.file_bytes:
        raise TooLarge(f"'{rel}' is {_size(entry.size)}, more than {_size(caps.file_bytes)}")
    written = 0
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
                 0o755 if entry.executable else 0o644)
    with os.fdopen(fd, "wb") as out, entry.open() as source:
        while chunk := source.read(CHUNK):
            written += len(chunk)
            budget.add_bytes(len(chunk), rel, written)
            if entry.packed is not None and written > caps.ratio_floor and \
                    written > caps.ratio * max(entry.packed, 1):
                raise TooLarge(f"'{rel}' expands more than {caps.ratio:g} times: a zip bomb")
            out.write(chunk)


CORRUPTION = (tarfile.TarError, zipfile.BadZipFile, zlib.error, EOFError, gzip.BadGzipFile,
              lzma.LZMAError, NotImplementedError)


def unpack(source: Path, dest: Path, budget: Budget,
           refusals: dict[str, Refused] | None = None) -> None:
    """Unpack a folder or an archive into `dest` (made), every rule applied.

    Without `refusals`, the first refusal raises. With it (the class archive), an entry
    refused is skipped and its refusal kept under the entry's path, so the submission it
    belongs to can be refused by name while the others go on."""
    dest.mkdir(parents=True, exist_ok=True)
    try:
        for entry in entries(source):
            try:
                parts = safe_parts(entry.name)
                if not parts or is_junk(parts):
                    continue
                place(entry, dest, budget, parts)
            except (Unsafe, TooLarge) as refusal:
                if refusals is None or (isinstance(refusal, TooLarge)
                                        and budget.bytes > budget.caps.total_bytes):
                    raise
                refusals.setdefault(entry.name.replace("\\", "/").lstrip("/"), refusal)
    except CORRUPTION as error:
        raise Corrupt(f"{source.name}: corrupt archive ({type(error).__name__}: "
                      f"{error})") from None
    except RuntimeError as error:  # zipfile: encrypted, or a bad password
        raise Corrupt(f"{source.name}: cannot read ({error})") from None


# ---- one submission ---------------------------------------------------------------------------

BINARY_SUFFIXES = {".o", ".a", ".so", ".dylib", ".out", ".exe", ".obj", ".dll", ".gch", ".pch"}
BINARY_MAGIC = (b"\x7fELF", b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe",
                b"\xcf\xfa\xed\xfe", b"\xca\xfe\xba\xbe", b"MZ", b"!<ar")
SOURCE_SUFFIXES = {".c", ".h"}
MAKEFILES = {"Makefile", "makefile", "GNUmakefile"}


@dataclass
class Unpacked:
    folder: Path
    notes: list[str] = field(default_factory=list)


def unpack_nested(folder: Path, budget: Budget, notes: list[str]) -> None:
    """Unpack every archive inside `folder` in place (a folder named after it), up to the
    caps' depth; each archive file is then removed."""
    for depth in range(budget.caps.depth):
        archives = sorted(p for p in folder.rglob("*") if not p.is_symlink() and is_archive(p))
        if not archives:
            return
        for archive in archives:
            name = strip_archive_suffix(archive.name) or "archive"
            target = archive.with_name(name)
            if target.exists():
                target = archive.with_name(f"{name}-unpacked")
            unpack(archive, target, budget)
            archive.unlink()
            notes.append(f"unpacked {archive.relative_to(folder).as_posix()}")
        if depth == budget.caps.depth - 1 and any(is_archive(p) for p in folder.rglob("*")):
            raise TooLarge(f"archives nested more than {budget.caps.depth} deep")


def remove_binaries(folder: Path) -> list[str]:
    """Remove compiled programs, objects and libraries the student shipped (the build
    makes its own); returns their paths."""
    removed = []
    for path in sorted(folder.rglob("*")):
        if path.is_symlink() or not path.is_file():
            continue
        with open(path, "rb") as handle:
            head = handle.read(4)
        if path.suffix.lower() in BINARY_SUFFIXES or head.startswith(BINARY_MAGIC):
            if path.suffix.lower() in SOURCE_SUFFIXES | {".txt", ".md"} or \
                    path.name in MAKEFILES:
                continue  # "MZ..." at the start of a text file is still text
            removed.append(path.relative_to(folder).as_posix())
            path.unlink()
    return removed


def _has_sources(folder: Path) -> bool:
    return any(p.is_file() and (p.suffix in SOURCE_SUFFIXES or p.name in MAKEFILES)
               for p in folder.iterdir())


def sources_root(folder: Path, programs: tuple[str, ...] = ()) -> Path:
    """Where the submission's sources are: `folder` itself when it has C sources or a
    Makefile, else the shallowest subfolder that has (the one with most of the programs'
    `<name>.c` when several are as shallow). Raises Empty or NoSources."""
    files = [p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()]
    if not files:
        raise Empty("empty submission: no files")
    if _has_sources(folder):
        return folder
    candidates = sorted((p for p in folder.rglob("*") if p.is_dir() and not p.is_symlink()
                         and _has_sources(p)), key=lambda p: (len(p.parts), str(p)))
    if not candidates:
        shown = ", ".join(sorted(p.relative_to(folder).as_posix() for p in files)[:5])
        raise NoSources(f"no C sources (.c) or Makefile in the submission (it has: {shown})")
    shallowest = [c for c in candidates if len(c.parts) == len(candidates[0].parts)]
    return max(shallowest, key=lambda c: sum((c / f"{p}.c").is_file() for p in programs))


def check_links(folder: Path) -> None:
    """Every symbolic link left must resolve inside the folder."""
    for path in folder.rglob("*"):
        if path.is_symlink() and not _inside(path, folder):
            raise Unsafe(f"'{path.relative_to(folder).as_posix()}' is a symbolic link out of "
                         f"the submission (-> {os.readlink(path)})")


def prepare(staged: Path, budget: Budget, programs: tuple[str, ...]) -> Unpacked:
    """Turn what was unpacked into `staged` into a clean submission folder (the same, or a
    subfolder of it): nested archives, shipped binaries, the sources' folder. Notes say
    what was done, for the report."""
    notes: list[str] = []
    unpack_nested(staged, budget, notes)
    if removed := remove_binaries(staged):
        shown = ", ".join(removed[:6]) + (f" and {len(removed) - 6} more"
                                          if len(removed) > 6 else "")
        notes.append(f"removed {len(removed)} compiled file(s) you shipped, before "
                     f"building: {shown}")
    root = sources_root(staged, programs)
    if root != staged:
        where = root.relative_to(staged).as_posix()
        notes.append(f"your sources were in the subfolder '{where}/': graded from there")
    check_links(root)
    return Unpacked(root, notes)


def content_hash(folder: Path) -> str:
    """A hash of what is graded: every path, its kind, executable bit and content."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if path.is_symlink():
            digest.update(f"L {rel} {os.readlink(path)}\0".encode())
        elif path.is_file():
            digest.update(f"F {rel} {os.access(path, os.X_OK):d}\0".encode())
            with open(path, "rb") as handle:
                while chunk := handle.read(CHUNK):
                    digest.update(chunk)
        elif path.is_dir():
            digest.update(f"D {rel}\0".encode())
    return digest.hexdigest()


def raw_hash(path: Path) -> str:
    """A hash of an input as it is (for one that cannot be unpacked): a file's bytes, or a
    folder's names, kinds and sizes and its regular files' bytes (nothing else is opened)."""
    digest = hashlib.sha256()
    paths = [path] if not path.is_dir() or path.is_symlink() else \
        [path, *sorted(path.rglob("*"))]
    for item in paths:
        with contextlib.suppress(OSError):
            info = item.lstat()
            digest.update(f"{item.relative_to(path.parent).as_posix()} {info.st_mode:o} "
                          f"{info.st_size}\0".encode())
            if stat.S_ISREG(info.st_mode):
                with open(item, "rb") as handle:
                    while chunk := handle.read(CHUNK):
                        digest.update(chunk)
    return digest.hexdigest()


def relative(path: Path, root: Path) -> str:
    return PurePosixPath(path.relative_to(root)).as_posix()
