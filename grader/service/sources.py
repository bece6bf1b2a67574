"""A submission's sources wherever it is graded.

`grade serve` keeps each submission's clean sources in DATA/sources/<id>/ (an upload, unpacked
at intake; a push, fetched by the job). One machine reads them there. With PostgreSQL the
grading may happen on another machine (`grade worker`), whose DATA is its own: the sources
then also go into the database (source_archives: a tar.gz, at most the batch's caps, a few
KiB for a C assignment), and a worker that lacks them unpacks them from there, checking
the content hash. The database is the one thing every machine shares; no shared folder.
"""

from __future__ import annotations

import io
import shutil
import tarfile
import tempfile
from pathlib import Path

from grader.batch.unpack import content_hash


class SourcesMissing(Exception):
    """Neither this machine nor the database has the sources of a submission."""


def pack(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path in sorted(folder.rglob("*")):
            archive.add(path, path.relative_to(folder).as_posix(), recursive=False)
    return buffer.getvalue()


def unpack_into(data: bytes, final: Path, expected_hash: str, work: Path) -> Path:
    """The archive into `final` (atomically: a temporary folder renamed), its content hash
    checked. The archive is ours (made by pack() from clean sources), still: no member may
    leave the folder (tarfile's data filter)."""
    with tempfile.TemporaryDirectory(prefix="sources-", dir=work) as tmp:
        staged = Path(tmp) / "sources"
        staged.mkdir()
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
            archive.extractall(staged, filter="data")
        if content_hash(staged) != expected_hash:
            raise SourcesMissing(f"the stored sources of {final.name} do not match their "
                                 f"content hash")
        if final.exists():
            shutil.rmtree(final)
        staged.rename(final)
    return final
