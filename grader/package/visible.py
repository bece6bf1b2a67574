"""checks.py as a student kit ships it: without the tests of the hidden checks, and without
what only those tests used (a helper, a table of secret cases, a fixture), cut with ast so
that every other line stays exactly as the instructor wrote it.

The grader then lists each hidden check as "graded after submission" (a hidden rubric entry
with no test is deferred: grader/assignment.py), so the kit grades the visible checks alone.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable

from grader.assignment import module_names
from grader.package import PackageError


def visible_checks(source: str, hidden: Iterable[str], filename: str = "checks.py") -> str:
    """`source` without `test_<id>` for each id in `hidden`, nor what only they needed."""
    tree = ast.parse(source, filename)
    binds: dict[int, set[str]] = {}  # id(statement) -> the names it defines (no imports)
    for name, node in module_names(tree).items():
        if not isinstance(node, ast.Import | ast.ImportFrom):
            binds.setdefault(id(node), set()).add(name)
    wanted = {f"test_{check}" for check in hidden}
    gone = [node for node in tree.body if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and node.name in wanted]
    if missing := wanted - {node.name for node in gone}:
        raise PackageError(f"{filename}: no function {sorted(missing)[0]} to leave out of the "
                           f"student kit (a hidden check's test must be a plain def)")
    uses = {id(node): _uses(node) for node in tree.body}
    while True:  # what only the removed statements used goes too, until nothing more does
        kept = [node for node in tree.body if node not in gone]
        needed_by_gone = set().union(*(uses[id(node)] for node in gone))
        orphan = next((node for node in kept if binds.get(id(node), set()) & needed_by_gone
                       and not binds[id(node)] & set().union(
                           *(uses[id(other)] for other in kept if other is not node))), None)
        if orphan is None:
            break
        gone.append(orphan)
    if needed := wanted & set().union(*(uses[id(node)] for node in kept)):
        raise PackageError(f"{filename}: {sorted(needed)[0]} is a hidden check's test, yet "
                           f"visible code uses it")
    lines = source.splitlines(keepends=True)
    for node in sorted(gone, key=lambda n: n.lineno, reverse=True):
        first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))]) - 1
        while first > 0 and lines[first - 1].lstrip().startswith("#"):
            first -= 1  # the comment above a definition belongs to it
        del lines[first:node.end_lineno]
    text = re.sub(r"\n{4,}", "\n\n\n", "".join(lines)).rstrip("\n") + "\n"
    if left := set(module_names(ast.parse(text, filename))) & wanted:
        raise PackageError(f"{filename}: {sorted(left)[0]} is defined twice: the kit would "
                           f"keep one")
    return text


def _uses(node: ast.AST) -> set[str]:
    """The names a statement may need: the names it reads, the parameters of its functions
    (pytest hands fixtures over by parameter name), and strings that could name a fixture
    (`request.getfixturevalue("own")`). More than it needs is safe: it keeps more."""
    used = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load):
            used.add(sub.id)
        elif isinstance(sub, ast.arg):
            used.add(sub.arg)
        elif isinstance(sub, ast.Constant) and isinstance(sub.value, str) \
                and sub.value.isidentifier():
            used.add(sub.value)
    return used
