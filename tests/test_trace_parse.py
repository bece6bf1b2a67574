"""Parsing real strace output into typed events: every line shape IPC programs produce.

Programs are compiled here and traced for real; where a shape needs a particular timing
(a thread blocked in read() while another writes), the program waits for that state in
/proc instead of sleeping, so the shape occurs on every run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from traced_runs import run_traced, stop

from grader.trace import (
    Exit,
    Raw,
    Signal,
    Syscall,
    Trace,
    parse_text,
    strace_command,
    tracee_pid,
)
from grader.trace.command import STRACE
from grader.trace.parse import Fallback

THREADS = r"""
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static int p[2];
static volatile pid_t reader_tid;

static void *reader(void *arg)
{
    (void)arg;
    reader_tid = gettid();
    char buf[16];
    ssize_t n = read(p[0], buf, sizeof buf);
    return (void *)n;
}

/* Wait until the reader thread sleeps inside read(): /proc/self/task/TID/syscall then
   starts with read's number. No sleep-and-hope. */
static void wait_until_blocked(void)
{
    char path[64], line[64];
    while (reader_tid == 0) {}
    snprintf(path, sizeof path, "/proc/self/task/%d/syscall", (int)reader_tid);
    for (;;) {
        FILE *f = fopen(path, "r");
        if (f == NULL) { perror("fopen"); exit(1); }
        char *ok = fgets(line, sizeof line, f);
        fclose(f);
        if (ok && strtol(line, NULL, 10) == SYS_read) return;
    }
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "join";
    if (pipe(p) == -1) { perror("pipe"); return 1; }
    pthread_t t;
    pthread_create(&t, NULL, reader, NULL);
    wait_until_blocked();
    if (strcmp(mode, "abandon") == 0)
        exit(5);                       /* the reader is still in read(): it never returns */
    write(p[1], "ab", 2);
    void *got;
    pthread_join(t, &got);
    pid_t child = fork();
    if (child == 0) {
        write(1, "child\n", 6);
        _exit(4);
    }
    int status;
    waitpid(child, &status, 0);
    return (long)got == 2 && WEXITSTATUS(status) == 4 ? 0 : 1;
}
"""

SHAPES = r"""
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void on_signal(int sig) { (void)sig; }

int main(int argc, char **argv)
{
    (void)argc;
    if (strcmp(argv[1], "usr1") == 0) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sigaction(SIGUSR1, &sa, NULL);
        kill(getpid(), SIGUSR1);
        return 7;
    }
    if (strcmp(argv[1], "segv") == 0) {
        volatile int *nowhere = NULL;
        return *nowhere;
    }
    if (strcmp(argv[1], "sigkill") == 0)
        kill(getpid(), SIGKILL);
    if (strcmp(argv[1], "bytes") == 0) {
        static const char message[] = "\xff\xfe\x00\"quoted\", (comma) [x]\n";
        write(1, message, sizeof message - 1);
        return 0;
    }
    if (strcmp(argv[1], "block") == 0) {
        char c;
        return read(0, &c, 1) == 1 ? 0 : 1;
    }
    return 99;
}
"""


def compile_c(folder: Path, name: str, source: str, *flags: str) -> Path:
    (folder / f"{name}.c").write_text(source)
    program = folder / name
    subprocess.run(["cc", "-std=gnu11", "-Wall", "-Wextra", "-O2", "-o", str(program),
                    str(folder / f"{name}.c"), *flags], check=True)
    return program


@pytest.fixture(scope="module")
def programs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("trace-parse")
    return {"threads": compile_c(folder, "threads", THREADS, "-pthread"),
            "shapes": compile_c(folder, "shapes", SHAPES)}


def test_single_file_unfinished_and_resumed_are_joined(programs, tmp_path):
    """strace -f into one file splits a blocked call when another task runs meanwhile."""
    out = tmp_path / "single"
    subprocess.run([STRACE, "-f", "-q", "-ttt", "-xx", "-o", str(out), "-e",
                    "trace=read,write,clone,clone3,wait4,exit_group",
                    str(programs["threads"])], check=True)
    text = out.read_text()
    assert "read(3,  <unfinished ...>" in text and "<... read resumed>" in text
    trace = Trace.load(out)
    assert trace.unparsed == 0
    reads = trace.calls("read", fd=3, count=16)
    assert len(reads) == 1
    (read,) = reads
    assert read.string(1) == b"ab" and read.retval == 2 and not read.unfinished
    assert read.args == ["3", '"\\x61\\x62"', "16"]
    started = next(line for line in text.splitlines() if "read(3,  <unfinished" in line)
    assert read.ts == started.split()[1]  # the joined call sits where it started
    main = trace.main_pid
    assert read.pid != main and trace.process_of(read.pid) == main  # a thread, not a child
    (child,) = trace.children()
    assert trace.exit_status(child) == 4 and trace.exit_status() == 0
    waited = trace.calls("wait4")[0]  # also split, by the child's lines
    assert waited.retval == child and "WEXITSTATUS(s) == 4" in waited.args_text


def test_per_process_files_and_a_call_that_never_returned(programs, tmp_path):
    """-ff: one file per task; a thread still blocked at exit ends `<unfinished ...>) = ?`."""
    run = run_traced([str(programs["threads"]), "abandon"], tmp_path / "ff", "read,write")
    assert run.returncode == 5
    trace = run.trace
    files = sorted(p.name for p in tmp_path.glob("ff.*"))
    assert len(files) == 2 and sorted(trace.tids) == sorted(int(f[3:]) for f in files)
    (blocked,) = [c for c in trace.calls("read") if c.arg(0) == "3" and c.pid != trace.main_pid]
    assert blocked.unfinished and blocked.retval is None and blocked.args == ["3"]
    assert "did not return" in blocked.short()
    assert trace.pids == [trace.main_pid]  # the thread belongs to the main process
    assert trace.exit_status() == 5
    assert trace.unparsed == 0


def test_signal_delivery_line(programs, tmp_path):
    trace = run_traced([str(programs["shapes"]), "usr1"], tmp_path / "usr1", "%signal").trace
    (usr1,) = [s for s in trace.events if isinstance(s, Signal)]
    assert usr1.name == "SIGUSR1" and usr1.sender == trace.main_pid and usr1.code == "SI_USER"
    assert usr1.info.startswith("{si_signo=SIGUSR1, si_code=SI_USER, si_pid=")
    (kill,) = trace.calls("kill")
    assert kill.args == [str(trace.main_pid), "SIGUSR1"] and kill.ok
    assert trace.exit_status() == 7


@pytest.mark.parametrize(("mode", "sig"), [("segv", "SIGSEGV"), ("sigkill", "SIGKILL")])
def test_killed_by_signal(programs, tmp_path, mode, sig):
    run = run_traced([str(programs["shapes"]), mode], tmp_path / mode, "%signal")
    exits = run.trace.exits
    assert [(e.code, e.signal) for e in exits] == [(None, sig)]
    number = int(signal.Signals[sig])
    assert run.trace.exit_status() == -number == run.returncode
    assert isinstance(run.trace.events[-1], Exit)


def test_exit_codes_of_processes(programs, tmp_path):
    trace = run_traced([str(programs["threads"])], tmp_path / "codes", "write").trace
    (child,) = trace.children()
    assert {trace.exit_status(): "main", trace.exit_status(child): "child"} == {
        0: "main", 4: "child"}
    assert trace.calls("write", process=child)[0].string(1) == b"child\n"


def test_non_utf8_bytes_survive(programs, tmp_path):
    run = run_traced([str(programs["shapes"]), "bytes"], tmp_path / "bytes", "write")
    (write,) = run.trace.calls("write", fd=1)
    expected = b'\xff\xfe\x00"quoted", (comma) [x]\n'
    assert run.stdout == expected
    assert write.string(1) == expected and write.value(2) == len(expected)
    assert len(write.args) == 3  # the comma, quote and brackets inside stay in the string
    # feedback shows it escaped, and cut: an excerpt is never a dump
    assert write.short() == 'write(1, "\\xff\\xfe\\x00\\"quoted\\", "..., 25) = 25'


def test_a_line_cut_short_when_strace_was_killed(programs, tmp_path):
    """Killing strace alone detaches the tracee and leaves a half-written last line."""
    prefix = tmp_path / "cut"
    popen = subprocess.Popen([STRACE, "-ff", "-ttt", "-xx", "-o", str(prefix), "-e",
                              "trace=read", str(programs["shapes"]), "block"],
                             stdin=subprocess.PIPE, start_new_session=True)
    try:
        (path,) = wait_for_files(prefix, 1)
        while not path.read_text().endswith("read(0, "):
            time.sleep(0.01)
        tracee = int(path.name.rsplit(".", 1)[1])
        os.kill(popen.pid, signal.SIGKILL)
        popen.wait()
        assert Path(f"/proc/{tracee}").exists()  # detached, still running: kill the group!
    finally:
        os.killpg(popen.pid, signal.SIGKILL)
        popen.wait()
        if popen.stdin:
            popen.stdin.close()
    trace = Trace.load(prefix)
    last = trace.events[-1]
    assert isinstance(last, Syscall) and last.name == "read" and last.unfinished
    assert last.args == ["0"] and trace.unparsed == 0


def test_stop_kills_tracee_and_records_it(programs, tmp_path):
    prefix = tmp_path / "stopped"
    popen = subprocess.Popen([*strace_command(prefix, "read"), str(programs["shapes"]), "block"],
                             stdin=subprocess.PIPE, start_new_session=True)
    pid = tracee_pid(popen.pid)
    assert pid is not None
    (path,) = wait_for_files(prefix, 1)
    while not path.read_text().endswith("read(0, "):  # blocked in read(): stop it there
        time.sleep(0.01)
    stop(popen)
    if popen.stdin:
        popen.stdin.close()
    assert not Path(f"/proc/{pid}").exists()
    trace = Trace.load(prefix)
    assert trace.exit_status() == -signal.SIGKILL
    assert trace.calls("read", fd=0)[-1].unfinished


def test_lines_nobody_understands_are_kept_raw_and_counted(programs, tmp_path):
    """Real strace lines in a shape neither parser knows (here: made without -ttt, so no
    timestamps) next to a normal trace: kept raw, counted, and the grade goes on."""
    prefix = tmp_path / "mixed"
    subprocess.run([STRACE, "-ff", "-xx", "-o", str(prefix), "-e", "trace=kill,write",
                    str(programs["shapes"]), "usr1"], check=False)
    (foreign,) = tmp_path.glob("mixed.*")
    foreign_lines = foreign.read_text().splitlines()
    assert foreign_lines[0].startswith("kill(")  # real strace output, just not ours
    fallback = Fallback()
    events = parse_text(foreign.read_text(), int(foreign.name[6:]), fallback)
    assert [e.text for e in events if isinstance(e, Raw)] == foreign_lines
    assert fallback.tried == len(foreign_lines) and fallback.rescued == 0  # asked in vain

    run = run_traced([str(programs["shapes"]), "usr1"], prefix, "%signal")
    trace = run.trace  # loads both files of the prefix
    assert trace.unparsed == len(foreign_lines) == len(trace.raw)
    assert trace.main_pid == run.trace.exit_event().pid != int(foreign.name[6:])
    assert trace.exit_status() == 7 and trace.used("kill", sig="SIGUSR1")
    assert "\\x" not in trace.excerpt() and "+++" not in trace.excerpt()  # raw: no feedback


def test_fallback_is_bounded():
    garbage = "".join(f"1795265471.{i:06d} ??? {i}\n" for i in range(200))
    fallback = Fallback(budget=5)
    events = parse_text(garbage, 1, fallback)
    assert len(events) == 200 and all(isinstance(e, Raw) for e in events)
    assert fallback.tried == 5


def wait_for_files(prefix: Path, count: int) -> list[Path]:
    deadline = time.monotonic() + 10
    while True:
        found = sorted(prefix.parent.glob(prefix.name + ".*"))
        if len(found) >= count:
            return found
        assert time.monotonic() < deadline, "strace wrote no output"
        time.sleep(0.01)
