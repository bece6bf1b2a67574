"""Who a submission belongs to: read from the names an LMS export gives its folders and files,
then completed from the instructor's roster.

The export name patterns recognised:
  Moodle             "Ada Lovelace_1234_assignsubmission_file_" (a folder, or a file prefix:
                     "Ada Lovelace_1234_assignsubmission_file_server.c"); 1234 is the
                     participant number of Moodle's grading worksheet ("Participant 1234")
  Canvas             "lovelaceada_12345_67890_server.c", "lovelaceada_LATE_12345_67890_x.zip"
                     (login, Canvas user id, attachment id, the file's own name); one file
                     each, so a student's files are grouped by user id
  Gradescope         "submission_<id>" folders, named by submission_metadata.yml at the top
  GitHub Classroom   "<assignment>-<login>" repositories: the prefix all names share is cut
Anything else is its own name (an archive's without the extension).

A roster (--roster FILE.csv) maps these to names, e-mails and LMS ids. Its columns are found
by their headers, so Canvas's gradebook export and Moodle's grading worksheet serve as
rosters unchanged: see ROSTER_COLUMNS.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

MOODLE = re.compile(r"^(?P<name>.+?)_(?P<id>\d+)_assignsubmission_(?P<plugin>[a-z]+)_"
                    r"(?P<rest>.*)$")
CANVAS = re.compile(r"^(?P<login>[^_]+?)(?P<late>_LATE)?_(?P<id>\d+)_(?:(?P<att>\d+)_)?"
                    r"(?P<rest>.+)$")
GRADESCOPE = re.compile(r"^submission_(?P<id>\d+)$")
GRADESCOPE_METADATA = "submission_metadata.yml"
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".tar", ".zip")


@dataclass
class Identity:
    """One student. `key` names them in the gradebook and in OUTDIR's file names."""

    key: str
    name: str = ""
    email: str = ""
    late: bool = False
    source: str = ""                 # the export's own name for them (folder or file)
    pattern: str = "name"            # moodle | canvas | gradescope | classroom | name
    canvas_id: str = ""              # Canvas user id ("ID" of its gradebook)
    moodle_id: str = ""              # Moodle participant number
    sis_user_id: str = ""
    sis_login_id: str = ""
    section: str = ""
    aliases: set[str] = field(default_factory=set)  # other names a roster may use

    def known_as(self) -> set[str]:
        return {_norm(v) for v in (self.key, self.name, self.email, self.canvas_id,
                                   self.moodle_id, self.sis_user_id, self.sis_login_id,
                                   *self.aliases) if v}


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.strip().lower())


def strip_archive_suffix(name: str) -> str:
    lower = name.lower()
    for suffix in ARCHIVE_SUFFIXES:
        if lower.endswith(suffix):
            return name[: -len(suffix)]
    return name


@dataclass(frozen=True)
class Named:
    """What one top-level name of an export says: whose it is, and (for a loose file of a
    flat export) the file's own name."""

    identity: Identity
    file_name: str | None = None  # for a loose file: its name in the submission


def from_name(name: str) -> Named:
    """The identity an export name carries (see the module docstring), without a roster."""
    if match := MOODLE.match(name):
        person, number, rest = match["name"], match["id"], match["rest"]
        identity = Identity(key=number, name=person, source=name, pattern="moodle",
                            moodle_id=number)
        return Named(identity, rest or None)
    if (match := CANVAS.match(name)) and (match["att"] or match["late"] or "." in
                                          match["rest"]):
        login, number = match["login"], match["id"]
        identity = Identity(key=number, name=login, source=name, pattern="canvas",
                            late=bool(match["late"]), canvas_id=number, aliases={login})
        return Named(identity, _canvas_file_name(match["rest"]))
    base = strip_archive_suffix(name)
    return Named(Identity(key=base, source=name))


def _canvas_file_name(rest: str) -> str:
    """Canvas adds "-N" to a file uploaded again ("server-1.c"): the original name."""
    stem, dot, suffix = rest.rpartition(".")
    if dot and (match := re.fullmatch(r"(.+)-\d+", stem)):
        return f"{match[1]}.{suffix}"
    return rest


def classroom_prefix(names: list[str]) -> str:
    """The "<assignment>-" prefix every name of a GitHub Classroom download shares ("" when
    the names do not look like one: fewer than two, or no common prefix ending in "-")."""
    plain = [strip_archive_suffix(n) for n in names]
    if len(plain) < 2:
        return ""
    first, last = min(plain), max(plain)
    common = next((i for i, (a, b) in enumerate(zip(first, last, strict=False)) if a != b),
                  min(len(first), len(last)))
    prefix = first[:common]
    prefix = prefix[: prefix.rfind("-") + 1]
    if not prefix or any(len(n) <= len(prefix) for n in plain):
        return ""
    return prefix


def gradescope_metadata(folder: Path) -> dict[str, list[Identity]]:
    """submission_<id> -> its submitters, from Gradescope's submission_metadata.yml (keys
    written as Ruby symbols: ":submitters:", ":name:", ":sid:", ":email:")."""
    path = folder / GRADESCOPE_METADATA
    try:
        data = yaml.load(path.read_text(errors="replace"), Loader=_Lenient)
    except (OSError, yaml.YAMLError):
        return {}
    found: dict[str, list[Identity]] = {}
    if not isinstance(data, dict):
        return found
    for submission, record in data.items():
        if not isinstance(record, dict):
            continue
        people = []
        for person in _get(record, "submitters") or []:
            if not isinstance(person, dict):
                continue
            name, sid, email = (str(_get(person, k) or "") for k in ("name", "sid", "email"))
            key = sid or email or name or str(submission)
            people.append(Identity(key=key, name=name, email=email, source=str(submission),
                                   pattern="gradescope", sis_user_id=sid))
        if people:
            found[str(submission)] = people
    return found


def _get(record: dict, key: str):
    for variant in (f":{key}", key, f":{key}:"):
        if variant in record:
            return record[variant]
    return None


class _Lenient(yaml.SafeLoader):
    """Safe YAML that reads Ruby-tagged values (!ruby/object ...) as plain data."""


def _untagged(loader: yaml.SafeLoader, suffix: str, node: yaml.Node):
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_scalar(node)


_Lenient.add_multi_constructor("!", _untagged)


# ---- the roster --------------------------------------------------------------------------------

ROSTER_COLUMNS = {
    "name": ("name", "full name", "student name", "student"),
    "email": ("email", "email address", "e-mail"),
    "canvas_id": ("id", "canvas id", "canvas user id"),
    "sis_user_id": ("sis user id", "sid", "student id", "student number"),
    "sis_login_id": ("sis login id", "login", "username", "github", "github username"),
    "section": ("section",),
    "moodle_id": ("identifier", "participant"),
    "key": ("key", "student key"),
}
"""Roster fields and the headers (case-insensitive) that hold them. Any of them can match a
submission; the first non-empty of key, sis_login_id, sis_user_id, email names the student
when the export name did not."""


class RosterError(Exception):
    """An unreadable roster: one line that names the file."""


@dataclass
class Roster:
    people: list[Identity]

    @classmethod
    def load(cls, path: Path) -> Roster:
        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as error:
            raise RosterError(f"{path}: cannot read the roster: {error}") from None
        rows = list(csv.reader(text.splitlines()))
        if not rows:
            raise RosterError(f"{path}: the roster is empty")
        headers = [_norm(h) for h in rows[0]]
        where = {f: next((headers.index(h) for h in names if h in headers), None)
                 for f, names in ROSTER_COLUMNS.items()}
        if all(i is None for i in where.values()):
            raise RosterError(f"{path}: no column the roster needs; headers: "
                              f"{', '.join(rows[0])} (expected some of: name, email, id, "
                              f"sis user id, sis login id, login, identifier)")
        people = []
        for row in rows[1:]:
            values = {f: (row[i].strip() if i is not None and i < len(row) else "")
                      for f, i in where.items()}
            if "points possible" in values["name"].lower() or not any(values.values()):
                continue  # Canvas's second row, blank lines
            moodle = re.sub(r"^participant\s*", "", values["moodle_id"], flags=re.I)
            key = (values["key"] or values["sis_login_id"] or values["sis_user_id"]
                   or values["email"] or values["canvas_id"] or moodle or values["name"])
            people.append(Identity(key=key, name=values["name"], email=values["email"],
                                   canvas_id=values["canvas_id"], moodle_id=moodle,
                                   sis_user_id=values["sis_user_id"],
                                   sis_login_id=values["sis_login_id"],
                                   section=values["section"], pattern="roster"))
        return cls(people)

    def find(self, identity: Identity) -> Identity | None:
        """The roster's entry for an identity read from an export, or None."""
        names = identity.known_as()
        for person in self.people:
            if names & person.known_as():
                return person
        if identity.pattern == "canvas":  # no id in the roster: its name, as Canvas writes it
            logins = identity.aliases
            for person in self.people:
                if any(_login_of(login, person.name) for login in logins):
                    return person
        return None

    def complete(self, identity: Identity) -> Identity:
        """The identity with what the roster knows filled in (its key kept: the export's)."""
        person = self.find(identity)
        if person is None:
            return identity
        fill = {f: getattr(person, f) for f in ("name", "email", "canvas_id", "moodle_id",
                                                 "sis_user_id", "sis_login_id", "section")
                if getattr(person, f)}
        key = person.key if identity.pattern in ("name", "classroom") else identity.key
        return replace(identity, key=key, **fill)


def _login_of(login: str, name: str) -> bool:
    """True when a Canvas export login ("lovelaceada") is `name` ("Lovelace, Ada" or
    "Ada Lovelace") squashed: its words, last name first, letters only."""
    words = re.findall(r"[a-z0-9]+", name.lower())
    return len(words) > 0 and login.lower() in ("".join(words), "".join(words[1:] + words[:1]))


def safe_key(key: str) -> str:
    """A key as a file name: letters, digits, '.', '_', '-' (others become '-')."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", key).strip("-.") or "submission"
    return cleaned[:80]
