"""Grading inside a course platform's container: `grade entrypoint gradescope|prairielearn`.

Each platform hands over a job folder and reads one results file from it:

- Gradescope (run_autograder, grader/package/gradescope.py): the submission in
  /autograder/submission, results in /autograder/results/results.json. No file, or a file
  that is not JSON: "The autograder failed to execute correctly".
- PrairieLearn external grader (info.json `externalGradingOptions`: `"image"` our grading
  image, `"entrypoint": "/usr/local/bin/grade entrypoint prairielearn assignment1 --timeout
  120"`, `"timeout": 120`): the job folder is mounted at /grade, the student's files in
  /grade/student, /grade/data/data.json, the question's tests/ in /grade/tests; results in
  /grade/results/results.json, which PrairieLearn reads only if the entrypoint exits 0 before
  its timeout (grader-host kills the container then: apps/grader-host/src/index.ts).
  (shared/research/platforms.md sections 1 and 2.)

So whatever happens here (an unknown assignment, a grader error, a grading that would
outlast the platform's time limit), the results file is written, whole, and the exit status
is 0. The grading stops `margin(timeout)` before the platform's limit, so that the results
of a hung submission arrive instead of the platform's own timeout verdict. The full report,
hidden checks included, is printed for the instructors' log (Gradescope's stdout and
PrairieLearn's job log are theirs). Student code runs as a uid from a block of this
container's own (GRADER_UIDS, one of 300 blocks): gradings on the same kernel, in other
containers, run as other uids.

The assignment: the one named, else (PrairieLearn) `params["assignment"]` of
/grade/data/data.json (set by the question's server.py), else the only assignment of the
grading tree. The grading tree is the question's /grade/tests when it holds assignments/ (a
course's own assignment), else GRADER_ROOT (the image's /opt/ipc-grader, or the zip's
/autograder/source).
"""

from __future__ import annotations

import json
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path

from grader.assignment import Assignment, AssignmentError, all_assignments, find_assignment
from grader.grading import grade
from grader.render import FORMATS, terminal
from grader.report import BuildResult, GradeReport, failed_run


@dataclass(frozen=True)
class Platform:
    name: str
    job: Path          # the job folder, as the platform lays it out
    submission: str    # the student's files, in the job folder
    results: str       # the file the platform reads, in the job folder


PLATFORMS = {
    "gradescope": Platform("gradescope", Path("/autograder"), "submission",
                           "results/results.json"),
    "prairielearn": Platform("prairielearn", Path("/grade"), "student", "results/results.json"),
}


def margin(timeout: float) -> float:
    """How long before the platform's limit the grading stops: startup, writing, slack."""
    return max(5.0, 0.05 * timeout)


def run(platform: Platform, name: str | None, job: Path | None = None,
        timeout: float | None = None) -> int:
    """Grade the job's submission and write the platform's results file. Always 0."""
    started = time.monotonic()
    job = job or platform.job
    # Student uids of this container's own (sandbox/local.py, student_uids): one of 300
    # blocks in 30000-59999, no login user's, no systemd one's, within a userns-remap's 65536.
    block = random.randrange(300, 600) * 100
    os.environ.setdefault("GRADER_UIDS", f"{block}-{block + 99}")
    report = _grade(platform, name, job,
                    None if timeout is None else started + timeout - margin(timeout))
    results = job / platform.results
    results.parent.mkdir(parents=True, exist_ok=True)  # PrairieLearn does not make it
    from grader.cli import _write  # the whole file or none of it

    _write(results, FORMATS[platform.name](report.for_student()))
    print(terminal.render(report))
    return 0


def _grade(platform: Platform, name: str | None, job: Path, deadline: float | None
           ) -> GradeReport:
    submission = job / platform.submission
    tree = job / "tests"
    root = tree if (tree / "assignments").is_dir() else None
    if root is not None:
        os.environ["GRADER_ROOT"] = str(root)  # for the grading run, too
    try:
        assignment = find_assignment(name or _named(job, root), root)
    except (AssignmentError, OSError, ValueError) as error:
        return GradeReport(name or "(unknown)", "(not configured)", str(submission),
                           BuildResult(False, ""), [],
                           notes=[f"the autograder is misconfigured: {error}"])
    try:
        folder = sources_folder(submission)
        report = grade(assignment, folder, "local",
                       deadline=None if deadline is None else deadline - time.monotonic())
        if folder != submission:
            report.notes.append(f"graded the sources in {folder.relative_to(submission)}/, "
                                f"the one folder of your submission")
        return report
    except Exception as error:  # the platform must get results, whatever happened
        return failed_run(assignment, assignment.checks, str(submission), "local",
                          f"grader error: {type(error).__name__}: {str(error)[:500]}")


def _named(job: Path, root: Path | None) -> str:
    """The assignment a job names: data.json's params, else the tree's only assignment."""
    data = job / "data" / "data.json"
    if data.is_file():
        params = json.loads(data.read_text()).get("params") or {}
        if isinstance(params.get("assignment"), str):
            return params["assignment"]
    assignments: list[Assignment] = all_assignments(root)
    if len(assignments) != 1:
        raise AssignmentError("no assignment named: give it to the entrypoint (grade "
                              "entrypoint prairielearn ASSIGNMENT) or as params.assignment")
    return assignments[0].id


def sources_folder(folder: Path) -> Path:
    """Where an upload's sources are: the folder, or the one folder it holds, and so on (a
    zip of the project folder, a repository with a top folder). Dot files and macOS's
    __MACOSX do not count."""
    while folder.is_dir():
        entries = [e for e in folder.iterdir()
                   if not e.name.startswith(".") and e.name != "__MACOSX"]
        if len(entries) != 1 or entries[0].is_symlink() or not entries[0].is_dir():
            break
        folder = entries[0]
    return folder
