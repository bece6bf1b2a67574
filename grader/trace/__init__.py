"""Syscall tracing: run a program under strace, parse what it did, answer checks' questions.

    argv = strace_command(prefix, "%net,%desc", inject=["socket:error=EMFILE"]) + program_argv
    ...run it, wait for strace to exit...
    trace = Trace.load(prefix)
    assert trace.used("socket", domain="AF_UNIX", type="SOCK_STREAM")
    assert not trace.fds_open_at_exit(), trace.excerpt(["accept", "close"])

Modules, one idea each: `channels` (every way to pass data, for "nothing but X" checks),
`command` (the strace command line, the tracee, stopping it),
`parse` (text to events, fast; strace-parser as fallback and test oracle), `events` (typed
events, lazy argument decoding), `model` (the Trace and its questions), `syscalls` (what we
know about calls: argument names, libc aliases, bookkeeping set).
"""

from grader.trace.channels import CHANNEL_TRACE, other_channels
from grader.trace.command import (
    strace_command,
    trace_set,
    tracee_pid,
)
from grader.trace.events import (
    Event,
    Exit,
    Raw,
    SentSignal,
    Signal,
    Syscall,
    decode_string,
    escape_bytes,
)
from grader.trace.model import Trace
from grader.trace.parse import parse_file, parse_text

__all__ = [
    "CHANNEL_TRACE",
    "Event",
    "Exit",
    "Raw",
    "SentSignal",
    "Signal",
    "Syscall",
    "Trace",
    "decode_string",
    "escape_bytes",
    "other_channels",
    "parse_file",
    "parse_text",
    "strace_command",
    "trace_set",
    "tracee_pid",
]
