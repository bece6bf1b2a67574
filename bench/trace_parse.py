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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from grader.trace import Trace, parse_file, strace_command  # noqa: E402
from grader.trace.parse import strace_parser_parse  # noqa: E402

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
    argv = strace_command(prefix, "read,write,%net") + [str(program), str(rounds)]
    subprocess.run(argv, check=True, stdin=subprocess.DEVNULL)
    return prefix


def files_of(prefix: Path) -> list[tuple[Path, int]]:
    return [(path, int(path.name.rsplit(".", 1)[1]))
            for path in sorted(prefix.parent.glob(prefix.name + ".*"))]


def best_of(runs: int, work) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - start)
    return best


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
        ours = best_of(3, lambda: [parse_file(path, pid) for path, pid in files])
        loaded = best_of(3, lambda: Trace.load(prefix))
        trace = Trace.load(prefix)
        ours_rate = total / ours
        load_rate = total / loaded
        print(f"grader.trace.parse_file: {events:,} events, {ours * 1000:.0f} ms, "
              f"{ours_rate:,.0f} lines/s (best of 3)")
        print(f"grader.trace.Trace.load (parse + merge): {load_rate:,.0f} lines/s, "
              f"{trace.unparsed} unparsed lines")

        step = max(1, total // args.sample)
        sample = all_lines[::step][: args.sample]
        strace_parser_parse(sample[0])  # build the Lark parser outside the timing
        parsed = 0
        start = time.perf_counter()
        for line in sample:
            parsed += strace_parser_parse(line) is not None
        theirs = time.perf_counter() - start
        theirs_rate = len(sample) / theirs
        print(f"strace-parser: {len(sample):,} sampled lines in {theirs:.2f} s, "
              f"parsed {parsed / len(sample):.0%} of them; extrapolated "
              f"{theirs_rate:,.0f} lines/s (would take {total / theirs_rate:.0f} s "
              f"for all {total:,})")
        print(f"ratio: {ours_rate / theirs_rate:,.0f}x strace-parser's throughput "
              f"(target >= 100x; own parser target >= 200,000 lines/s: "
              f"{'met' if ours_rate >= 200_000 and ours_rate >= 100 * theirs_rate else 'NOT met'})")


if __name__ == "__main__":
    main()
