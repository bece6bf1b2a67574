"""Similarity: pairs of submissions whose code is suspiciously alike, with copydetect.

copydetect (winnowing fingerprints over code whose identifiers, literals and comments are
normalised by a Pygments lexer, after MOSS) rather than compare50: compare50 pins
attrs<21, which breaks jsonschema (attrs>=22.2) in the same environment, and pulls lib50 (a
git/GitHub client) that an offline grading machine does not need. copydetect runs offline
from the fingerprints alone; we keep its comparison and draw the side-by-side ourselves
(its own HTML report loads nothing from the network either, but is a page of its own).

A submission's C files (.c, .h, sorted by path) are one document, so a renamed or merged
file still matches. The common base (the reference, a handout's skeleton in
assignments/<id>/skeleton/, and any --base folder) is fingerprinted too and its fingerprints
are removed from every submission first (copydetect's boilerplate): code every student was
given, or every correct solution shares with the reference, is not evidence.
"""

from __future__ import annotations

import html
import io
import itertools
from dataclasses import dataclass
from pathlib import Path

from grader.assignment import Assignment
from grader.render.plaintext import printable

NOISE = 25          # copydetect's k: fingerprints of 25 normalised characters ...
GUARANTEE = 30      # ... and any common run of 30 is found (window = 30 - 25 + 1)
MIN_OVERLAP = 250   # normalised characters in common, below which a pair is not shown
SOURCE_SUFFIXES = (".c", ".h")
MAX_DOCUMENT = 400_000  # characters of one submission looked at


@dataclass
class Pair:
    a: str
    b: str
    similarity_a: float     # share of a's code found in b
    similarity_b: float
    overlap: int            # normalised characters in common
    html_a: str             # a's code, HTML-escaped, the common parts in <mark>
    html_b: str

    @property
    def similarity(self) -> float:
        return max(self.similarity_a, self.similarity_b)


def document(folder: Path) -> str:
    """A submission's C sources as one text, each file under a header line."""
    parts = []
    for path in sorted(folder.rglob("*")):
        if path.suffix in SOURCE_SUFFIXES and path.is_file() and not path.is_symlink():
            text = path.read_text(errors="replace")
            parts.append(f"/* ===== {path.relative_to(folder).as_posix()} ===== */\n{text}\n")
    return "".join(parts)[:MAX_DOCUMENT]


def common_base(assignment: Assignment, extra: tuple[Path, ...] = ()) -> list[Path]:
    """The folders whose code every submission may share: the reference, the handout's
    skeleton (assignments/<id>/skeleton/, when there is one), and `extra`."""
    found = [assignment.reference, assignment.folder / "skeleton", *extra]
    return [folder for folder in found if folder.is_dir()]


def _fingerprint(text: str, boilerplate=None):
    from copydetect import CodeFingerprint

    return CodeFingerprint("submission.c", NOISE, GUARANTEE - NOISE + 1, boilerplate,
                           fp=io.StringIO(text))


def find_pairs(sources: dict[str, Path], base: list[Path], threshold: float = 0.5,
               min_overlap: int = MIN_OVERLAP) -> list[Pair]:
    """Every pair of submissions at least `threshold` alike (the larger of the two shares),
    most alike first."""
    import numpy as np
    from copydetect import compare_files

    base_hashes = set()
    for folder in base:
        text = document(folder)
        if text:
            base_hashes |= set(_fingerprint(text).hashes)
    prints = {}
    for key, folder in sorted(sources.items()):
        text = document(folder)
        if text.strip():
            prints[key] = _fingerprint(text, np.array(sorted(base_hashes), dtype=np.int64))
    pairs = []
    for a, b in itertools.combinations(sorted(prints), 2):
        fa, fb = prints[a], prints[b]
        common = len(fa.hashes & fb.hashes) if isinstance(fa.hashes, set) else \
            len(set(fa.hashes) & set(fb.hashes))
        if not common:
            continue
        overlap, (sim_a, sim_b), (slices_a, slices_b) = compare_files(fa, fb)
        if max(sim_a, sim_b) < threshold or overlap < min_overlap:
            continue
        pairs.append(Pair(a, b, round(float(sim_a), 3), round(float(sim_b), 3), int(overlap),
                          _marked(fa.raw_code, slices_a), _marked(fb.raw_code, slices_b)))
    return sorted(pairs, key=lambda p: (-p.similarity, p.a, p.b))


def _marked(code: str, slices) -> str:
    """`code` HTML-escaped, the copied slices in <mark>."""
    spans = sorted(zip(slices[0].tolist(), slices[1].tolist(), strict=True)) \
        if len(slices) and len(slices[0]) else []
    out, at = [], 0
    for start, end in spans:
        start = max(start, at)
        if end <= start:
            continue
        out.append(_escape(code[at:start]))
        out.append(f"<mark>{_escape(code[start:end])}</mark>")
        at = end
    out.append(_escape(code[at:]))
    return "".join(out)


def _escape(text: str) -> str:
    """Student text as HTML: control characters shown as escapes, then markup escaped."""
    return html.escape(printable(text))
