"""The batch: intake, the gradings in parallel, one result per submission the moment it
exists, then the gradebooks, the similarity pairs and the class report.

Each grading runs in a worker process of its own (grader/batch/worker.py) with its own
sandbox. The batch never loses a result at its seams (the failures of Otter and Tango,
../shared/research/platforms.md §7):
  - a result is written whole as soon as its grading ends, before the next one is counted;
  - a rerun skips what is graded under the same RunKey (store.py), so a batch killed at any
    moment is finished by running the same command again (a grading that crashed is tried
    again: its error was the machine's, not the student's);
  - Ctrl-C or SIGTERM stops the workers (SIGTERM: each destroys its sandbox), keeps every
    finished result, and leaves no container or process; SIGKILL of `grade` kills the
    workers through their parent-death signal, and their containers follow (the keeper's
    stdin closes: docker.py), their run folders are swept by the next grading;
  - a worker that crashes, hangs past its budget or cannot start gives its submission an
    "error" verdict, and the batch goes on.
"""

from __future__ import annotations

import contextlib
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path

from grader import __version__
from grader.assignment import Assignment
from grader.batch import verdicts
from grader.batch.identity import Roster, RosterError
from grader.batch.intake import Intake, IntakeError, read_input
from grader.batch.progress import Progress
from grader.batch.store import (
    ERROR,
    GRADED,
    Result,
    RunKey,
    Store,
    StoreBusy,
    assignment_version,
    identity_dict,
    now,
)
from grader.grading import run_budget
from grader.report import BuildResult, CheckResult, GradeReport, Status
from grader.sandbox import SandboxError

STOP_GRACE_S = 30      # a stopped worker's time to destroy its sandbox before SIGKILL
WORKER_SLACK_S = 120   # beyond the grading's own budget: container start, copies, Python


class BatchError(Exception):
    """The batch cannot start (bad input, no isolation, no roster): one line."""


@dataclass
class BatchOptions:
    assignment: Assignment
    input: Path
    outdir: Path
    backend: str = "auto"
    jobs: int = 0                     # 0: one per core
    roster: Path | None = None
    regrade: bool = False
    only: frozenset[str] | None = None
    keyword: str | None = None
    base: tuple[Path, ...] = ()       # more common code for similarity (a skeleton)
    canvas_column: str | None = None  # "Homework 1 (4567)": Canvas's title (id)
    similarity: float | None = 0.5    # report pairs at least this alike; None: no check
    live: bool | None = None          # a live bar (default: when stderr is a terminal)


@dataclass
class BatchOutcome:
    results: list[Result]
    graded_now: int
    kept: int
    backend: str
    refused: int = 0                  # refused this run, before grading (unsafe, empty...)
    pairs: list = field(default_factory=list)
    outputs: dict[str, Path] = field(default_factory=dict)
    seconds: float = 0.0


def default_jobs() -> int:
    return max(1, os.cpu_count() or 1)


def _check_dependencies() -> None:
    import importlib.util

    missing = [name for name in ("rich", "copydetect", "matplotlib")
               if importlib.util.find_spec(name) is None]
    if missing:
        raise BatchError(f"grade batch needs {', '.join(missing)}: "
                         f"pip install 'ipc-grader[batch]'")


# ---- the backend: isolation or refusal ---------------------------------------------------------

def batch_backend(requested: str) -> tuple[str, str]:
    """(backend, image) for a batch. A batch runs many students' code on one machine, so it
    refuses a backend that would not isolate it: docker always does; local only as root
    (namespaces, a jail, a user id of its own: grader/jail.py)."""
    reasons = []
    if requested in ("docker", "auto"):
        try:
            return "docker", _docker_image()
        except SandboxError as error:
            if requested == "docker":
                raise BatchError(str(error)) from None
            reasons.append(f"docker: {error}")
    why = _local_refusal()
    if why is None:
        return "local", f"local:{_engine_hash()}"
    if requested == "local":
        raise BatchError(why)
    raise BatchError("no backend here isolates student code: " + "; ".join([*reasons, why]))


def _engine_hash() -> str:
    """The local backend's "image": a hash of the grading engine's sources (grader/, but
    what runs only on the host: batch/, service/)."""
    import hashlib

    package = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package)
        if rel.parts[0] not in ("batch", "service"):
            digest.update(rel.as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def _local_refusal() -> str | None:
    from grader.sandbox.local import isolation

    if os.geteuid() != 0:
        return ("the local backend isolates student code only as root (a jail and a user id "
                "of its own); here it would run every student's code as you, able to read "
                "the other submissions: use --backend docker, or run as root")
    caveat = isolation()[1]
    if caveat is not None:
        return f"the local backend cannot isolate student code here ({caveat})"
    return None


def _docker_image() -> str:
    """The id of the grading image, checked like a grading would (engine, image, version)."""
    try:
        import docker.errors

        import docker
    except ImportError:
        raise SandboxError("the docker backend needs the docker SDK: "
                           "pip install 'ipc-grader[docker]'") from None
    from grader.sandbox.docker import image_name

    try:
        client = docker.from_env(timeout=30)
        try:
            image = client.images.get(image_name())
        finally:
            client.close()
    except docker.errors.ImageNotFound:
        raise SandboxError(f"docker image {image_name()} not found: build it with "
                           f"`grade image build`") from None
    except Exception as error:  # no engine, no permission
        raise SandboxError(f"no docker engine answers ({str(error)[:200]})") from None
    built_for = (image.labels or {}).get("ipc-grader.version")
    if built_for != __version__:
        raise SandboxError(f"docker image {image_name()} holds grader {built_for or '?'}, not "
                           f"{__version__}: rebuild it with `grade image build`")
    return image.id


# ---- the batch ----------------------------------------------------------------------------------

def run_batch(options: BatchOptions) -> BatchOutcome:
    started = time.monotonic()
    _check_dependencies()
    assignment = options.assignment
    checks = assignment.select(options.only)  # an unknown check id stops here
    jobs = options.jobs or default_jobs()
    roster = None
    if options.roster is not None:
        try:
            roster = Roster.load(options.roster)
        except RosterError as error:
            raise BatchError(str(error)) from None
    backend, image = batch_backend(options.backend)
    selection = ",".join(c.id for c in checks) if options.only is not None else "all"
    if options.keyword:
        selection += f" -k {options.keyword}"
    version = assignment_version(assignment)

    store = Store(options.outdir)
    try:
        store.open()
    except StoreBusy as error:
        raise BatchError(str(error)) from None
    try:
        try:
            intakes = read_input(options.input, store.work / "intake", store.sources,
                                 programs=assignment.programs, roster=roster)
        except IntakeError as error:
            raise BatchError(str(error)) from None

        results: dict[str, Result] = {}
        todo: list[tuple[Intake, RunKey]] = []
        refused = 0
        for intake in intakes:
            key = RunKey(intake.content_hash, version, __version__, image, selection)
            old = store.load(intake.key)
            if old is not None and old.run_key == asdict(key) and not options.regrade \
                    and old.status != ERROR:  # a crashed grading is tried again
                results[intake.key] = _refreshed(old, intake, store)
            elif not intake.accepted:
                results[intake.key] = _refused(intake, key, assignment, checks, backend)
                store.save(results[intake.key])
                refused += 1
            else:
                todo.append((intake, key))

        kept = len(intakes) - len(todo) - refused
        pool = _Pool(options, store, backend, jobs)
        with Progress(len(intakes), len(intakes) - len(todo), live=options.live) as progress:
            if kept:
                progress.say(f"{kept} of {len(intakes)} submissions already have a result "
                             f"(--regrade grades them again)")
            if refused:
                progress.say(f"{refused} submission(s) refused before grading (see the "
                             f"summary)")
            for result in pool.run(todo, progress):
                results[result.key] = result

        ordered = [results[i.key] for i in intakes if i.key in results]
        outcome = BatchOutcome(ordered, len(todo), kept, backend, refused=refused)
        outcome.outputs = write_outputs(options, ordered, checks, outcome)
    finally:
        store.close()
    outcome.seconds = time.monotonic() - started
    return outcome


def write_outputs(options: BatchOptions, results: list[Result], checks, outcome: BatchOutcome
                  ) -> dict[str, Path]:
    from grader.batch import classreport, gradebook, similarity

    outdir = options.outdir
    outputs = gradebook.write_all(outdir, results, options.assignment, checks,
                                  options.canvas_column)
    if options.similarity is not None:
        sources = {r.key: outdir / "sources" / r.key for r in results
                   if (outdir / "sources" / r.key).is_dir() and r.status == GRADED}
        outcome.pairs = similarity.find_pairs(sources, similarity.common_base(
            options.assignment, options.base), threshold=options.similarity)
    outputs["class report"] = classreport.write(outdir, options.assignment, results, checks,
                                                outcome.pairs, options.similarity)
    return outputs


def _refreshed(old: Result, intake: Intake, store: Store) -> Result:
    """A kept result, with who it is as the input and roster say now (not regraded)."""
    student = identity_dict(intake.identity)
    members = [identity_dict(m) for m in intake.members]
    if (student, members, intake.sources) != (old.student, old.members, old.sources):
        old.student, old.members, old.sources = student, members, intake.sources
        store.save(old)
    return old


def _refused(intake: Intake, key: RunKey, assignment: Assignment, checks, backend: str
             ) -> Result:
    """The result of a submission that was not graded: a report that says why."""
    why = f"not graded: {intake.verdict}"
    report = GradeReport(assignment.id, assignment.title, intake.key, BuildResult(False, ""),
                         [CheckResult.unearned(c, why) for c in checks], backend=backend,
                         notes=[why, *intake.notes])
    return _result(intake, key, intake.status, intake.verdict, report)


def _result(intake: Intake, key: RunKey, status: str, verdict: str,
            report: GradeReport | None, duration: float = 0.0) -> Result:
    return Result(
        key=intake.key, student=identity_dict(intake.identity),
        members=[identity_dict(m) for m in intake.members], sources=intake.sources,
        status=status, verdict=verdict, notes=intake.notes, run_key=asdict(key),
        graded_at=now(), duration_s=round(report.duration_s if report else duration, 2),
        score=report.score if report and status == GRADED else 0.0,
        max_score=report.max_score if report else 0.0,
        report=report.to_dict() if report else None,
        checks={c.id: c.earned for c in report.checks} if report and status == GRADED else {})


def outcome_line(result: Result) -> str:
    report = result.grade_report()
    if result.status != GRADED:
        return f"{verdicts.of_status(result.status, report)[0]}: {result.verdict}"
    kinds = [v for v in verdicts.of_report(report) if v not in ("lost points", "full marks")]
    extra = f"  [{', '.join(kinds)}]" if kinds else ""
    return f"{result.score:g}/{result.max_score:g} ({result.duration_s:.1f} s){extra}"


class _Pool:
    """Worker processes, `jobs` at a time; stoppable from the main thread."""

    def __init__(self, options: BatchOptions, store: Store, backend: str, jobs: int) -> None:
        self.options, self.store, self.backend, self.jobs = options, store, backend, jobs
        self.stopping = threading.Event()
        self.procs: dict[str, subprocess.Popen] = {}
        self.lock = threading.Lock()

    def run(self, todo: list[tuple[Intake, RunKey]], progress: Progress):
        """Grade every submission of `todo`; yields each Result as it is saved."""
        if not todo:
            return
        executor = ThreadPoolExecutor(self.jobs, thread_name_prefix="batch")
        futures: set[Future] = {executor.submit(self.grade, intake, key, progress)
                                for intake, key in todo}
        try:
            pending = futures
            while pending:
                done, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                for future in done:
                    if (result := future.result()) is not None:
                        yield result
        except BaseException:  # Ctrl-C, SIGTERM: stop everything, keep what is finished
            self.stop(futures)
            executor.shutdown(wait=True, cancel_futures=True)
            raise
        executor.shutdown(wait=True)

    def stop(self, futures: set[Future]) -> None:
        self.stopping.set()
        for future in futures:
            future.cancel()
        with self.lock:
            procs = list(self.procs.values())
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for proc in procs:
            try:
                proc.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def grade(self, intake: Intake, key: RunKey, progress: Progress) -> Result | None:
        """One submission, in a worker; its result saved. None when the batch stopped."""
        if self.stopping.is_set():
            return None
        progress.start(intake.key)
        try:
            result = self._grade(intake, key)
        except Exception as error:  # a bug of ours: one submission's error, not the batch's
            result = _result(intake, key, ERROR, f"the batch failed on it: {error!r}", None)
        if result is None:
            return None
        try:
            self.store.save(result)
        except OSError as error:
            progress.say(f"{intake.key}: its result could not be written: {error}")
            return None
        report = result.grade_report()
        progress.finish(intake.key, outcome_line(result),
                        verdicts.is_failure(result.status, report))
        return result

    def _grade(self, intake: Intake, key: RunKey) -> Result | None:
        options, work = self.options, self.store.work
        out = work / "reports" / f"{intake.key}.json"
        tmp = work / "tmp" / intake.key
        log = work / "logs" / f"{intake.key}.log"
        for folder in (out.parent, tmp, log.parent):
            folder.mkdir(parents=True, exist_ok=True)
        argv = ["setpriv", "--pdeathsig", "KILL", sys.executable, "-m", "grader.batch.worker",
                str(options.assignment.folder), str(intake.folder), str(out),
                "--backend", self.backend, "--parent", str(os.getpid())]
        if options.only is not None:
            argv += ["--only", ",".join(sorted(options.only))]
        if options.keyword:
            argv += ["-k", options.keyword]
        budget = run_budget(options.assignment, options.only) + WORKER_SLACK_S
        started = time.monotonic()
        with open(log, "wb") as err:
            with self.lock:
                if self.stopping.is_set():
                    return None
                proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=err,
                                        start_new_session=True,
                                        env={**os.environ, "TMPDIR": str(tmp)})
                self.procs[intake.key] = proc
            try:
                code = proc.wait(budget)
            except subprocess.TimeoutExpired:
                code = None
                terminate_group(proc)
            finally:
                with self.lock:
                    self.procs.pop(intake.key, None)
        report = load_report(out)
        if report is not None:
            report.notes[:0] = intake.notes
            report.submission = intake.key
            return _result(intake, key, GRADED, _score_line(report), report)
        if self.stopping.is_set():
            return None  # stopped on purpose: not a verdict on the student
        tail = log.read_text(errors="replace").strip()[-1500:]
        if code is None:
            why = f"the grading did not finish within {budget:.0f} s and was stopped"
        elif code < 0:
            why = f"the grading process was killed by {signal.Signals(-code).name}"
        else:
            why = f"the grading process failed (exit code {code})"
        return _result(intake, key, ERROR, f"{why}: {tail}" if tail else why, None,
                       time.monotonic() - started)


def terminate_group(proc: subprocess.Popen) -> None:
    """SIGTERM a grading process's group (its sandbox destroyed on the way out), SIGKILL after
    STOP_GRACE_S. Batch workers and the service's gradings stop alike."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def load_report(path: Path) -> GradeReport | None:
    """The report a grading process wrote, or None if it wrote none that reads back."""
    try:
        return GradeReport.load(path)
    except (OSError, ValueError, TypeError, KeyError):
        return None


def _score_line(report: GradeReport) -> str:
    failed = [c.id for c in report.checks if c.status is not Status.PASSED]
    text = f"{report.score:g}/{report.max_score:g}"
    return f"{text}; lost: {', '.join(failed)}" if failed else text


# ---- the summary --------------------------------------------------------------------------------

def summary(outcome: BatchOutcome, options: BatchOptions) -> str:
    results = outcome.results
    graded = [r for r in results if r.status == GRADED]
    lines = [f"grade batch {options.assignment.id}: {len(results)} submissions, "
             f"{outcome.graded_now} graded now, {outcome.refused} refused, "
             f"{outcome.kept} kept from before, "
             f"{outcome.backend} backend, {outcome.seconds:.0f} s"]
    if results:
        scores = [r.score for r in results]
        top = max((r.max_score for r in results), default=0)
        lines.append(f"scores (of {top:g}): mean {statistics.mean(scores):.1f}, median "
                     f"{statistics.median(scores):g}, min {min(scores):g}, "
                     f"max {max(scores):g}; {len(graded)} graded, "
                     f"{len(results) - len(graded)} not graded")
    counts: dict[str, int] = {}
    for r in results:
        for verdict in verdicts.of_status(r.status, r.grade_report()):
            counts[verdict] = counts.get(verdict, 0) + 1
    shown = [f"{v} {counts[v]}" for v in verdicts.ORDER if counts.get(v)]
    if shown:
        lines.append("verdicts: " + ", ".join(shown))
    if options.similarity is not None:
        lines.append(f"similar pairs: {len(outcome.pairs)} at {options.similarity:.0%} or more"
                     + (" (see the class report)" if outcome.pairs else ""))
    for name, path in outcome.outputs.items():
        lines.append(f"{name}: {path}")
    return "\n".join(lines)
