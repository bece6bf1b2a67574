"""How a program is run under strace: the command line, finding the tracee, stopping it.

The flags, and why (strace 6.1):

  -f -ff        follow forks and threads, one output file per task (`<prefix>.<tid>`), so
                lines never interleave and the parser needs no pid column.
  -q            keep "attached/detached" chatter off the program's stderr (the engine
                captures stderr as the program's). Not -qq: that also drops the
                `+++ exited with N +++` lines the exit status comes from.
  -ttt          absolute timestamps (seconds.microseconds): files merge in time order.
  -xx           every string byte as \\xNN: exact bytes (non-UTF-8 safe), and no quote or
                comma inside a string can confuse the parser. strace-parser needs it too.
  -s 256        strings up to 256 bytes: a whole sun_path (108) or mq name (255), and
                enough of a message for feedback; longer ones end in `...`.
  -e trace=SET  only what the check needs, plus BOOKKEEPING (clone, execve, wait4, close,
                dup...), which the Trace model needs for threads, children and fds.
  --seccomp-bpf the kernel stops the tracee only for traced calls, so an untraced hot loop
                runs at full speed. Omitted for trace=all (strace then warns on stderr that
                there is nothing to filter), and with a `signal=` injection, which strace
                6.1 silently skips at a seccomp stop. It implies -f, which we pass anyway.
  -e inject=... fault injection; the injected calls are added to the trace set, because
                strace only tampers with calls it traces. Results show `(INJECTED)`.
  --            end of strace options: the program's argv follows.

Signals (-e signal=) stay at strace's default, all: deliveries are evidence checks use.

Running it, for the engine:

* Popen's pid is strace's; `tracee_pid(popen.pid)` finds the program's. It is not simply
  strace's first child (see tracee_pid). Send signals to that pid: with `-o FILE PROG`
  strace blocks fatal signals (its -I3 default), so SIGTERM/SIGINT sent to strace itself
  do nothing.
* strace exits when every traced process has exited, with the main tracee's status (if the
  tracee is killed by a signal, strace kills itself with the same signal). A leftover child
  keeps strace, and so the "program", alive.
* Killing strace alone DETACHES the tracee, which keeps running untraced (strace 6.1 has no
  --kill-on-exit). Start strace in its own session (start_new_session=True) and stop with
  os.killpg(pgid, SIGKILL): strace, the tracee and its children go together. To keep the
  `+++ killed by SIGKILL +++` line in the trace, SIGKILL the tracee first and give strace a
  moment to write it before killing the group.
* Load the trace (`Trace.load(prefix)`) after strace has exited.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Sequence
from pathlib import Path

from grader.trace.syscalls import BOOKKEEPING, kernel_names

STRACE = "strace"
STRING_LIMIT = 256

# strace 6.1's syscall classes (man strace, "-e trace=%...").
CLASSES = frozenset({
    "%file", "%process", "%net", "%network", "%signal", "%ipc", "%desc", "%memory", "%creds",
    "%clock", "%pure", "%stat", "%lstat", "%fstat", "%%stat", "%statfs", "%fstatfs",
    "%%statfs",
})
_NAME = re.compile(r"\??[a-z_][a-z0-9_]*\Z")
_INJECT = re.compile(r"([^:]+)((?::[a-z_]+=[^:]+)+)\Z")
_INJECT_KEYS = {"error", "retval", "signal", "syscall", "delay_enter", "delay_exit",
                "poke_enter", "poke_exit", "when"}
_INJECT_ACTIONS = {"error", "retval", "signal", "delay_enter", "delay_exit", "poke_enter",
                   "poke_exit"}


def _tokens(syscalls: str | Sequence[str]) -> list[str]:
    items = [syscalls] if isinstance(syscalls, str) else list(syscalls)
    return [token.strip() for item in items for token in item.split(",") if token.strip()]


def trace_set(syscalls: str | Sequence[str], inject: Sequence[str] = ()) -> str:
    """The `-e trace=` value: the check's calls (libc names mapped to what strace shows),
    the injected calls and BOOKKEEPING, deduplicated. Raises ValueError on a bad item.

    Items: a class (`%net`), a name (`accept`, `mq_send`), a regex (`/^mq_`, the way to get
    mq_unlink, which is in no class), or `all`.
    """
    chosen: dict[str, None] = {}
    injected = [name for spec in inject for name in _inject_parts(spec)[0].split(",")]
    for token in _tokens(syscalls) + injected:
        if token == "all":
            return "all"
        if token.startswith("%"):
            if token not in CLASSES:
                raise ValueError(f"unknown strace class {token!r}; "
                                 f"known: {', '.join(sorted(CLASSES))}")
            chosen[token] = None
        elif token.startswith("/"):
            try:
                re.compile(token[1:])
            except re.error as error:
                raise ValueError(f"bad syscall regex {token!r}: {error}") from None
            chosen[token] = None
        elif token.startswith("!"):
            raise ValueError(f"{token!r}: negated sets trace almost everything; "
                             "list the calls the check needs instead")
        elif token.startswith("?") and _NAME.match(token):
            chosen[token] = None  # strace: trace it if this kernel has it
        elif _NAME.match(token):
            chosen.update(dict.fromkeys(kernel_names(token)))
        else:
            raise ValueError(f"{token!r} is not a syscall name, %class or /regex")
    for name in BOOKKEEPING:
        chosen[name] = None
    return ",".join(chosen)


def _inject_parts(spec: str) -> tuple[str, str]:
    """`connect:error=ECONNREFUSED:when=1` -> ("connect", ":error=ECONNREFUSED:when=1")."""
    match = _INJECT.match(spec.strip())
    if match is None:
        raise ValueError(f"bad inject spec {spec!r}; expected e.g. 'socket:error=EMFILE' "
                         "or 'connect:error=ECONNREFUSED:when=1'")
    keys = {part.split("=", 1)[0] for part in match.group(2).split(":")[1:]}
    unknown = keys - _INJECT_KEYS
    if unknown:
        raise ValueError(f"inject spec {spec!r}: unknown key(s) {', '.join(sorted(unknown))}")
    if not keys & _INJECT_ACTIONS:
        raise ValueError(f"inject spec {spec!r} says when but not what: add error=, retval= "
                         "or signal=")
    names = [name for token in match.group(1).split(",")
             for name in kernel_names(token.strip())]
    return ",".join(names), match.group(2)


def strace_command(out_prefix: Path, syscalls: str | Sequence[str],
                   inject: Sequence[str] = ()) -> list[str]:
    """The argv prefix that runs a program under strace (see the module docstring).

    `syscalls`: what the check needs, e.g. "%net,%desc" or ["%signal", "pause"]; may be empty
    when only `inject` matters. `inject`: strace -e inject specs such as
    "socket:error=EMFILE" or "connect:error=ECONNREFUSED:when=1" (`when` counts per task).
    Output goes to `<out_prefix>.<tid>`, one file per task; read it with Trace.load.
    """
    calls = trace_set(syscalls, inject)
    argv = [STRACE, "-f", "-ff", "-q", "-ttt", "-xx", "-s", str(STRING_LIMIT),
            "-o", str(out_prefix), "-e", f"trace={calls}"]
    if calls != "all" and not any(":signal=" in spec for spec in inject):
        argv.append("--seccomp-bpf")  # (strace 6.1 injects no signal at a seccomp stop)
    for spec in inject:
        names, actions = _inject_parts(spec)
        argv += ["-e", f"inject={names}{actions}"]
    argv.append("--")
    return argv


def tracee_pid(tracer_pid: int, timeout: float = 5.0) -> int | None:
    """The pid of the program strace started, once it runs the program, waiting up to
    `timeout` seconds. None if strace is gone, or no child of it runs the program (already
    ended: use Trace.main_pid after loading; or not yet started after `timeout`).

    `tracer_pid` may still be a wrapper that execs strace (joining a cgroup): its children
    count only once it is strace, or strace's own helpers would pass for the program.

    Not simply strace's first child: with --seccomp-bpf strace first forks a short-lived
    helper to test seccomp (killing it makes strace print "seccomp filter is requested but
    unavailable" and trace without the filter), and the tracee itself runs strace's code
    until its execve. Both still have strace's command line; the program does not.
    """
    children = Path(f"/proc/{tracer_pid}/task/{tracer_pid}/children")
    deadline = time.monotonic() + timeout
    while True:
        try:
            tracer_cmdline = Path(f"/proc/{tracer_pid}/cmdline").read_bytes()
            pids = children.read_text().split()
        except FileNotFoundError:
            return None
        except OSError:  # kernel without CONFIG_PROC_CHILDREN: scan parents instead
            pids = _children_by_scan(tracer_pid)
        if Path(os.fsdecode(tracer_cmdline.split(b"\0")[0])).name != STRACE:
            pids = []  # not strace yet (a wrapper that execs it): its children are not ours
        for pid in pids:
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if cmdline and cmdline != tracer_cmdline:
                return int(pid)
        try:
            state = Path(f"/proc/{tracer_pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return None
        if state in ("Z", "X") or time.monotonic() >= deadline:
            return None
        time.sleep(0.0005)


def _children_by_scan(parent: int) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if stat.rsplit(")", 1)[1].split()[1] == str(parent):
                found.append(entry.name)
    return found
