"""The jail: what student code sees of the file system, on the local backend.

Student code is hostile until proven otherwise, and a grading machine holds what it must not
read: the reference solution, the hidden checks, other students' submissions, the report
being written, secrets in a home folder. File permissions alone cannot hide a checkout of
this repository (its files are readable by all), so student code runs in a root of its own:

    <work>/jail/            the new root (chroot), made once per grading run
        usr etc bin sbin lib lib64 sys     the system, read-only
        dev proc                           the sandbox's own (its /dev/shm, /dev/mqueue, pids)
        tmp var/tmp                        the run's own, each a disk (below)
        <work>/build/student               the student's build, at its real path (a disk)
        <work>/reference-bin               the reference programs, executable only
        <work>/checks                      the checks' working folders (a disk)

Paths inside the jail are the real ones, so a check passes the same path to a program and
opens it itself. The mounts are made in the grading run's own mount namespace (the local
sandbox unshares one), so they vanish with it. A program enters the jail through
`unshare --root=JAIL --wd=DIR` before it drops to the student user; it cannot leave (no
chroot without root, and the kernel refuses a user namespace to a chrooted process). Where
mounts are not allowed (a container without CAP_SYS_ADMIN), there is no jail: the container
itself is the jail there, and file modes do the rest.

Disks. Every folder student code may write is a tmpfs of its own, sized by the assignment's
disk limit (`disk_mib`, and 256 files per MiB): the build folder, the checks' folders, /tmp
and /var/tmp. So a program that fills the disk, or makes a million files, fills its own
small disk and not the grading machine's, /tmp filled in one check leaves room for the
next check's folder, and what is left there (whatever its modes, however deep) vanishes
with the run's mount namespace. The host's /tmp is never shown to student code.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

SYSTEM = ("usr", "etc", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "sys")
SHARED = ("dev", "proc")
TEMP = ("tmp", "var/tmp")
FILES_PER_MIB = 256  # a disk of N MiB holds at most 256 N files (inodes)


class JailError(Exception):
    """The jail could not be made (no permission to mount): grade without one, or refuse."""


@dataclass(frozen=True)
class Jail:
    root: Path

    @classmethod
    def make(cls, root: Path, visible: Iterable[Path], disk_mib: int) -> Jail:
        """Make the jail at `root`, showing the system and the `visible` folders, with a /tmp
        and /var/tmp of its own (disks of `disk_mib`)."""
        root.mkdir(mode=0o755)
        for name in SYSTEM:
            source = Path("/") / name
            if source.is_symlink():  # merged /usr: /bin -> usr/bin
                (root / name).symlink_to(os.readlink(source))
            elif source.is_dir():
                _bind(source, root / name, read_only=True)
        for name in SHARED:
            _bind(Path("/") / name, root / name, read_only=False, recursive=True)
        for name in TEMP:
            mount_disk(root / name, disk_mib, 0o1777)
        for folder in visible:
            target = root / folder.relative_to("/")
            _bind(folder, target, read_only=False)
            for parent in target.parents[:-1]:  # up to the root: a way through, no listing
                if parent == root:
                    break
                parent.chmod(0o711)
        return cls(root)

    def temp_files(self) -> list[str]:
        """What is in the jail's /tmp and /var/tmp now, as student code sees the paths."""
        found = []
        for name in TEMP:
            with contextlib.suppress(OSError):
                found += sorted(f"/{name}/{entry.name}" for entry in (self.root / name).iterdir())
        return found

    def prefix(self, cwd: Path) -> list[str]:
        """argv prefix that runs a command in the jail, in folder `cwd` (as root, before the
        drop to the student user)."""
        return ["unshare", f"--root={self.root}", f"--wd={cwd}"]


def mount_disk(folder: Path, size_mib: int, mode: int) -> None:
    """Mount a tmpfs of `size_mib` MiB (and FILES_PER_MIB files a MiB) at `folder` (made if
    missing), with mode `mode`."""
    folder.mkdir(parents=True, exist_ok=True)
    _mount("-t", "tmpfs", "-o", f"size={size_mib}m,nr_inodes={size_mib * FILES_PER_MIB},"
                                f"mode={mode:o}", "tmpfs", str(folder))


def disk_full(folder: Path, size_mib: int) -> bool:
    """True when `folder` is on a disk of at most `size_mib` MiB (a student disk: not the
    machine's) that is full, of bytes or of files."""
    try:
        disk = os.statvfs(folder)
    except OSError:
        return False
    if disk.f_blocks * disk.f_frsize > size_mib << 20:
        return False
    return disk.f_bavail * disk.f_frsize < 64 << 10 or disk.f_favail == 0


def _bind(source: Path, target: Path, *, read_only: bool, recursive: bool = False) -> None:
    target.mkdir(parents=True, exist_ok=True)
    _mount("--rbind" if recursive else "--bind", str(source), str(target))
    if read_only:
        _mount("-o", "remount,bind,ro", str(target))


def _mount(*args: str) -> None:
    done = subprocess.run(["mount", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise JailError(f"mount {' '.join(args)}: {done.stderr.strip()}")
