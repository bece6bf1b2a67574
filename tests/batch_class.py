"""A generated assignment1 class for `grade batch`: about 65 submissions as a Moodle export
(one "Full Name_N_assignsubmission_file_" folder each, some holding a zip), zipped whole.

It holds the reference, the independent solutions of tests/submissions/alternatives, every
mutant of reference/assignment1/mutants (materialised as `grade validate` does), broken and
hostile submissions, a copied pair, a submission in a subfolder, one that ships binaries, an
empty one, and malformed archives: zip slip, a symbolic link out, a zip bomb, a corrupt zip.

Used by tests/test_batch_class.py and bench/batch_throughput.py.
"""

from __future__ import annotations

import io
import re
import shutil
import stat
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from grader.assignment import Assignment
from grader.validate import load_mutants, materialize

SUBMISSIONS = Path(__file__).resolve().parent / "submissions"
HOSTILE = ("fork_bomb", "output_flood", "kill_all", "read_grader_files")


@dataclass
class Class:
    archive: Path                                       # the whole export, zipped
    expected: dict[str, str] = field(default_factory=dict)  # participant -> status
    kinds: dict[str, str] = field(default_factory=dict)     # participant -> what it is

    @property
    def size(self) -> int:
        return len(self.expected)


def _folder(number: int, name: str) -> str:
    return f"{name}_{number}_assignsubmission_file_"


def _zip_folder(source: Path, zip_path: Path, top: str = "") -> None:
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(source.rglob("*")):  # folders too: an empty one is a submission
            archive.write(path, f"{top}{path.relative_to(source).as_posix()}")


def _symlink_zip(path: Path, name: str, target: str, files: dict[str, str]) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        for file, text in files.items():
            archive.writestr(file, text)
        info = zipfile.ZipInfo(name)
        info.create_system = 3
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(info, target)


def make_class(assignment: Assignment, where: Path, *, mutants: int | None = None) -> Class:
    """Write the class export to where/class.zip (staged in where/export/)."""
    reference = assignment.reference
    export = where / "export"
    shutil.rmtree(export, ignore_errors=True)
    export.mkdir(parents=True)
    made = Class(where / "class.zip")
    number = 1000

    def add(kind: str, status: str = "graded") -> Path:
        nonlocal number
        number += 1
        person = f"Student {kind.replace('_', ' ').replace('/', ' ').title()}"
        folder = export / _folder(number, re.sub(r"[^A-Za-z ]", "", person))
        folder.mkdir()
        made.expected[str(number)] = status
        made.kinds[str(number)] = kind
        return folder

    def reference_copy(dest: Path) -> None:
        for name in ("server.c", "client.c", "Makefile"):
            shutil.copy(reference / name, dest / name)

    reference_copy(add("reference"))
    for solution in sorted((SUBMISSIONS / "alternatives" / assignment.id).iterdir()):
        shutil.copytree(solution, add(f"alternative {solution.name}"), dirs_exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for mutant in load_mutants(assignment)[:mutants]:
            source = materialize(assignment, mutant, Path(tmp) / mutant.name)
            folder = add(f"mutant {mutant.name}")
            # Half of them zipped, as students upload: a nested archive per student.
            if len(made.expected) % 2:
                _zip_folder(source, folder / "hw1.zip", top="hw1/")
            else:
                shutil.copytree(source, folder, dirs_exist_ok=True)
    for name in HOSTILE:
        folder = add(f"hostile {name}")
        found = SUBMISSIONS / "hostile" / name
        shutil.copytree(found if found.is_dir() else SUBMISSIONS / name, folder,
                        dirs_exist_ok=True)
        for program in ("server.c", "client.c"):
            if not (folder / program).exists():
                shutil.copy(reference / program, folder / program)
        (folder / "README.md").unlink(missing_ok=True)
    broken = add("compile_error")
    shutil.copytree(SUBMISSIONS / "compile_error", broken, dirs_exist_ok=True)
    shutil.copy(reference / "client.c", broken / "client.c")

    # A copied pair: an alternative, its identifiers renamed, handed in by another student.
    original = SUBMISSIONS / "alternatives" / assignment.id / "threads_and_poll"
    copy = add("copied threads_and_poll")
    for source in original.iterdir():
        text = source.read_text()
        for old in ("fd", "buf", "len", "line", "n", "i"):  # not members, not escapes
            text = re.sub(rf"(?<![.>\\])\b{old}\b", f"{old}_2", text)
        (copy / source.name).write_text(text)

    nested = add("sources in a subfolder")
    (nested / "my work" / "src").mkdir(parents=True)
    reference_copy(nested / "my work" / "src")
    (nested / "my work" / "notes.txt").write_text("see src/\n")
    shipped = add("ships binaries")
    reference_copy(shipped)
    (shipped / "server").write_bytes(b"\x7fELF\x02\x01\x01" + bytes(200))
    (shipped / "server.o").write_bytes(b"\x7fELF\x02\x01\x01" + bytes(100))
    add("empty", "empty")

    # Malformed archives: each refused with its own verdict, the batch going on.
    with zipfile.ZipFile(add("zip slip", "unsafe") / "hw1.zip", "w") as archive:
        archive.writestr("server.c", (reference / "server.c").read_text())
        archive.writestr("../../../../tmp/ipc-grader-zip-slip.txt", "escaped\n")
    _symlink_zip(add("symlink out", "unsafe") / "hw1.zip", "server.c", "/etc/passwd",
                 {"client.c": (reference / "client.c").read_text()})
    with zipfile.ZipFile(add("zip bomb", "too_large") / "hw1.zip", "w",
                         zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("server.c", (reference / "server.c").read_text())
        with archive.open("padding.txt", "w", force_zip64=True) as padding:
            block = bytes(1 << 20)
            for _ in range(200):  # 200 MiB of zeros in ~200 KiB
                padding.write(block)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("server.c", (reference / "server.c").read_text() * 4)
    data = bytearray(buffer.getvalue())
    data[60:400] = bytes(340)  # the deflated data of server.c, zeroed
    (add("corrupt zip", "corrupt") / "hw1.zip").write_bytes(bytes(data))

    _zip_folder(export, made.archive, top="hw1-export/")
    shutil.rmtree(export)
    return made
