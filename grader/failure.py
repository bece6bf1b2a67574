"""What a failed check says: the exceptions a check raises, and the renderer shows.

Modelled on check50: a failure carries a `rationale` (what went wrong, in the student's terms)
and optionally `help` (what to look at), or `expected` and `actual` for a mismatch. The check
decides what is wrong; the renderer decides how it looks.
"""

from __future__ import annotations


class Failure(AssertionError):
    """The student's program did not behave as the handout promises."""

    def __init__(self, rationale: str, *, help: str | None = None):
        super().__init__(rationale)
        self.rationale = rationale
        self.help = help
        self.expected: str | None = None
        self.actual: str | None = None


class Mismatch(Failure):
    """The program produced `actual` where `expected` was due."""

    def __init__(self, expected: str, actual: str, *, rationale: str | None = None,
                 help: str | None = None):
        super().__init__(rationale or "output differs from what was expected", help=help)
        self.expected = expected
        self.actual = actual
