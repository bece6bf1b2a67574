"""Typed trace events, and the helpers that read strace's argument syntax lazily.

A trace of a chatty program has hundreds of thousands of lines, and a check looks at a
handful of them. So an event keeps the argument text exactly as strace printed it and
splits it, decodes strings or parses results only when something asks (`args`, `string()`,
`retval`). That is what keeps loading fast; the cost of reading an argument is paid once
per event that a check actually inspects.

Strings come from `strace -xx`: every byte is a `\\xNN` escape, so they decode to the exact
bytes the program passed (non-UTF-8 safe) and no comma, quote or bracket inside a string can
confuse the argument splitter. They are shown re-escaped, printable ASCII as itself, in
feedback.
"""

from __future__ import annotations

import codecs
import re
import signal as signals
from dataclasses import dataclass

from grader.trace.syscalls import ARG_NAMES

_SPECIAL = re.compile(r'[\[\]{}(),"\\]')
_HEX_BODY = re.compile(r"(?:\\x[0-9a-fA-F]{2})*")
_HEX_STRING = re.compile(r'@?"((?:\\x[0-9a-fA-F]{2})*)"(\.\.\.)?')
_CUT_ESCAPE = re.compile(r"\\(?:x[0-9a-fA-F]?)?\Z")  # an escape cut in half at the end
_OCTAL = re.compile(r"0[0-7]+")
_DECIMAL = re.compile(r"-?\d+")
_HEX = re.compile(r"0x[0-9a-fA-F]+")
_FIELD_SI_PID = re.compile(r"\bsi_pid=(\d+)")
_FIELD_SI_CODE = re.compile(r"\bsi_code=(\w+)")

UNFINISHED = "<unfinished ...>"


def split_args(text: str) -> list[str]:
    """Split strace's argument text at top-level commas: `3, [4, 5], "\\x2c"` -> 3 items."""
    if not text:
        return []
    if '"' not in text and "{" not in text and "[" not in text and "(" not in text:
        return [part.strip() for part in text.split(",")]
    parts: list[str] = []
    depth = 0
    start = 0
    in_string = False
    skip_to = -1
    for match in _SPECIAL.finditer(text):
        i = match.start()
        if i < skip_to:
            continue
        char = text[i]
        if in_string:
            if char == "\\":
                skip_to = i + 2
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{(":
            depth += 1
        elif char in "]})":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    parts.append(text[start:].strip())
    return parts


def decode_string(token: str) -> bytes | None:
    """The bytes of a strace string argument (`"\\x68\\x69"...`), None if it is not one.

    A leading `@` (abstract UNIX socket name) becomes a NUL byte, as in the kernel.
    A trailing `...` (a string strace cut at its -s limit) is dropped.
    """
    token = token.strip()
    prefix = b""
    if token.startswith("@"):
        prefix, token = b"\0", token[1:]
    if len(token) < 2 or token[0] != '"':
        return None
    end = token.rfind('"')
    if end <= 0:
        return None
    body = token[1:end]
    if _HEX_BODY.fullmatch(body):
        return prefix + bytes.fromhex(body.replace("\\x", ""))
    return prefix + codecs.escape_decode(body.encode("latin-1"))[0]


def escape_bytes(data: bytes, limit: int = 24) -> str:
    """`data` as a short C-like literal for feedback: printable ASCII as is, the rest escaped
    (`"pong\\xff"`); at most about `limit` characters between the quotes, then `...`."""
    out = ['"']
    used = 0
    for count, byte in enumerate(data):
        if byte == 0x0A:
            piece = "\\n"
        elif byte == 0x09:
            piece = "\\t"
        elif byte in (0x22, 0x5C):
            piece = "\\" + chr(byte)
        elif 0x20 <= byte < 0x7F:
            piece = chr(byte)
        else:
            piece = f"\\x{byte:02x}"
        if used + len(piece) > limit and count < len(data):
            out.append('"...')
            return "".join(out)
        out.append(piece)
        used += len(piece)
    out.append('"')
    return "".join(out)


def struct_fields(token: str) -> dict[str, str]:
    """`{sa_family=AF_UNIX, sun_path="..."}` -> {"sa_family": "AF_UNIX", "sun_path": '"..."'}."""
    token = token.strip()
    if not (token.startswith("{") and "}" in token):
        return {}
    fields: dict[str, str] = {}
    for part in split_args(token[1:token.rindex("}")]):
        key, sep, value = part.partition("=")
        if sep and key.isidentifier():
            fields[key] = value
    return fields


def token_value(token: str) -> int | bytes | str | None:
    """A plain Python value for an argument: int, bytes (strings), None (NULL) or the text."""
    token = token.strip()
    if not token:
        return token
    first = token[0]
    if first == '"' or (first == "@" and token[1:2] == '"'):
        return decode_string(token)
    if _DECIMAL.fullmatch(token):
        return int(token, 8) if _OCTAL.fullmatch(token) else int(token)
    if _HEX.fullmatch(token):
        return int(token, 16)
    if token == "NULL":
        return None
    return token


def pretty_token(token: str, limit: int = 64) -> str:
    """One argument as a student should read it: strings decoded and re-escaped, capped."""
    if '"' in token:
        token = _HEX_STRING.sub(_pretty_string, token)
    if len(token) > limit:
        token = _CUT_ESCAPE.sub("", token[: limit - 3]) + "..."
    return token


def _pretty_string(match: re.Match[str]) -> str:
    data = bytes.fromhex(match.group(1).replace("\\x", ""))
    if data.startswith(b"/") and len(data) > 32 and data.isascii() and data.decode().isprintable():
        # a long path: its end (the file's name) is what tells a student which one
        return ("@" if match.group(0).startswith("@") else "") + \
            '"...' + data[-29:].decode() + '"'
    text = escape_bytes(data, 24)
    if match.group(2) and not text.endswith("..."):
        text += "..."  # strace itself cut the string at -s
    return ("@" if match.group(0).startswith("@") else "") + text


class Event:
    """Something strace reported about one task (thread or process) at one time.

    The timestamp is kept as strace's text (`-ttt`: fixed-width seconds.microseconds, so it
    sorts correctly as text) and turned into a float only when read: parsing is the hot path.
    """

    __slots__ = ("pid", "ts")

    def __init__(self, pid: int, ts: str) -> None:
        self.pid = pid  # the task id strace reported: a thread's own id for threads
        self.ts = ts  # "1795265471.690594", when the call started

    @property
    def time(self) -> float:
        """Seconds since the epoch at which the call started (or the event happened)."""
        return float(self.ts)

    def short(self) -> str:
        """A compact one-line form for feedback."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.pid} {self.short()}>"


class Syscall(Event):
    """One system call: `name(args) = result`, with -f's unfinished/resumed halves joined.

    `args_text` and `result` are strace's own text; everything else is derived on demand.
    `unfinished` is True for a call that never returned (the task was killed or exited while
    it blocked): its result is then `?` or None.
    """

    __slots__ = ("_args", "_unfinished", "args_text", "name", "result")

    def __init__(self, pid: int, ts: str, name: str, args_text: str, result: str | None,
                 unfinished: bool = False) -> None:
        # Five stores and nothing else: this runs once per line of a trace. `_args` and
        # `_unfinished` stay unset until needed (see `args` and `unfinished`).
        self.pid = pid
        self.ts = ts
        self.name = name
        self.args_text = args_text
        self.result = result
        if unfinished:
            self._unfinished = True

    @property
    def unfinished(self) -> bool:
        """True for a call that never returned (the task was killed or exited in it)."""
        try:
            return self._unfinished
        except AttributeError:
            return False

    @unfinished.setter
    def unfinished(self, value: bool) -> None:
        self._unfinished = value

    # ---- arguments ------------------------------------------------------------------------

    @property
    def args(self) -> list[str]:
        """The arguments as strace printed them, one string each (split on first use)."""
        try:
            return self._args
        except AttributeError:
            self._args = split_args(self.args_text)
            return self._args

    def arg(self, index: int) -> str | None:
        """Argument `index` as text, None if the call has fewer arguments."""
        args = self.args
        return args[index] if -len(args) <= index < len(args) else None

    def index_of(self, arg_name: str) -> int | None:
        """Position of a named argument (`"domain"` -> 0 for socket), `"arg2"` -> 2."""
        if arg_name.startswith("arg") and arg_name[3:].isdigit():
            return int(arg_name[3:])
        names = ARG_NAMES.get(self.name, ())
        return names.index(arg_name) if arg_name in names else None

    def argument(self, arg_name: str) -> int | bytes | str | None:
        """A named argument as a Python value (see `token_value`); None if absent."""
        index = self.index_of(arg_name)
        token = None if index is None else self.arg(index)
        return None if token is None else token_value(token)

    def value(self, index: int) -> int | bytes | str | None:
        """Argument `index` as a Python value: int, bytes for strings, None for NULL/absent."""
        token = self.arg(index)
        return None if token is None else token_value(token)

    def string(self, index: int) -> bytes | None:
        """Argument `index` decoded as a string (exact bytes), None if it is not a string."""
        token = self.arg(index)
        return None if token is None else decode_string(token)

    def fields(self, index: int) -> dict[str, str]:
        """Argument `index` as a struct's fields (`{sa_family=AF_UNIX, ...}`), {} if none."""
        token = self.arg(index)
        return {} if token is None else struct_fields(token)

    # ---- result ---------------------------------------------------------------------------

    @property
    def retval(self) -> int | None:
        """The return value (-1 on error), None when strace printed `?` or nothing."""
        result = self.result
        if not result:
            return None
        head = result.split(" ", 1)[0]
        try:
            return int(head, 16) if head.startswith("0x") else int(head)
        except ValueError:
            return None

    @property
    def errno(self) -> str | None:
        """The error name (`ENOENT`, `ERESTARTSYS`), None on success."""
        result = self.result
        if not result or result[0] not in "-?":
            return None
        parts = result.split(" ", 2)
        if len(parts) > 1 and parts[1][:1] == "E" and parts[1].isupper():
            return parts[1]
        return None

    @property
    def ok(self) -> bool:
        """True if the call returned without error."""
        return self.errno is None and self.retval is not None

    @property
    def injected(self) -> bool:
        """True if strace faked this call's result (`-e inject=`, tagged `(INJECTED)`)."""
        return self.result is not None and self.result.endswith("(INJECTED)")

    # ---- display --------------------------------------------------------------------------

    def short(self, arg_limit: int = 64) -> str:
        """`write(1, "hi\\n", 3) = 3`, `socket(AF_INET, SOCK_STREAM, 0) = -1 EMFILE (injected)`."""
        args = ", ".join(pretty_token(a, arg_limit) for a in self.args)
        text = f"{self.name}({args})"
        retval = self.retval
        if retval is None:
            errno = self.errno
            if errno:
                text += f" = ? {errno}"
            elif self.unfinished:
                text += " (did not return)"
            return text
        head = self.result.split(" ", 1)[0] if self.result else str(retval)
        text += f" = {head}"
        errno = self.errno
        if errno:
            text += f" {errno}"
        if self.injected:
            text += " (injected)"
        return text


class Signal(Event):
    """A signal delivered to a task (`--- SIGUSR1 {si_signo=...} ---`), or a group stop."""

    __slots__ = ("info", "name", "stopped")

    def __init__(self, pid: int, ts: str, name: str, info: str, stopped: bool = False):
        self.pid = pid
        self.ts = ts
        self.name = name  # "SIGUSR1"
        self.info = info  # the siginfo text strace printed, "" for a stop
        self.stopped = stopped  # `--- stopped by SIGSTOP ---`, not a delivery

    @property
    def sender(self) -> int | None:
        """The pid that sent it (si_pid), None for kernel-made signals such as SIGSEGV."""
        match = _FIELD_SI_PID.search(self.info)
        return int(match.group(1)) if match else None

    @property
    def code(self) -> str | None:
        """si_code: SI_USER (kill), SI_TKILL (raise), SI_KERNEL, CLD_EXITED, SEGV_MAPERR..."""
        match = _FIELD_SI_CODE.search(self.info)
        return match.group(1) if match else None

    def short(self) -> str:
        return f"stopped by {self.name}" if self.stopped else f"{self.name} received"


class Exit(Event):
    """The end of a task: `+++ exited with N +++`, `+++ killed by SIGSEGV +++`."""

    __slots__ = ("code", "core_dumped", "signal", "superseded_by")

    def __init__(self, pid: int, ts: str, code: int | None = None,
                 signal: str | None = None, core_dumped: bool = False,
                 superseded_by: int | None = None) -> None:
        self.pid = pid
        self.ts = ts
        self.code = code  # exit code, None if killed
        self.signal = signal  # killing signal name, None if it exited
        self.core_dumped = core_dumped
        self.superseded_by = superseded_by  # a thread replaced by another thread's execve

    @property
    def returncode(self) -> int | None:
        """The subprocess convention: the exit code, or -N when killed by signal N."""
        if self.code is not None:
            return self.code
        if self.signal is not None:
            try:
                return -int(signals.Signals[self.signal])
            except KeyError:
                return None
        return None

    def short(self) -> str:
        if self.code is not None:
            return f"exited with {self.code}"
        if self.signal is not None:
            return f"killed by {self.signal}" + (" (core dumped)" if self.core_dumped else "")
        return f"replaced by execve in {self.superseded_by}"


class Raw(Event):
    """A line no parser understood: kept verbatim and counted, never fatal."""

    __slots__ = ("text",)

    def __init__(self, pid: int, ts: str, text: str) -> None:
        self.pid = pid
        self.ts = ts
        self.text = text

    def short(self) -> str:
        return self.text[:80]


@dataclass(frozen=True)
class SentSignal:
    """A kill()/tgkill()/sigqueue() call, read as "who sent what to whom"."""

    sender: int  # process (thread group) id of the caller
    target: int  # the pid argument: negative for a process group, 0 for the caller's group
    signal: str  # "SIGUSR1", or "0" for an existence probe
    ok: bool  # the call succeeded
    call: Syscall

    @property
    def time(self) -> float:
        return self.call.time
