"""The files instructors really get (issue 18) and links and forged archives (issue 19), at the
intake: autograder/intake/ (unpack.py, walker.py) and the batch's hash of what is graded."""
import argparse
import os
import struct
import time
import zipfile

import pytest

from autograder.instructor.batch import BatchError, limits_from_args
from autograder.instructor.cli import add_limit_arguments
from autograder.instructor.discovery import Student
from autograder.instructor.one_student import prepare
from autograder.intake.archive import ArchiveLimits, SubmissionArchiveError, extract_submission
from autograder.intake.unpack import zip_declared_entries
from tests.autograder.instructor.helpers import copy_reference, tar_folder, zip_folder

POSIX = os.name == "posix"


def venv_project(folder, n_venv=2500):
    """A handout folder as a student zips it whole: mytorch/ beside a .venv/ of many files, a
    .git/ and __pycache__/ folders."""
    copy_reference(folder)
    for i in range(n_venv):
        sub = folder / ".venv" / "lib" / f"pkg{i // 100}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"m{i}.py").write_bytes(b"x = 1\n")
    (folder / ".git" / "objects").mkdir(parents=True)
    (folder / ".git" / "objects" / "blob").write_bytes(b"\0" * 1000)
    (folder / "mytorch" / "__pycache__").mkdir(exist_ok=True)
    (folder / "mytorch" / "__pycache__" / "x.cpython-312.pyc").write_bytes(b"\0" * 100)
    return folder


@pytest.mark.parametrize("pack", [zip_folder, tar_folder])
def test_a_whole_folder_with_its_venv_is_graded_without_it(tmp_path, pack):
    project = venv_project(tmp_path / "project")
    archive = pack(project, tmp_path / ("ivan.zip" if pack is zip_folder else "ivan.tgz"),
                   prefix="hw1")
    got = extract_submission(archive, tmp_path / "out")
    assert (got.root / "mytorch" / "nn" / "linear.py").is_file()
    assert not (got.root / ".venv").exists() and not (got.root / ".git").exists()
    note = " ".join(got.notes)
    assert ".venv" in note and ".git" in note and "__pycache__" in note
    graded = sum(1 for _ in got.root.rglob("*"))
    assert got.files < graded < 2000  # what counted is what is graded, not the 2500 skipped


def test_limits_hold_on_what_is_graded_and_are_set_on_the_command_line(tmp_path):
    project = venv_project(tmp_path / "project", n_venv=300)
    archive = zip_folder(project, tmp_path / "ivan.zip", prefix="hw1")
    parser = argparse.ArgumentParser()
    add_limit_arguments(parser)
    limits = limits_from_args(parser.parse_args(["--max-files", "5", "--max-total-mb", "0.5"]))
    assert limits.max_files == 5 and limits.max_total_bytes == 2**19
    with pytest.raises(SubmissionArchiveError, match="more than 5 files and folders to grade"):
        extract_submission(archive, tmp_path / "out", limits)
    # the listing cap bounds the pass over skipped folders
    with pytest.raises(SubmissionArchiveError, match=r"declares \d+ entries, more than .* 100"):
        extract_submission(archive, tmp_path / "out2", ArchiveLimits(max_listed_entries=100))
    tgz = tar_folder(project, tmp_path / "ivan.tgz", prefix="hw1")
    with pytest.raises(SubmissionArchiveError, match="lists more than 100 entries"):
        extract_submission(tgz, tmp_path / "out3", ArchiveLimits(max_listed_entries=100))
    with pytest.raises(SubmissionArchiveError, match="in skipped folders such as .venv"):
        extract_submission(tgz, tmp_path / "out4", ArchiveLimits(max_skipped_bytes=1000))
    with pytest.raises(BatchError, match="--max-files must be positive"):
        limits_from_args(parser.parse_args(["--max-files", "0"]))


def test_a_folder_holding_handin_zip_hashes_the_same_on_every_run(tmp_path):
    """Gradescope's bulk export is a folder per student holding handin.zip: unpacked into a new
    random temporary folder on every run, it must hash the same, or no re-run skips it."""
    student = tmp_path / "submission_1"
    student.mkdir()
    zip_folder(copy_reference(tmp_path / "src") / "mytorch", student / "handin.zip",
               prefix="mytorch")
    first, second = (prepare(Student("s1", student)) for _ in range(2))
    try:
        assert first.extracted is not None and first.work != second.work
        assert first.extracted.root.name.startswith("_unpacked-")  # the random name exists...
        assert first.digest == second.digest                        # ...and is not hashed
        # and the hash is of what is graded: a changed file changes it
        (tmp_path / "src" / "mytorch" / "nn" / "linear.py").write_text("# changed\n")
        zip_folder(tmp_path / "src" / "mytorch", student / "handin.zip", prefix="mytorch")
        third = prepare(Student("s1", student))
        assert third.digest != first.digest
    finally:
        for ready in (first, second):
            import shutil
            shutil.rmtree(ready.work, ignore_errors=True)
        shutil.rmtree(third.work, ignore_errors=True)


@pytest.mark.skipif(not POSIX, reason="hard links")
def test_a_hard_link_to_another_students_file_rejects_no_one(tmp_path):
    """Mallory's folder links to Alice's linear.py (a drop folder, a `cp -al` snapshot): both are
    copied by content, and Alice's grade does not depend on what Mallory's folder holds."""
    alice = copy_reference(tmp_path / "drop" / "alice")
    mallory = copy_reference(tmp_path / "drop" / "mallory")
    target = mallory / "mytorch" / "nn" / "linear.py"
    target.unlink()
    os.link(alice / "mytorch" / "nn" / "linear.py", target)
    for who in ("alice", "mallory"):
        got = extract_submission(tmp_path / "drop" / who, tmp_path / f"out-{who}")
        copied = got.root / "mytorch" / "nn" / "linear.py"
        assert copied.read_bytes() == (alice / "mytorch" / "nn" / "linear.py").read_bytes()
        assert copied.stat().st_nlink == 1  # a copy, never a link


@pytest.mark.skipif(not POSIX or os.geteuid() != 0, reason="needs root to own files as others")
def test_a_hard_link_to_a_file_only_someone_else_may_read_is_refused(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("s3cret")
    os.chmod(secret, 0o600)
    mallory = copy_reference(tmp_path / "mallory")
    os.link(secret, mallory / "mytorch" / "secret.txt")
    os.chown(mallory, 65534, 65534)  # the submission is someone else's than the secret's owner
    with pytest.raises(SubmissionArchiveError, match="secret.txt.*hard link to a file that only"):
        extract_submission(mallory, tmp_path / "out")


def forged_zip64(path, declared):
    """A tiny zip whose zip64 end record declares ``declared`` entries (a real archive of that
    many entries is 49 MB; the count alone is what the grader must refuse on)."""
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("mytorch/__init__.py", b"")
    data = path.read_bytes()
    eocd = data.rindex(b"PK\x05\x06")
    cd_size, cd_offset = struct.unpack_from("<2L", data, eocd + 12)
    body = data[:eocd]
    record = struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, declared, declared,
                         cd_size, cd_offset)
    locator = struct.pack("<4sLQL", b"PK\x06\x07", 0, len(body), 1)
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    path.write_bytes(body + record + locator + end)
    return path


def test_a_zip64_declaring_a_million_entries_is_refused_from_its_count(tmp_path, monkeypatch):
    src = forged_zip64(tmp_path / "bomb.zip", 1_000_000)
    with open(src, "rb") as fh:
        assert zip_declared_entries(fh) == 1_000_000 and fh.tell() == 0

    def never(*args, **kwargs):
        raise AssertionError("the central directory was read")
    monkeypatch.setattr(zipfile.ZipFile, "__init__", never)
    start = time.monotonic()
    with pytest.raises(SubmissionArchiveError, match="declares 1000000 entries.*before its list"):
        extract_submission(src, tmp_path / "out")
    assert time.monotonic() - start < 5
    monkeypatch.undo()
    # a plain (non-zip64) count is read the same way
    small = tmp_path / "ok.zip"
    with zipfile.ZipFile(small, "w") as zf:
        for i in range(3):
            zf.writestr(f"f{i}", b"")
    with open(small, "rb") as fh:
        assert zip_declared_entries(fh) == 3
