"""Sandbox backends: where one grading run happens. Nothing above them knows which one ran.

The interface follows Tango's VMMS (Autolab's job runner): prepare, copy in, run, copy out,
destroy. A backend runs `python -m grader.inside` and hands back the report it wrote.
"""

from grader.sandbox.base import RunOutcome, Sandbox, SandboxError
from grader.sandbox.local import LocalSandbox


def make_sandbox(backend: str, *, name: str = "run") -> Sandbox:
    """The sandbox for `backend` ("local" or "docker")."""
    if backend == "local":
        return LocalSandbox()
    if backend == "docker":
        try:
            from grader.sandbox.docker import DockerSandbox  # noqa: PLC0415
        except ImportError as error:
            raise SandboxError(f"the docker backend needs the docker SDK ({error.name}): "
                               f"pip install 'ipc-grader[docker]'") from None

        return DockerSandbox(name=name)
    raise SandboxError(f"unknown backend {backend!r} (expected local or docker)")


__all__ = ["LocalSandbox", "RunOutcome", "Sandbox", "SandboxError", "make_sandbox"]
