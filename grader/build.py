"""Building a submission: `make` when it has a Makefile, else the default compile rule.

The build runs student-controlled commands (a Makefile can do anything), so it runs confined
like the programs themselves, with a wall-clock budget, and its log is kept for feedback.
A limit that stops it is named in the log's last line ("build stopped: memory limit ...").
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import shlex
import signal
import subprocess
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from grader.assignment import Assignment
from grader.confinement import DEFAULT_ENV, Confinement
from grader.memory import BUILD, MemoryCgroup
from grader.process import wait_group_gone
from grader.report import BuildResult

CFLAGS = ["-std=gnu11", "-Wall", "-O2"]
LIBS = ["-lrt", "-pthread"]
LOG_LIMIT = 64 * 1024
MAKEFILES = ("GNUmakefile", "makefile", "Makefile")
BUILD_MEMORY_MIB = 2048  # the whole build's, at least: compilers need more than programs


def default_compile_commands(folder: Path, programs: tuple[str, ...]) -> list[list[str]]:
    """`cc ... -o P P.c [shared .c files]` for each program P.

    Shared sources are the .c files that are not named after a program (e.g. common.c), so a
    small project split in files builds without a Makefile.
    """
    sources = sorted(p.name for p in folder.glob("*.c"))
    shared = [s for s in sources if s[:-2] not in programs]
    return [["cc", *CFLAGS, "-o", p, f"{p}.c", *shared, *LIBS] for p in programs]


def has_sources(names: list[str]) -> bool:
    """True when a folder holding files of these names can be built (a C source, a Makefile);
    a reference folder without them holds its programs compiled (a student kit's)."""
    return any(name.endswith(".c") or name in MAKEFILES for name in names)


def build_commands(folder: Path, assignment: Assignment) -> list[list[str]]:
    """How `folder` is built: the rubric's build command, `make` when there is a Makefile,
    else the default compile rule ([] when a program's source for it is missing)."""
    if assignment.build:
        return [["sh", "-c", assignment.build]]
    if any((folder / m).is_file() for m in MAKEFILES):
        return [["make"]]
    if any(not (folder / f"{p}.c").is_file() for p in assignment.programs):
        return []
    return default_compile_commands(folder, assignment.programs)


def build(folder: Path, assignment: Assignment, confinement: Confinement) -> BuildResult:
    """Build `assignment.programs` inside `folder`; the result says what failed and why."""
    started = time.monotonic()
    commands = build_commands(folder, assignment)
    if not commands:
        missing = [f"{p}.c" for p in assignment.programs if not (folder / f"{p}.c").is_file()]
        return BuildResult(False, "(default compile rule)",
                           f"no Makefile, and no {', '.join(missing)} to compile: add a "
                           f"Makefile or name your sources after the programs "
                           f"({', '.join(assignment.programs)})")

    # Compilers need more memory and processes than the programs they build.
    memory_mib = max(confinement.limits.memory_mib, BUILD_MEMORY_MIB)
    limits = replace(confinement.limits, memory_mib=memory_mib,
                     cpu_seconds=max(1, math.ceil(confinement.limits.build_seconds)),
                     processes=max(confinement.limits.processes, 64))
    # The whole build shares one memory limit. With an address-space rlimit alone, each of
    # the compilers a Makefile starts side by side (make -j, `cc ... &` in a loop) could
    # take 2 GiB, and together the machine's memory. Locally the build gets a memory cgroup
    # of its own (the run's name + "-build", removed after it); in a container, the
    # container's limit holds, and its OOM count names it.
    run = confinement.memory
    own = (MemoryCgroup.create(f"{run.path.name}{BUILD}", memory_mib << 20)
           if run is not None and run.own else None)
    watched = own or run
    builder = replace(confinement, limits=limits, memory=own)
    oom_kills = watched.oom_kills() if watched is not None else 0
    ok = True
    deadline = started + confinement.limits.build_seconds
    # The log is a file without a name in a folder of the grader's (beside the build folder,
    # which the student owns): a `.grader-build.log` in the build folder would be opened by
    # root, and a submission holding a link of that name would have root write the build's
    # output (which the Makefile chooses) through it: over checks.py, or any file at all.
    try:
        with tempfile.TemporaryFile(dir=folder.parent) as log:
            for argv in commands:
                command = shlex.join(argv)
                log.write(f"$ {command}\n".encode())
                log.flush()
                status = _run(argv, folder, builder, log, deadline - time.monotonic())
                if status is not None:
                    log.seek(max(0, log.seek(0, os.SEEK_END) - 4096))
                    status = _limit_hit(status, log.read().decode("utf-8", "replace"),
                                        watched, oom_kills, limits)
                    log.seek(0, os.SEEK_END)
                    log.write(f"{status}\n".encode())
                    ok = False
                    break
            log.seek(max(0, log.seek(0, os.SEEK_END) - LOG_LIMIT))
            log_lines = log.read().decode("utf-8", "replace")
    finally:
        # A daemon the build started (setsid, double fork) has left the build's process
        # group, and would run on beside the checks: it is killed with the build.
        confinement.kill_leftovers()
        if own is not None:
            with contextlib.suppress(OSError):
                own.path.rmdir()
    if ok:
        absent = [p for p in assignment.programs if not os.access(folder / p, os.X_OK)]
        if absent:
            ok = False
            log_lines += (f"\nthe build finished but did not produce "
                          f"{', '.join('./' + p for p in absent)}")
    return BuildResult(ok, " && ".join(shlex.join(c) for c in commands), log_lines.strip(),
                       round(time.monotonic() - started, 3))


# What compilers print when a limit stopped them (gcc names the signal that ended cc1).
_LIMIT_MESSAGES = (
    (r"out of memory|memory exhausted|Cannot allocate memory", "memory"),
    (r"CPU time limit exceeded", "cpu"),
    (r"File size limit exceeded|File too large", "file size"),
    (r"No space left on device|Disk quota exceeded", "disk"),
)


def _limit_hit(status: str, tail: str, memory: MemoryCgroup | None, oom_kills: int,
               limits) -> str:
    """The build's verdict, naming the limit that stopped it when one did."""
    if status.startswith("build stopped"):
        return status
    if memory is not None and memory.oom_kills() > oom_kills:
        if memory.own:
            return f"build stopped: memory limit ({limits.memory_mib} MiB) exceeded ({status})"
        return f"build stopped: out of memory: the grading container's memory limit was " \
               f"exceeded ({status})"
    named = {"memory": f"memory limit ({limits.memory_mib} MiB)",
             "cpu": f"CPU time limit ({limits.cpu_seconds} s per process)",
             "file size": f"file size limit ({limits.file_mib} MiB)",
             "disk": f"disk limit ({limits.disk_mib} MiB)"}
    for pattern, limit in _LIMIT_MESSAGES:
        if re.search(pattern, tail):
            return f"build stopped: {named[limit]} exceeded ({status})"
    return status


def _run(argv: list[str], folder: Path, confinement: Confinement, log, budget: float
         ) -> str | None:
    """Run one build command; None when it succeeded, else why it did not."""
    if budget <= 0:
        return "build time limit reached"
    proc = subprocess.Popen([*confinement.entry(), *confinement.prefix(folder), *argv],
                            cwd=folder, stdout=log,
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
