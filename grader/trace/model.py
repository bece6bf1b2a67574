"""The Trace: every event of one traced run, and the questions checks ask of it.

A check should read like its rubric line, so each question is one call:
`trace.used("socket", domain="AF_UNIX", type="SOCK_STREAM")`, `trace.never({"pipe"})`,
`trace.fds_open_at_exit()`, `trace.signals_sent(to=pid)`. Names are libc names or kernel
names (syscalls.ALIASES maps `select` to `pselect6`, `mkfifo` to `mknodat(..S_IFIFO..)`).

pid arguments: strace reports tasks (threads have their own ids). Questions about a process
("which fds were open when it exited", "how did it end") take a process id and default to the
main process, the one strace started. Questions about events (`calls`, `used`, `never`,
`signals_received`...) default to every process of the run; a process id given to them
(`process=` for calls/used, whose other keywords are syscall arguments; `pid=` elsewhere)
includes that process's threads.

Process structure (threads vs children, fd tables, who reaped whom) comes from the
bookkeeping calls `strace_command` always traces (clone, execve, wait4, close, dup,
unlink...), and is worked out once, on first use, in one pass over the events.

A trace only knows the calls it was asked to record: `used("mknodat")` on a run traced with
"%desc" is False whatever the program did. Trace what a question needs (the check's
`trace=`); `grade validate` (the reference passes, each mutant fails) catches a check that
traces too little.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from operator import attrgetter
from pathlib import Path
from typing import Any

from grader.trace.events import (
    Event,
    Exit,
    Raw,
    SentSignal,
    Signal,
    Syscall,
    decode_string,
    struct_fields,
    token_value,
)
from grader.trace.parse import Fallback, no_gc, parse_file
from grader.trace.syscalls import (
    ALIASES,
    ARG_NAMES,
    FD_PAIR_ARG,
    RETURNS_FD,
    SENDS_SIGNAL,
    arg_names,
    kernel_names,
)

_FD_PAIR = re.compile(r"\[(\d+), (\d+)\]")
_SCM_RIGHTS = re.compile(r"SCM_RIGHTS, cmsg_data=\[([\d, ]+)\]")
_SI_PID = re.compile(r"\bsi_pid=(\d+)")
_SYNONYMS = {"AF_LOCAL": "AF_UNIX", "PF_LOCAL": "AF_UNIX", "PF_UNIX": "AF_UNIX",
             "PF_INET": "AF_INET", "PF_INET6": "AF_INET6"}
_DEFAULT_EXCERPT_CHARS = 400

Wanted = Any  # str | bytes | int | None | dict | Callable[[value], bool] | Path


@dataclass
class _Process:
    """What one pass over the events learns about one process (thread group)."""

    pid: int
    parent: int | None = None
    children: list[int] = field(default_factory=list)
    reaped: set[int] = field(default_factory=set)
    auto_reap: bool = False  # SIGCHLD ignored or SA_NOCLDWAIT: the kernel reaps children
    fds: dict[int, tuple[Syscall, bool]] = field(default_factory=dict)  # fd -> (opener, cloexec)
    fds_at_exit: dict[int, Syscall] | None = None
    exit: Exit | None = None


class Trace:
    """The parsed syscall trace of one run (all processes and threads, in time order)."""

    def __init__(self, events: list[Event], main_pid: int | None = None,
                 ordered: bool = False) -> None:
        """`events` of all tasks; `ordered`: already in time order (one file), skip sorting."""
        if not ordered:
            # Stable, so file order is kept within equal times; the text timestamps of -ttt
            # have a fixed width and sort as text, without a float per event.
            events.sort(key=attrgetter("ts"))
        self.events = events
        self._main_pid = main_pid
        self._by_name: dict[str, list[Syscall]] | None = None
        self._tgid: dict[int, int] | None = None
        self._processes: dict[int, _Process] | None = None

    # ---- loading --------------------------------------------------------------------------

    @classmethod
    def load(cls, out_prefix: Path | str, main_pid: int | None = None,
             program: str | None = None) -> Trace:
        """Read every `<prefix>.<pid>` file strace -ff wrote (or the single -f file `<prefix>`).

        Load after strace has exited: a file still being written gives a partial trace (its
        cut last line becomes an unfinished call). Raises FileNotFoundError if strace wrote
        nothing, which means it did not start. With `program` (its path), what the main
        process did before it exec'd that program is dropped: the calls of the wrappers that
        start it (setpriv, env, prlimit) are not the student's.
        """
        prefix = Path(out_prefix)
        fallback = Fallback()
        events: list[Event] = []
        files = 0
        with no_gc():
            if prefix.parent.is_dir():
                for path in prefix.parent.glob(glob_escape(prefix.name) + ".*"):
                    suffix = path.name[len(prefix.name) + 1:]
                    if suffix.isdigit():
                        events.extend(parse_file(path, int(suffix), fallback))
                        files += 1
            if prefix.is_file():
                events.extend(parse_file(prefix, None, fallback))
                files += 1
            if not files:
                raise FileNotFoundError(
                    f"no strace output at {prefix}.<pid>: strace did not run")
            trace = cls(events, main_pid, ordered=files == 1)
        if program is not None:
            trace.drop_before_exec(program)
        return trace

    def drop_before_exec(self, program: str) -> None:
        """Forget the main process's events before its successful execve of `program`."""
        main, path = self.main_pid, program.encode("utf-8", "surrogateescape")
        for index, event in enumerate(self.events):
            if (event.pid == main and isinstance(event, Syscall) and event.name == "execve"
                    and event.ok and event.argument("pathname") == path):
                self.events = [e for e in self.events[:index] if e.pid != main] + \
                    self.events[index:]
                self._by_name = self._tgid = self._processes = None
                return

    # ---- who is in it ---------------------------------------------------------------------

    @property
    def main_pid(self) -> int | None:
        """The process strace started: the earliest one that no traced process created."""
        if self._main_pid is None:
            processes = self._analyse()
            for event in self.events:
                if isinstance(event, Raw):  # no trustworthy time or pid
                    continue
                process = processes.get(self._group(event.pid))
                if process is not None and process.parent is None:
                    self._main_pid = process.pid
                    break
        return self._main_pid

    @property
    def pids(self) -> list[int]:
        """Process ids (thread groups) in order of appearance, the main process first."""
        seen: dict[int, None] = {}
        main = self.main_pid
        if main is not None:
            seen[main] = None
        for event in self.events:
            if not isinstance(event, Raw):
                seen.setdefault(self._group(event.pid), None)
        return list(seen)

    @property
    def tids(self) -> list[int]:
        """Every task id (processes and threads) in order of appearance."""
        return list(dict.fromkeys(event.pid for event in self.events
                                  if not isinstance(event, Raw)))

    def process_of(self, tid: int) -> int:
        """The process (thread group) id of a task id."""
        return self._group(tid)

    @property
    def raw(self) -> list[Raw]:
        """Lines nothing understood, verbatim."""
        return [event for event in self.events if isinstance(event, Raw)]

    @property
    def unparsed(self) -> int:
        """How many lines nothing understood (kept as Raw events)."""
        return sum(1 for event in self.events if isinstance(event, Raw))

    @property
    def exits(self) -> list[Exit]:
        """Every `+++ exited/killed +++` event, threads included."""
        return [event for event in self.events if isinstance(event, Exit)]

    # ---- calls ----------------------------------------------------------------------------

    def calls(self, name: str | Iterable[str] | None = None, /, *,
              process: int | None = None, ok: bool | None = None,
              **args: Wanted) -> list[Syscall]:
        """The calls named `name` (libc or kernel names; None: all), in time order.

        `process` keeps one process (with its threads); `ok=True/False` keeps successes or
        failures; other keyword arguments are the call's own arguments and keep the calls
        where they match (see `used`). The process filter is not called `pid` because
        kill(pid, sig) and wait4(pid, ...) have an argument of that name.
        """
        if name is None:
            found: Iterable[Syscall] = (e for e in self.events if isinstance(e, Syscall))
        else:
            found = self._named(name)
        if process is not None:
            group = self._group(process)
            found = (c for c in found if self._group(c.pid) == group)
        if ok is not None:
            found = (c for c in found if c.ok == ok)
        if args:
            names = [name] if isinstance(name, str) else list(name or [])
            _check_arg_names(names, args)
            found = (c for c in found if _args_match(c, args))
        return list(found)

    def used(self, name: str | Iterable[str], /, *, process: int | None = None,
             ok: bool | None = None, **args: Wanted) -> bool:
        """True if the program made such a call.

        Keyword arguments match arguments by name for each kernel call (socket: domain, type,
        protocol; openat: dirfd, pathname, flags, mode; `arg0`, `arg1`... always work):

        * a str matches a symbolic argument; for flag sets (`A|B`) every wanted flag must be
          present, so type="SOCK_STREAM" accepts `SOCK_STREAM|SOCK_CLOEXEC|SOCK_NONBLOCK`;
          for a string argument it is compared with the decoded bytes (a leading '/' is
          ignored for mq_* names, which strace shows without it);
        * bytes match a string argument exactly; an int matches a number (0644 octal too);
        * a dict matches struct fields: addr={"sun_path": "/tmp/s"};
        * a callable gets the argument's value (int, bytes, None or text) and returns a bool.
        """
        return bool(self.calls(name, process=process, ok=ok, **args))

    def never(self, specs: str | Iterable[str], pid: int | None = None) -> list[Syscall]:
        """The calls that break a "never use" rule: [] when the program complied.

        A spec is a name, optionally followed by the first argument's value:
        `{"socket AF_INET", "pipe", "mkfifo"}`. `pipe` covers pipe and pipe2, `mkfifo` the
        mknod/mknodat calls that create a FIFO.
        """
        if isinstance(specs, str):
            specs = [specs]
        offending: dict[int, Syscall] = {}
        for spec in specs:
            name, _, first = spec.strip().partition(" ")
            wanted: dict[str, Wanted] = {}
            if first.strip():
                names = arg_names(name)
                wanted[names[0] if names else "arg0"] = first.strip()
            for call in self.calls(name, process=pid, **wanted):
                offending[id(call)] = call
        return sorted(offending.values(), key=attrgetter("ts"))

    def files_written(self, pid: int | None = None,
                      allowed: Iterable[bytes] = (b"/dev/null", b"/dev/tty")) -> list[Syscall]:
        """Successful opens of a file for writing (open, openat, openat2 with O_WRONLY,
        O_RDWR, O_CREAT or O_TRUNC; creat), except of the `allowed` paths."""
        allowed = tuple(allowed)
        found = []
        for call in self.calls(("open", "creat"), process=pid, ok=True):
            path = call.argument("pathname")
            writing = call.name == "creat" or re.search(r"O_WRONLY|O_RDWR|O_CREAT|O_TRUNC",
                                                        call.args_text)
            if writing and not (isinstance(path, bytes) and path.startswith(allowed)):
                found.append(call)
        return found

    def unlinked(self, path: str | Path, pid: int | None = None) -> bool:
        """True if the program removed `path` (a successful unlink/unlinkat).

        A relative path in the trace matches the end of an absolute `path` (the program's
        working directory is not in the trace). A POSIX IPC name ("/queue", one slash) also
        matches mq_unlink, shm_unlink and sem_unlink of that name.
        """
        wanted = str(path).encode("utf-8", "surrogateescape")
        ipc_name = wanted.startswith(b"/") and b"/" not in wanted[1:]
        for call in self.calls(("unlink", "unlinkat", "mq_unlink"), process=pid, ok=True):
            if call.name == "mq_unlink":
                if ipc_name and call.string(0) == wanted[1:]:
                    return True
                continue
            removed = call.argument("pathname")
            if not isinstance(removed, bytes) or "AT_REMOVEDIR" in call.args_text:
                continue
            if removed == wanted or (not removed.startswith(b"/")
                                     and wanted.endswith(b"/" + removed)):
                return True
            if ipc_name and removed in (b"/dev/shm" + wanted, b"/dev/shm/sem." + wanted[1:]):
                return True
        return False

    # ---- processes ------------------------------------------------------------------------

    def fds_open_at_exit(self, pid: int | None = None) -> dict[int, Syscall]:
        """Descriptors (>= 3) the process had not closed when it exited: fd -> the call that
        opened it (socket, accept, open, pipe, dup...). Inherited ones count; close-on-exec
        ones are dropped at execve. Still running at the end of the trace: open at that time.

        Needs the opening calls traced (%net for sockets, %desc for files and pipes); closes
        and dups are always traced, so an untraced opener hides a leak but never invents one.
        """
        process = self._process(pid)
        if process is None:
            return {}
        table = process.fds_at_exit if process.fds_at_exit is not None else {
            fd: opener for fd, (opener, _) in process.fds.items()}
        return {fd: table[fd] for fd in sorted(table) if fd > 2}

    def children(self, pid: int | None = None) -> list[int]:
        """Processes created by `pid` (default: the main process) with fork/vfork/clone."""
        process = self._process(pid)
        return list(process.children) if process else []

    def unreaped_children(self, pid: int | None = None) -> list[int]:
        """Children nobody waited for (wait4/waitid), unless SIGCHLD was set to be ignored.

        pid None: the children of every process in the trace.
        """
        processes = self._analyse()
        if pid is None:
            parents: list[_Process] = list(processes.values())
        else:
            one = self._process(pid)
            parents = [one] if one else []
        return [child for parent in parents for child in parent.children
                if child not in parent.reaped]

    def children_reaped(self, pid: int | None = None) -> bool:
        """True if every child process (of `pid`, or of every process) was waited for."""
        return not self.unreaped_children(pid)

    def exit_status(self, pid: int | None = None) -> int | None:
        """How the process ended, as subprocess reports it: the exit code, or -N if killed by
        signal N. None if its end is not in the trace (still running, or strace was killed).
        """
        process = self._process(pid)
        if process is None or process.exit is None:
            return None
        return process.exit.returncode

    def exit_event(self, pid: int | None = None) -> Exit | None:
        """The `+++ exited/killed +++` event of the process (code, signal name, core dump)."""
        process = self._process(pid)
        return process.exit if process else None

    # ---- signals --------------------------------------------------------------------------

    def signals_sent(self, to: int | None = None, pid: int | None = None) -> list[SentSignal]:
        """kill/tkill/tgkill/sigqueue calls, optionally only those aimed at `to` (a pid, or a
        negative process group) or made by process `pid`. Failed calls are included (`ok`).
        """
        sent = []
        for call in self.calls(list(SENDS_SIGNAL), process=pid):
            target_at, signal_at = SENDS_SIGNAL[call.name]
            target = call.value(target_at)
            if not isinstance(target, int):
                continue
            if to is not None and target != to and not (
                    call.name == "tgkill" and call.value(1) == to):
                continue
            signal = call.arg(signal_at) or "?"
            sent.append(SentSignal(self._group(call.pid), target, signal, call.ok, call))
        return sent

    def signals_received(self, pid: int | None = None) -> list[Signal]:
        """Signals delivered (`--- SIGUSR1 {...} ---`) to `pid` (and its threads), or to any
        process. Group stops (`--- stopped by SIGSTOP ---`) are not deliveries: left out.
        """
        group = None if pid is None else self._group(pid)
        return [event for event in self.events
                if isinstance(event, Signal) and not event.stopped
                and (group is None or self._group(event.pid) == group)]

    # ---- feedback -------------------------------------------------------------------------

    def excerpt(self, names: str | Iterable[str] | None = None, last: int = 5,
                pid: int | None = None, max_chars: int = _DEFAULT_EXCERPT_CHARS) -> str:
        """The last `last` events as one short line for feedback, e.g.
        `socket(AF_UNIX, SOCK_STREAM, 0) = 3, bind(3, {...}) = 0, exit_group(1)`.

        Repeated calls collapse (`read(4, "ping", 4) = 4 [x1000]`), so a hot loop never makes
        it long, and the whole line is capped at `max_chars`. `names` keeps those calls (and
        signals of those names).
        """
        return excerpt(self, names, last, pid, max_chars)

    # ---- internals ------------------------------------------------------------------------

    def _named(self, name: str | Iterable[str]) -> Iterator[Syscall]:
        if self._by_name is None:
            index: dict[str, list[Syscall]] = {}
            for event in self.events:
                if isinstance(event, Syscall):
                    index.setdefault(event.name, []).append(event)
            self._by_name = index
        names = [name] if isinstance(name, str) else list(name)
        lists: list[list[Syscall]] = []
        tests: list[Callable[[Syscall], bool] | None] = []
        for one in names:
            predicate = ALIASES[one][1] if one in ALIASES else None
            for kernel in kernel_names(one):
                lists.append(self._by_name.get(kernel, []))
                tests.append(predicate)
        if len(lists) == 1:
            test = tests[0]
            return iter(lists[0] if test is None else [c for c in lists[0] if test(c)])
        merged: dict[int, Syscall] = {}
        for calls, test in zip(lists, tests, strict=True):
            for call in calls:
                if test is None or test(call):
                    merged[id(call)] = call
        return iter(sorted(merged.values(), key=attrgetter("ts")))

    def _group(self, tid: int) -> int:
        if self._tgid is None:
            self._analyse()
        assert self._tgid is not None
        return self._tgid.get(tid, tid)

    def _process(self, pid: int | None) -> _Process | None:
        processes = self._analyse()
        if pid is None:
            pid = self.main_pid
            if pid is None:
                return None
        return processes.get(self._group(pid))

    def _analyse(self) -> dict[int, _Process]:
        """One pass: thread groups, parents and children, reaping, fd tables, exits."""
        if self._processes is not None:
            return self._processes
        tgid: dict[int, int] = {}
        processes: dict[int, _Process] = {}
        self._tgid = tgid

        def process(tid: int) -> _Process:
            group = tgid.get(tid, tid)
            found = processes.get(group)
            if found is None:
                found = processes[group] = _Process(group)
            return found

        for event in self.events:
            owner = process(event.pid)
            if isinstance(event, Syscall):
                _apply_call(event, owner, tgid, processes)
            elif isinstance(event, Exit) and event.pid == owner.pid:
                # the thread group leader's line is the process's end
                owner.exit = event
                owner.fds_at_exit = {fd: opener for fd, (opener, _) in owner.fds.items()}
                parent = processes.get(owner.parent) if owner.parent else None
                if parent is not None and parent.auto_reap:
                    parent.reaped.add(owner.pid)
        self._processes = processes
        return processes


def _apply_call(call: Syscall, owner: _Process, tgid: dict[int, int],
                processes: dict[int, _Process]) -> None:
    """Update the process model with one call (only successful calls change anything)."""
    name = call.name
    if call.unfinished:
        return
    retval = call.retval
    if retval is None or retval < 0 or call.errno is not None:
        if name == "close" and call.errno not in (None, "EBADF"):
            owner.fds.pop(_int(call.arg(0)), None)  # Linux frees the fd even on EINTR/EIO
        return
    fds = owner.fds
    if name in ("clone", "clone3", "fork", "vfork"):
        if retval <= 0:
            return
        text = call.args_text
        if "CLONE_THREAD" in text:
            tgid[retval] = owner.pid
            return
        child = processes.setdefault(retval, _Process(retval))
        child.parent = owner.pid
        owner.children.append(retval)
        child.fds = fds if "CLONE_FILES" in text else dict(fds)
    elif name in RETURNS_FD:
        if name == "fcntl" and not (call.arg(1) or "").startswith("F_DUPFD"):
            if call.arg(1) == "F_SETFD" and retval == 0:
                fd = _int(call.arg(0))
                if fd in fds:
                    fds[fd] = (fds[fd][0], "FD_CLOEXEC" in (call.arg(2) or ""))
            return
        fds[retval] = (call, "CLOEXEC" in call.args_text)
    elif name in FD_PAIR_ARG:
        pair = _FD_PAIR.search(call.arg(FD_PAIR_ARG[name]) or "")
        if pair:
            cloexec = "CLOEXEC" in call.args_text
            fds[int(pair.group(1))] = (call, cloexec)
            fds[int(pair.group(2))] = (call, cloexec)
    elif name == "close":
        fds.pop(_int(call.arg(0)), None)
    elif name == "close_range":
        first, last = _int(call.arg(0)), _int(call.arg(1))
        cloexec = "CLOSE_RANGE_CLOEXEC" in call.args_text
        for fd in [fd for fd in fds if first <= fd <= (last if last >= 0 else 1 << 31)]:
            if cloexec:
                fds[fd] = (fds[fd][0], True)
            else:
                del fds[fd]
    elif name == "recvmsg":
        passed = _SCM_RIGHTS.search(call.args_text)
        if passed:
            for fd in passed.group(1).split(","):
                fds[int(fd)] = (call, "MSG_CMSG_CLOEXEC" in call.args_text)
    elif name in ("execve", "execveat"):
        for fd in [fd for fd, (_, cloexec) in fds.items() if cloexec]:
            del fds[fd]
    elif name == "wait4":
        if retval > 0:
            owner.reaped.add(retval)
    elif name == "waitid":
        reaped = _SI_PID.search(call.arg(2) or "")
        if reaped and "WNOWAIT" not in (call.arg(3) or ""):
            owner.reaped.add(int(reaped.group(1)))
    elif name == "rt_sigaction" and call.arg(0) == "SIGCHLD" and call.arg(1) not in (None,
                                                                                      "NULL"):
        act = call.arg(1) or ""
        owner.auto_reap = "SIG_IGN" in act or "SA_NOCLDWAIT" in act


def _int(token: str | None) -> int:
    """An integer argument; -1 if absent or not a number (e.g. `~0U` -> -1, "all")."""
    value = token_value(token) if token else None
    return value if isinstance(value, int) else -1


def glob_escape(name: str) -> str:
    """Escape glob metacharacters in a file name."""
    return re.sub(r"([*?\[])", r"[\1]", name)


# ---- argument matching ------------------------------------------------------------------


def _check_arg_names(names: list[str], args: dict[str, Wanted]) -> None:
    """A misspelt argument name is a bug in the check: say so instead of matching nothing."""
    if not names:
        raise TypeError("argument filters need a call name: calls('socket', domain=...)")
    for key in args:
        if key.startswith("arg") and key[3:].isdigit():
            continue
        known: set[str] = set()
        for name in names:
            known.update(arg_names(name))
            for kernel in kernel_names(name):
                known.update(ARG_NAMES.get(kernel, ()))
        if key not in known:
            raise TypeError(f"{'/'.join(names)} has no argument named {key!r}; "
                            f"known: {', '.join(sorted(known)) or 'none'} (or arg0, arg1...)")


def _args_match(call: Syscall, wanted: dict[str, Wanted]) -> bool:
    for key, want in wanted.items():
        index = call.index_of(key)
        token = None if index is None else call.arg(index)
        if token is None or not _matches(token, want, call.name.startswith("mq_")):
            return False
    return True


def _matches(token: str, want: Wanted, ipc_name: bool = False) -> bool:
    """Does one argument, as strace printed it, match what a check wants? (see Trace.used)"""
    if callable(want):
        return bool(want(token_value(token)))
    if isinstance(want, Path):
        want = str(want)
    if isinstance(want, dict):
        fields = struct_fields(token)
        return all(key in fields and _matches(fields[key], value, ipc_name)
                   for key, value in want.items())
    if want is None:
        return token == "NULL"
    if isinstance(want, bool):
        raise TypeError("compare arguments with values, not True/False")
    if isinstance(want, int):
        return token_value(token) == want
    if isinstance(want, bytes | str):
        text = decode_string(token)
        if text is not None:
            data = want.encode("utf-8", "surrogateescape") if isinstance(want, str) else want
            if ipc_name:
                return text.lstrip(b"/") == data.lstrip(b"/")
            return text == data
        if isinstance(want, bytes):
            return False
        want = want.strip()
        if "|" in want or "|" in token:
            have = {_SYNONYMS.get(flag, flag) for flag in token.split("|")}
            return all(_SYNONYMS.get(f, f) in have for f in want.split("|"))
        return _SYNONYMS.get(token, token) == _SYNONYMS.get(want, want)
    raise TypeError(f"cannot match an argument against {type(want).__name__}")


# ---- excerpts -----------------------------------------------------------------------------


def _signature(event: Event) -> tuple:
    if isinstance(event, Syscall):  # same call on the same fd with the same kind of outcome
        return (event.pid, event.name, event.arg(0), event.errno, event.retval == 0)
    return (event.pid, type(event).__name__, event.short())


def excerpt(trace: Trace, names: str | Iterable[str] | None, last: int, pid: int | None,
            max_chars: int) -> str:
    """See Trace.excerpt. Walks back from the end, so its cost is bounded by `last`."""
    wanted_calls: set[str] | None = None
    if names is not None:
        names = [names] if isinstance(names, str) else list(names)
        wanted_calls = {kernel for name in names for kernel in kernel_names(name)}
    group = None if pid is None else trace.process_of(pid)
    groups: list[tuple[Event, int]] = []  # newest first: (representative, count)
    previous: tuple | None = None
    older = 0
    for event in reversed(trace.events):
        if isinstance(event, Raw):
            continue
        if group is not None and trace.process_of(event.pid) != group:
            continue
        if wanted_calls is not None:
            label = event.name if isinstance(event, Syscall | Signal) else None
            if label not in wanted_calls and label not in names:  # type: ignore[operator]
                continue
        signature = _signature(event)
        if signature == previous:
            groups[-1] = (groups[-1][0], groups[-1][1] + 1)
            continue
        if len(groups) == last:
            older += 1
            if older > 1000:  # enough to say "more"; never walk a huge trace to its start
                break
            continue
        groups.append((event, 1))
        previous = signature
    many = len({event.pid for event, _ in groups}) > 1
    items = []
    for event, count in reversed(groups):
        text = event.short()
        if many:
            text = f"[{event.pid}] {text}"
        if count > 1:
            text += f" [x{count}]"
        items.append(text)
    line = ", ".join(items)
    if older:
        line = "... " + line
    if len(line) > max_chars:
        line = "... " + line[len(line) - max_chars + 4:]
    return line

