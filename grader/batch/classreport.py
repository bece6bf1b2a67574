"""The class report: one self-contained HTML file (OUTDIR/class-report.html) that answers
"how did the class do, and what did most students get wrong?".

Plots are inline SVG drawn by matplotlib (text kept as text, so the page is small and
searchable): the score histogram, each check's pass rate sorted hardest first, the verdict
counts, the grading time distribution. Then the table of students, each linking to their
report (reports/<key>.html), and the similar pairs with the two submissions side by side.
No script at all, no request to anywhere: it opens from a file, an e-mail or an LMS.
"""

from __future__ import annotations

import io
import re
import statistics
from pathlib import Path

from jinja2 import Environment, PackageLoader
from markupsafe import Markup

from grader import __version__
from grader.assignment import Assignment, CheckSpec
from grader.batch import verdicts
from grader.batch.store import GRADED, Result, write_atomic
from grader.render.plaintext import printable_value

CLASS_REPORT = "class-report.html"
INK, ACCENT, GOOD, BAD = "#222222", "#3465a4", "#4e9a06", "#cc0000"

_environment = Environment(loader=PackageLoader("grader.batch"), autoescape=True,
                           finalize=printable_value, trim_blocks=True, lstrip_blocks=True)
_environment.filters["points"] = lambda number: f"{number:g}"


def _figure(width: float, height: float):
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=72)
    figure.patch.set_alpha(0)
    return figure


def _svg(figure) -> str:
    """The figure as an inline <svg> element: no XML prolog, text as text, stable ids."""
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "ipc-grader",
                                "font.family": "sans-serif"}):
        figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = buffer.getvalue()
    text = text[text.index("<svg"):]
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, flags=re.S)  # RDF namespaces
    # Scale with the page: width 100%, the height from the viewBox.
    return Markup(re.sub(r'<svg([^>]*?) width="[^"]*" height="[^"]*"',
                         r'<svg\1 class="plot" role="img" preserveAspectRatio="xMinYMin meet"',
                         text, count=1))


def _style(axes) -> None:
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    axes.tick_params(colors=INK, labelsize=10)


def _histogram(values: list[float], bins, height: float, xlabel: str,
               marker: tuple[float, str] | None) -> str:
    """A histogram of `values` with a dashed line at `marker` (its value, its label)."""
    figure = _figure(6.4, height)
    axes = figure.subplots()
    axes.hist(values, bins=bins, color=ACCENT, edgecolor="white")
    axes.set_xlabel(xlabel)
    axes.set_ylabel("submissions")
    axes.yaxis.get_major_locator().set_params(integer=True)
    if marker:
        at, label = marker
        axes.axvline(at, color=BAD, linestyle="--", linewidth=1.2)
        axes.text(at, axes.get_ylim()[1] * 0.95, label, color=BAD, va="top", fontsize=10)
    _style(axes)
    return _svg(figure)


def score_histogram(scores: list[float], top: float) -> str:
    bins = [top * i / 10 for i in range(11)] if top > 0 else 10
    mean = statistics.mean(scores) if scores else None
    return _histogram(scores, bins, 2.8, f"score (of {top:g})",
                      None if mean is None else (mean, f" mean {mean:.1f}"))


def pass_rates_plot(rates: list[tuple[str, float]]) -> str:
    figure = _figure(6.4, 0.32 * len(rates) + 0.9)
    axes = figure.subplots()
    labels = [cid for cid, _ in rates]
    values = [100 * rate for _, rate in rates]
    colours = [BAD if v < 50 else ACCENT if v < 90 else GOOD for v in values]
    axes.barh(range(len(rates)), values, color=colours)
    axes.set_yticks(range(len(rates)), labels, fontsize=9)
    axes.invert_yaxis()  # hardest on top
    axes.set_xlim(0, 100)
    axes.set_xlabel("% of graded submissions that passed")
    for i, value in enumerate(values):
        axes.text(min(value + 1, 88), i, f"{value:.0f}%", va="center", fontsize=8, color=INK)
    _style(axes)
    return _svg(figure)


def verdicts_plot(counts: list[tuple[str, int]]) -> str:
    figure = _figure(6.4, 0.34 * len(counts) + 0.9)
    axes = figure.subplots()
    labels = [name for name, _ in counts]
    values = [n for _, n in counts]
    colours = [GOOD if name == "full marks" else ACCENT if name == "lost points" else BAD
               for name in labels]
    axes.barh(range(len(counts)), values, color=colours)
    axes.set_yticks(range(len(counts)), labels, fontsize=9)
    axes.invert_yaxis()
    axes.set_xlabel("submissions")
    axes.xaxis.get_major_locator().set_params(integer=True)
    for i, value in enumerate(values):
        axes.text(value, i, f" {value}", va="center", fontsize=8, color=INK)
    _style(axes)
    return _svg(figure)


def durations_plot(seconds: list[float]) -> str:
    median = statistics.median(seconds) if seconds else None
    return _histogram(seconds, min(20, max(5, len(seconds) // 3)), 2.6,
                      "grading time per submission (s)",
                      None if median is None else (median, f" median {median:.1f} s"))


def pass_rates(results: list[Result], checks: tuple[CheckSpec, ...]) -> list[tuple[str, float]]:
    """(check id, share of graded submissions that passed it), hardest first."""
    graded = [r.report for r in results if r.status == GRADED and r.report]
    rates = []
    for check in checks:
        statuses = [c["status"] for report in graded for c in report["checks"]
                    if c["id"] == check.id]
        if statuses:
            rates.append((check.id, sum(s == "passed" for s in statuses) / len(statuses)))
    return sorted(rates, key=lambda item: (item[1], item[0]))


def verdict_counts(results: list[Result]) -> list[tuple[str, int]]:
    counts: dict[str, int] = {}
    for result in results:
        for verdict in verdicts.of_status(result.status, result.grade_report()):
            counts[verdict] = counts.get(verdict, 0) + 1
    return [(v, counts[v]) for v in verdicts.ORDER if counts.get(v)]


def render(assignment: Assignment, results: list[Result], checks: tuple[CheckSpec, ...],
           pairs: list, threshold: float | None) -> str:
    top = sum(c.points for c in checks)
    scores = [r.score for r in results]
    graded = [r for r in results if r.status == GRADED]
    rates = pass_rates(results, checks)
    counts = verdict_counts(results)
    titles = {c.id: c.title for c in checks}
    similar: dict[str, list[str]] = {}
    for i, pair in enumerate(pairs, 1):
        similar.setdefault(pair.a, []).append(f"pair-{i}")
        similar.setdefault(pair.b, []).append(f"pair-{i}")
    rows = []
    for result in sorted(results, key=lambda r: r.identity.key.lower()):
        people = result.people or [result.identity]
        rows.append({
            "key": result.key, "students": ", ".join(p.key for p in people),
            "names": ", ".join(p.name for p in people if p.name),
            "score": result.score, "max": result.max_score or top, "status": result.status,
            "verdicts": ", ".join(verdicts.of_status(result.status, result.grade_report())),
            "verdict": result.verdict, "late": result.identity.late,
            "seconds": result.duration_s, "pairs": similar.get(result.key, []),
            "lost": [cid for cid, points in result.checks.items()
                     if result.report and any(c["id"] == cid and c["status"] != "passed"
                                              for c in result.report["checks"])],
            "link": f"reports/{result.key}.html"})
    stats = {"count": len(results), "graded": len(graded),
             "mean": statistics.mean(scores) if scores else 0,
             "median": statistics.median(scores) if scores else 0,
             "full": sum(1 for r in graded if r.score == r.max_score and r.max_score > 0)}
    plots = {
        "scores": score_histogram(scores, top),
        "rates": pass_rates_plot(rates) if rates else "",
        "verdicts": verdicts_plot(counts) if counts else "",
        "durations": durations_plot([r.duration_s for r in graded]) if graded else "",
    }
    return _environment.get_template("class.html.j2").render(
        assignment=assignment, stats=stats, top=top, plots=plots, rates=rates,
        titles=titles, counts=counts, rows=rows, threshold=threshold, version=__version__,
        pairs=[{**vars(p), "html_a": Markup(p.html_a), "html_b": Markup(p.html_b)}
               for p in pairs])


def write(outdir: Path, assignment: Assignment, results: list[Result],
          checks: tuple[CheckSpec, ...], pairs: list, threshold: float | None) -> Path:
    path = outdir / CLASS_REPORT
    write_atomic(path, render(assignment, results, checks, pairs, threshold))
    return path
