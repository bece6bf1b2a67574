"""ipc-grader: grades Linux IPC assignments in C by running, driving and tracing them."""

__version__ = "0.1.0"
