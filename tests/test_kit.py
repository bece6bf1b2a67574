"""The check-writer's kit: waiting, exit verdicts, the idle measurement, tables of cases,
shared budgets, concurrent checks and subsets (--only, -k), on real programs and gradings.

The gradings use tests/kit_assignment, a tiny assignment made for this (a program `upper`
that prints its argument in capitals), with variants that miss one case or hang in one.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from grader.assignment import Assignment, AssignmentError, Limits, load_assignment
from grader.checks import Failure, eventually, expect_idle, measure_idle, procfs, wait_until
from grader.confinement import Confinement
from grader.grading import grade
from grader.process import Program
from grader.render import FORMATS, markdown, terminal
from grader.report import Status

KIT = Path(__file__).resolve().parent / "kit_assignment"
LIMITS = Limits(check_seconds=5)


@pytest.fixture
def start(tmp_path):
    started: list[Program] = []

    def start(argv: list[str], name: str = "your server") -> Program:
        program = Program.start(name, argv, cwd=tmp_path, confinement=Confinement(LIMITS))
        started.append(program)
        return program

    yield start
    for program in started:
        program.reap()


# ---- waiting ------------------------------------------------------------------------------

def test_wait_until_returns_the_first_true_value():
    values = iter([0, None, "", 42, 43])
    assert wait_until(lambda: next(values), 1, "a value") == 42


def test_wait_until_names_what_it_waited_for():
    with pytest.raises(Failure) as failed:
        wait_until(lambda: False, 0.05, "the queue /x to appear", help="create it")
    assert failed.value.rationale == "waited 0.05 s for the queue /x to appear"
    assert failed.value.help == "create it"


def test_wait_until_says_the_watched_program_crashed(start, c_programs):
    """A crashing server is reported as crashed, not as a wait that ran out of time."""
    server = start([c_programs("segfault")])
    with pytest.raises(Failure) as failed:
        wait_until(lambda: False, 5, "your server to print its PID", watch=server)
    assert failed.value.rationale == ("your server was killed by SIGSEGV (Segmentation fault) "
                                      "while the check waited for your server to print its PID")


def test_eventually_returns_the_last_value_at_the_deadline():
    assert eventually(lambda: 0, 0.02) == 0


# ---- exit verdicts ------------------------------------------------------------------------

def test_expect_exit_names_the_status_and_what_was_expected(start, c_programs):
    program = start([c_programs("out_and_err")])  # exits 3, says "to stderr"
    with pytest.raises(Failure) as failed:
        program.expect_exit(1, within=5, stderr=True, when="with a file at the path")
    assert failed.value.rationale == ("with a file at the path, your server exited with code 3 "
                                      "(expected: exit 1 with a message on stderr); stderr: "
                                      "'to stderr'")
    assert program.expect_exit(3, within=5, stderr="to std") is program


def test_expect_exit_wants_a_message_on_stderr(start):
    program = start(["sh", "-c", "exit 1"])
    with pytest.raises(Failure) as failed:
        program.expect_exit(1, within=5, stderr=True)
    assert failed.value.rationale == "your server exited 1 without a message on stderr"


def test_expect_exit_of_a_program_that_does_not_exit(start):
    program = start(["sleep", "60"])
    with pytest.raises(Failure) as failed:
        program.expect_exit(None, within=0.1)
    assert failed.value.rationale == ("your server did not exit within 0.1 s (expected: a "
                                      "non-zero exit status)")


# ---- the idle measurement: the same verdict every time ------------------------------------

@pytest.mark.parametrize(("percent", "verdict"), [(5, "idle"), (20, "busy")])
def test_cpu_share_verdict_is_the_same_every_run(start, c_programs, percent, verdict):
    """Pollers at half and at twice a 10% limit get the same verdict in 10 windows: CPU
    time is read in nanoseconds (schedstat), not in 10 ms ticks."""
    poller = start([c_programs("duty"), str(percent), "20"])
    verdicts = set()
    for _ in range(10):
        idle = measure_idle(poller, 0.5)
        verdicts.add("busy" if idle.cpu_share > 0.10 else "idle")
    assert verdicts == {verdict}


@pytest.mark.parametrize(("rate", "verdict"), [(50, "quiet"), (200, "polls")])
def test_wakeup_verdict_is_the_same_every_run(start, c_programs, rate, verdict):
    poller = start([c_programs("waker"), str(rate)])
    verdicts = set()
    for _ in range(10):
        idle = measure_idle(poller, 0.5)
        verdicts.add("polls" if idle.wakeups_per_second > 100 else "quiet")
    assert verdicts == {verdict}


def test_expect_idle_explains_spinning(start, c_programs):
    spinner = start([c_programs("spin")])
    with pytest.raises(Failure) as failed:
        expect_idle(spinner, when="right after it started", cpu_share=0.1, help="block")
    assert failed.value.rationale.startswith("with nothing to do (right after it started), "
                                             "your server used ")
    assert "it spins instead of blocking" in failed.value.rationale
    reader = start(["cat"])
    assert reader.wait_idle(5)
    assert expect_idle(reader, when="waiting", cpu_share=0.01, wakeups_per_second=1).wakeups == 0


# ---- gradings: tables of cases, budgets, lanes, subsets -----------------------------------

@pytest.fixture
def kit(tmp_path, monkeypatch) -> Assignment:
    """The kit's test assignment, in a GRADER_ROOT of its own."""
    root = tmp_path / "root"
    for part in ("assignments", "reference"):
        shutil.copytree(KIT / part, root / part)
    monkeypatch.setenv("GRADER_ROOT", str(root))
    return load_assignment(root / "assignments" / "assignment9")


def variant(name: str, tmp_path: Path) -> Path:
    folder = tmp_path / name
    shutil.copytree(KIT / "submissions" / name, folder)
    return folder


def test_reference_passes_every_case_and_the_concurrent_check(kit):
    report = grade(kit, kit.reference)
    assert report.full_marks, [(c.id, c.feedback) for c in report.checks if not c.passed]
    words = report.checks[0]
    assert [c.name for c in words.cases] == ["alpha", "bravo", "charlie", "delta"]
    assert all(c.passed for c in words.cases)
    assert report.checks[2].id == "waits_long" and report.checks[2].duration_s >= 4


def test_a_missed_case_costs_only_its_share_and_is_listed(kit, tmp_path):
    report = grade(kit, variant("misses_charlie", tmp_path))
    words = report.checks[0]
    assert words.status is Status.FAILED
    assert words.earned == 30  # 3 of 4 cases of 40 points
    assert [c.name for c in words.failed_cases] == ["charlie"]
    failed = words.failed_cases[0]
    assert failed.expected == "'CHARLIE'" and "charlie" in failed.actual
    assert words.feedback.startswith("1 of 4 cases failed; charlie: your upper ")
    assert report.score == 90
    for text in (terminal.render(report), markdown.render(report)):
        assert "charlie" in text and "'CHARLIE'" in text


def test_cases_share_the_check_budget(kit, tmp_path):
    report = grade(kit, variant("hangs_on_hang", tmp_path))
    hangs = report.checks[1]
    assert [(c.name, c.passed) for c in hangs.cases] == [
        ("one", True), ("hang", False), ("two", False), ("three", False)]
    assert "did not finish within its 3 s budget" in hangs.cases[1].feedback
    assert hangs.cases[2].feedback.startswith("not run: the cases before it used up")
    assert hangs.status is Status.TIMEOUT
    assert hangs.earned == 5
    assert report.checks[0].passed and report.checks[3].passed  # the rest is unaffected


def test_a_check_whose_required_check_failed_is_not_run_and_names_it(kit, tmp_path):
    report = grade(kit, variant("exits_1", tmp_path))
    checks = {c.id: c for c in report.checks}
    assert [c.id for c in report.checks] == ["words", "hangs_sometimes", "waits_long",
                                             "exit_status"]  # rubric order, whatever ran first
    assert checks["words"].passed and checks["exit_status"].status is Status.FAILED
    for dependent in ("hangs_sometimes", "waits_long"):  # in this process, and in a lane
        check = checks[dependent]
        assert (check.status, check.earned, check.needs) == (Status.NOT_RUN, 0, "exit_status")
        assert check.feedback.startswith("not run: it needs exit_status, which failed: your "
                                         "upper exited with code 1"), check.feedback
    assert checks["hangs_sometimes"].duration_s == 0 and not checks["hangs_sometimes"].cases
    assert report.score == 40
    for name, render in FORMATS.items():  # every format says which check they needed
        assert "needs exit_status, which failed" in render(report), name
    assert [c.id for c in report.for_student().failures()] == [
        "hangs_sometimes", "waits_long", "exit_status"]


def test_only_grades_a_subset_out_of_its_points(kit):
    report = grade(kit, kit.reference, only=frozenset({"exit_status", "waits_long"}))
    assert [c.id for c in report.checks] == ["waits_long", "exit_status"]
    assert (report.score, report.max_score) == (40, 40)


def test_keyword_selects_cases(kit, tmp_path):
    report = grade(kit, variant("misses_charlie", tmp_path), keyword="words and charlie")
    assert [c.id for c in report.checks] == ["words"]
    assert [c.name for c in report.checks[0].cases] == ["charlie"]
    assert report.checks[0].earned == 0


def test_only_names_an_unknown_check(kit):
    with pytest.raises(AssignmentError, match="assignment9 has no check 'nope'; its checks: "
                                              "words, hangs_sometimes, waits_long, "
                                              "exit_status"):
        grade(kit, kit.reference, only=frozenset({"nope"}))


def test_output_over_the_cap_is_discarded_and_named(kit, tmp_path):
    """A program printing more than the cap keeps running; the check that needed the
    discarded output says so instead of blaming something else."""
    report = grade(kit, variant("floods", tmp_path), only=frozenset({"words", "exit_status"}))
    words, exit_status = report.checks
    assert words.earned == 0
    assert "printed more than 16 KiB: the output over that was discarded, and the check " \
           "could not see it" in words.cases[0].feedback
    assert any("(output over 16 KiB discarded: " in e for e in words.evidence)
    assert exit_status.passed  # not stopped for printing: it ran to its exit 0


def test_a_projects_pytest_settings_do_not_reach_the_checks(kit, tmp_path):
    """The checks run with pytest's defaults, whatever pytest configuration lies above the
    assignment (a repository's own, with options a grading cannot take)."""
    root = kit.folder.parent.parent
    (root / "pyproject.toml").write_text('[tool.pytest.ini_options]\naddopts = "-n 2 -x"\n')
    report = grade(kit, kit.reference, only=frozenset({"exit_status"}))
    assert [(c.id, c.passed) for c in report.checks] == [("exit_status", True)]


# ---- large transfers: feeding in the background, hashing all of stdout --------------------

def test_digest_judges_all_of_a_large_output_and_feed_writes_in_the_background(tmp_path):
    """10 MiB through `cat`: the check feeds it in the background and compares the whole
    output by its hash, far beyond the output cap; the exit time is taken when it happens."""
    import hashlib
    import random

    data = random.Random(1).randbytes(10 << 20)
    program = Program.start("your reader", ["cat"], cwd=tmp_path,
                            confinement=Confinement(Limits(output_kib=16)), digest=True)
    try:
        program.feed(data[:1000])
        program.feed(data[1000:], then_close=True)
        assert program.wait_fed(30)
        program.wait(30)
        assert program.exit_code == 0
        assert program.stdout_size == len(data)
        assert program.stdout_digest == hashlib.sha256(data).hexdigest()
        assert program.stdout_bytes == data[:16 * 1024]  # what is kept: the cap
        assert program.started_at < program.exited_at
    finally:
        program.reap()


def test_shared_mappings_and_steady_idleness(start):
    code = ("import mmap, os, time; fd = os.open('/dev/shm/ipcg-kit-test', os.O_CREAT | "
            "os.O_RDWR); os.ftruncate(fd, 4096); m = mmap.mmap(fd, 4096); time.sleep(60)")
    program = start(["python3", "-c", code])
    try:
        assert program.wait_idle(10, steady=0.05)
        found = wait_until(lambda: procfs.shared_mappings(program.pid), 5, "the mapping")
        assert found == ["/dev/shm/ipcg-kit-test"]
    finally:
        Path("/dev/shm/ipcg-kit-test").unlink(missing_ok=True)
