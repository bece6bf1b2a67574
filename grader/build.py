"""Building a submission: `make` when it has a Makefile, else the default compile rule.

The build runs student-controlled commands (a Makefile can do anything), so it runs confined
like the programs themselves, with a wall-clock budget, and its log is kept for feedback.
"""

from __future__ import annotations

import contextlib
import math
import os
import shlex
import signal
import subprocess
import time
from dataclasses import replace
from pathlib import Path

from grader.assignment import Assignment
from grader.confinement import DEFAULT_ENV, Confinement
from grader.process import wait_group_gone
from grader.report import BuildResult

CFLAGS = ["-std=gnu11", "-Wall", "-O2"]
LIBS = ["-lrt", "-pthread"]
LOG_LIMIT = 64 * 1024
MAKEFILES = ("GNUmakefile", "makefile", "Makefile")


def default_compile_commands(folder: Path, programs: tuple[str, ...]) -> list[list[str]]:
    """`cc ... -o P P.c [shared .c files]` for each program P.

    Shared sources are the .c files that are not named after a program (e.g. common.c), so a
    small project split in files builds without a Makefile.
    """
    sources = sorted(p.name for p in folder.glob("*.c"))
    shared = [s for s in sources if s[:-2] not in programs]
    return [["cc", *CFLAGS, "-o", p, f"{p}.c", *shared, *LIBS] for p in programs]


def build(folder: Path, assignment: Assignment, confinement: Confinement) -> BuildResult:
    """Build `assignment.programs` inside `folder`; the result says what failed and why."""
    started = time.monotonic()
    if assignment.build:
        commands = [["sh", "-c", assignment.build]]
    elif any((folder / m).is_file() for m in MAKEFILES):
        commands = [["make"]]
    else:
        missing = [f"{p}.c" for p in assignment.programs if not (folder / f"{p}.c").is_file()]
        if missing:
            return BuildResult(False, "(default compile rule)",
                               f"no Makefile, and no {', '.join(missing)} to compile: add a "
                               f"Makefile or name your sources after the programs "
                               f"({', '.join(assignment.programs)})")
        commands = default_compile_commands(folder, assignment.programs)

    # Compilers need more memory and processes than the programs they build.
    limits = replace(confinement.limits, memory_mib=max(confinement.limits.memory_mib, 2048),
                     cpu_seconds=max(1, math.ceil(confinement.limits.build_seconds)),
                     processes=max(confinement.limits.processes, 64))
    builder = replace(confinement, limits=limits, memory=None)  # compilers: rlimits only
    log_path = folder / ".grader-build.log"
    log_lines, ok = [], True
    deadline = started + confinement.limits.build_seconds
    with open(log_path, "w+b") as log:
        for argv in commands:
            command = shlex.join(argv)
            log.write(f"$ {command}\n".encode())
            log.flush()
            status = _run(argv, folder, builder, log, deadline - time.monotonic())
            if status is not None:
                log.write(f"{status}\n".encode())
                ok = False
                break
        log.seek(max(0, log.seek(0, os.SEEK_END) - LOG_LIMIT))
        log_lines = log.read().decode("utf-8", "replace")
    log_path.unlink()
    if ok:
        absent = [p for p in assignment.programs if not os.access(folder / p, os.X_OK)]
        if absent:
            ok = False
            log_lines += (f"\nthe build finished but did not produce "
                          f"{', '.join('./' + p for p in absent)}")
    return BuildResult(ok, " && ".join(shlex.join(c) for c in commands), log_lines.strip(),
                       round(time.monotonic() - started, 3))


def _run(argv: list[str], folder: Path, confinement: Confinement, log, budget: float
         ) -> str | None:
    """Run one build command; None when it succeeded, else why it did not."""
    if budget <= 0:
        return "build time limit reached"
    proc = subprocess.Popen([*confinement.prefix(folder), *argv], cwd=folder, stdout=log,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            env={**DEFAULT_ENV, "HOME": str(folder)}, start_new_session=True)
    try:
        code = proc.wait(budget)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return f"build stopped: time limit ({confinement.limits.build_seconds:g} s) exceeded"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # nothing started by the build outlives it
            wait_group_gone(proc.pid)
    if code < 0:
        return f"{argv[0]} was killed by {signal.Signals(-code).name}"
    return None if code == 0 else f"{argv[0]} failed with exit code {code}"
