"""POSIX shared memory and named semaphores as a check sees them: the files of /dev/shm.

shm_open("/NAME") is a file /dev/shm/NAME; sem_open("/NAME") is /dev/shm/sem.NAME. Each
grading run has its own /dev/shm, so what is there comes from the programs it started.
glibc creates a named semaphore as a short-lived temporary (sem.XXXXXX) and links it to its
name: such temporaries never start with a pair's NAME, so they are never counted.

    objects("/hw3-001")   # {"/hw3-001": 65536, "sem./hw3-001-full": 32} : the pair's objects
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

SHM = Path("/dev/shm")


def objects(name: str) -> dict[str, int]:
    """Every object whose name begins with `name` (segments and named semaphores) and its
    size in bytes, named as programs name them ("/x", "sem./x-full")."""
    stem = name.lstrip("/")
    found = {}
    for entry in SHM.iterdir() if SHM.is_dir() else []:
        for kind, rest in (("", entry.name), ("sem.", entry.name.removeprefix("sem."))):
            if (not kind or entry.name.startswith("sem.")) and rest.startswith(stem):
                with contextlib.suppress(OSError):  # removed while we looked
                    found[f"{kind}/{rest}"] = entry.stat().st_size
                break
    return dict(sorted(found.items()))


def segments(name: str) -> dict[str, int]:
    """The shared-memory segments (not semaphores) whose name begins with `name`."""
    return {key: size for key, size in objects(name).items() if not key.startswith("sem.")}


def segment_bytes(name: str) -> int:
    """The total size of the pair's segments, as ftruncate() set them."""
    return sum(segments(name).values())


def remove(name: str) -> None:
    """Remove every object whose name begins with `name` (a check's own cleanup)."""
    for key in objects(name):
        path = SHM / (key.replace("sem./", "sem.") if key.startswith("sem.") else key[1:])
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
