"""What leaves the repository, and how it grades where it lands.

    grade package student ASSIGNMENT... -o kit/      grader/package/student.py
    grade package gradescope ASSIGNMENT -o ag.zip    grader/package/gradescope.py
    grade entrypoint gradescope|prairielearn ...     grader/package/entrypoint.py

A package holds the grader as wheels (grader/package/wheels.py) so that it installs offline,
and an assignments/ + reference/ tree that GRADER_ROOT points at. What a package may hold
depends on who receives it: a Gradescope zip goes to the platform (every check, the reference
sources, built there); a student kit goes to students (the visible checks only,
grader/package/visible.py, and the reference programs compiled and stripped).
"""

from pathlib import Path

FILES = Path(__file__).resolve().parent / "files"
"""The scripts and READMEs a package carries, with @NAME@ placeholders."""


class PackageError(Exception):
    """A package cannot be made (no wheel, a reference that does not build): one line."""


def fill(template: str, **values: str) -> str:
    """FILES/`template` with each @NAME@ replaced by values[name] (shell scripts use $ too)."""
    text = (FILES / template).read_text()
    for name, value in values.items():
        text = text.replace(f"@{name.upper()}@", value)
    return text
