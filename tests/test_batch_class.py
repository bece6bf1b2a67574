"""`grade batch` end to end, in docker, on a generated assignment1 class of about 65
submissions (tests/batch_class.py: the reference, the alternatives, every mutant, broken,
hostile, a copied pair, and malformed archives: zip slip, a link out, a zip bomb, a corrupt
zip), run as an instructor runs it: the `grade` command, -j 2.

These tests are about the batch machinery, so the class is graded on two cheap checks
(--only sums_rounds,client_no_server: the server must serve, and the client must report a
missing server); every submission is still built and run in its own container.

  - every submission has a result, each malformed one its named verdict, and nothing is
    left: no container, no worker, no .work folder, nothing written outside;
  - a rerun grades nothing;
  - a batch killed with SIGKILL mid-way and run again ends with the same gradebook as the
    uninterrupted one (graded_at aside);
  - the class report renders its plots in headless Chromium with no network.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from batch_class import Class, make_class

from grader.assignment import find_assignment
from grader.sandbox.docker import LABEL

ONLY = "sums_rounds,client_no_server"
ARTIFACTS = Path(__file__).resolve().parents[1] / "build" / "test-artifacts" / "batch"
BATCH_TIMEOUT = 1500  # seconds: a loaded 2-core machine; the class takes ~2-5 minutes


def batch(klass: Class, out: Path, tree: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(batch_argv(klass, out, *extra), capture_output=True, text=True,
                          timeout=BATCH_TIMEOUT, env={**os.environ, "GRADER_ROOT": str(tree)},
                          check=False)


def batch_argv(klass: Class, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "grader", "batch", "assignment1", str(klass.archive), "-o",
            str(out), "-j", "2", "--backend", "docker", "--only", ONLY, *extra]


def results(out: Path) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in (out / "results").glob("*.json")}


def gradebook_without_dates(out: Path) -> list[list[str]]:
    rows = list(csv.reader((out / "gradebook.csv").read_text().splitlines()))
    at = rows[0].index("graded_at")
    return [row[:at] + row[at + 1:] for row in rows]


def our_containers(engine, klass: Class) -> list[str]:
    runs = {f"assignment1-{key}" for key in klass.expected}
    found = engine.containers.list(all=True, filters={"label": LABEL})
    return [c.name for c in found if c.labels.get(f"{LABEL}.run") in runs]


def workers(out: Path) -> list[str]:
    """Live worker processes of the batch writing into `out`."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if b"grader.batch.worker" in argv and any(str(out).encode() in a for a in argv):
            found.append(cmdline.parent.name)
    return found


CHROMIUM = Path("/usr/bin/chromium")


def test_a_class_end_to_end(docker_engine, tree1, tmp_path):
    """One test, its steps in order (the class is graded twice: once whole, once killed and
    finished): a test worker of its own runs it, whatever pytest-xdist does with the rest."""
    klass = make_class(find_assignment("assignment1"), tmp_path / "class")
    out = tmp_path / "out"
    done = batch(klass, out, tree1)
    assert done.returncode == 0, done.stderr[-3000:]
    check_results(out, done, klass, docker_engine)
    check_rerun_grades_nothing(out, klass, tree1)
    check_kill_and_resume(out, klass, tree1, tmp_path / "killed", docker_engine)
    if CHROMIUM.exists():
        check_class_report_in_chromium(out, tmp_path)


def check_results(out: Path, done, klass: Class, docker_engine) -> None:
    found = results(out)
    assert set(found) == set(klass.expected), done.stdout
    statuses = {key: result["status"] for key, result in found.items()}
    assert statuses == klass.expected
    for key, result in found.items():
        assert (out / "reports" / f"{key}.html").is_file(), key
        if result["status"] != "graded":  # refused: named, and said in the report too
            assert result["verdict"] and result["score"] == 0
            assert result["verdict"] in (out / "reports" / f"{key}.html").read_text() \
                or "not graded" in (out / "reports" / f"{key}.html").read_text()
        else:
            assert [c["id"] for c in result["report"]["checks"]] == ONLY.split(","), key
    by_kind = {kind: found[key] for key, kind in klass.kinds.items()}
    assert by_kind["reference"]["score"] == 10
    assert all(by_kind[k]["score"] == 10 for k in by_kind if k.startswith("alternative"))
    assert "zip slip" in by_kind["zip slip"]["verdict"]
    assert "/etc/passwd" in by_kind["symlink out"]["verdict"]
    assert "zip bomb" in by_kind["zip bomb"]["verdict"]
    assert "corrupt" in by_kind["corrupt zip"]["verdict"]
    assert by_kind["compile_error"]["report"]["build"]["ok"] is False
    assert any("subfolder" in n for n in by_kind["sources in a subfolder"]["notes"])
    assert any("compiled" in n for n in by_kind["ships binaries"]["notes"])
    assert by_kind["ships binaries"]["score"] == 10
    # The copied pair is found; the mutants, all alike the reference, are not pairs.
    report = (out / "class-report.html").read_text()
    copied = next(k for k, kind in klass.kinds.items() if kind.startswith("copied"))
    original = next(k for k, kind in klass.kinds.items()
                    if kind == "alternative threads_and_poll")
    assert "similar pairs: 1 " in done.stdout, done.stdout
    assert f'href="#student-{original}">{original}</a> and <a href="#student-{copied}"' \
        in report
    rows = list(csv.DictReader((out / "gradebook.csv").read_text().splitlines()))
    assert len(rows) == klass.size
    # Nothing left behind.
    assert our_containers(docker_engine, klass) == []
    assert workers(out) == []
    assert not (out / ".work").exists()
    assert not Path("/tmp/ipc-grader-zip-slip.txt").exists()


def images_of(found: dict[str, dict]) -> set[str]:
    return {r["run_key"]["image"] for r in found.values()}


def check_rerun_grades_nothing(out: Path, klass: Class, tree1: Path) -> None:
    for _ in range(3):
        before = results(out)
        done = batch(klass, out, tree1)
        assert done.returncode == 0, done.stderr[-3000:]
        if " 0 graded now, 0 refused, " in done.stdout:
            assert {k: r["graded_at"] for k, r in results(out).items()} == \
                {k: r["graded_at"] for k, r in before.items()}
            return
        # Only a new grading image grades again: in a shared tree, another session's tests
        # may rebuild it (docker/build-image.sh) between two runs. Then once more.
        assert images_of(results(out)) != images_of(before), done.stdout
    pytest.fail("the grading image changed at every run: cannot see a rerun grade nothing")


def check_kill_and_resume(uninterrupted: Path, klass: Class, tree1: Path, out: Path,
                          docker_engine) -> None:
    proc = subprocess.Popen(batch_argv(klass, out), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env={**os.environ,
                                                            "GRADER_ROOT": str(tree1)})
    deadline = time.monotonic() + BATCH_TIMEOUT
    while len(results(out)) < klass.size // 3 and proc.poll() is None:
        assert time.monotonic() < deadline, "the batch made no progress"
        time.sleep(0.2)
    assert proc.poll() is None, "the batch ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    kept = results(out)
    assert 0 < len(kept) < klass.size
    # Its workers die with it (parent-death signal), and their containers follow.
    deadline = time.monotonic() + 90
    while (workers(out) or our_containers(docker_engine, klass)) and \
            time.monotonic() < deadline:
        time.sleep(0.5)
    assert workers(out) == []
    assert our_containers(docker_engine, klass) == []

    done = batch(klass, out, tree1)
    assert done.returncode == 0, done.stderr[-3000:]
    if images_of(results(out)) == images_of(kept):  # (see check_rerun_grades_nothing)
        assert f"{len(kept)} of {klass.size} submissions already have a result" in \
            done.stderr
        assert {k: r["graded_at"] for k, r in results(out).items() if k in kept} == \
            {k: r["graded_at"] for k, r in kept.items()}, "a finished result was graded again"
    assert gradebook_without_dates(out) == gradebook_without_dates(uninterrupted)
    assert not (out / ".work").exists()


def check_class_report_in_chromium(out: Path, tmp_path: Path) -> None:
    from test_render_html import DESKTOP, PHONE, Browser

    browser = Browser(tmp_path / "profile")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        for device, (width, height) in (("desktop", DESKTOP), ("phone", PHONE)):
            tab = browser.open(out / "class-report.html", width, height)
            assert tab.problems() == []
            assert tab.evaluate("document.querySelectorAll('svg.plot').length") == 4
            # Each plot drew its bars, at a visible size.
            sizes = tab.evaluate("[...document.querySelectorAll('svg.plot')].map(s => "
                                 "[s.getBoundingClientRect().width, "
                                 "s.getBoundingClientRect().height, "
                                 "s.querySelectorAll('path, rect').length])")
            assert all(w > 200 and h > 100 and shapes > 5 for w, h, shapes in sizes), sizes
            assert tab.evaluate("document.documentElement.scrollWidth") <= width
            assert tab.evaluate("document.querySelectorAll('script').length") == 0
            tab.screenshot(ARTIFACTS / f"class-report-{device}.png")
    finally:
        browser.close()
