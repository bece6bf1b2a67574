"""Scale-out: the same 40 submissions graded by 1 and by 2 `grade worker` processes (each
--concurrency 1) on PostgreSQL, and the queue's own cost per job.

    python bench/worker_scaling.py [--submissions 40] [--all-checks] [--samples 10]

Starts PostgreSQL if needed (deploy/start-postgres.sh), the simulated LTI platform and
`grade serve` on a fresh database for each run (so the same 40 sources are graded again,
not reused), the workers, all on 127.0.0.1. The workers are started and idle first; then
the 40 signed uploads are sent and the clock runs until the last job is done. Prints jobs
per minute for 1 and 2 workers and their ratio (the target: >= 1.7 on 2 cores), and the
queue overhead per job: with one idle worker, one job at a time, the time from the intake's
commit (the job and its procrastinate task, one transaction) to the worker's claim of it
(target < 0.2 s). Gradings use tests/service_config.py's two checks of assignment1 (or
every check). Prints figures; asserts nothing. Needs the grading image.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

from grader.assignment import ROOT
from grader.service.keys import new_key
from tests.service_config import CHECKS, UPLOAD_SECRET, write_config
from tests.service_db import drop_postgres, fresh_postgres, migrated_template, start_postgres
from tests.service_sims import Platform, Server, Worker, free_port, signed_upload


def archives(count: int) -> list[bytes]:
    """`count` distinct zips of assignment1's reference (a comment makes each distinct)."""
    import io
    import zipfile

    reference = ROOT / "reference" / "assignment1"
    out = []
    for number in range(count):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            for name in ("server.c", "client.c", "Makefile"):
                if (reference / name).is_file():
                    data = (reference / name).read_bytes()
                    if name == "server.c":
                        data += f"/* bench {number} */\n".encode()
                    archive.writestr(name, data)
        out.append(buffer.getvalue())
    return out


@contextlib.contextmanager
def course(where: Path, tmpl: str, students: list[str], checks):
    """grade serve on a fresh database, and a function that starts workers."""
    database = fresh_postgres(tmpl)
    key = where / "tool-key.pem"
    if not key.exists():
        new_key(key)
    listen = f"127.0.0.1:{free_port()}"
    workers: list[Worker] = []
    with Platform() as platform:
        platform.tool_jwks_url = f"http://{listen}/.well-known/jwks.json"
        config = write_config(where, platform=platform, listen=listen, key=key,
                              students={s: f"lti-{s}" for s in students}, checks=checks,
                              database=database)
        server = Server(config, ROOT, where / "serve.log").start(f"http://{listen}")

        def start(count: int) -> None:
            for number in range(count):
                workers.append(Worker(config, ROOT, where / f"worker{number}.log").start())
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:  # each worker registered (idle, listening)
                alive = server.http.get(f"http://{listen}/metrics").text
                line = next((x for x in alive.splitlines()
                             if x.startswith("ipc_grader_workers ")), "ipc_grader_workers 0")
                if float(line.split()[1]) >= 2 * count:
                    return
                time.sleep(0.2)
            raise SystemExit("the workers did not start:\n" + workers[0].tail())

        try:
            yield server, start
        finally:
            for worker in workers:
                worker.stop(60)
            server.stop()
            drop_postgres(database)


def done_count(server: Server) -> int:
    return server.health()["jobs"].get("done", 0)


def throughput(where: Path, tmpl: str, zips: list[bytes], workers: int, checks) -> float:
    students = [f"b{n}" for n in range(len(zips))]
    with course(where, tmpl, students, checks) as (server, start):
        start(workers)
        began = time.perf_counter()
        for student, data in zip(students, zips, strict=True):
            answer = signed_upload(f"{server.url}/api/submissions", UPLOAD_SECRET, data,
                                   assignment="hw1", student=student)
            if answer.status_code != 202:
                raise SystemExit(f"HTTP {answer.status_code}: {answer.text}")
        while done_count(server) < len(zips):
            if time.perf_counter() - began > 3600:
                raise SystemExit(f"not done within an hour:\n{server.tail()}")
            time.sleep(0.2)
        took = time.perf_counter() - began
        graded = server.health()["jobs"]
    print(f"  {workers} worker(s): {len(zips)} jobs in {took:.1f} s = "
          f"{len(zips) / took * 60:.1f} jobs/min ({graded})", flush=True)
    return len(zips) / took * 60


def overhead(where: Path, tmpl: str, zips: list[bytes], samples: int, checks) -> list[float]:
    """Defer-to-start with an idle worker, one job at a time."""
    students = [f"o{n}" for n in range(samples)]
    waits = []
    with course(where, tmpl, students, checks) as (server, start):
        start(1)
        for student, data in zip(students, zips, strict=False):
            time.sleep(1.0)  # idle: waiting on LISTEN, not polling
            answer = signed_upload(f"{server.url}/api/submissions", UPLOAD_SECRET, data,
                                   assignment="hw1", student=student).json()
            url = f"{server.url}/api/submissions/{answer['submission']}"
            while True:
                job = httpx.get(url).json()["jobs"][0]
                if job["state"] == "done":
                    break
                time.sleep(0.1)
            waits.append(job["started_at"] - job["created_at"])
    return waits


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=40)
    parser.add_argument("--samples", type=int, default=10)
    parser.add_argument("--all-checks", action="store_true")
    args = parser.parse_args()
    checks = None if args.all_checks else CHECKS
    zips = archives(args.submissions)
    tmpl = migrated_template(start_postgres(), "grader_bench_template")
    what = "every check" if args.all_checks else f"checks {', '.join(CHECKS)}"
    print(f"{args.submissions} submissions of assignment1's reference, {what}, docker "
          f"backend, PostgreSQL, each worker --concurrency 1:", flush=True)
    with tempfile.TemporaryDirectory(prefix="worker-scaling-") as tmp:
        where = Path(tmp)
        rates = {}
        for count in (1, 2):
            folder = where / f"w{count}"
            folder.mkdir()
            rates[count] = throughput(folder, tmpl, zips, count, checks)
        print(f"  ratio 2/1: {rates[2] / rates[1]:.2f}x (target >= 1.7 on 2 cores)")
        folder = where / "overhead"
        folder.mkdir()
        waits = overhead(folder, tmpl, zips, args.samples, checks)
    ms = sorted(w * 1000 for w in waits)
    print(f"queue overhead, defer -> start with an idle worker ({len(ms)} jobs): median "
          f"{statistics.median(ms):.0f} ms, max {max(ms):.0f} ms (target < 200 ms)")
    drop_postgres(tmpl)
    return 0


if __name__ == "__main__":
    sys.exit(main())
