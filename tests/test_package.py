"""What leaves the repository (grader/package/), tried where it lands.

- The student kit: listed file by file, it holds no reference source, no mutant and no hidden
  check; graded from it, a correct submission gets full visible marks and every format says
  the score is out of the visible points; the students' image built from it holds no answer
  either.
- The Gradescope zip: unpacked in a fresh container laid out like Gradescope's, made from the
  project's Debian base image, setup.sh run with no network, then run_autograder on a correct,
  a broken and an ungradable submission; results.json checked against the schema.
- The PrairieLearn entrypoint: run as grader-host runs it (the job folder mounted at /grade,
  no network, a timeout), in the grading image.
- The GitHub Classroom workflow: its `run:` steps, unchanged, on a student repository.
"""

from __future__ import annotations

import ast
import base64
import fcntl
import hashlib
import json
import os
import secrets
import shutil
import stat
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import jsonschema
import pytest
import xmlschema
import yaml

from grader import __version__
from grader.assignment import Assignment, load_assignment
from grader.package import PackageError
from grader.package.visible import visible_checks
from grader.report import GradeReport, Status

REPO = Path(__file__).resolve().parents[1]
SCHEMAS = Path(__file__).resolve().parent / "schemas"
KIT_ASSIGNMENTS = ("assignment1", "assignment2", "assignment4", "assignment5")
WORKFLOW = REPO / "examples" / "github-classroom" / ".github" / "workflows" / "grade.yml"
BASE_IMAGE = "ipc-grader-base:bookworm"
IMAGE_LOCK = "/tmp/ipc-grader-tests-docker-image.lock"  # the docker_image fixture's


def grade_cli(*args: str | Path, env: dict[str, str | None] | None = None,
              timeout: float = 600) -> subprocess.CompletedProcess:
    """`grade ARGS` as a process, on the repository's own tree unless env says otherwise (a
    None value unsets a variable)."""
    merged = {**os.environ, "GRADER_ROOT": str(REPO), **(env or {})}
    return subprocess.run([sys.executable, "-m", "grader", *map(str, args)],
                          env={k: v for k, v in merged.items() if v is not None},
                          capture_output=True, text=True, timeout=timeout, check=False)


def correct_submission(where: Path, assignment: str = "assignment1") -> Path:
    """The reference's sources and Makefile, as a student would hand them in."""
    where.mkdir(parents=True)
    for source in (REPO / "reference" / assignment).iterdir():
        if source.suffix in (".c", ".h") or source.name == "Makefile":
            shutil.copy(source, where)
    return where


def broken_submission(where: Path) -> Path:
    """assignment1 sources that do not compile, in a top folder of their own (a zip of the
    project folder), which the platform entrypoints look into."""
    folder = correct_submission(where / "my-project")
    (folder / "server.c").write_text("int main(void) { return 0 }\n")
    return where


def rubric(assignment: str) -> Assignment:
    return load_assignment(REPO / "assignments" / assignment)


def hidden_ids(assignment: str) -> list[str]:
    return [c.id for c in rubric(assignment).checks if c.hidden]


def visible_points(assignment: str) -> float:
    return sum(c.points for c in rubric(assignment).checks if not c.hidden)


def validate_json(text: str, schema: str) -> dict:
    data = json.loads(text)
    jsonschema.validate(data, json.loads((SCHEMAS / schema).read_text()))
    return data


def docker(*args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout,
                          check=False)
    assert not check or done.returncode == 0, f"docker {' '.join(args)}:\n{done.stderr}"
    return done


@pytest.fixture(scope="session")
def base_image() -> str:
    """The project's Debian base image (built offline from packages if it is missing)."""
    for script in ("start-dockerd.sh", "build-base-image.sh"):
        done = subprocess.run([REPO / "docker" / script], capture_output=True, text=True,
                              timeout=900, check=False)
        assert done.returncode == 0, f"docker/{script} failed:\n{done.stderr[-3000:]}"
    return BASE_IMAGE


# ---- the student kit -------------------------------------------------------------------------

@pytest.fixture(scope="session")
def kit(tmp_path_factory) -> Path:
    """`grade package student` of every assignment with checks, from the repository."""
    out = tmp_path_factory.mktemp("kit") / "kit"
    done = grade_cli("package", "student", *KIT_ASSIGNMENTS, "-o", out)
    assert done.returncode == 0, done.stderr
    return out


def reference_sources() -> dict[bytes, str]:
    """Every source of reference/ (mutants included) and every mutant's patch: content ->
    where it comes from."""
    found = {}
    for path in (REPO / "reference").rglob("*"):
        if path.is_file() and (path.suffix in (".c", ".h", ".patch") or "mutants" in path.parts):
            found[path.read_bytes()] = str(path.relative_to(REPO))
    return found


def hidden_tests(assignment: str) -> list[str]:
    """The source text of the hidden checks' tests, as the repository's checks.py has them."""
    source = (REPO / "assignments" / assignment / "checks.py").read_text()
    tree = ast.parse(source)
    wanted = {f"test_{check}" for check in hidden_ids(assignment)}
    return [ast.get_source_segment(source, node) for node in tree.body
            if isinstance(node, ast.FunctionDef) and node.name in wanted]


def test_kit_holds_no_answer(kit):
    """Listed file by file (the grader's wheel opened too): no reference source, no mutant,
    no hidden check; the reference programs compiled and stripped, and nothing else."""
    sources = reference_sources()
    secrets_ = [(a, text) for a in KIT_ASSIGNMENTS for text in hidden_tests(a)]
    assert all(len(hidden_tests(a)) == len(hidden_ids(a)) > 0 for a in KIT_ASSIGNMENTS)
    files: dict[str, bytes] = {}
    for path in sorted(kit.rglob("*")):
        if path.is_file() and ".venv" not in path.parts:
            files[str(path.relative_to(kit))] = path.read_bytes()
    for wheel in kit.glob("wheels/ipc_grader-*.whl"):
        with zipfile.ZipFile(wheel) as archive:
            files.update({f"{wheel.name}:{name}": archive.read(name)
                          for name in archive.namelist()})
    assert any(name.endswith("grader/package/visible.py") for name in files)  # wheel opened
    for name, data in files.items():
        assert data not in sources, f"{name} is {sources[data]}"
        assert "mutant" not in name and not name.endswith((".c", ".h", ".patch")), name
        assert Path(name).name.lower() != "makefile", name
        for assignment, text in secrets_:
            assert text.encode() not in data, f"{name} holds a hidden test of {assignment}"
            assert text.splitlines()[0].encode() not in data, name
    for assignment in KIT_ASSIGNMENTS:
        shipped = load_assignment(kit / "assignments" / assignment)
        defined = {n.name for n in ast.parse(shipped.checks_file.read_text()).body
                   if isinstance(n, ast.FunctionDef)}
        assert not defined & {f"test_{c}" for c in hidden_ids(assignment)}
        assert [c.id for c in shipped.checks if c.deferred] == hidden_ids(assignment)
        programs = sorted(p.name for p in (kit / "reference" / assignment).iterdir())
        assert programs == sorted(shipped.programs)
        for program in programs:
            data = files[f"reference/{assignment}/{program}"]
            assert data.startswith(b"\x7fELF") and b".symtab" not in data, program  # stripped
            assert os.access(kit / "reference" / assignment / program, os.X_OK)


def test_kit_grades_the_visible_checks(kit, tmp_path):
    """A correct submission graded from the kit: full visible marks (exit 0), the hidden
    checks listed as graded after submission, and every format says "out of the visible"."""
    visible = visible_points("assignment1")
    hidden = hidden_ids("assignment1")
    out = {name: tmp_path / f"report.{name}"
           for name in ("json", "markdown", "html", "gradescope", "prairielearn", "junit")}
    options = [arg for name, path in out.items() for arg in (f"--{name}", path)]
    done = grade_cli("assignment1", correct_submission(tmp_path / "hw1"), *options,
                     env={"GRADER_ROOT": str(kit)})
    assert done.returncode == 0, done.stdout + done.stderr
    report = GradeReport.load(out["json"])
    assert (report.score, report.max_score) == (visible, visible), report.notes
    deferred = [c for c in report.checks if c.deferred]
    assert [c.id for c in deferred] == hidden
    assert all(c.status is Status.NOT_RUN and c.feedback == "graded after submission"
               and c.hidden and c.earned == 0 for c in deferred)
    words = f"{visible:g} out of the visible {visible:g} points"
    assert words in done.stdout
    assert "(hidden: graded after submission)" in done.stdout
    for name, path in out.items():
        assert name == "json" or words in path.read_text(), name
    gradescope = validate_json(out["gradescope"].read_text(), "gradescope-results.schema.json")
    assert gradescope["score"] == visible
    prairielearn = validate_json(out["prairielearn"].read_text(),
                                 "prairielearn-results.schema.json")
    assert prairielearn["score"] == 1.0 and prairielearn["gradable"]
    xmlschema.XMLSchema(str(SCHEMAS / "junit.xsd")).validate(str(out["junit"]))


SYNTHETIC = '''"""Checks of a made-up assignment."""

import pytest

SHARED = 3
SECRET_CASES = ["s3cr3t-a", "s3cr3t-b"]  # only the hidden test reads these


@pytest.fixture
def secret_server(student):
    return student.spawn("server", "s3cr3t-path")


def helper(n):
    return n * SHARED


def test_visible(student):
    assert helper(1) == 3


# A comment that tells the hidden scenario: s3cr3t-comment
@pytest.mark.parametrize("case", SECRET_CASES)
def test_hidden(secret_server, case):
    assert helper(2) == 6 and case


def test_also_visible(student):
    assert SHARED
'''


def test_visible_checks_cut_what_only_hidden_tests_use():
    """The hidden test goes with its decorator, its comment, the table and the fixture only
    it used; what a visible test also uses stays, and every other line is left as it was."""
    text = visible_checks(SYNTHETIC, ["hidden"])
    assert "s3cr3t" not in text and "test_hidden" not in text
    for kept in ("SHARED = 3", "def helper(n):", "def test_visible(student):",
                 "def test_also_visible(student):", '"""Checks of a made-up assignment."""'):
        assert kept in text
    assert "\n\n\n\n" not in text
    compile(text, "checks.py", "exec")
    assert visible_checks(SYNTHETIC, []) == SYNTHETIC
    with pytest.raises(PackageError, match="test_nowhere"):
        visible_checks(SYNTHETIC, ["nowhere"])


def test_student_image_holds_no_answer(kit, base_image, tmp_path):
    """docker/build-image.sh --kit: /opt/ipc-grader of the students' image is the kit's tree,
    byte for byte, and the kit grades a correct submission in it to full visible marks."""
    image = f"ipc-grader-student-test-{secrets.token_hex(3)}"
    with open(IMAGE_LOCK, "w") as lock:  # one image build at a time (tests/conftest.py)
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = subprocess.run([REPO / "docker" / "build-image.sh", "--kit", kit],
                              env={**os.environ, "IMAGE": image}, capture_output=True,
                              text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    tag = f"{image}:{__version__}"
    try:
        listed = docker("run", "--rm", "--network", "none", tag, "sh", "-c",
                        "cd /opt/ipc-grader && find . -type f -exec sha256sum {} +").stdout
        image_files = {name: digest for digest, name in map(str.split, listed.splitlines())}
        kit_files = {f"./{p.relative_to(kit)}": hashlib.sha256(p.read_bytes()).hexdigest()
                     for tree in ("assignments", "reference") for p in (kit / tree).rglob("*")
                     if p.is_file()}
        assert image_files == kit_files  # the kit's files, byte for byte, and nothing else
        # As the kit's `grade` script runs it on macOS: the kit's tree copied into the
        # container, its reference programs too (a folder without sources keeps them).
        graded = grade_cli("assignment1", correct_submission(tmp_path / "hw1"), "--backend",
                           "docker", "--json", tmp_path / "r.json",
                           env={"GRADER_ROOT": str(kit), "GRADER_IMAGE": tag})
        report = GradeReport.load(tmp_path / "r.json")
        assert graded.returncode == 0, graded.stdout + graded.stderr
        assert [c.id for c in report.checks if c.deferred] == hidden_ids("assignment1")
        assert report.score == report.max_score == 100 - report.deferred_points
    finally:
        docker("rmi", "-f", f"{image}:latest", tag, check=False)


# ---- Gradescope --------------------------------------------------------------------------------

def test_gradescope_autograder(base_image, tmp_path):
    """The zip in a fresh container laid out like Gradescope's: setup.sh with no network,
    then run_autograder on a correct, a broken and an ungradable submission; each leaves a
    results.json valid by the schema and true to Gradescope's rules, and exits 0."""
    started = time.monotonic()
    zipped = tmp_path / "autograder.zip"
    done = grade_cli("package", "gradescope", "assignment1", "-o", zipped)
    assert done.returncode == 0, done.stderr
    with zipfile.ZipFile(zipped) as archive:
        names = archive.namelist()
        modes = {i.filename: i.external_attr >> 16 for i in archive.infolist()}
    assert {"setup.sh", "run_autograder"} <= set(names)  # at the root, not in a folder
    assert all(modes[n] & stat.S_IXUSR for n in ("setup.sh", "run_autograder"))
    assert not [n for n in names if "mutants" in n]
    packaged = time.monotonic()

    name = f"gradescope-test-{secrets.token_hex(4)}"
    image = f"{name}:built"
    docker("run", "-d", "--name", name, "--network", "none", base_image, "sleep", "600")
    try:
        docker("cp", str(zipped), f"{name}:/tmp/autograder.zip")
        # What Gradescope's image build does (autograder_samples manual_docker/Dockerfile):
        # the zip in /autograder/source, run_autograder copied up, setup.sh run by bash.
        setup = docker("exec", name, "bash", "-c",
                       "mkdir -p /autograder/source && cd /autograder/source "
                       "&& python3 -m zipfile -e /tmp/autograder.zip . "
                       "&& cp run_autograder /autograder/run_autograder "
                       "&& chmod +x /autograder/run_autograder && cd / "
                       "&& bash /autograder/source/setup.sh && rm /tmp/autograder.zip")
        assert "installed already" in setup.stdout, setup.stdout  # no apt, no network
        docker("commit", name, image)
    finally:
        docker("rm", "-f", name, check=False)
    set_up = time.monotonic()

    def run_autograder(submission: Path, *prepare: str) -> tuple[dict, str]:
        results = submission.parent / f"{submission.name}-results"
        results.mkdir()
        command = " && ".join([*prepare, "/autograder/run_autograder"])
        done = docker("run", "--rm", "--network", "none", "--memory", "768m",
                      "-w", "/autograder", "-v", f"{submission}:/autograder/submission",
                      "-v", f"{results}:/autograder/results", image, "bash", "-c", command)
        text = (results / "results.json").read_text()
        data = validate_json(text, "gradescope-results.schema.json")
        assert data["score"] == sum(t["score"] for t in data["tests"])
        return data, done.stdout

    try:
        # Without the right to mount (docker's default capabilities) there is no jail: the
        # hidden checks and reference sources are root's alone, and a student uid reads none.
        peek = docker("run", "--rm", "--network", "none", image, "setpriv", "--reuid=30000",
                      "--regid=30000", "--clear-groups", "sh", "-c",
                      "cat /autograder/source/assignments/assignment1/checks.py "
                      "/autograder/source/reference/assignment1/server.c", check=False)
        assert peek.returncode != 0 and not peek.stdout, peek.stdout[:200]
        assert peek.stderr.count("Permission denied") == 2, peek.stderr

        correct, log = run_autograder(correct_submission(tmp_path / "correct"))
        assert correct["score"] == 100, correct["output"]
        assert len(correct["tests"]) == len(rubric("assignment1").checks)
        assert all(t["status"] == "passed" for t in correct["tests"])
        hidden = [t for t in correct["tests"] if t["visibility"] != "visible"]
        assert [t["extra_data"]["id"] for t in hidden] == hidden_ids("assignment1")
        assert {t["visibility"] for t in hidden} == {"after_published"}
        assert "score: 100/100" in log  # the full report, for the instructors' stdout

        broken, _ = run_autograder(broken_submission(tmp_path / "broken"))
        assert broken["score"] == 0 and all(t["status"] == "failed" for t in broken["tests"])
        assert "The build failed" in broken["output"]
        assert "my-project/" in broken["output"]  # the one folder of the upload was graded

        # The grader cannot even start (its install is gone): still a valid results.json.
        ungraded, _ = run_autograder(correct_submission(tmp_path / "ungraded"),
                                     "rm -rf /autograder/source/python")
        assert ungraded["score"] == 0 and "could not run" in ungraded["output"]
    finally:
        docker("rmi", "-f", image, check=False)
    print(f"\ngradescope: zip {packaged - started:.1f} s, setup {set_up - packaged:.1f} s, "
          f"three gradings {time.monotonic() - set_up:.1f} s")


# ---- PrairieLearn ------------------------------------------------------------------------------

def prairielearn_job(where: Path, submission: Path, params: dict | None = None) -> Path:
    """A job folder as grader-host lays it out: student/, data/data.json (no results/)."""
    shutil.copytree(submission, where / "student")
    (where / "data").mkdir()
    (where / "data" / "data.json").write_text(json.dumps(
        {"params": params or {}, "submitted_answers": {}, "gradable": True}))
    return where


def run_prairielearn(image: str, job: Path, *args: str, timeout: float
                     ) -> tuple[int | None, float]:
    """Run the entrypoint the way grader-host does (apps/grader-host/src/index.ts): the job
    mounted at /grade, no network, a private IPC namespace, a tty, core dumps off, the
    container killed at `timeout`. Returns (exit code, seconds); None if it was killed."""
    name = f"prairielearn-test-{secrets.token_hex(4)}"
    started = time.monotonic()
    try:
        done = subprocess.run(["docker", "run", "--name", name, "--network", "none",
                               "--ipc", "private", "--memory", "1g", "--pids-limit", "1024",
                               "--ulimit", "core=0", "-t", "-v", f"{job}:/grade",
                               "--entrypoint", "/usr/local/bin/grade", image, "entrypoint",
                               "prairielearn", *args], capture_output=True, text=True,
                              timeout=timeout, check=False)
        code = done.returncode
    except subprocess.TimeoutExpired:
        code = None
    finally:
        docker("rm", "-f", name, check=False)
    return code, time.monotonic() - started


def prairielearn_results(job: Path) -> dict:
    text = (job / "results" / "results.json").read_text()
    assert len(text.encode()) < 1024 * 1024
    data = validate_json(text, "prairielearn-results.schema.json")
    assert 0 <= data["score"] <= 1
    return data


def test_prairielearn_grader(docker_image, tmp_path):
    """A correct and a broken submission: exit 0 within the timeout, results.json valid; the
    assignment named on the entrypoint's command line, or by data.json's params."""
    correct = prairielearn_job(tmp_path / "job1", correct_submission(tmp_path / "hw1"))
    code, seconds = run_prairielearn(docker_image, correct, "assignment1", "--timeout", "90",
                                     timeout=90)
    assert code == 0
    data = prairielearn_results(correct)
    assert data["gradable"] and data["score"] == 1.0, data["message"]
    assert len(data["tests"]) == len(rubric("assignment1").checks)

    broken = prairielearn_job(tmp_path / "job2", broken_submission(tmp_path / "hw2"),
                              {"assignment": "assignment1"})
    code, _ = run_prairielearn(docker_image, broken, "--timeout", "90", timeout=90)
    assert code == 0
    data = prairielearn_results(broken)
    assert data["gradable"] and data["score"] == 0.0  # the student's doing: a graded 0
    assert "build failed" in data["message"]
    print(f"\nprairielearn: correct submission graded in {seconds:.1f} s")


NEVER_ANSWERS = """\
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    struct sockaddr_un address = {.sun_family = AF_UNIX};
    int listener = socket(AF_UNIX, SOCK_STREAM, 0);
    if (argc != 2)
        return 1;
    strncpy(address.sun_path, argv[1], sizeof address.sun_path - 1);
    unlink(argv[1]);
    if (bind(listener, (struct sockaddr *)&address, sizeof address) == -1
        || listen(listener, 16) == -1)
        return 1;
    for (;;)
        accept(listener, NULL, NULL); /* connections accepted, never answered */
}
"""


def test_prairielearn_timeout(docker_image, tmp_path):
    """A submission that hangs in every check would outlast PrairieLearn's timeout: the
    entrypoint stops the grading before it and still exits 0 with results (not gradable:
    no attempt used, as PrairieLearn does for its own timeouts). The server listens, so it
    passes the gate and every check runs, and then never answers: each waits its deadline."""
    hw = correct_submission(tmp_path / "hw")
    (hw / "server.c").write_text(NEVER_ANSWERS)
    job = prairielearn_job(tmp_path / "job", hw)
    code, seconds = run_prairielearn(docker_image, job, "assignment1", "--timeout", "20",
                                     timeout=20)
    assert code == 0 and seconds < 20  # before grader-host would kill it
    data = prairielearn_results(job)
    assert not data["gradable"] and "time budget" in " ".join(data["format_errors"])


# ---- GitHub Classroom ----------------------------------------------------------------------------

def test_github_classroom_workflow(kit, tmp_path):
    """The workflow's `run:` steps, as written, in a student repository holding the kit: the
    grader installs from the kit's wheels into a fresh venv, grades, writes a JUnit report
    valid by the schema, and hands GitHub Classroom's reporter the visible score."""
    repo = correct_submission(tmp_path / "repo")
    shutil.copytree(kit, repo / ".grader", ignore=shutil.ignore_patterns(".venv"))
    workflow = yaml.safe_load(WORKFLOW.read_text())
    job = workflow["jobs"]["grade"]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    if shutil.which("sudo") is None:  # these tests run as root already
        (bin_dir / "sudo").write_text('#!/bin/sh\nexec "$@"\n')
        (bin_dir / "sudo").chmod(0o755)
    outputs, summary = tmp_path / "github_output", tmp_path / "step_summary"
    env = {**os.environ, **workflow["env"], "GITHUB_OUTPUT": str(outputs),
           "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_WORKSPACE": str(repo),
           "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    env.pop("GRADER_ROOT", None)
    env.pop("VIRTUAL_ENV", None)
    ran = []
    for step in job["steps"]:
        if "run" not in step:
            continue  # actions: checkout (the folder), setup-python (this Python), reporters
        done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c",
                               step["run"]], cwd=repo, env=env, capture_output=True,
                              text=True, timeout=600, check=False)
        assert done.returncode == 0, f"{step['name']}:\n{done.stdout}\n{done.stderr}"
        ran.append(step["name"])
    assert len(ran) == 4
    assert (repo / ".grader" / ".venv" / "bin" / "grade").exists()  # a fresh install
    xmlschema.XMLSchema(str(SCHEMAS / "junit.xsd")).validate(str(repo / "report.xml"))
    visible = visible_points("assignment1")
    assert f"out of the visible {visible:g} points" in summary.read_text()
    line = next(line for line in outputs.read_text().splitlines()
                if line.startswith("result="))
    result = json.loads(base64.b64decode(line.removeprefix("result=")))
    assert (result["version"], result["status"], result["max_score"]) == (1, "pass", visible)
    assert len(result["tests"]) == len(rubric("assignment1").checks) - len(
        hidden_ids("assignment1"))
    assert all(t["status"] == "pass" for t in result["tests"])
    assert sum(t["score"] for t in result["tests"]) == visible
