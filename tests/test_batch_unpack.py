"""`grade batch` intake without grading: safe unpacking (every rule, each with the verdict it
gives), nested archives, sources in a subfolder, shipped binaries, and who each submission
belongs to (Moodle, Canvas with _LATE_, Gradescope, GitHub Classroom, a roster)."""

from __future__ import annotations

import io
import os
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest

from grader.batch.identity import Roster, classroom_prefix, from_name
from grader.batch.intake import IntakeError, read_input
from grader.batch.unpack import Caps

SERVER = "int main(void) { return 0; }\n"


def intake(tmp_path: Path, source: Path, **kwargs):
    found = read_input(source, tmp_path / "work", tmp_path / "sources",
                       programs=("server", "client"), **kwargs)
    assert not (tmp_path / "work").exists(), "the staging folder is left behind"
    return {i.key: i for i in found}


def write_zip(path: Path, files: dict[str, bytes | str]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return path


def folder_of(tmp_path: Path, entries: dict[str, dict[str, str] | bytes]) -> Path:
    """A class folder: name -> files of a submission folder, or the bytes of an archive."""
    root = tmp_path / "class"
    root.mkdir()
    for name, content in entries.items():
        if isinstance(content, bytes):
            (root / name).write_bytes(content)
        else:
            (root / name).mkdir()
            for file, text in content.items():
                (root / name / file).parent.mkdir(parents=True, exist_ok=True)
                (root / name / file).write_text(text)
    return root


def zip_bytes(files: dict[str, bytes | str], symlinks: dict[str, str] | None = None,
              mode: int | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.create_system = 3
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, target)
        if mode is not None:
            info = zipfile.ZipInfo("special")
            info.create_system = 3
            info.external_attr = mode << 16
            archive.writestr(info, "")
    return buffer.getvalue()


def tar_bytes(members: list[tarfile.TarInfo], data: dict[str, bytes] | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for member in members:
            content = (data or {}).get(member.name)
            if content is not None:
                member.size = len(content)
            archive.addfile(member, io.BytesIO(content) if content is not None else None)
    return buffer.getvalue()


def tar_member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    member = tarfile.TarInfo(name)
    member.type, member.linkname, member.mode = kind, link, 0o644
    return member


# ---- refusals, each named ---------------------------------------------------------------------

@pytest.mark.parametrize("entries, status, words", [
    ({"../../evil.c": SERVER, "server.c": SERVER}, "unsafe", "zip slip"),
    ({"/etc/cron.d/x": SERVER, "server.c": SERVER}, "unsafe", "absolute path"),
    ({"..\\..\\evil.c": SERVER, "server.c": SERVER}, "unsafe", "zip slip"),
    ({"C:/evil.c": SERVER, "server.c": SERVER}, "unsafe", "absolute path"),
])
def test_a_path_out_of_the_folder_refuses_the_submission(tmp_path, entries, status, words):
    root = folder_of(tmp_path, {"ada.zip": zip_bytes(entries), "bob": {"server.c": SERVER}})
    found = intake(tmp_path, root)
    assert found["ada"].status == status and words in found["ada"].verdict
    assert found["bob"].accepted  # the batch goes on
    assert not any(p.name == "evil.c" for p in tmp_path.rglob("*"))


def test_links_out_devices_and_fifos_are_refused(tmp_path):
    root = folder_of(tmp_path, {
        "link.zip": zip_bytes({"client.c": SERVER}, symlinks={"server.c": "/etc/passwd"}),
        "uplink.zip": zip_bytes({"client.c": SERVER}, symlinks={"server.c": "../../x"}),
        "inlink.zip": zip_bytes({"real.c": SERVER}, symlinks={"server.c": "real.c"}),
        "fifo.zip": zip_bytes({"server.c": SERVER}, mode=stat.S_IFIFO | 0o644),
        "device.tar.gz": tar_bytes([tar_member("server.c"), tar_member("dev", tarfile.CHRTYPE)],
                                   {"server.c": SERVER.encode()}),
        "hardlink.tar.gz": tar_bytes([tar_member("server.c"),
                                      tar_member("h", tarfile.LNKTYPE, "/etc/shadow")],
                                     {"server.c": SERVER.encode()}),
        "tarslip.tar.gz": tar_bytes([tar_member("server.c"),
                                     tar_member("link", tarfile.SYMTYPE, "/"),
                                     tar_member("link/etc/x")],
                                    {"server.c": SERVER.encode(), "link/etc/x": b"x"}),
    })
    found = intake(tmp_path, root)
    assert "symbolic link out" in found["link"].verdict
    assert "symbolic link out" in found["uplink"].verdict
    assert found["inlink"].accepted  # a link inside the submission is fine
    assert os.readlink(found["inlink"].folder / "server.c") == "real.c"
    assert "FIFO" in found["fifo"].verdict
    assert "device file" in found["device"].verdict
    assert "hard link out" in found["hardlink"].verdict
    assert found["tarslip"].status == "unsafe"
    assert {found[k].status for k in ("link", "uplink", "fifo", "device", "hardlink")} == \
        {"unsafe"}


def test_a_folder_input_with_links_out_and_hard_links_is_refused(tmp_path):
    root = folder_of(tmp_path, {"ada": {"client.c": SERVER}, "bob": {"client.c": SERVER},
                                "cy": {"server.c": SERVER}})
    (root / "ada" / "server.c").symlink_to("/etc/hostname")
    secret = tmp_path / "secret.c"
    secret.write_text(SERVER)
    os.link(secret, root / "bob" / "server.c")
    os.mkfifo(root / "cy" / "pipe")
    found = intake(tmp_path, root)
    assert "symbolic link out" in found["ada"].verdict
    assert "hard link" in found["bob"].verdict
    assert "FIFO" in found["cy"].verdict


def test_archive_bombs_are_refused_by_ratio_size_and_count(tmp_path):
    zeros = bytes(8 << 20)
    caps = Caps(files=20, total_bytes=4 << 20, file_bytes=2 << 20, ratio=50,
                ratio_floor=1 << 20)
    root = folder_of(tmp_path, {
        "bomb.zip": zip_bytes({"server.c": SERVER, "zeros": zeros}),
        "big.tar.gz": tar_bytes([tar_member("server.c"), tar_member("big")],
                                {"server.c": SERVER.encode(), "big": os.urandom(3 << 20)}),
        "many.zip": zip_bytes({f"f{i}.c": SERVER for i in range(30)}),
        "total.tar.gz": tar_bytes([tar_member(f"f{i}.c") for i in range(3)],
                                  {f"f{i}.c": os.urandom(1_900_000) for i in range(3)}),
        "nested.zip": zip_bytes({"inner.zip": zip_bytes({"zeros": zeros})}),
    })
    found = intake(tmp_path, root, caps=caps)
    assert found["bomb"].status == "too_large" and "zip bomb" in found["bomb"].verdict
    assert "larger than 2 MiB" in found["big"].verdict or "more than 2 MiB" in \
        found["big"].verdict
    assert "more than 20 files" in found["many"].verdict
    assert "in all" in found["total"].verdict
    assert found["nested"].status == "too_large"  # the caps count nested archives too


def test_corrupt_encrypted_and_empty_submissions_get_their_verdicts(tmp_path):
    good = zip_bytes({"server.c": SERVER * 50})
    broken = bytearray(good)
    broken[50:200] = bytes(150)
    encrypted = bytearray(zip_bytes({"server.c": SERVER}))
    encrypted[6] |= 1  # the local header's "encrypted" flag ...
    central = encrypted.rfind(b"PK\x01\x02")
    encrypted[central + 8] |= 1  # ... and the central directory's
    root = folder_of(tmp_path, {"broken.zip": bytes(broken), "junk.zip": b"not a zip at all",
                                "truncated.tar.gz": tar_bytes([tar_member("server.c")],
                                                              {"server.c": b"x" * 5000})[:60],
                                "locked.zip": bytes(encrypted), "nothing": {},
                                "pdf": {"report.pdf": "%PDF"}})
    found = intake(tmp_path, root)
    for key in ("broken", "junk", "truncated", "locked"):
        assert found[key].status == "corrupt", (key, found[key].verdict)
    assert "encrypted" in found["locked"].verdict
    assert found["nothing"].status == "empty"
    assert found["pdf"].status == "no_sources" and "report.pdf" in found["pdf"].verdict


# ---- what is accepted, cleaned and said --------------------------------------------------------

def test_nested_archives_subfolders_and_binaries(tmp_path):
    inner = zip_bytes({"hw1/src/server.c": SERVER, "hw1/src/client.c": SERVER,
                       "hw1/src/server": b"\x7fELF\x02\x01" + bytes(64),
                       "hw1/src/util.o": b"\x7fELF" + bytes(8), "__MACOSX/._server.c": "x",
                       "hw1/.DS_Store": "x"})
    root = folder_of(tmp_path, {"Ada Lovelace_77_assignsubmission_file_": {}})
    (root / "Ada Lovelace_77_assignsubmission_file_" / "hw1.zip").write_bytes(inner)
    found = intake(tmp_path, root)
    ada = found["77"]
    assert ada.accepted, ada.verdict
    assert sorted(p.name for p in ada.folder.iterdir()) == ["client.c", "server.c"]
    assert any("hw1/src/" in note for note in ada.notes), ada.notes
    assert any("removed 2 compiled" in note for note in ada.notes), ada.notes
    assert ada.folder == tmp_path / "sources" / "77"


def test_a_class_archive_with_one_bad_entry_refuses_only_that_student(tmp_path):
    archive = write_zip(tmp_path / "class.zip", {
        "export/ada/server.c": SERVER, "export/ada/../../../evil": "x",
        "export/bob/server.c": SERVER, "export/bob/client.c": SERVER})
    found = intake(tmp_path, archive)
    assert found["ada"].status == "unsafe"
    assert found["bob"].accepted and found["bob"].sources == ["export/bob"]
    assert not (tmp_path / "evil").exists()


def test_the_same_content_has_the_same_hash_whatever_the_packaging(tmp_path):
    files = {"server.c": SERVER, "client.c": SERVER + "//c\n"}
    root = folder_of(tmp_path, {"ada": files, "bob.zip": zip_bytes(files),
                                "cy": {**files, "server.o": "x"}})
    found = intake(tmp_path, root)
    assert found["ada"].content_hash == found["bob"].content_hash == found["cy"].content_hash


def test_one_submission_given_as_input_is_refused_with_the_fix(tmp_path):
    root = folder_of(tmp_path, {"x": {"server.c": SERVER}})
    with pytest.raises(IntakeError, match="looks like one submission"):
        intake(tmp_path, root / "x")
    with pytest.raises(IntakeError, match="not a readable"):
        intake(tmp_path, _corrupt(tmp_path / "class.zip"))


def _corrupt(path: Path) -> Path:
    path.write_bytes(b"PK\x03\x04 this is no zip")
    return path


# ---- identities ----------------------------------------------------------------------------------

def test_export_names_of_each_lms():
    moodle = from_name("Ada Lovelace_1234_assignsubmission_file_")
    assert (moodle.identity.key, moodle.identity.name, moodle.identity.moodle_id) == \
        ("1234", "Ada Lovelace", "1234")
    flat = from_name("Ada Lovelace_1234_assignsubmission_file_server.c")
    assert flat.identity.key == "1234" and flat.file_name == "server.c"
    canvas = from_name("lovelaceada_12345_67890_server-1.c")
    assert (canvas.identity.key, canvas.identity.canvas_id, canvas.file_name,
            canvas.identity.late) == ("12345", "12345", "server.c", False)
    late = from_name("lovelaceada_LATE_12345_67890_hw1.zip")
    assert late.identity.late and late.identity.key == "12345"
    assert from_name("ada.tar.gz").identity.key == "ada"
    assert classroom_prefix(["uds-server-ada", "uds-server-bob-smith.zip"]) == "uds-server-"
    assert classroom_prefix(["ada", "bob"]) == ""


def test_flat_canvas_files_are_grouped_per_student_and_late_is_kept(tmp_path):
    root = folder_of(tmp_path, {})
    for name in ("lovelaceada_LATE_12345_111_server.c", "lovelaceada_LATE_12345_112_client.c",
                 "babbagecharles_23456_113_server-2.c"):
        (root / name).write_text(SERVER)
    roster = tmp_path / "roster.csv"
    roster.write_text("Student,ID,SIS User ID,SIS Login ID,Section,HW1 (99)\n"
                      "    Points Possible,,,,,100\n"
                      '"Lovelace, Ada",12345,S1,ada,Sec A,\n'
                      '"Babbage, Charles",23456,S2,cbab,Sec B,\n')
    found = intake(tmp_path, root, roster=Roster.load(roster))
    ada, charles = found["12345"], found["23456"]
    assert sorted(p.name for p in ada.folder.iterdir()) == ["client.c", "server.c"]
    assert ada.identity.late and not charles.identity.late
    assert (ada.identity.name, ada.identity.sis_login_id, ada.identity.section) == \
        ("Lovelace, Ada", "ada", "Sec A")
    assert (charles.folder / "server.c").exists()


def test_gradescope_export_names_its_submitters(tmp_path):
    root = folder_of(tmp_path, {"submission_1001": {"server.c": SERVER},
                                "submission_1002": {"server.c": SERVER}})
    (root / "submission_metadata.yml").write_text(
        "submission_1001:\n  :submitters:\n  - :name: Ada Lovelace\n    :sid: '42'\n"
        "    :email: ada@example.edu\n  :created_at: 2026-01-01 10:00:00.000000000 -08:00\n"
        "  :score: !ruby/object:BigDecimal 18:0.9E1\n"
        "submission_1002:\n  :submitters:\n  - :name: Bob\n    :sid: '43'\n"
        "    :email: bob@example.edu\n  - :name: Cy\n    :sid: '44'\n    :email: cy@x.edu\n")
    found = intake(tmp_path, root)
    assert found["42"].identity.email == "ada@example.edu"
    assert [m.key for m in found["43"].members] == ["43", "44"]


def test_github_classroom_names_and_a_roster_by_login(tmp_path):
    root = folder_of(tmp_path, {"uds-server-octocat": {"server.c": SERVER},
                                "uds-server-hubot": {"server.c": SERVER}})
    roster = tmp_path / "roster.csv"
    roster.write_text("github,name,email\noctocat,Mona Octocat,mona@example.edu\n")
    found = intake(tmp_path, root, roster=Roster.load(roster))
    assert set(found) == {"octocat", "hubot"}
    assert found["octocat"].identity.email == "mona@example.edu"
    assert found["hubot"].identity.name == ""
