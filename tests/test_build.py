"""grader.build and inside.prepare_sources: real gcc and make, confined like student code."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from grader.assignment import Assignment, CheckSpec, Limits
from grader.build import build, default_compile_commands
from grader.confinement import Confinement
from grader.inside import prepare_sources

SUBMISSIONS = Path(__file__).resolve().parent / "submissions"
SCORED = SUBMISSIONS / "scored"
LIMITS = Limits(build_seconds=30)


def assignment(folder: Path, build_command: str | None = None, **limits) -> Assignment:
    return Assignment("assignment1", "uds-server", "test", ("server", "client"), build_command,
                      replace(LIMITS, **limits), (CheckSpec("only", "the only check", 100.0),),
                      folder)


def build_here(folder: Path, build_command: str | None = None, **limits):
    a = assignment(folder, build_command, **limits)
    return build(folder, a, Confinement(a.limits))


def run(program: Path) -> str:
    return subprocess.run([str(program)], capture_output=True, text=True, check=True).stdout


def processes_in(folder: Path) -> list[int]:
    """Processes whose working directory is `folder` (what a build could leave running)."""
    found = []
    for cwd in Path("/proc").glob("[0-9]*/cwd"):
        try:
            if Path(os.readlink(cwd)) == folder:
                found.append(int(cwd.parent.name))
        except OSError:
            continue
    return found


def test_default_rule_links_shared_sources(tmp_path):
    folder = tmp_path / "sub"
    shutil.copytree(SUBMISSIONS / "shared_source", folder)
    assert default_compile_commands(folder, ("server", "client")) == [
        ["cc", "-std=gnu11", "-Wall", "-O2", "-o", "server", "server.c", "common.c", "-lrt",
         "-pthread"],
        ["cc", "-std=gnu11", "-Wall", "-O2", "-o", "client", "client.c", "common.c", "-lrt",
         "-pthread"],
    ]
    result = build_here(folder)
    assert result.ok, result.log
    assert result.command.startswith("cc -std=gnu11 -Wall -O2 -o server server.c common.c")
    assert " && cc " in result.command
    assert run(folder / "server") == "hello from server\n"
    assert run(folder / "client") == "hello from client\n"
    assert not (folder / ".grader-build.log").exists()


def test_compile_errors_are_in_the_log(tmp_path):
    folder = tmp_path / "sub"
    shutil.copytree(SUBMISSIONS / "compile_error", folder)
    shutil.copy(SUBMISSIONS / "shared_source" / "client.c", folder)  # not reached
    result = build_here(folder)
    assert not result.ok
    assert result.log.startswith("$ cc -std=gnu11 -Wall -O2 -o server server.c")
    assert "server.c:7:5: error: expected" in result.log
    message = next(line for line in result.log.splitlines() if "error: expected" in line)
    assert "printf" in message  # gcc's message names what follows the missing ';'
    assert result.log.endswith("cc failed with exit code 1")
    assert "-o client" not in result.log  # the build stops at the first failure
    assert not (folder / "server").exists()


def test_missing_sources_without_makefile(tmp_path):
    (tmp_path / "server.c").write_text("int main(void) { return 0; }\n")
    result = build_here(tmp_path)
    assert not result.ok
    assert result.command == "(default compile rule)"
    assert "no Makefile, and no client.c to compile" in result.log


def test_makefile_is_used(tmp_path):
    shutil.copytree(SUBMISSIONS / "shared_source", tmp_path / "sub")
    folder = tmp_path / "sub"
    (folder / "Makefile").write_text(
        "all: server client\n"
        "server client: %: %.c common.c\n\tcc -DVIA_MAKE -o $@ $^\n")
    result = build_here(folder)
    assert result.ok, result.log
    assert result.command == "make"
    assert "cc -DVIA_MAKE -o server server.c common.c" in result.log
    assert run(folder / "client") == "hello from client\n"


@pytest.mark.parametrize(("makefile", "printed", "verdict"), [
    ("all:\n\t@echo nothing to do here\n", "nothing to do here",
     "the build finished but did not produce ./server, ./client"),
    ("all:\n\t@echo about to fail >&2; exit 3\n", "about to fail",
     "make failed with exit code 2"),
], ids=["builds_nothing", "exit_code"])
def test_failed_make_shows_its_output_and_why(tmp_path, makefile, printed, verdict):
    (tmp_path / "Makefile").write_text(makefile)
    result = build_here(tmp_path)
    assert not result.ok
    assert printed in result.log
    assert result.log.endswith(verdict)


def test_makefile_that_loops_forever_hits_the_build_time_limit(tmp_path):
    (tmp_path / "Makefile").write_text(
        "all:\n\twhile true; do sleep 0.05; done\n")  # waits forever without using CPU
    result = build_here(tmp_path, build_seconds=1.5)
    assert not result.ok
    assert result.log.endswith("build stopped: time limit (1.5 s) exceeded")
    assert processes_in(tmp_path) == [], "the build left processes running"


def test_build_budget_below_one_second(tmp_path):
    """A build budget below one second (the loader accepts `build_seconds: 0.9`) still gives
    make at least one second of CPU time: the CPU limit is a whole number of seconds, and a
    limit of 0 would kill make before it starts."""
    (tmp_path / "Makefile").write_text("all:\n\ttouch server client\n\tchmod +x server client\n")
    result = build_here(tmp_path, build_seconds=0.9)
    assert result.ok, result.log


def test_build_command_from_the_rubric(tmp_path):
    shutil.copytree(SUBMISSIONS / "shared_source", tmp_path / "sub")
    folder = tmp_path / "sub"
    command = "cc -o server server.c common.c && cc -o client client.c common.c"
    result = build_here(folder, command)
    assert result.ok, result.log
    assert result.command == f"sh -c '{command}'"
    assert run(folder / "server") == "hello from server\n"


def test_build_runs_with_the_build_limits(tmp_path):
    (tmp_path / "Makefile").write_text(
        "all:\n\tcat /proc/self/limits > limits.txt\n\ttouch server client\n"
        "\tchmod +x server client\n")
    result = build_here(tmp_path, build_seconds=7, memory_mib=64)
    assert result.ok, result.log
    limits = (tmp_path / "limits.txt").read_text()
    assert "Max cpu time              7 " in limits
    assert f"Max address space         {2048 << 20} " in limits  # compilers need room


@pytest.fixture
def prebuilt(tmp_path) -> Path:
    """A submission with stale binaries newer than its sources: `make` would skip them."""
    source = tmp_path / "source"
    shutil.copytree(SUBMISSIONS / "shared_source", source)
    (source / "Makefile").write_text(
        "all: server client\n"
        "server client: %: %.o common.o\n\tcc -o $@ $^\n")
    for stale in ("server", "client"):
        (source / stale).write_text("#!/bin/sh\necho prebuilt binary\n")
        (source / stale).chmod(0o755)
    for obj in ("server.o", "client.o", "common.o"):
        (source / obj).write_text("not an object file")
    (source / "mutants").mkdir()
    (source / "mutants" / "x.patch").write_text("instructor only")
    return source


def test_prepare_sources_removes_prebuilt_binaries(tmp_path, prebuilt):
    dest = tmp_path / "build"
    prepare_sources(prebuilt, dest, assignment(dest), None, None)
    assert sorted(p.name for p in dest.iterdir()) == [
        "Makefile", "client.c", "common.c", "common.h", "server.c"]
    result = build_here(dest)
    assert result.ok, result.log
    assert run(dest / "server") == "hello from server\n"
    assert (prebuilt / "server").read_text().startswith("#!/bin/sh")  # source untouched


def test_prepare_sources_gives_the_folder_to_the_student_user(tmp_path, prebuilt):
    dest = tmp_path / "build"
    prepare_sources(prebuilt, dest, assignment(dest), 62999, 62999)
    owners = {(p.stat().st_uid, p.stat().st_gid) for p in [dest, *dest.rglob("*")]}
    assert owners == {(62999, 62999)}


def test_builds_like_a_students_terminal(tmp_path):
    """Makefiles call tput and clear (which need TERM) and set CC = clang: they build as they
    do in a terminal (a 42 minitalk Makefile, tests/submissions/scored/assignment4/)."""
    folder = tmp_path / "minitalk"
    shutil.copytree(SCORED / "assignment4" / "minitalk_timer", folder)
    for binary in ("server", "client"):
        (folder / binary).unlink(missing_ok=True)
    result = build_here(folder)
    assert result.ok, result.log
    assert "clang -Wall -Wextra -Werror -o server server.c" in result.log
    assert "minitalk built" in result.log
