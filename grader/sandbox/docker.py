"""The docker backend: one throwaway container per grading run, from the grading image.

The container (image ipc-grader:<grader version>, built by docker/build-image.sh) has
  - no network at all (network mode none: only a loopback of its own),
  - a memory limit with no swap beyond it, a pids limit and one CPU,
  - a read-only root file system; /work (where the grading happens) and what student code
    may write (its build folder /work/build/student, the checks' folders /work/checks, /tmp)
    are sized tmpfs, each of the latter of the assignment's disk limit, so that a program
    that fills one cannot keep the harness from writing its report,
  - every capability dropped but the few the harness needs (CAP_ADD), and no-new-privileges,
  - its own PID, IPC and mount namespaces, so queues and /dev/shm are private and every
    process dies with the container.
The harness (`python3 -m grader.inside`) runs in it as root, in /work, which only root can
write: student programs run as a user id of their own (see STUDENT_UIDS) and can write only
the folders the harness gives them, never the report. The image keeps the checks and the
reference in /opt/ipc-grader, readable by root only.

A container outlives nothing: destroy() removes it, and if the grading process itself dies
(SIGKILL, a crash), the container's keeper process (`cat`, reading the stdin we hold
attached) gets EOF, the container stops and the engine removes it (auto-remove).

Files go in and out through `docker exec` (tar in, cat out), not the engine's archive API,
which cannot see a tmpfs and refuses a read-only root. A copy_in is streamed to the next
command: the grading run's exec unpacks the submission, then starts the harness.

When GRADER_ROOT is set on the host, its assignments/ and reference/ are copied into the
container and used instead of the image's copy, as the local backend would use them; the
engine (the grader package) always comes from the image.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import secrets
import socket
import tarfile
import threading
import time
from collections import deque
from pathlib import Path
from typing import BinaryIO

from grader import __version__
from grader.assignment import Limits
from grader.build import has_sources
from grader.jail import FILES_PER_MIB
from grader.sandbox.base import RunOutcome, Sandbox, SandboxError

try:
    import docker.errors  # binds `docker` too (the SDK, not this module: imports are absolute)
    import requests.exceptions
    from docker.utils.socket import STDERR, STDOUT, frames_iter
except ImportError:  # the SDK is the optional dependency ipc-grader[docker]
    docker = None

IMAGE = "ipc-grader"
LABEL = "ipc-grader"          # on every container we create: `docker ps -a -f label=ipc-grader`
WORK = "/work"
ROOT_IN_CONTAINER = f"{WORK}/grader-root"  # where a host GRADER_ROOT tree is copied

# Limits of the whole container (student limits per process are the assignment's rlimits).
MEMORY = "512m"               # memory + tmpfs pages; swap is not allowed beyond it
PIDS = 128
NANO_CPUS = 1_000_000_000     # one CPU
TMPFS = {WORK: "exec,mode=755,size=128m"}
STUDENT_DISKS = {f"{WORK}/build/student": "exec,mode=755", f"{WORK}/checks": "exec,mode=711",
                 "/tmp": "mode=1777"}  # each sized by the disk limit (grader/jail.py)
# What the harness (root in the container) needs, and nothing more:
#   CHOWN         give the build and check folders to the student user
#   SETUID SETGID start student programs as that user (and drop supplementary groups)
#   DAC_OVERRIDE  write the build log into, and clean up, the student-owned folders
#   KILL          kill student processes (another uid) at the end of each check
#   SYS_PTRACE    read /proc/PID/maps of student processes (has a program mapped its shared
#                 memory yet?), which the kernel guards like ptrace
# Each was measured: without any one of them the reference no longer gets full marks.
# Not needed: FOWNER, and everything else docker grants by default (NET_RAW, MKNOD,
# SETFCAP, ...). Student code runs as another user, with none of these.
CAP_ADD = ["CHOWN", "DAC_OVERRIDE", "SETUID", "SETGID", "KILL", "SYS_PTRACE"]

# Student programs of each container run as a user id no other running container uses:
# RLIMIT_NPROC counts the processes of a uid across the whole kernel, containers included,
# so with one shared uid a fork bomb in one grading would make fork() fail in the others.
# The range sits between login users (up to 60000), systemd's dynamic users (61184-65519)
# and subordinate ids (/etc/subuid, from 100000): no user of an ordinary host, so an escaped
# process would own nothing there, and no host process shares the student's RLIMIT_NPROC.
STUDENT_UIDS = range(70000, 100000)
DISK_MIB = Limits().disk_mib  # unless the grading says otherwise
STALE_CREATED_S = 600         # a container of ours still "created" after this never started
OUTPUT_TAIL = 4000            # characters of the harness's own output kept for errors
COPY_OUT_MAX = 64 * 1024 * 1024

# Build products and caches never copied with a GRADER_ROOT tree (as in docker/build-image.sh).
_SKIPPED_NAMES = {"__pycache__", "mutants", ".git", "build"}
_SKIPPED_SUFFIXES = {".pyc", ".o", ".a", ".so"}
_UNPACK_THEN = f'tar -x -C {WORK} -f - && exec "$@"'  # sh -c script: unpack stdin, run argv


def image_name() -> str:
    """The grading image: ipc-grader:<version>, or GRADER_IMAGE (a student kit's image,
    ipc-grader-student:<version>, which holds no reference source and no hidden check)."""
    return os.environ.get("GRADER_IMAGE") or f"{IMAGE}:{__version__}"


class DockerSandbox(Sandbox):
    name = "docker"
    python = "python3"

    def __init__(self, name: str = "run", image: str | None = None,
                 disk_mib: int = DISK_MIB) -> None:
        self.label = name
        self.image = image or image_name()
        self.disk_mib = disk_mib
        self.notes: list[str] = []
        self.uid: int | None = None
        self.container_id: str | None = None
        self.container_name = f"ipc-grader-{_slug(name)}-{secrets.token_hex(4)}"
        self._client = None
        self._keeper = None   # the attached stdin of the container's keeper process
        self._env: dict[str, str] = {}
        self._pending: list[_Copy] = []  # copied in with the next command

    # ---- lifecycle ------------------------------------------------------------------------

    def prepare(self) -> None:
        if docker is None:
            raise SandboxError("the docker backend needs the docker SDK: "
                               "pip install 'ipc-grader[docker]'")
        try:
            self._client = docker.from_env(timeout=60)
            self._check_image()
            self.uid = self._free_uid()
            self._create_and_start()
        except docker.errors.ImageNotFound:
            self.destroy()
            raise SandboxError(f"docker image {self.image} not found: build it with "
                               f"docker/build-image.sh") from None
        except (docker.errors.DockerException, requests.exceptions.RequestException) as error:
            self.destroy()
            raise _engine_error(error) from None
        except BaseException:  # Ctrl-C half-way: a container may exist; `with` will not clean up
            self.destroy()
            raise
        root = os.environ.get("GRADER_ROOT")
        if root:
            parts = {f"{Path(ROOT_IN_CONTAINER).name}/{part}": (Path(root) / part).resolve()
                     for part in ("assignments", "reference") if (Path(root) / part).is_dir()}
            self._pending.append(_Copy(parts, top=Path(ROOT_IN_CONTAINER).name,
                                       skip_builds=True))
            self._env["GRADER_ROOT"] = ROOT_IN_CONTAINER

    def _check_image(self) -> None:
        image = self._client.images.get(self.image)
        built_for = (image.labels or {}).get("ipc-grader.version")
        if built_for != __version__:
            raise SandboxError(f"docker image {self.image} holds grader {built_for or '?'}, "
                               f"not {__version__}: rebuild it with docker/build-image.sh")

    def _free_uid(self) -> int:
        """A student uid no container of ours uses. Also removes our containers that were
        created but never started (a grading killed in between), which nothing else would."""
        used = set()
        now = time.time()
        for summary in self._client.api.containers(all=True, filters={"label": LABEL}):
            if summary.get("State") == "created" and \
                    now - summary.get("Created", now) > STALE_CREATED_S:
                self._remove(summary["Id"])
                continue
            uid = (summary.get("Labels") or {}).get(f"{LABEL}.uid", "")
            if uid.isdigit():
                used.add(int(uid))
        free = [uid for uid in random.sample(STUDENT_UIDS, 64) if uid not in used]
        return free[0] if free else random.choice(STUDENT_UIDS)

    def _create_and_start(self) -> None:
        api = self._client.api
        host_config = api.create_host_config(
            network_mode="none", ipc_mode="private", init=True, auto_remove=True,
            mem_limit=MEMORY, memswap_limit=MEMORY, pids_limit=PIDS, nano_cpus=NANO_CPUS,
            read_only=True, tmpfs={**TMPFS, **self._disks()}, cap_drop=["ALL"],
            cap_add=CAP_ADD,
            security_opt=["no-new-privileges"], log_config={"type": "none", "config": {}})
        created = api.create_container(
            self.image, command=["sh", "-c", "exec cat >/dev/null"], stdin_open=True,
            name=self.container_name, working_dir=WORK, user="0:0", host_config=host_config,
            labels={LABEL: "1", f"{LABEL}.uid": str(self.uid), f"{LABEL}.run": self.label[:200],
                    f"{LABEL}.version": __version__})
        self.container_id = created["Id"]
        # The engine warns when it cannot enforce a limit (no swap accounting, no pids cgroup).
        self.notes += [f"docker: {warning}" for warning in created.get("Warnings") or []]
        # Attached before start: with stdin_open, the engine closes the keeper's stdin when
        # this (only) attached client goes away, so the container dies with this process.
        self._keeper = api.attach_socket(self.container_id, params={"stdin": 1, "stream": 1})
        api.start(self.container_id)

    def _disks(self) -> dict[str, str]:
        size, files = self.disk_mib, self.disk_mib * FILES_PER_MIB
        return {path: f"{options},size={size}m,nr_inodes={files}"
                for path, options in STUDENT_DISKS.items()}

    def destroy(self) -> None:
        if self._client is None:
            return
        try:
            # By id, or by name: the create request may have reached the engine before an
            # interrupt stopped us from reading its answer.
            self._remove(self.container_id or self.container_name)
        except (docker.errors.DockerException, requests.exceptions.RequestException) as error:
            # The engine went away: once this process ends, so does the container's keeper.
            self.notes.append(f"docker: could not remove container {self.container_name}: "
                              f"{_reason(error)}")
        finally:
            if self._keeper is not None:
                with contextlib.suppress(OSError):
                    self._keeper.close()
                self._keeper = None
            self._client.close()
            self._client = None

    def _remove(self, container: str) -> None:
        """Remove a container, waiting for an auto-removal already under way."""
        api = self._client.api
        try:
            api.remove_container(container, force=True)
        except docker.errors.NotFound:
            return
        except docker.errors.APIError as error:
            if error.status_code != 409:  # 409: removal already in progress
                raise
        with contextlib.suppress(docker.errors.APIError, requests.exceptions.RequestException):
            api.wait(container, timeout=30, condition="removed")  # NotFound: already gone

    # ---- files ----------------------------------------------------------------------------

    def copy_in(self, source: Path, name: str) -> None:
        """Queue the folder: it is unpacked in /work by the next command (see run)."""
        self._pending.append(_Copy({name: Path(source).resolve()}))

    def copy_out(self, name: str, dest: Path) -> bool:
        try:
            code, data, _ = self._exec(["cat", "--", f"{WORK}/{name}"], limit=COPY_OUT_MAX)
        except (docker.errors.APIError, OSError):  # the container is gone (a timeout)
            return False
        if code != 0:
            return False
        Path(dest).write_bytes(data)
        return True

    # ---- running --------------------------------------------------------------------------

    def run(self, argv: list[str], timeout: float) -> RunOutcome:
        """Run argv as root in /work; at the deadline the whole container is killed."""
        tail: deque[bytes] = deque()
        kept = 0
        result: dict[str, object] = {}

        def keep(stream: int, chunk: bytes) -> None:
            nonlocal kept
            tail.append(chunk)
            kept += len(chunk)
            while kept - len(tail[0]) >= OUTPUT_TAIL:
                kept -= len(tail.popleft())

        def go() -> None:
            try:
                result["code"] = self._command(argv, keep)
            except Exception as error:  # reported below: the thread must not die silently
                result["error"] = error

        worker = threading.Thread(target=go, name=f"{self.container_name}-run", daemon=True)
        worker.start()
        worker.join(timeout)
        if worker.is_alive():  # over budget: stop everything; the report will be missing
            with contextlib.suppress(docker.errors.APIError):  # already stopped or gone
                self._client.api.kill(self.container_id)
            worker.join(10)
            return RunOutcome(None, _text(tail))
        if "error" in result:
            return RunOutcome(-1, f"{_text(tail)}\n(docker exec failed: {result['error']})")
        return RunOutcome(result["code"], _text(tail))

    def _exec(self, argv: list[str], limit: int = 1 << 20) -> tuple[int, bytes, bytes]:
        """A short command as root in /work: (exit code, stdout, stderr); -1 past `limit`."""
        out = {STDOUT: bytearray(), STDERR: bytearray()}

        def keep(stream: int, chunk: bytes) -> None:
            buffer = out.get(stream, out[STDERR])
            if len(buffer) + len(chunk) > limit:
                raise _TooMuch
            buffer += chunk

        try:
            code = self._command(argv, keep)
        except _TooMuch:
            code = -1
        return code, bytes(out[STDOUT]), bytes(out[STDERR])

    def _command(self, argv: list[str], keep) -> int:
        """Exec argv in the container, first unpacking the queued copies (streamed on its
        stdin). Calls keep(stream, chunk) with its output; returns its exit code."""
        copies, self._pending = self._pending, []
        if copies:
            argv = ["sh", "-c", _UNPACK_THEN, "sh", *argv]
        api = self._client.api
        exec_id = api.exec_create(self.container_id, argv, stdin=bool(copies), workdir=WORK,
                                  user="0:0", environment=self._env)["Id"]
        conn = api.exec_start(exec_id, socket=True)
        sock = getattr(conn, "_sock", conn)
        try:
            if copies:
                try:
                    with sock.makefile("wb") as stdin:
                        _write_tar(stdin, copies)
                    sock.shutdown(socket.SHUT_WR)  # EOF: tar ends, the command starts
                except OSError:  # tar gave up (a full /work): its output says why
                    pass
            for stream, chunk in frames_iter(sock, tty=False):
                keep(stream, chunk)
        finally:
            conn.close()
        code = api.exec_inspect(exec_id).get("ExitCode")
        return -1 if code is None else code


class _TooMuch(Exception):
    pass


class _Copy:
    """Host folders to unpack in /work (archive name -> folder)."""

    def __init__(self, folders: dict[str, Path], top: str | None = None,
                 skip_builds: bool = False):
        self.folders = folders
        self.top = top                  # a folder made first, mode 700: root's only
        self.skip_builds = skip_builds  # leave build products and caches out


def _engine_error(error: Exception) -> SandboxError:
    if isinstance(error, docker.errors.APIError) and error.response is not None:
        return SandboxError(f"the docker engine refused the grading container: "
                            f"{error.explanation}")
    address = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    return SandboxError(f"no docker engine answers (start one with docker/start-dockerd.sh): "
                        f"{address}: {_reason(error)}")


def _reason(error: BaseException) -> str:
    """The innermost OS-level reason of a connection failure ("Connection refused")."""
    seen: list[BaseException] = []
    pending: list[object] = [error]
    while pending:
        item = pending.pop()
        if isinstance(item, BaseException) and item not in seen:
            seen.append(item)
            if isinstance(item, OSError) and item.strerror:
                return item.strerror
            pending += [*item.args, item.__cause__, item.__context__]
    return str(error).splitlines()[0][:200] if str(error) else type(error).__name__


def _text(tail: deque[bytes]) -> str:
    return b"".join(tail).decode("utf-8", "replace")[-OUTPUT_TAIL:]


def _slug(text: str) -> str:
    """A container-name-safe version of `text` ([a-zA-Z0-9][a-zA-Z0-9_.-]*), kept short."""
    return re.sub(r"[^a-zA-Z0-9_.-]+", "-", text).strip("-._")[:40] or "run"


def _write_tar(fileobj: BinaryIO, copies: list[_Copy]) -> None:
    """Stream host folders as one tar, owned by root.

    Symbolic links are stored as links, never followed. Only regular files, folders and links
    go in (no devices, fifos or sockets); set-id bits are dropped and root can always read.
    """
    with tarfile.open(fileobj=fileobj, mode="w|", format=tarfile.PAX_FORMAT) as archive:
        for copy in copies:
            if copy.top is not None:
                info = tarfile.TarInfo(copy.top)
                info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o700, int(time.time())
                archive.addfile(info)
            for arcname, folder in copy.folders.items():
                for path in [folder, *sorted(_walk(folder, copy.skip_builds))]:
                    relative = path.relative_to(folder)
                    info = archive.gettarinfo(path, f"{arcname}/{relative}"
                                              if path != folder else arcname)
                    if not (info.isreg() or info.isdir() or info.issym()):
                        continue
                    info.uid = info.gid = 0
                    info.uname = info.gname = "root"
                    info.mode = (info.mode & 0o777) | (0o700 if info.isdir() else 0o600)
                    if path == folder:  # read by the harness only (it copies what it builds)
                        info.mode = 0o700
                    if info.isreg():
                        with open(path, "rb") as handle:
                            archive.addfile(info, handle)
                    else:
                        archive.addfile(info)


def _walk(folder: Path, skip_builds: bool):
    """Every path below `folder`, links not followed, build products left out if asked: but
    for the programs of a folder that has no sources to build them from (a student kit's
    reference, shipped compiled)."""
    for parent, dirs, files in os.walk(folder):
        if skip_builds:
            dirs[:] = [d for d in dirs if d not in _SKIPPED_NAMES]
        yield from (Path(parent, d) for d in dirs)
        prebuilt = not has_sources(files)
        for file in files:
            path = Path(parent, file)
            if not (skip_builds and _is_build_product(path, prebuilt)):
                yield path


def _is_build_product(path: Path, prebuilt: bool) -> bool:
    if path.suffix in _SKIPPED_SUFFIXES:
        return True
    if prebuilt or path.is_symlink() or not path.is_file():
        return False
    with open(path, "rb") as handle:
        return handle.read(4) == b"\x7fELF"  # a compiled program
