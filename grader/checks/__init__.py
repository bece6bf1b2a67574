"""The check-writer's kit: everything an assignment's checks.py imports, from one place.

Fixtures (student, reference, names, workdir, connect, steps, limits) come from the plugin
by name; this module gives the rest. A check reads like its scenario:

    def test_stale_socket(student, path, connect):
        leave_stale_socket(path)
        server = student.spawn("server", path)
        conn = connect(path, server=server)
        conn.send("2\\n0\\n")
        conn.expect_line("SUM 2", why="the server started over a stale socket file")

Failing: raise `Failure(rationale, help=...)` or `Mismatch(expected, actual)`, or a plain
`assert cond, "what went wrong"`. Programs (`student.spawn(...)`) know how to say how they
ended: `program.expect_exit(1, within=3, stderr=True, when="with a file at the path")`.
Waiting: `wait_until(condition, within, what, watch=program)`, `eventually(...)`,
`SETUP_SECONDS` (what a gate check gives a program to set up its channel),
`wait_all_idle([a, b], 1.0, steady=0.05)` (programs that wait for each other, all asleep).
Facts: `procfs` (threads' states, CPU, wake-ups, fds, pending signals), `expect_idle`
(`measure_idle_each`: several programs over one window),
`mqueue.Queue` (POSIX message queues), `shm.objects` (shared memory and named semaphores),
`tcp.listening(port)` (readiness without connecting), `other_channels(trace, allow=...)`
(every way to pass data that the assignment does not allow, under CHANNEL_TRACE).
Feedback text: `show(data)` quotes what was sent, `shorten(text)` keeps a long output's end.
Conditions: `busy_machine(program)` (CPU hogs, the program stopped now and then). Data:
`sentence(seed, n)`, `random_bytes(seed, n)`: the same on every run.
See "Writing an assignment" in README.md for each with an example.
"""

from grader import procfs
from grader.checks import mqueue, shm, tcp
from grader.checks.data import random_bytes, sentence
from grader.checks.idle import Idle, expect_idle, measure_idle, measure_idle_each
from grader.checks.load import busy_machine, cpu_hogs, stutter
from grader.checks.names import Names
from grader.connection import Connection
from grader.failure import Failure, Mismatch
from grader.process import Launcher, Program, wait_all_idle
from grader.text import decode, shorten, show, show_lines
from grader.trace.channels import CHANNEL_TRACE, other_channels
from grader.waiting import SETUP_SECONDS, eventually, wait_until

__all__ = [
    "CHANNEL_TRACE",
    "SETUP_SECONDS",
    "Connection",
    "Failure",
    "Idle",
    "Launcher",
    "Mismatch",
    "Names",
    "Program",
    "busy_machine",
    "cpu_hogs",
    "decode",
    "eventually",
    "expect_idle",
    "measure_idle",
    "measure_idle_each",
    "mqueue",
    "other_channels",
    "procfs",
    "random_bytes",
    "sentence",
    "shm",
    "shorten",
    "show",
    "show_lines",
    "stutter",
    "tcp",
    "wait_all_idle",
    "wait_until",
]
