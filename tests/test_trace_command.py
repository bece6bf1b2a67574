"""The strace command line: what it asks strace for, and that strace really does it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from traced_runs import run_traced, stop

from grader.trace import Trace, strace_command, trace_set, tracee_pid
from grader.trace.syscalls import BOOKKEEPING

CHATTY = r"""
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

/* chatty [wait]: writes, reads and makes a socket; with "wait", blocks on stdin first. */
int main(int argc, char **argv)
{
    char c;
    if (argc > 1 && read(0, &c, 1) != 1) return 1;
    for (int i = 0; i < 3; i++) write(1, "x", 1);
    int s = socket(AF_UNIX, SOCK_DGRAM, 0);
    if (s == -1) { perror("socket"); return 1; }
    fprintf(stderr, "program's own stderr\n");
    close(s);
    return 0;
}
"""


@pytest.fixture(scope="module")
def chatty(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("trace-command")
    (folder / "chatty.c").write_text(CHATTY)
    subprocess.run(["cc", "-std=gnu11", "-Wall", "-Wextra", "-O2", "-o",
                    str(folder / "chatty"), str(folder / "chatty.c")], check=True)
    return folder / "chatty"


def test_command_shape(tmp_path):
    argv = strace_command(tmp_path / "t", "%net,%desc", ["socket:error=EMFILE"])
    assert argv[:10] == ["strace", "-f", "-ff", "-q", "-ttt", "-xx", "-s", "256", "-o",
                         str(tmp_path / "t")]
    trace = argv[argv.index("-e") + 1]
    assert trace.startswith("trace=%net,%desc,socket,") and "close" in trace
    assert "--seccomp-bpf" in argv
    assert argv[-3:] == ["-e", "inject=socket:error=EMFILE", "--"]
    assert "-qq" not in argv  # it would drop the `+++ exited with N +++` lines


def test_sets_map_libc_names_and_add_bookkeeping():
    assert trace_set(["mq_send", "select"]).split(",")[:3] == [
        "mq_timedsend", "select", "pselect6"]
    assert trace_set("mkfifo,pipe").split(",")[:4] == ["mknod", "mknodat", "pipe", "pipe2"]
    assert trace_set("%ipc,/^mq_").startswith("%ipc,/^mq_,")
    assert set(BOOKKEEPING) <= set(trace_set("%signal").split(","))
    assert trace_set([], ["connect:error=ECONNREFUSED:when=1"]).startswith("connect,")
    assert trace_set("", ["read,mq_send:error=EIO"]).startswith("read,mq_timedsend,")
    assert trace_set("?pidfd_open").startswith("?pidfd_open,")
    assert trace_set("all") == "all"


@pytest.mark.parametrize(("syscalls", "inject", "message"), [
    ("%sockets", (), "unknown strace class"),
    ("!write", (), "negated"),
    ("read;write", (), "not a syscall name"),
    ("/(", (), "bad syscall regex"),
    ("", ("socket",), "bad inject spec"),
    ("", ("socket:when=1",), "says when but not what"),
    ("", ("socket:erorr=EMFILE",), "unknown key"),
])
def test_bad_specs_are_rejected_before_strace_runs(syscalls, inject, message):
    with pytest.raises(ValueError, match=message):
        strace_command(Path("/tmp/x"), syscalls, inject)


def test_narrow_set_traces_only_what_was_asked(chatty, tmp_path):
    run = run_traced([str(chatty)], tmp_path / "net", "%net")
    names = {call.name for call in run.trace.calls()}
    assert "socket" in names and "write" not in names and "read" not in names
    assert names <= {"socket", *BOOKKEEPING}
    assert run.stdout == b"xxx"
    assert run.stderr == b"program's own stderr\n"  # strace adds nothing to the program's
    assert run.trace.exit_status() == 0 == run.returncode


def seccomp_mode(chatty: Path, prefix: Path, syscalls: str) -> tuple[str, bytes]:
    """Start chatty blocked on stdin under strace, read the tracee's Seccomp mode."""
    popen = subprocess.Popen([*strace_command(prefix, syscalls), str(chatty), "wait"],
                             stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, start_new_session=True)
    try:
        pid = tracee_pid(popen.pid)  # returns once the tracee runs chatty
        assert pid is not None and Path(f"/proc/{pid}/exe").resolve() == chatty.resolve()
        status = Path(f"/proc/{pid}/status").read_text()
        mode = next(line.split()[1] for line in status.splitlines()
                    if line.startswith("Seccomp:"))
        _, stderr = popen.communicate(b"go", timeout=10)
    finally:
        if popen.poll() is None:
            stop(popen)
    return mode, stderr


def test_seccomp_filter_is_installed_when_it_helps(chatty, tmp_path):
    mode, stderr = seccomp_mode(chatty, tmp_path / "narrow", "%net")
    assert mode == "2"  # SECCOMP_MODE_FILTER: the kernel stops only for traced calls
    assert b"strace" not in stderr
    mode, stderr = seccomp_mode(chatty, tmp_path / "all", "all")
    assert mode == "0"  # trace=all: no filter, and no strace warning about it
    assert b"strace" not in stderr
    assert Trace.load(tmp_path / "all").used("write", fd=1)
