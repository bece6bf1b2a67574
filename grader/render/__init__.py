"""Renderers: each turns one GradeReport into one format. They read the model, never the run.

FORMATS is the one place that maps a format's name to its renderer: the CLI's --format
choices and its --json/--html/... options are made from it.
"""

from collections.abc import Callable

from grader.render import gradescope, html, junit, markdown, prairielearn, terminal
from grader.report import GradeReport

Renderer = Callable[[GradeReport], str]

FORMATS: dict[str, Renderer] = {
    "terminal": terminal.render,
    "json": GradeReport.to_json,
    "markdown": markdown.render,
    "html": html.render,
    "gradescope": gradescope.render,
    "prairielearn": prairielearn.render,
    "junit": junit.render,
}
