"""The fast parser against strace-parser, the reference grammar, on real traces.

For every line strace-parser parses, both must agree on the call's name, its arguments
(strace-parser's tree printed back as text, one string per argument) and its result. The
lines strace-parser cannot parse (signal deliveries, exits, kills, wait4 statuses...) must
still become typed events in the fast parser, never Raw.
"""

from __future__ import annotations

import subprocess
import time

import pytest
from traced_runs import run_traced, stop

from grader.trace import Raw, Syscall, Trace, parse_text, strace_command
from grader.trace.parse import strace_parser_parse

IPC = r"""
#include <fcntl.h>
#include <mqueue.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static void on_usr1(int sig) { (void)sig; }

/* ipc SOCKET QUEUE: a little of everything the assignments use. */
int main(int argc, char **argv)
{
    (void)argc;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, NULL);

    int lsock = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    strncpy(addr.sun_path, argv[1], sizeof addr.sun_path - 1);
    if (bind(lsock, (struct sockaddr *)&addr, sizeof addr) == -1) { perror("bind"); return 1; }
    listen(lsock, 4);
    pid_t child = fork();
    if (child == 0) {
        int c = socket(AF_UNIX, SOCK_STREAM, 0);
        if (connect(c, (struct sockaddr *)&addr, sizeof addr) == -1) _exit(1);
        send(c, "hi,\"there\"\xff", 11, 0);
        kill(getppid(), SIGUSR1);
        _exit(0);
    }
    int conn = accept(lsock, NULL, NULL);
    fd_set readable;
    FD_ZERO(&readable);
    FD_SET(conn, &readable);
    select(conn + 1, &readable, NULL, NULL, NULL);
    char buf[64];
    recv(conn, buf, sizeof buf, 0);
    int status;
    while (waitpid(child, &status, 0) == -1) {}
    close(conn);
    close(lsock);
    unlink(argv[1]);

    int p[2];
    pipe(p);
    write(p[1], "\x00\x01\x02", 3);
    read(p[0], buf, sizeof buf);
    close(p[0]);
    close(p[1]);
    open("/nonexistent/file", O_RDONLY);

    struct mq_attr attr = {.mq_maxmsg = 4, .mq_msgsize = 32};
    mqd_t q = mq_open(argv[2], O_CREAT | O_RDWR, 0600, &attr);
    if (q != (mqd_t)-1) {
        mq_send(q, "msg", 3, 1);
        unsigned prio;
        mq_receive(q, buf, sizeof buf, &prio);
        mq_close(q);
        mq_unlink(argv[2]);
    }
    return WEXITSTATUS(status);
}
"""


@pytest.fixture(scope="module")
def traces(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[int, list[str]]]:
    """Real -ff output of the IPC program, a threaded one and a killed one: (pid, lines)."""
    folder = tmp_path_factory.mktemp("crosscheck")
    (folder / "ipc.c").write_text(IPC)
    program = folder / "ipc"
    subprocess.run(["cc", "-std=gnu11", "-Wall", "-Wextra", "-O2", "-o", str(program),
                    str(folder / "ipc.c"), "-lrt"], check=True)
    queue = f"/ipcg-cross-{time.monotonic_ns()}"
    run = run_traced([str(program), str(folder / "s.sock"), queue], folder / "out-ipc",
                     "%net,%desc,%signal,%process,%ipc,/^mq_")
    assert run.returncode == 0, run.stderr
    # a program killed in a blocking call adds `<unfinished ...>) = ?` and `killed by`
    prefix = folder / "out-killed"
    popen = subprocess.Popen([*strace_command(prefix, "read"), "cat"],
                             stdin=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 10
    while not any("read(0" in p.read_text() for p in folder.glob("out-killed.*")):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    stop(popen)
    if popen.stdin:
        popen.stdin.close()
    found = []
    for path in sorted(folder.glob("out-ipc.*")) + sorted(folder.glob("out-killed.*")):
        found.append((int(path.name.rsplit(".", 1)[1]), path.read_text().splitlines()))
    return found


def test_fast_parser_agrees_with_strace_parser(traces):
    agreed: set[str] = set()
    refused: list[str] = []
    for pid, lines in traces:
        for line in lines:
            events = parse_text(line + "\n", pid)
            assert len(events) == 1, line
            (event,) = events
            reference = strace_parser_parse(line)
            if reference is None:
                refused.append(line)
                continue
            _, name, args, result = reference
            assert isinstance(event, Syscall), line
            ours = event.args
            if event.unfinished:  # strace-parser reads the marker as one more argument
                ours = [*ours, "<unfinished ...>"]
            assert (event.name, ours, event.result) == (name, args, result), line
            agreed.add(name)
    # the comparison covered real ground: sockets, pipes, message queues, signals, errors
    assert {"socket", "bind", "listen", "accept", "connect", "sendto", "recvfrom", "pipe2",
            "read", "write", "close", "unlink", "openat", "mq_open", "mq_timedsend",
            "mq_timedreceive", "mq_unlink", "kill", "rt_sigaction", "clone"} <= agreed
    names = {parse_text(line + "\n", 1)[0].short().split("(")[0] for line in refused}
    assert names  # and strace-parser refused some lines, which the fast parser typed:
    assert any("--- SIG" in line for line in refused)
    assert any("+++ killed by SIGKILL" in line for line in refused)


def test_every_real_line_is_typed(traces):
    """No Raw events on real output: the fast path knows every shape these programs make."""
    kinds: dict[str, int] = {}
    for pid, lines in traces:
        events = parse_text("\n".join(lines) + "\n", pid)
        assert not [e for e in events if isinstance(e, Raw)]
        assert len(events) == len(lines)
        for event in events:
            kinds[type(event).__name__] = kinds.get(type(event).__name__, 0) + 1
    assert set(kinds) == {"Syscall", "Signal", "Exit"}
    unfinished = [e for _, lines in traces for e in parse_text("\n".join(lines) + "\n", 1)
                  if isinstance(e, Syscall) and e.unfinished]
    assert unfinished and unfinished[0].name == "read"


def test_calls_strace_renames(traces):
    """What glibc calls and strace shows differ; the aliases bridge it (syscalls.ALIASES)."""
    events = [e for pid, lines in traces for e in parse_text("\n".join(lines) + "\n", pid)]
    names = {e.name for e in events if isinstance(e, Syscall)}
    assert {"pselect6", "sendto", "recvfrom", "mq_timedsend", "mq_timedreceive",
            "mq_unlink"} <= names
    assert "select" not in names and "mq_send" not in names
    trace = Trace(events)
    assert trace.used("select") and trace.used("send") and trace.used("recv")
    (sent,) = trace.calls("mq_send")
    assert sent.string(1) == b"msg"
    (opened,) = trace.calls("mq_open")
    assert opened.string(0) is not None and not opened.string(0).startswith(b"/")
    assert trace.used("mq_open", name="/" + opened.string(0).decode())  # '/' optional
    assert trace.unlinked("/" + opened.string(0).decode())  # a POSIX queue name
