"""The docker backend: one throwaway container per grading run, from the grading image.

The container (image ipc-grader:<grader version>, built by docker/build-image.sh) has
  - no network at all (network mode none: not even a loopback to the host),
  - a memory limit with no swap beyond it, a pids limit and one CPU,
  - a read-only root file system; /work (where the grading happens) and /tmp are sized tmpfs,
  - every capability dropped but the few the harness needs (CAP_ADD), and no-new-privileges,
  - its own PID, IPC and mount namespaces, so queues and /dev/shm are private and every
    process dies with the container.
The harness (`python3 -m grader.inside`) runs in it as root, in /work, which only root can
write: student programs run as a user id of their own (see `STUDENT_UIDS`) and can write only
the folders the harness gives them, never the report.

A container outlives nothing: it is removed by destroy(), and if the grading process itself
dies (SIGKILL, a crash), the container's keeper process (`cat`, reading the stdin we hold
attached) gets EOF, the container stops and the engine removes it (auto-remove).

When GRADER_ROOT is set on the host, its assignments/ and reference/ are copied into the
container and used instead of the image's copy, exactly as the local backend would use them:
the engine (the grader package) always comes from the image.
"""

from __future__ import annotations

import contextlib
import io
import os
import random
import re
import secrets
import socket
import tarfile
import threading
import time
from collections import deque
from datetime import UTC, datetime
from pathlib import Path

from grader import __version__
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
TMPFS = {WORK: "exec,mode=755,size=128m", "/tmp": "mode=1777,size=64m"}
# What the harness (root in the container) needs, and nothing more:
#   CHOWN         give the build and check folders to the student user
#   SETUID SETGID start student programs as that user (and drop supplementary groups)
#   DAC_OVERRIDE  write the build log into, and clean up, the student-owned folders
#   KILL          kill student processes (another uid) at the end of each check
# Each was measured: without any one of them the reference no longer gets full marks.
# Not needed: SYS_PTRACE (strace runs as the student user and traces its own child),
# FOWNER, and everything docker grants by default (NET_RAW, MKNOD, SETFCAP, ...).
CAP_ADD = ["CHOWN", "DAC_OVERRIDE", "SETUID", "SETGID", "KILL"]

# Student programs of each container run as a user id no other running container uses:
# RLIMIT_NPROC counts the processes of a uid across the whole kernel, containers included,
# so with one shared uid a fork bomb in one grading would make fork() fail in the others.
# The range sits between login users (up to 60000), systemd's dynamic users (61184-65519)
# and subordinate ids (/etc/subuid, from 100000): no user of an ordinary host, so an escaped
# process would own nothing there, and no host process shares the student's RLIMIT_NPROC.
STUDENT_UIDS = range(70000, 100000)
STALE_CREATED_S = 600         # a container of ours still "created" after this never started
OUTPUT_TAIL = 4000            # characters of the harness's own output kept for errors
REPORT_MAX_BYTES = 64 * 1024 * 1024

# Build products and caches never copied with a GRADER_ROOT tree (as in docker/build-image.sh).
_SKIPPED_NAMES = {"__pycache__", "mutants", ".git", "build"}
_SKIPPED_SUFFIXES = {".pyc", ".o", ".a", ".so"}


def image_name() -> str:
    return f"{IMAGE}:{__version__}"


def _engine_error(error: Exception) -> SandboxError:
    detail = str(error).splitlines()[0][:200] if str(error) else type(error).__name__
    return SandboxError(f"no docker engine answers (start one with docker/start-dockerd.sh): "
                        f"{detail}")


class DockerSandbox(Sandbox):
    name = "docker"
    python = "python3"

    def __init__(self, name: str = "run", image: str | None = None) -> None:
        self.label = name
        self.image = image or image_name()
        self.notes: list[str] = []
        self.uid: int | None = None
        self.container_id: str | None = None
        self.container_name = f"ipc-grader-{_slug(name)}-{secrets.token_hex(4)}"
        self._client = None
        self._keeper = None   # the attached stdin of the container's keeper process
        self._env: dict[str, str] = {}

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
            root = os.environ.get("GRADER_ROOT")
            if root:
                self._put_grader_root(Path(root))
        except docker.errors.ImageNotFound:
            self.destroy()
            raise SandboxError(f"docker image {self.image} not found: build it with "
                               f"docker/build-image.sh") from None
        except (docker.errors.DockerException, requests.exceptions.RequestException) as error:
            self.destroy()
            if isinstance(error, docker.errors.APIError) and error.response is not None:
                raise SandboxError(f"the docker engine refused the grading container: "
                                   f"{error.explanation}") from None
            raise _engine_error(error) from None
        except BaseException:  # Ctrl-C half-way: a container may exist; `with` will not clean up
            self.destroy()
            raise

    def _check_image(self) -> None:
        image = self._client.images.get(self.image)
        built_for = (image.labels or {}).get("ipc-grader.version")
        if built_for != __version__:
            raise SandboxError(f"docker image {self.image} holds grader {built_for or '?'}, "
                               f"not {__version__}: rebuild it with docker/build-image.sh")

    def _free_uid(self) -> int:
        """A student uid that no container of ours uses; also removes containers that never
        started (a grading killed between create and start)."""
        used = set()
        now = datetime.now(UTC).timestamp()
        for summary in self._client.api.containers(all=True, filters={"label": LABEL}):
            labels = summary.get("Labels") or {}
            if summary.get("State") == "created" and now - summary.get("Created", now) > \
                    STALE_CREATED_S:
                self._remove(summary["Id"])
                continue
            if labels.get(f"{LABEL}.uid", "").isdigit():
                used.add(int(labels[f"{LABEL}.uid"]))
        while True:
            uid = random.choice(STUDENT_UIDS)
            if uid not in used:
                return uid

    def _create_and_start(self) -> None:
        api = self._client.api
        host_config = api.create_host_config(
            network_mode="none", ipc_mode="private", init=True, auto_remove=True,
            mem_limit=MEMORY, memswap_limit=MEMORY, pids_limit=PIDS, nano_cpus=NANO_CPUS,
            read_only=True, tmpfs=TMPFS, cap_drop=["ALL"], cap_add=CAP_ADD,
            security_opt=["no-new-privileges"], log_config={"type": "none", "config": {}})
        created = api.create_container(
            self.image, command=["sh", "-c", "exec cat >/dev/null"], stdin_open=True,
            name=self.container_name, working_dir=WORK, user="0:0", host_config=host_config,
            labels={LABEL: "1", f"{LABEL}.uid": str(self.uid), f"{LABEL}.run": self.label[:200],
                    f"{LABEL}.version": __version__})
        self.container_id = created["Id"]
        self.notes += [f"docker: {warning}" for warning in created.get("Warnings") or []]
        # Attached before start: with stdin_open, the engine closes the keeper's stdin when
        # this (only) attached client goes away, so the container dies with this process.
        self._keeper = api.attach_socket(self.container_id, params={"stdin": 1, "stream": 1})
        api.start(self.container_id)

    def destroy(self) -> None:
        if self._client is None:
            return
        if self.container_id is not None:
            self._remove(self.container_id)
        else:  # create may have reached the engine before an interrupt
            self._remove(self.container_name)
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
        self._put(_tar_folder({name: Path(source).resolve()}))

    def _put_grader_root(self, root: Path) -> None:
        """The host's assignments/ and reference/, for a grading against a GRADER_ROOT tree."""
        folders = {f"{Path(ROOT_IN_CONTAINER).name}/{part}": (root / part).resolve()
                   for part in ("assignments", "reference") if (root / part).is_dir()}
        self._put(_tar_folder(folders, top=Path(ROOT_IN_CONTAINER).name, skip_builds=True))
        self._env["GRADER_ROOT"] = ROOT_IN_CONTAINER

    def _put(self, archive: bytes) -> None:
        """Unpack a tar in /work, inside the container.

        Not put_archive: the engine writes archives into the container's image layer, under
        the tmpfs mounted at /work, and refuses a read-only root file system anyway.
        """
        code, _, err = self._exec(["tar", "-x", "-C", WORK, "-f", "-"], stdin=archive)
        if code != 0:
            raise SandboxError(f"could not copy files into the grading container: "
                               f"{err.decode(errors='replace').strip()[-300:]}")

    def copy_out(self, name: str, dest: Path) -> bool:
        try:
            code, data, _ = self._exec(["cat", "--", f"{WORK}/{name}"], limit=REPORT_MAX_BYTES)
        except (docker.errors.APIError, OSError):  # the container is gone (timeout)
            return False
        if code != 0 or len(data) > REPORT_MAX_BYTES:
            return False
        Path(dest).write_bytes(data)
        return True

    def _exec(self, argv: list[str], stdin: bytes | None = None, limit: int = 1 << 20
              ) -> tuple[int, bytes, bytes]:
        """Run a short command as root in the container: (exit code, stdout, stderr).

        Output past `limit` bytes per stream is dropped (and the exit code is then -1).
        """
        api = self._client.api
        exec_id = api.exec_create(self.container_id, argv, stdin=stdin is not None,
                                  workdir=WORK, user="0:0")["Id"]
        conn = api.exec_start(exec_id, socket=True)
        sock = getattr(conn, "_sock", conn)
        out = {STDOUT: bytearray(), STDERR: bytearray()}
        overflow = False
        try:
            if stdin is not None:
                sock.sendall(stdin)
                sock.shutdown(socket.SHUT_WR)  # EOF on the command's stdin
            for stream, chunk in frames_iter(sock, tty=False):
                buffer = out.get(stream, out[STDERR])
                if len(buffer) + len(chunk) > limit:
                    overflow = True
                    break
                buffer += chunk
        finally:
            conn.close()
        code = api.exec_inspect(exec_id).get("ExitCode")
        if overflow or code is None:
            code = -1
        return code, bytes(out[STDOUT]), bytes(out[STDERR])

    # ---- running --------------------------------------------------------------------------

    def student_args(self) -> list[str]:
        return [] if self.uid is None else ["--uid", str(self.uid), "--gid", str(self.uid)]

    def run(self, argv: list[str], timeout: float) -> RunOutcome:
        """Run argv as root in /work; at the deadline the whole container is killed."""
        api = self._client.api
        exec_id = api.exec_create(self.container_id, argv, workdir=WORK, user="0:0",
                                  environment=self._env)["Id"]
        tail: deque[str] = deque()
        kept = 0
        failure: list[BaseException] = []

        def pump() -> None:
            nonlocal kept
            try:
                for chunk in api.exec_start(exec_id, stream=True):
                    text = chunk.decode("utf-8", "replace")
                    tail.append(text)
                    kept += len(text)
                    while kept - len(tail[0]) >= OUTPUT_TAIL:
                        kept -= len(tail.popleft())
            except Exception as error:  # reported by run(), the thread must not die silently
                failure.append(error)

        pumping = threading.Thread(target=pump, name=f"{self.container_name}-exec", daemon=True)
        pumping.start()
        pumping.join(timeout)
        if pumping.is_alive():  # over budget: stop everything; the report will be missing
            self._kill()
            pumping.join(10)
            return RunOutcome(None, "".join(tail)[-OUTPUT_TAIL:])
        output = "".join(tail)[-OUTPUT_TAIL:]
        if failure:
            return RunOutcome(-1, f"{output}\n(docker exec failed: {failure[0]})")
        code = api.exec_inspect(exec_id).get("ExitCode")
        return RunOutcome(-1 if code is None else code, output)

    def _kill(self) -> None:
        with contextlib.suppress(docker.errors.APIError):  # already stopped or gone
            self._client.api.kill(self.container_id)


def _slug(text: str) -> str:
    """A container-name-safe version of `text` ([a-zA-Z0-9][a-zA-Z0-9_.-]*), kept short."""
    return re.sub(r"[^a-zA-Z0-9_.-]+", "-", text).strip("-._")[:40] or "run"


def _tar_folder(folders: dict[str, Path], top: str | None = None,
                skip_builds: bool = False) -> bytes:
    """A tar of host folders (archive name -> folder), owned by root, for put_archive.

    Symbolic links are stored as links, never followed. Only regular files, folders and links
    are kept (no devices, fifos or sockets); set-id bits are dropped and root can always read.
    With `top`, that folder comes first, mode 700: only the harness may look below it. With
    `skip_builds`, build products and caches stay out (as in docker/build-image.sh).
    """
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        if top is not None:
            info = tarfile.TarInfo(top)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o700, int(time.time())
            archive.addfile(info)
        for arcname, folder in folders.items():
            for path in [folder, *sorted(_walk(folder, skip_builds))]:
                info = archive.gettarinfo(path, f"{arcname}/{path.relative_to(folder)}"
                                          if path != folder else arcname)
                if not (info.isreg() or info.isdir() or info.issym()):
                    continue
                info.uid = info.gid = 0
                info.uname = info.gname = "root"
                info.mode = (info.mode & 0o777) | (0o700 if info.isdir() else 0o600)
                if info.isreg():
                    with open(path, "rb") as handle:
                        archive.addfile(info, handle)
                else:
                    archive.addfile(info)
    return buffer.getvalue()


def _walk(folder: Path, skip_builds: bool):
    """Every path below `folder`, links not followed, build products left out if asked."""
    for parent, dirs, files in os.walk(folder):
        if skip_builds:
            dirs[:] = [d for d in dirs if d not in _SKIPPED_NAMES]
        yield from (Path(parent, d) for d in dirs)
        for file in files:
            path = Path(parent, file)
            if not (skip_builds and _is_build_product(path)):
                yield path


def _is_build_product(path: Path) -> bool:
    if path.suffix in _SKIPPED_SUFFIXES:
        return True
    if path.is_symlink() or not path.is_file():
        return False
    with open(path, "rb") as handle:
        return handle.read(4) == b"\x7fELF"  # a compiled program
