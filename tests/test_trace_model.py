"""The Trace API on real runs: small C programs compiled here and traced with real strace.

Each question a check asks (used, never, unlinked, fds_open_at_exit, children_reaped,
signals_sent/received, exit_status, excerpt) is asked of a program that does the right thing
and of one that does not, so every assertion can fail.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from traced_runs import run_traced, stop

from grader.trace import Trace, strace_command, tracee_pid

SERVER = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* server PATH MODE: accept one client, echo one message upper-cased.
   MODE "good" closes what it opened and unlinks PATH; "leak" keeps the accepted fd and
   the socket file. */
int main(int argc, char **argv)
{
    (void)argc;
    int leak = strcmp(argv[2], "leak") == 0;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd == -1) { perror("socket"); return 2; }
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    strncpy(addr.sun_path, argv[1], sizeof addr.sun_path - 1);
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) == -1) { perror("bind"); return 2; }
    if (listen(fd, 5) == -1) { perror("listen"); return 2; }
    int conn = accept(fd, NULL, NULL);
    if (conn == -1) { perror("accept"); return 2; }
    char buf[64];
    ssize_t n = read(conn, buf, sizeof buf);
    for (ssize_t i = 0; i < n; i++)
        if (buf[i] >= 'a' && buf[i] <= 'z') buf[i] -= 32;
    if (n > 0 && write(conn, buf, (size_t)n) != n) { perror("write"); return 2; }
    if (!leak) {
        close(conn);
        unlink(argv[1]);
    }
    close(fd);
    return 0;
}
"""

CLIENT = r"""
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    (void)argc;
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd == -1) { perror("socket"); return 1; }
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    strncpy(addr.sun_path, argv[1], sizeof addr.sun_path - 1);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) == -1) { perror("connect"); return 1; }
    if (write(fd, "hello\xff", 6) != 6) { perror("write"); return 1; }
    char buf[64];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n > 0) write(1, buf, (size_t)n);
    close(fd);
    return 0;
}
"""

MISC = r"""
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t got;
static void on_usr1(int sig) { (void)sig; got = 1; }

int main(int argc, char **argv)
{
    (void)argc;
    const char *mode = argv[1];
    if (strcmp(mode, "forbidden") == 0) {          /* pipe2 + an AF_INET socket + a FIFO */
        int p[2];
        if (pipe(p) == -1) return 1;
        int s = socket(AF_INET, SOCK_DGRAM, 0);
        if (s != -1) close(s);
        return mkfifo(argv[2], 0600) == -1;
    }
    if (strcmp(mode, "allowed") == 0) {             /* only what "forbidden" must not do */
        int s = socket(AF_UNIX, SOCK_DGRAM, 0);
        if (s != -1) close(s);
        return 0;
    }
    if (strcmp(mode, "kids") == 0 || strcmp(mode, "zombie") == 0) {
        for (int i = 0; i < 2; i++) {
            pid_t child = fork();
            if (child == 0) _exit(10 + i);
            if (child == -1) return 1;
        }
        if (strcmp(mode, "kids") == 0) {
            int status;
            while (wait(&status) > 0) {}
        } else {
            pause();                                  /* never reaps: the test kills it */
        }
        return 0;
    }
    if (strcmp(mode, "signals") == 0) {             /* a child sends SIGUSR1, parent waits */
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_usr1;
        sigaction(SIGUSR1, &sa, NULL);
        sigset_t block, old;
        sigemptyset(&block);
        sigaddset(&block, SIGUSR1);
        sigprocmask(SIG_BLOCK, &block, &old);
        pid_t parent = getpid();
        pid_t child = fork();
        if (child == 0) {
            kill(parent, SIGUSR1);
            _exit(0);
        }
        while (!got)
            sigsuspend(&old);
        waitpid(child, NULL, 0);
        return 3;
    }
    if (strcmp(mode, "hot") == 0) {                 /* 5000 identical reads of /dev/zero */
        FILE *zero = fopen("/dev/zero", "r");
        setvbuf(zero, NULL, _IONBF, 0);
        char c;
        for (int i = 0; i < 5000; i++)
            if (fread(&c, 1, 1, zero) != 1) return 1;
        write(1, "\xff\xfe done\n", 8);
        return 0;
    }
    if (strcmp(mode, "files") == 0) {               /* argv[2]: a folder to write in */
        char path[4096];
        int quiet = open("/dev/null", O_WRONLY), reading = open("/etc/hostname", O_RDONLY);
        snprintf(path, sizeof path, "%s/created", argv[2]);
        int created = creat(path, 0600);
        snprintf(path, sizeof path, "%s/appended", argv[2]);
        int appended = open(path, O_WRONLY | O_CREAT | O_APPEND, 0600);
        return quiet < 0 || reading < 0 || created < 0 || appended < 0;
    }
    if (strcmp(mode, "segv") == 0) {
        volatile int *nowhere = NULL;
        return *nowhere;
    }
    return 99;
}
"""


def compile_c(folder: Path, name: str, source: str) -> Path:
    (folder / f"{name}.c").write_text(source)
    program = folder / name
    subprocess.run(["cc", "-std=gnu11", "-Wall", "-Wextra", "-O2", "-o", str(program),
                    str(folder / f"{name}.c")], check=True)
    return program


@pytest.fixture(scope="module")
def programs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("trace-model")
    return {name: compile_c(folder, name, source)
            for name, source in (("server", SERVER), ("client", CLIENT), ("misc", MISC))}


def serve(programs: dict[str, Path], tmp_path: Path, mode: str,
          client_inject: tuple[str, ...] = ()) -> tuple[Trace, Trace, Path]:
    """Run the server (traced) and one client (traced) against it; return both traces."""
    sock = tmp_path / "s.sock"
    prefix = tmp_path / "server"
    argv = [*strace_command(prefix, "%net,%desc"), str(programs["server"]), str(sock), mode]
    server = subprocess.Popen(argv, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while not sock.exists():
            assert time.monotonic() < deadline, "the server never bound its socket"
            assert server.poll() is None, server.stderr.read() if server.stderr else ""
            time.sleep(0.005)
        client = run_traced([str(programs["client"]), str(sock)], tmp_path / "client",
                            "%net,%desc", client_inject)
        if client.returncode != 0:
            stop(server)  # the client never connected: the server would wait forever
        server.wait(10)
    finally:
        if server.poll() is None:
            stop(server)
        if server.stderr:
            server.stderr.close()
    return Trace.load(prefix), client.trace, sock


def test_socket_server_and_client_calls(programs, tmp_path):
    server, client, sock = serve(programs, tmp_path, "good")
    assert server.used("socket", domain="AF_UNIX", type="SOCK_STREAM")  # |SOCK_CLOEXEC ignored
    assert not server.used("socket", type="SOCK_DGRAM")
    assert server.used("bind", addr={"sa_family": "AF_UNIX", "sun_path": str(sock)})
    assert server.used("listen", backlog=5)
    assert not server.used("listen", backlog=1)
    (accepted,) = server.calls("accept")
    assert accepted.ok and accepted.retval == 4
    assert client.used("connect", addr={"sun_path": str(sock)}, ok=True)
    (connect,) = client.calls("connect")
    assert connect.fields(1)["sun_path"].startswith('"\\x')  # -xx: bytes, exactly
    assert client.calls("write", fd=3)[0].string(1) == b"hello\xff"
    assert server.calls("read", fd=4)[0].string(1) == b"hello\xff"
    assert server.exit_status() == 0 and client.exit_status() == 0
    with pytest.raises(TypeError, match="no argument named 'famly'"):
        server.used("socket", famly="AF_UNIX")


def test_fd_leak_and_unlink(programs, tmp_path):
    good, _, sock = serve(programs, tmp_path, "good")
    assert good.fds_open_at_exit() == {}
    assert good.unlinked(sock)
    assert good.unlinked("s.sock") is False  # relative wanted, absolute unlinked: no guess

    leaky_dir = tmp_path / "leaky"
    leaky_dir.mkdir()
    leaky, _, sock = serve(programs, leaky_dir, "leak")
    leaked = leaky.fds_open_at_exit()
    assert list(leaked) == [4]
    assert leaked[4].name == "accept"
    assert not leaky.unlinked(sock)


def test_fault_injection_is_tagged(programs, tmp_path):
    server, client, _ = serve(programs, tmp_path, "good",
                              client_inject=("connect:error=ECONNREFUSED:when=1",))
    (connect,) = client.calls("connect")
    assert connect.injected and connect.errno == "ECONNREFUSED" and not connect.ok
    assert client.exit_status() == 1
    assert client.excerpt(["socket", "connect"]).endswith(
        "connect(3, {sa_family=AF_UNIX, sun_path=\"/tmp/pytest-of-..., 110)"
        " = -1 ECONNREFUSED (injected)") or "ECONNREFUSED (injected)" in client.excerpt(
        ["connect"])
    assert not client.calls("socket")[0].injected
    assert server.exit_status() == -signal.SIGKILL  # stopped: its client never came

    failed = run_traced([str(programs["server"]), str(tmp_path / "x.sock"), "good"],
                        tmp_path / "emfile", "%net", ["socket:error=EMFILE"])
    assert failed.returncode == 2
    assert b"socket: Too many open files" in failed.stderr
    (socket_call,) = failed.trace.calls("socket")
    assert socket_call.injected and socket_call.errno == "EMFILE"


def test_never(programs, tmp_path):
    fifo = tmp_path / "fifo"
    bad = run_traced([str(programs["misc"]), "forbidden", str(fifo)], tmp_path / "bad",
                     "%desc,%net,mknod,mknodat").trace
    rules = {"socket AF_INET", "pipe", "mkfifo"}
    offending = bad.never(rules)
    assert [call.name for call in offending] == ["pipe2", "socket", "mknodat"]
    assert bad.never("socket AF_UNIX") == []
    assert bad.never("mkfifo") == bad.calls("mknodat")

    good = run_traced([str(programs["misc"]), "allowed"], tmp_path / "good",
                      "%desc,%net,mknod,mknodat").trace
    assert good.never(rules) == []
    assert good.used("socket", domain="AF_UNIX", type="SOCK_DGRAM")


def test_files_written(programs, tmp_path):
    trace = run_traced([str(programs["misc"]), "files", str(tmp_path)], tmp_path / "files",
                       "%file").trace
    assert trace.exit_status() == 0
    written = trace.files_written()
    assert [c.name for c in written] == ["creat", "openat"]  # not /dev/null, not read-only
    assert [c.argument("pathname") for c in written] == [
        str(tmp_path / "created").encode(), str(tmp_path / "appended").encode()]
    assert trace.files_written(allowed=())[0].argument("pathname") == b"/dev/null"


def test_children_reaped(programs, tmp_path):
    kids = run_traced([str(programs["misc"]), "kids"], tmp_path / "kids", "%process").trace
    assert len(kids.children()) == 2
    assert kids.children_reaped()
    assert sorted(kids.exit_status(pid) for pid in kids.children()) == [10, 11]
    assert kids.pids[0] == kids.main_pid and set(kids.pids[1:]) == set(kids.children())

    zombie = run_traced([str(programs["misc"]), "zombie"], tmp_path / "zombie", "%process",
                        timeout=1).trace
    assert not zombie.children_reaped()
    assert sorted(zombie.unreaped_children()) == sorted(zombie.children())
    assert zombie.exit_status() == -signal.SIGKILL  # killed by the timeout


def test_signals_sent_and_received(programs, tmp_path):
    trace = run_traced([str(programs["misc"]), "signals"], tmp_path / "sig",
                       "%signal,%process").trace
    parent = trace.main_pid
    (child,) = trace.children()
    (sent,) = trace.signals_sent(to=parent)
    assert (sent.sender, sent.target, sent.signal, sent.ok) == (child, parent, "SIGUSR1", True)
    assert trace.signals_sent(to=child) == []
    received = [s.name for s in trace.signals_received(parent)]
    assert received == ["SIGUSR1", "SIGCHLD"] or received == ["SIGCHLD", "SIGUSR1"]
    usr1 = next(s for s in trace.signals_received(parent) if s.name == "SIGUSR1")
    assert usr1.sender == child and usr1.code == "SI_USER"
    assert trace.signals_received(child) == []
    assert trace.exit_status() == 3


def test_exit_status_killed_by_signal(programs, tmp_path):
    run = run_traced([str(programs["misc"]), "segv"], tmp_path / "segv", "%process")
    assert run.trace.exit_status() == -signal.SIGSEGV
    assert run.returncode == -signal.SIGSEGV  # strace dies the same way as its tracee
    assert run.trace.exit_event().signal == "SIGSEGV"
    assert [s.name for s in run.trace.signals_received()] == ["SIGSEGV"]


def test_excerpt_stays_short_in_a_hot_loop(programs, tmp_path):
    trace = run_traced([str(programs["misc"]), "hot"], tmp_path / "hot", "read,write").trace
    assert len(trace.calls("read", fd=3, count=1)) == 5000  # not ld.so reading libc
    text = trace.excerpt()
    assert "[x5000]" in text
    assert 'write(1, "\\xff\\xfe done\\n", 8) = 8' in text
    assert len(text) < 300
    only_writes = trace.excerpt(names=["write"], last=1)
    assert only_writes == 'write(1, "\\xff\\xfe done\\n", 8) = 8'
    assert trace.unparsed == 0


def test_tracee_pid_and_live_signals(programs, tmp_path):
    """The engine's view: Popen's pid is strace's; signals go to tracee_pid()."""
    prefix = tmp_path / "live"
    argv = [*strace_command(prefix, "%signal"), str(programs["misc"]), "zombie"]
    popen = subprocess.Popen(argv, start_new_session=True)
    try:
        pid = tracee_pid(popen.pid)
        assert pid is not None and pid != popen.pid
        assert Path(f"/proc/{pid}/cmdline").read_bytes().startswith(
            str(programs["misc"]).encode())
        os.kill(popen.pid, signal.SIGTERM)  # strace blocks fatal signals: nothing happens
        time.sleep(0.2)
        assert popen.poll() is None
        os.kill(pid, signal.SIGTERM)
        assert popen.wait(10) == -signal.SIGTERM
    finally:
        if popen.poll() is None:
            stop(popen)
    trace = Trace.load(prefix)
    assert trace.main_pid == pid
    assert trace.exit_status() == -signal.SIGTERM
    term = trace.signals_received(pid)[-1]
    assert term.name == "SIGTERM" and term.sender == os.getpid()


def test_calls_of_a_wrapper_before_the_exec_are_dropped(programs, tmp_path):
    """The engine starts student code through wrappers (setpriv, env, prlimit) in the same
    process: what they did is not the student's, and the trace forgets it."""
    misc = str(programs["misc"])
    wrapper = [sys.executable, "-c", "import os, socket, sys; socket.socket(socket.AF_INET); "
               "os.execv(sys.argv[1], sys.argv[1:])", misc, "allowed"]
    run = run_traced(wrapper, tmp_path / "wrapped", "%net")
    everything = Trace.load(tmp_path / "wrapped")
    assert everything.used("socket", domain="AF_INET")  # the wrapper's own socket
    trace = Trace.load(tmp_path / "wrapped", program=misc)
    assert run.returncode == 0
    assert not trace.used("socket", domain="AF_INET")
    assert trace.used("socket", domain="AF_UNIX")       # the program's socket stays
    first = trace.calls("execve", ok=True, process=trace.main_pid)[0]
    assert first.argument("pathname") == misc.encode()
