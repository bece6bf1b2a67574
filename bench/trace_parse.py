"""How fast strace output becomes events: the project's parser against strace-parser.

Run: python bench/trace_parse.py [--lines 100000] [--sample 2000]

It compiles a small ping-pong program (a parent and a forked child bouncing a message over a
socketpair, plus a pipe for the final report) in a temporary folder, runs it under strace
with the project's own command line (strace_command: -f -ff -ttt -xx) until there are about
100,000 lines of real output, then times:

* the project's parser (grader.trace.parse_file) over every line, best of 3;
* Trace.load, i.e. parsing plus merging the per-process files in time order;
* strace-parser (its Lark grammar, one line at a time, as the fallback uses it) over a
  sample of the same lines, extrapolated to lines/second: it is too slow for all of them.

Nothing is cached or written into the repository.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from grader.trace import Trace, parse_file, strace_command
from grader.trace.parse import strace_parser_parse

PING_PONG = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    long rounds = argc > 1 ? atol(argv[1]) : 1000;
    int sv[2], report[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1 || pipe(report) == -1) {
        perror("socketpair/pipe");
        return 1;
    }
    pid_t child = fork();
    if (child == -1) {
        perror("fork");
        return 1;
    }
    char buf[64];
    if (child == 0) {
        close(sv[0]);
        close(report[0]);
        for (long i = 0; i < rounds; i++) {
            if (read(sv[1], buf, sizeof buf) <= 0 || write(sv[1], "pong\xff", 5) != 5)
                return 1;
        }
        int n = snprintf(buf, sizeof buf, "%ld rounds\n", rounds);
        write(report[1], buf, (size_t)n);
        return 0;
    }
    close(sv[1]);
    close(report[1]);
    for (long i = 0; i < rounds; i++) {
        if (write(sv[0], "ping,\"x\"", 8) != 8 || read(sv[0], buf, sizeof buf) <= 0)
            return 1;
    }
    ssize_t n = read(report[0], buf, sizeof buf);
    close(sv[0]);
    int status;
    waitpid(child, &status, 0);
    return n > 0 && WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
"""


def generate(folder: Path, lines: int) -> Path:
    """Trace the ping-pong program; return the strace output prefix."""
    source = folder / "pingpong.c"
    source.write_text(PING_PONG)
    program = folder / "pingpong"
    subprocess.run(["cc", "-std=gnu11", "-O2", "-o", str(program), str(source)], check=True)
    prefix = folder / "trace"
    rounds = lines // 4  # each round: write + read in the parent, read + write in the child
    argv = [*strace_command(prefix, "read,write,%net"), str(program), str(rounds)]
    subprocess.run(argv, check=True, stdin=subprocess.DEVNULL)
    return prefix


def files_of(prefix: Path) -> list[tuple[Path, int]]:
    return [(path, int(path.name.rsplit(".", 1)[1]))
            for path in sorted(prefix.parent.glob(prefix.name + ".*"))]


def best_of(runs: int, work: Callable[[], object]) -> tuple[float, float]:
    """Best wall-clock and best CPU seconds of `runs` runs. On a shared machine the CPU
    time is the parser's own cost; wall-clock also counts time spent waiting for a core."""
    wall = cpu = float("inf")
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        work()
        wall = min(wall, time.perf_counter() - start)
        cpu = min(cpu, time.process_time() - start_cpu)
    return wall, cpu


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    options.add_argument("--lines", type=int, default=100_000)
    options.add_argument("--sample", type=int, default=2_000)
    args = options.parse_args()

    with tempfile.TemporaryDirectory(prefix="trace-bench-") as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        prefix = generate(folder, args.lines)
        traced_in = time.perf_counter() - started
        files = files_of(prefix)
        all_lines = [line for path, _ in files
                     for line in path.read_text(encoding="latin-1").splitlines()]
        total = len(all_lines)
        print(f"trace: {total:,} lines in {len(files)} files "
              f"(strace run took {traced_in:.1f} s)")

        events = sum(len(parse_file(path, pid)) for path, pid in files)
        wall, cpu = best_of(5, lambda: [parse_file(path, pid) for path, pid in files])
        load_wall, load_cpu = best_of(5, lambda: Trace.load(prefix))
        unparsed = Trace.load(prefix).unparsed
        print(f"grader.trace.parse_file: {events:,} events; {total / wall:,.0f} lines/s "
              f"wall-clock, {total / cpu:,.0f} lines/s CPU time (best of 5)")
        print(f"grader.trace.Trace.load (parse + merge in time order): {total / load_wall:,.0f}"
              f" lines/s wall-clock, {total / load_cpu:,.0f} lines/s CPU; {unparsed} unparsed")

        step = max(1, total // args.sample)
        sample = all_lines[::step][: args.sample]
        strace_parser_parse(sample[0])  # build the Lark parser outside the timing
        parsed = 0
        start, start_cpu = time.perf_counter(), time.process_time()
        for line in sample:
            parsed += strace_parser_parse(line) is not None
        theirs_wall = len(sample) / (time.perf_counter() - start)
        theirs_cpu = len(sample) / (time.process_time() - start_cpu)
        print(f"strace-parser 0.2.0: timed on a sample of {len(sample):,} of the lines "
              f"(every {step}th), parsed {parsed / len(sample):.0%} of them; extrapolated: "
              f"{theirs_wall:,.0f} lines/s wall-clock, {theirs_cpu:,.0f} lines/s CPU "
              f"(all {total:,} lines would take {total / theirs_cpu:,.0f} s)")
        ratio = (total / cpu) / theirs_cpu
        print(f"ratio (CPU): {ratio:,.0f}x strace-parser; wall-clock: "
              f"{(total / wall) / theirs_wall:,.0f}x")
        met = ratio >= 100 and total / cpu >= 200_000
        print(f"targets (>= 100x strace-parser, >= 200,000 lines/s): "
              f"{'met' if met else 'NOT met'}")

if __name__ == "__main__":
    main()
