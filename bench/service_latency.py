"""What `grade serve` costs on top of a grading: the webhook's answer time, and the time from
a push to the grade in the (simulated) LMS gradebook, beside the same grading by `grade`.

    python bench/service_latency.py [--deliveries 200] [--runs 3] [--all-checks]

Starts the simulated LTI platform, a git daemon and `grade serve` (docker backend, its own
data folder), all on 127.0.0.1, like tests/test_service_e2e.py. Then:
  1. `deliveries` signed push deliveries of one commit, each a distinct delivery (its own
     GUID and body), sent one after another: the answer time of each (p50, p99, max). They
     all queue a job; the first is graded, the others reuse its result.
  2. `runs` times, once the queue is empty: a new commit pushed, its delivery sent, and the
     time until its score is in the platform's gradebook (fetch, grading, passback).
  3. after each of those, the same sources graded by `grade assignment1 FOLDER --backend
     docker` (alternating, so both see the same machine; the server idle meanwhile).
Gradings use assignment1's two checks of the tests (tests/service_config.py), or every check
with --all-checks. Prints figures; asserts nothing. Needs the grading image.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from grader.assignment import ROOT
from grader.service.keys import new_key
from tests.service_config import CHECKS, WEBHOOK_SECRET, write_config
from tests.service_sims import GitServer, Platform, Server, WebhookSender, free_port

LINEITEM = "/lineitems/1/lineitem"


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def reference_files(where: Path, tag: str) -> Path:
    folder = where / f"src-{tag}"
    folder.mkdir()
    reference = ROOT / "reference" / "assignment1"
    for name in ("server.c", "client.c", "Makefile"):
        if (reference / name).is_file():
            shutil.copy(reference / name, folder / name)
    with open(folder / "server.c", "a") as handle:
        handle.write(f"/* {tag} */\n")
    return folder


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--all-checks", action="store_true")
    parser.add_argument("--workers", type=int, default=0, help="default: cores - 1")
    args = parser.parse_args()
    checks = None if args.all_checks else CHECKS

    with tempfile.TemporaryDirectory(prefix="service-latency-") as tmp:
        where = Path(tmp)
        key = where / "tool-key.pem"
        new_key(key)
        listen = f"127.0.0.1:{free_port()}"
        url = f"http://{listen}"
        students = {f"run{n}": f"lti-run{n}" for n in range(args.runs)}
        with Platform() as platform, GitServer(where / "git") as git:
            platform.tool_jwks_url = f"{url}/.well-known/jwks.json"
            config = write_config(where, platform=platform, git_base_url=git.base_url,
                                  listen=listen, key=key, workers=args.workers,
                                  students=students, checks=checks)
            server = Server(config, ROOT, where / "serve.log").start(url)
            try:
                hooks = WebhookSender(f"{url}/webhooks/github", WEBHOOK_SECRET)
                answers = deliveries(hooks, git, where, args.deliveries)
                drain(server)
                served, direct = [], []
                for n in range(args.runs):  # alternating: both see the same machine
                    served.append(push_to_grade(hooks, git, platform, where, f"run{n}",
                                                server))
                    direct.append(grade_directly(where, f"direct{n}", checks))
            finally:
                server.stop()

    ms = [a * 1000 for a in answers]
    print(f"webhook answer ({len(ms)} deliveries): p50 {percentile(ms, 0.5):.1f} ms, "
          f"p99 {percentile(ms, 0.99):.1f} ms, max {max(ms):.1f} ms")
    what = "every check" if args.all_checks else f"checks {', '.join(CHECKS)}"
    print(f"assignment1 reference, {what}, docker backend, {args.runs} runs (median, min-max):")
    print(f"  push -> grade in the gradebook (grade serve): {summary(served)}")
    print(f"  grade assignment1 FOLDER --backend docker:    {summary(direct)}")
    for stage in STAGES[0]:
        values = [run[stage] for run in STAGES]
        print(f"    {stage}: median {statistics.median(values):.2f} s")
    share = statistics.median(served) - statistics.median(direct)
    print(f"  the service's own share: {share:+.2f} s (webhook, queue, git fetch, unpack, "
          f"database, token, score POST)")
    return 0


def summary(values: list[float]) -> str:
    return f"{statistics.median(values):6.2f} s ({min(values):.2f}-{max(values):.2f})"


def deliveries(hooks: WebhookSender, git: GitServer, where: Path, count: int) -> list[float]:
    sha = git.push("hw1-bench", reference_files(where, "bench"))
    times = []
    for number in range(count):
        payload = hooks.payload("hw1-bench", sha, before=f"{number:040x}")
        started = time.perf_counter()
        answer = hooks.send(payload)
        times.append(time.perf_counter() - started)
        if answer.status_code != 202:
            raise SystemExit(f"delivery {number}: HTTP {answer.status_code}: {answer.text}")
    return times


def drain(server: Server, seconds: float = 1800) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        health = server.health()
        if not {"queued", "running"} & set(health["jobs"]) and \
                "pending" not in health["passbacks"]:
            return
        time.sleep(0.5)
    raise SystemExit(f"the queue did not drain:\n{server.tail()}")


STAGES: list[dict[str, float]] = []  # per run: where the service's time went


def push_to_grade(hooks: WebhookSender, git: GitServer, platform: Platform, where: Path,
                  student: str, server: Server) -> float:
    sha = git.push(f"hw1-{student}", reference_files(where, student))
    started = time.perf_counter()
    answer = hooks.send(hooks.payload(f"hw1-{student}", sha))
    if answer.status_code != 202:
        raise SystemExit(f"HTTP {answer.status_code}: {answer.text}")
    while platform.grade(f"lti-{student}", LINEITEM) is None:
        if time.perf_counter() - started > 1800:
            raise SystemExit(f"no grade for {student}:\n{server.tail()}")
        time.sleep(0.02)
    took = time.perf_counter() - started
    time.sleep(0.5)  # the server records what the platform answered
    data = server.http.get(f"{server.url}/api/submissions/{answer.json()['submission']}").json()
    job, passback = data["jobs"][-1], data["passbacks"][-1]
    STAGES.append({"queued": job["started_at"] - job["created_at"],
                   "fetched and graded": job["finished_at"] - job["started_at"],
                   "passback": (passback["sent_at"] or 0) - job["finished_at"]})
    return took


def grade_directly(where: Path, tag: str, checks) -> float:
    folder = reference_files(where, tag)
    argv = [str(Path(sys.executable).with_name("grade")), "assignment1", str(folder),
            "--backend", "docker"]
    if checks:
        argv += ["--only", ",".join(checks)]
    started = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, check=False,
                   env={**os.environ, "GRADER_ROOT": str(ROOT)})
    return time.perf_counter() - started


if __name__ == "__main__":
    sys.exit(main())
