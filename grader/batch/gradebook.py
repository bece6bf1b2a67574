"""Gradebooks: the batch's grades as CSV files an LMS imports.

    gradebook.csv   student, name, email, score, max, one column per check (points earned),
                    status, verdict, late, graded_at: one row per student (a group
                    submission gives each member a row)
    canvas.csv      Canvas's gradebook import layout: Student, ID, SIS User ID, SIS Login ID,
                    Section, then one column "ASSIGNMENT NAME (ASSIGNMENT ID)" with the points
                    (--canvas-column names it; an id Canvas does not know makes a new column)
    moodle.csv      Moodle's assignment grading worksheet: Identifier ("Participant N"),
                    Full name, Email address, Status, Grade, Maximum Grade, Grade can be
                    changed, Last modified (submission), Last modified (grade),
                    Feedback comments; only students with a participant number (from a
                    Moodle export's names, or the roster's Identifier column)

Ids and names come from the export's names, completed by the roster (--roster).
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from pathlib import Path

from grader.assignment import Assignment, CheckSpec
from grader.batch.store import GRADED, Result, write_atomic
from grader.batch.verdicts import of_status

GRADEBOOK = "gradebook.csv"
CANVAS = "canvas.csv"
MOODLE = "moodle.csv"


def _rows(results: list[Result]):
    """(result, member) for every student, sorted by student key."""
    rows = [(r, m) for r in results for m in (r.people or [r.identity])]
    return sorted(rows, key=lambda row: (row[1].key.lower(), row[0].key))


def _csv(rows: list[list]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


def _points(value: float) -> str:
    return f"{value:g}"


def gradebook(results: list[Result], checks: tuple[CheckSpec, ...]) -> str:
    header = ["student", "name", "email", "score", "max", *(c.id for c in checks), "status",
              "verdict", "late", "graded_at"]
    rows = [header]
    for result, person in _rows(results):
        points = [_points(result.checks[c.id]) if c.id in result.checks else ""
                  for c in checks]
        status = result.status if result.status != GRADED else \
            ("graded" if "grading error" not in of_status(result.status,
                                                          result.grade_report())
             else "grading error")
        rows.append([person.key, person.name, person.email, _points(result.score),
                     _points(result.max_score or sum(c.points for c in checks)), *points,
                     status, result.verdict, "yes" if result.identity.late else "",
                     result.graded_at])
    return _csv(rows)


def canvas(results: list[Result], column: str) -> str:
    rows = [["Student", "ID", "SIS User ID", "SIS Login ID", "Section", column]]
    for result, person in _rows(results):
        rows.append([person.name or person.key, person.canvas_id, person.sis_user_id,
                     person.sis_login_id, person.section, _points(result.score)])
    return _csv(rows)


MOODLE_HEADER = ["Identifier", "Full name", "Email address", "Status", "Grade",
                 "Maximum Grade", "Grade can be changed", "Last modified (submission)",
                 "Last modified (grade)", "Feedback comments"]


def moodle(results: list[Result], checks: tuple[CheckSpec, ...]) -> tuple[str, int]:
    """The worksheet, and how many students were left out (no participant number)."""
    rows = [MOODLE_HEADER]
    missing = 0
    top = sum(c.points for c in checks)
    for result, person in _rows(results):
        if not person.moodle_id:
            missing += 1
            continue
        rows.append([f"Participant {person.moodle_id}", person.name, person.email,
                     "Submitted for grading", _points(result.score),
                     _points(result.max_score or top), "Yes", "",
                     _moodle_date(result.graded_at), _feedback(result)])
    return _csv(rows), missing


def _moodle_date(stamp: str) -> str:
    """Moodle's own way of writing a date in the worksheet ("Monday, 2 March 2026, 3:04 PM")."""
    try:
        when = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return stamp
    return f"{when:%A}, {when.day} {when:%B %Y}, {when.hour % 12 or 12}:{when:%M %p}"


def _feedback(result: Result) -> str:
    if result.status != GRADED:
        return f"Not graded: {result.verdict}"
    lost = [f"{cid} ({points:g})" for cid, points in result.checks.items()
            if (result.report and any(c["id"] == cid and c["status"] != "passed"
                                      for c in result.report["checks"]))]
    return f"{result.score:g}/{result.max_score:g}" + (f"; lost points: {', '.join(lost)}"
                                                        if lost else "")


def write_all(outdir: Path, results: list[Result], assignment: Assignment,
              checks: tuple[CheckSpec, ...], canvas_column: str | None) -> dict[str, Path]:
    write_atomic(outdir / GRADEBOOK, gradebook(results, checks))
    write_atomic(outdir / CANVAS, canvas(results, canvas_column or
                                         f"{assignment.title} ({assignment.id})"))
    text, _missing = moodle(results, checks)
    write_atomic(outdir / MOODLE, text)
    return {"gradebook": outdir / GRADEBOOK, "canvas import": outdir / CANVAS,
            "moodle worksheet": outdir / MOODLE}
