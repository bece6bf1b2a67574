"""The grading run inside a sandbox: build, run the checks, write the GradeReport as JSON.

Every backend runs exactly this (`python -m grader.inside ...`), so a score never depends on
where it was computed. Whatever happens, a report is written.

What student code may see of the run folder (the work folder, mode 711: no listing):
  build/student/   its own sources and build, owned by the student user
  reference-bin/   the reference programs, executable and not readable (711)
  checks/<id>/     each check's working folder, owned by the student user
and nothing else: the reference sources are built as root in build/reference/ (700), the
checks' results and logs go to private/ (700), the traces to checks.traces/ (700), the report
is written at the end. On the local backend student code also runs in a jail
(grader/jail.py) that hides the rest of the machine, and build/student/ and checks/ are disks
of its own (tmpfs of the assignment's disk limit), as they are in a container.

    python -m grader.inside assignment1 submission --out report.json [--uid N --gid N]
                            [--only CHECK,CHECK] [-k EXPR]

Concurrent checks (rubric `concurrent: true`) each run in a process of their own beside the
others, started the same way with `--lane`: it runs only the named checks on the builds
this run made, and writes their results as a JSON list.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, replace
from pathlib import Path

import pytest

from grader.assignment import Assignment, CheckSpec, find_assignment
from grader.build import build, has_sources
from grader.checks.plugin import CheckSession
from grader.confinement import REFERENCE_GID, Confinement, become_subreaper
from grader.jail import Jail, JailError, mount_disk
from grader.memory import MemoryCgroup
from grader.report import BuildResult, CheckResult, GradeReport, Status, failed_run


def prepare_sources(source: Path, dest: Path, assignment: Assignment, uid: int | None,
                    gid: int | None) -> None:
    """Copy sources to a build folder the student user owns, without stale binaries.

    Prebuilt programs and object files are removed so that `make` cannot skip the build and
    run binaries compiled somewhere else.
    """
    shutil.copytree(source, dest, symlinks=True, ignore=shutil.ignore_patterns("mutants"),
                    dirs_exist_ok=True)
    for program in assignment.programs:
        (dest / program).unlink(missing_ok=True)
    for stale in dest.rglob("*.o"):
        stale.unlink()
    if uid is not None:
        for path in [dest, *dest.rglob("*")]:
            os.lchown(path, uid, gid if gid is not None else -1)


class Run:
    """Where a grading run's pieces are, and how its student code is held: what a lane
    needs to run checks on the builds the run made."""

    def __init__(self, assignment: Assignment, work: Path, confinement: Confinement,
                 keyword: str | None = None):
        self.assignment = assignment
        self.work = work
        self.confinement = confinement
        self.keyword = keyword
        self.student = work / "build" / "student"
        self.reference_build = work / "build" / "reference"
        self.reference = work / "reference-bin"
        self.checks_root = work / "checks"
        self.private = work / "private"

    def run_checks(self, checks: tuple[CheckSpec, ...]) -> list[CheckResult]:
        """Run `checks`: the concurrent ones each in a lane process, the others here, one
        after another; a deferred one is listed, not run. Results in rubric order."""
        found = {c.id: CheckResult.unearned(c, "") for c in checks if c.deferred}
        concurrent = [c for c in checks if c.concurrent and not c.deferred]
        lanes = [self._start_lane(c) for c in concurrent]
        here = self.run_here(frozenset(c.id for c in checks
                                       if not c.concurrent and not c.deferred))
        found.update({r.id: r for r in here})
        for check, (process, out) in zip(concurrent, lanes, strict=True):
            found.update({r.id: r for r in self._collect_lane(check, process, out)})
        for ident in self.assignment.in_running_order(list(found)):  # a lane ran on its own:
            check = self.assignment.check(ident)                    # its gates are known now
            failed = [found[n] for n in check.requires if n in found and not found[n].passed]
            if failed and not found[ident].needs:
                found[ident] = CheckResult.needing(check, failed[0])
        return [found[c.id] for c in checks if c.id in found]

    def run_here(self, only: frozenset[str]) -> list[CheckResult]:
        """Run checks.py under pytest with the grader plugin, in this process."""
        if not only:
            return []
        self.checks_root.mkdir(exist_ok=True)
        session = CheckSession(self.assignment, self.student, self.reference, self.checks_root,
                               self.confinement, only)
        args = [str(self.assignment.checks_file), "-c", os.devnull,  # no project's config
                "-p", "no:cacheprovider", "-p", "no:randomly",
                "-o", "python_files=checks.py", "-o", "python_functions=test_*",
                "--rootdir", str(self.assignment.folder), "-q", "--no-header",
                "-W", "ignore::pytest.PytestAssertRewriteWarning"]
        if self.keyword:
            args += ["-k", self.keyword]
        os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # only our plugin, whatever is there
        os.umask(0)  # files a check creates (a stale socket, a decoy file) are usable by students
        log = io.StringIO()
        with contextlib.redirect_stdout(log):
            code = pytest.main(args, plugins=[session])
        if session.problems:
            raise RuntimeError(session.problems[0])
        if code not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED,
                        pytest.ExitCode.NO_TESTS_COLLECTED):
            raise RuntimeError(f"pytest could not run the checks ({code!r}): "
                               f"{log.getvalue().strip()[-500:]}")
        return session.results()

    def _start_lane(self, check: CheckSpec) -> tuple[subprocess.Popen, Path]:
        out = self.private / f"lane-{check.id}.json"
        conf = self.confinement
        argv = [sys.executable, "-m", "grader.inside", self.assignment.id, str(self.work),
                "--lane", "--out", str(out), "--only", check.id]
        if conf.uid is not None:
            argv += ["--uid", str(conf.uid), "--gid", str(conf.gid)]
        if conf.memory is not None and conf.memory.own:
            argv += ["--cgroup", str(conf.memory.path)]
        if conf.jail is not None:
            argv += ["--jail", str(conf.jail.root)]
        if self.keyword:
            argv += ["-k", self.keyword]
        log = open(self.private / f"lane-{check.id}.log", "wb")  # noqa: SIM115 (the lane's)
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, cwd=self.work)
        log.close()
        return process, out

    def _collect_lane(self, check: CheckSpec, process: subprocess.Popen, out: Path
                      ) -> list[CheckResult]:
        budget = check.budget(self.assignment.limits) + 30
        try:
            process.wait(budget)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        try:
            return [CheckResult.from_dict(r) for r in json.loads(out.read_text())]
        except (OSError, ValueError, TypeError, KeyError):
            log = self.private / f"lane-{check.id}.log"
            tail = log.read_text(errors="replace")[-500:] if log.exists() else ""
            return [CheckResult.unearned(check, f"the check could not run: its process "
                                                f"ended without results: {tail}",
                                         Status.ERROR)]


def grade_here(run: Run, submission: Path, backend: str,
               only: frozenset[str] | None = None) -> GradeReport:
    """Build the submission and the reference, run the checks, return the report."""
    started = time.monotonic()
    assignment, confinement = run.assignment, run.confinement
    uid, gid = confinement.uid, confinement.gid
    prepare_sources(submission, run.student, assignment, uid, gid)
    prepare_sources(assignment.reference, run.reference_build, assignment, None, None)
    run.reference_build.chmod(0o700)
    trusted = Confinement(confinement.limits)  # the reference: our own code, built as we are
    with ThreadPoolExecutor(2) as pool:  # the two builds are independent: overlap them
        student_build = pool.submit(build, run.student, assignment, confinement)
        reference_build = pool.submit(build_reference, run, trusted).result()
        built = student_build.result()
    checks = assignment.select(only)
    report = GradeReport(assignment.id, assignment.title, submission.name, built, [],
                         backend=backend)
    if not built.ok:
        report.checks = [CheckResult.unearned(c, "not run: the build failed (see the build log)")
                         for c in checks]
    elif not reference_build.ok:
        raise RuntimeError(f"the reference of {assignment.id} does not build:\n"
                           f"{reference_build.log}")
    else:
        report.checks = run.run_checks(checks)
    report.duration_s = round(time.monotonic() - started, 3)
    return report


def build_reference(run: Run, confinement: Confinement):
    """Build the reference (or take its programs as they are, when it comes built: a student
    kit ships binaries only), and leave only its programs where student code can run them."""
    programs = [run.reference_build / p for p in run.assignment.programs]
    source = run.assignment.reference
    prebuilt = (all(os.access(source / p.name, os.X_OK) for p in programs)
                and not has_sources(os.listdir(source)))
    if prebuilt:
        for program in programs:
            shutil.copy(source / program.name, program)
        result = BuildResult(True, "(prebuilt)")
    else:
        result = build(run.reference_build, run.assignment, confinement)
    if result.ok:
        for program in programs:
            shutil.copy(program, run.reference / program.name)
            reference_only(run.reference / program.name)
    return result


def reference_only(program: Path) -> None:
    """Let only reference programs run `program`: they start with REFERENCE_GID as their
    effective group (see grader/confinement.py), student code never does, so a student's
    `client` cannot be a script that execs the reference's. Nobody reads it."""
    if os.geteuid() == 0:
        os.chown(program, 0, REFERENCE_GID)
        program.chmod(0o710)
    else:
        program.chmod(0o711)  # without root there is no other user to keep out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader.inside")
    parser.add_argument("assignment")
    parser.add_argument("submission", type=Path, help="the submission (with --lane: the work "
                                                      "folder of the running grading)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--uid", type=int)
    parser.add_argument("--gid", type=int)
    parser.add_argument("--backend", default="local")
    parser.add_argument("--only", help="comma-separated check ids: run only these")
    parser.add_argument("-k", dest="keyword", help="pytest -k expression over check names")
    parser.add_argument("--lane", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--cgroup", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--jail", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    assignment = find_assignment(args.assignment)
    only = frozenset(args.only.split(",")) if args.only else None
    become_subreaper()
    if args.lane:
        return _lane(args, assignment, only)
    work = Path.cwd()
    memory = (MemoryCgroup.create(work.name, assignment.limits.memory_mib << 20)
              or MemoryCgroup.current())
    confinement = Confinement(assignment.limits, args.uid, args.gid, memory)
    notes = []
    try:
        run = Run(assignment, work, confinement, args.keyword)
        jail, why = prepare_folders(run, jailed=args.backend == "local")
        if why:
            notes.append(why)
        run.confinement = confinement = replace(confinement, jail=jail)
        report = grade_here(run, args.submission.resolve(), args.backend, only)
    except Exception as error:  # the run must still write a report
        traceback.print_exc()
        checks = assignment.checks if only is None else [c for c in assignment.checks
                                                         if c.id in only]
        report = failed_run(assignment, checks, args.submission.name,
                            args.backend, f"grader error: {type(error).__name__}: "
                                          f"{str(error)[:500]}")
    finally:
        confinement.kill_everything()
    if confinement.jail is not None and (left := confinement.jail.temp_files()):
        # They vanish with the run's mount namespace; a student should still know.
        notes.append(f"removed files your programs left behind: {', '.join(left[:5])}"
                     + (f" and {len(left) - 5} more" if len(left) > 5 else ""))
    report.notes += notes
    report.save(args.out)
    return 0


def prepare_folders(run: Run, jailed: bool) -> tuple[Jail | None, str | None]:
    """The run's folders, with the modes the module docstring gives, and the jail (local
    backend, as root): returns it, or None and why there is none."""
    run.work.chmod(0o711)
    for folder in (run.work / "build", run.reference, run.checks_root):
        folder.mkdir(mode=0o711, exist_ok=True)
        folder.chmod(0o711)
    run.private.mkdir(mode=0o700, exist_ok=True)
    if not jailed or run.confinement.uid is None:
        return None, None
    disk = run.assignment.limits.disk_mib
    try:
        # What student code may write, each a disk of its own (grader/jail.py): mounted before
        # anything is written there, in the run's mount namespace.
        mount_disk(run.student, disk, 0o755)
        mount_disk(run.checks_root, disk, 0o711)
        return Jail.make(run.work / "jail", [run.student, run.reference, run.checks_root],
                         disk), None
    except (JailError, OSError) as error:
        return None, (f"local sandbox: no jail for student code ({error}): it could read the "
                      f"files of this machine that every user may read")


def _lane(args: argparse.Namespace, assignment: Assignment, only: frozenset[str] | None
          ) -> int:
    """Run some checks on the builds of the grading run in `args.submission` (its work
    folder); write their results as a JSON list."""
    memory = MemoryCgroup(args.cgroup, own=True) if args.cgroup else MemoryCgroup.current()
    jail = Jail(args.jail) if args.jail else None
    confinement = Confinement(assignment.limits, args.uid, args.gid, memory, jail)
    run = Run(assignment, args.submission.resolve(), confinement, args.keyword)
    results = run.run_here(only or frozenset())
    args.out.write_text(json.dumps([asdict(r) for r in results]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
