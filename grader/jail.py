"""The jail: what student code sees of the file system, on the local backend.

Student code is hostile until proven otherwise, and a grading machine holds what it must not
read: the reference solution, the hidden checks, other students' submissions, the report
being written, secrets in a home folder. File permissions alone cannot hide a checkout of
this repository (its files are readable by all), so student code runs in a root of its own:

    <work>/jail/            the new root (chroot), made once per grading run
        usr etc bin sbin lib lib64 sys     the system, read-only
        dev proc                           the sandbox's own (its /dev/shm, /dev/mqueue, pids)
        tmp var/tmp                        shared temp folders (swept after the run)
        <work>/build/student               the student's build, at its real path
        <work>/reference-bin               the reference programs, executable only
        <work>/checks                      the checks' working folders

Paths inside the jail are the real ones, so a check passes the same path to a program and
opens it itself. The mounts are made in the grading run's own mount namespace (the local
sandbox unshares one), so they vanish with it. A program enters the jail through
`unshare --root=JAIL --wd=DIR` before it drops to the student user; it cannot leave (no
chroot without root). Where mounts are not allowed (a container without CAP_SYS_ADMIN),
there is no jail: the container itself is the jail there, and file modes do the rest.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

SYSTEM = ("usr", "etc", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "sys")
SHARED = ("dev", "proc", "tmp", "var/tmp")


class JailError(Exception):
    """The jail could not be made (no permission to mount): grade without one, or refuse."""


@dataclass(frozen=True)
class Jail:
    root: Path

    @classmethod
    def make(cls, root: Path, visible: Iterable[Path]) -> Jail:
        """Make the jail at `root`, showing the system and the `visible` folders."""
        root.mkdir(mode=0o755)
        for name in SYSTEM:
            source = Path("/") / name
            if source.is_symlink():  # merged /usr: /bin -> usr/bin
                (root / name).symlink_to(os.readlink(source))
            elif source.is_dir():
                _bind(source, root / name, read_only=True)
        for name in SHARED:
            _bind(Path("/") / name, root / name, read_only=False, recursive=True)
        for folder in visible:
            _bind(folder, root / folder.relative_to("/"), read_only=False)
        return cls(root)

    def prefix(self, cwd: Path) -> list[str]:
        """argv prefix that runs a command in the jail, in folder `cwd` (as root, before the
        drop to the student user)."""
        return ["unshare", f"--root={self.root}", f"--wd={cwd}"]


def _bind(source: Path, target: Path, *, read_only: bool, recursive: bool = False) -> None:
    target.mkdir(parents=True, exist_ok=True)
    _mount("--rbind" if recursive else "--bind", str(source), str(target))
    if read_only:
        _mount("-o", "remount,bind,ro", str(target))


def _mount(*args: str) -> None:
    done = subprocess.run(["mount", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise JailError(f"mount {' '.join(args)}: {done.stderr.strip()}")
