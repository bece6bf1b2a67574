"""strace text -> typed events, fast.

Why a hand-written parser and not strace-parser alone: strace-parser (PyPI, a Lark grammar)
parses a few hundred lines per second, and a grading run easily produces 100,000 lines (a
ping-pong loop, a busy select server). It also stops at lines it has no rule for: every
`--- SIGxxx {...} ---` delivery, `+++ killed by ... +++`, `<unfinished ...>` and
`<... resumed>` halves, pid-prefixed lines, wait4's `{WIFEXITED(s) && ...}` status. Those are
exactly the lines IPC checks care about.

So the work is split by what each side is good at:

* The fast path: one compiled regular expression runs over the whole file at once
  (`findall`), so the regex engine, not Python, splits every plain call line into time,
  name, argument text and result. A plain call then costs a tuple unpacking and one small
  object; the other shapes (signal, exit, unfinished, resumed) have one compiled pattern
  each and are tried line by line. Arguments stay as text until a check asks (events.py),
  timestamps stay as text until read, and the cyclic GC is paused while the events are
  built (they hold no cycles). bench/trace_parse.py prints the figures: several hundred
  thousand lines per second, three orders of magnitude above strace-parser.
* strace-parser is the second opinion: a line no fast pattern accepts is handed to it, and
  if it parses, its name, arguments and result become the event. Its grammar's shapes are a
  subset of the fast patterns' (same timestamp, `name(args) = result` and
  `+++ exited with N +++` rules, stricter arguments), so for strace_command's output it
  rescues nothing today; it stays as a cheap safety net for unforeseen shapes, bounded
  (FALLBACK_BUDGET lines per trace, loaded on first use, counted in Fallback).
* strace-parser is also the oracle: tests/test_trace_crosscheck.py parses real traces with
  both and requires the same name, arguments and result on every line strace-parser parses.
* Whatever neither understands becomes a `Raw` event: kept, counted in `Trace.unparsed`,
  never an exception, so one odd line cannot crash a grade.

Input is what `strace_command` asks for: `-ttt` timestamps and `-xx` strings, one file per
task (-ff, no pid column). Single-file `-f` output (pid column, calls split into
`name(args <unfinished ...>` and `<... name resumed>rest) = result` when tasks interleave)
parses too, with the halves joined into one event at the time the call started.
"""

from __future__ import annotations

import gc
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from grader.trace.events import UNFINISHED, Event, Exit, Raw, Signal, Syscall

# Lines strace-parser may be asked about per trace; each costs milliseconds.
FALLBACK_BUDGET = 64

_CALL = re.compile(r"(\d+\.\d+) (\w+)\((.*)\) +=(?: (.*))?\Z")
_SIGNAL = re.compile(r"(\d+\.\d+) --- (?:(\w+) (\{.*\})|stopped by (\w+)) ---\Z")
_EXIT = re.compile(
    r"(\d+\.\d+) \+\+\+ (?:exited with (-?\d+)|killed by (\w+)( \(core dumped\))?"
    r"|superseded by execve in pid (\d+)) \+\+\+\Z")
_UNFINISHED = re.compile(r"(\d+\.\d+) (\w+)\((.*) <unfinished \.\.\.>\Z")
_RESUMED = re.compile(r"(\d+\.\d+) <\.\.\. (\w+) resumed>(.*)\) +=(?: (.*))?\Z")
_PARTIAL = re.compile(r"(\d+\.\d+) (\w+)\((.*)\Z")
# Every line of a file at once: a complete call that did not end blocked (groups 1-4), or
# anything else (group 5, handled line by line). Calls whose arguments end in
# `<unfinished ...>` are kept out of the fast branch by the lookbehind.
_FAST_CALL = r"(\d+\.\d+) (\w+)\((.*)(?<!<unfinished \.\.\.>)\) +=(?: (.*))?"
_EVERY_LINE = re.compile(rf"^(?:{_FAST_CALL}|(.+))$", re.MULTILINE)
_EVERY_PREFIXED_LINE = re.compile(rf"^(?:(\d+) +{_FAST_CALL}|(.+))$", re.MULTILINE)
_TIME = re.compile(r"(\d+\.\d+) ")
_PID = re.compile(r"(\d+) +")


class Fallback:
    """strace-parser as a bounded second opinion (see the module docstring)."""

    def __init__(self, budget: int = FALLBACK_BUDGET) -> None:
        self.budget = budget
        self.tried = 0
        self.rescued = 0

    def parse(self, pid: int, line: str) -> Syscall | None:
        if self.tried >= self.budget:
            return None
        self.tried += 1
        parsed = strace_parser_parse(line)
        if parsed is None:
            return None
        _, name, args, result = parsed
        self.rescued += 1
        return Syscall(pid, line.split(" ", 1)[0], name, ", ".join(args), result)


def strace_parser_parse(line: str) -> tuple[float, str, list[str], str] | None:
    """Parse one line with strace-parser: (time, name, args as text, result), None if it fails.

    Only syscall lines count; strace-parser's `+++ exited with` rule is not needed here.
    """
    # Imported here: Lark and the grammar cost time, and most traces never need them. Both
    # use deprecated stdlib modules; their warnings are theirs, not the grader's.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from lark.exceptions import LarkError
        from strace_parser.json_transformer import to_json
        from strace_parser.parser import get_parser

        parser = get_parser()
    try:
        lines = to_json(parser.parse(line.rstrip("\n") + "\n"))
    except (LarkError, ValueError, KeyError, IndexError, TypeError):
        return None
    if len(lines) != 1 or lines[0].get("type") != "syscall":
        return None
    body = lines[0]
    return (float(body["timestamp"]), str(body["name"]),
            render_strace_parser_args(body["args"]), str(body["result"]).strip())


def render_strace_parser_args(args: list[Any]) -> list[str]:
    """strace-parser's JSON arguments back to strace's text, one string per argument."""
    return [_render(arg) for arg in args]


def _render(node: Any) -> str:
    kind = node.get("type") if isinstance(node, dict) else None
    if kind == "other":
        return str(node["value"]).strip()
    if kind == "braced":
        return "{" + ", ".join(_render(a) for a in node["value"]) + "}"
    if kind == "bracketed":
        return "[" + ", ".join(_render(a) for a in node["value"]) + "]"
    if kind == "key_value":
        return f"{node['key']}={_render(node['value'])}"
    if kind == "function":
        return f"{node['name']}(" + ", ".join(_render(a) for a in node["args"]) + ")"
    if kind == "sigset":
        return ("~" if node["negated"] else "") + "[" + " ".join(node["args"]) + "]"
    return str(node)


class _Joiner:
    """Turns the lines of one file into events; remembers calls left `<unfinished ...>`."""

    def __init__(self, fallback: Fallback | None) -> None:
        self.fallback = fallback
        self.pending: dict[int, Syscall] = {}
        self.last_ts = "0.0"

    def slow(self, pid: int, line: str, events: list[Event]) -> None:
        """Every line shape but the plain complete call (which the hot loop handles)."""
        if not line:
            return
        event: Event
        match = _CALL.match(line)
        if match is not None:
            ts, name, args, result = match.groups()
            event = _call(pid, ts, name, args, result)
        elif (match := _SIGNAL.match(line)) is not None:
            ts, name, info, stopped = match.groups()
            event = Signal(pid, ts, name or stopped, info or "", stopped is not None)
        elif (match := _EXIT.match(line)) is not None:
            ts, code, killer, core, superseder = match.groups()
            event = Exit(pid, ts, None if code is None else int(code), killer,
                         core is not None, None if superseder is None else int(superseder))
            self.pending.pop(pid, None)
        elif (match := _UNFINISHED.match(line)) is not None:
            ts, name, args = match.groups()
            args = args.rstrip(" ")
            call = Syscall(pid, ts, name, args + " " if args.endswith(",") else args, None,
                           unfinished=True)
            self.pending[pid] = event = call
        elif (match := _RESUMED.match(line)) is not None:
            ts, name, rest, result = match.groups()
            started = self.pending.pop(pid, None)
            if started is not None and started.name == name:
                # one event for both halves, at the time the call started
                still_blocked = rest.endswith(UNFINISHED)
                if still_blocked:
                    rest = rest[: -len(UNFINISHED)]
                started.args_text = (started.args_text + rest).rstrip(", ")
                started.result = result
                started.unfinished = still_blocked
                return
            event = _call(pid, ts, name, rest, result)  # its start was not traced
        else:
            rescued = self.fallback.parse(pid, line) if self.fallback else None
            if rescued is None:
                found = _TIME.match(line)
                event = Raw(pid, found.group(1) if found else self.last_ts, line)
            else:
                event = rescued
        self.last_ts = event.ts
        events.append(event)

    def partial(self, pid: int, line: str, events: list[Event]) -> None:
        """The last line of a file strace did not finish (it was killed mid-line)."""
        match = _PARTIAL.match(line)
        if match is None or _CALL.match(line) or _UNFINISHED.match(line):
            self.slow(pid, line, events)
            return
        ts, name, args = match.groups()
        events.append(Syscall(pid, ts, name, args.rstrip(", "), None, unfinished=True))


def _call(pid: int, ts: str, name: str, args: str, result: str | None) -> Syscall:
    if args.endswith(UNFINISHED):  # -ff: `read(3,  <unfinished ...>) = ?` (killed in the call)
        return Syscall(pid, ts, name, args[: -len(UNFINISHED)].rstrip(", "), result, True)
    return Syscall(pid, ts, name, args, result)


@contextmanager
def no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many small objects.

    Events hold no reference cycles, so the collections that 100,000 new objects trigger
    find nothing and cost 15-30% of the parse. The previous state is restored on exit.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def parse_text(text: str, pid: int | None = None,
               fallback: Fallback | None = None) -> list[Event]:
    """Events of one strace output file, in file order.

    `pid`: the task of a `-ff` file (`<prefix>.<pid>`); None for single-file `-f` output,
    whose lines start with the pid.
    """
    with no_gc():
        return _parse_text(text, pid, fallback)


def _parse_text(text: str, pid: int | None, fallback: Fallback | None) -> list[Event]:
    cut = text.rfind("\n") + 1
    body, tail = text[:cut], text[cut:]  # tail: a last line strace did not finish
    joiner = _Joiner(fallback)
    events: list[Event] = []
    append = events.append
    slow = joiner.slow
    if pid is None:
        for task, ts, name, args, result, other in _EVERY_PREFIXED_LINE.findall(body):
            if ts:
                append(Syscall(int(task), ts, name, args, result))
            elif other:
                found = _PID.match(other)
                if found is None:
                    append(Raw(0, joiner.last_ts, other))
                else:
                    slow(int(found.group(1)), other[found.end():], events)
        if tail:
            found = _PID.match(tail)
            if found is None:
                append(Raw(0, joiner.last_ts, tail))
            else:
                joiner.partial(int(found.group(1)), tail[found.end():], events)
        return events
    # The hot loop: the regex engine splits every line in one findall; plain calls cost one
    # tuple unpacking and one small object each, every other shape goes to `slow`.
    for ts, name, args, result, other in _EVERY_LINE.findall(body):
        if ts:
            append(Syscall(pid, ts, name, args, result))
        elif other:
            slow(pid, other, events)
    if tail:
        joiner.partial(pid, tail, events)
    return events


def parse_file(path: Path, pid: int | None = None,
               fallback: Fallback | None = None) -> list[Event]:
    """Events of one strace output file (see `parse_text`)."""
    # strace -xx output is ASCII; latin-1 maps any stray byte to one character, losslessly.
    with open(path, encoding="latin-1", newline="") as handle:
        return parse_text(handle.read(), pid, fallback)
