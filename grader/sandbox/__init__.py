"""Sandbox backends: where one grading run happens. Nothing above them knows which one ran.

The interface follows Tango's VMMS (Autolab's job runner): prepare, copy in, run, copy out,
destroy. A backend runs `python -m grader.inside` and hands back the report it wrote.
"""

import shutil
import sys

from grader.sandbox.base import RunOutcome, Sandbox, SandboxError
from grader.sandbox.local import LocalSandbox


def choose_backend() -> str:
    """`local` on Linux with strace; otherwise `docker` when an engine answers."""
    if sys.platform.startswith("linux") and shutil.which("strace"):
        return "local"
    try:
        import docker

        docker.from_env().ping()
    except Exception:  # no SDK, no engine, no permission: all mean "cannot use docker"
        raise SandboxError("cannot grade here: the local backend needs Linux with strace, "
                           "and no docker engine answers (install Docker Desktop, or strace)"
                           ) from None
    return "docker"


def make_sandbox(backend: str, *, name: str = "run", disk_mib: int | None = None) -> Sandbox:
    """The sandbox for `backend` ("local", "docker", or "auto": see choose_backend).
    `disk_mib`: the disk limit of student code, which a container must know when it starts
    (the local backend reads it from the assignment inside the run)."""
    if backend == "auto":
        backend = choose_backend()
    if backend == "local":
        return LocalSandbox()
    if backend == "docker":
        try:
            from grader.sandbox.docker import DockerSandbox
        except ImportError as error:
            raise SandboxError(f"the docker backend needs the docker SDK ({error.name}): "
                               f"pip install 'ipc-grader[docker]'") from None

        return DockerSandbox(name=name) if disk_mib is None else \
            DockerSandbox(name=name, disk_mib=disk_mib)
    raise SandboxError(f"unknown backend {backend!r} (expected local or docker)")


__all__ = ["LocalSandbox", "RunOutcome", "Sandbox", "SandboxError", "choose_backend",
           "make_sandbox"]
