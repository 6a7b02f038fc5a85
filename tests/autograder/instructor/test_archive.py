"""Safe extraction of students' submissions (autograder/intake/archive.py).

Every malformed or hostile submission must end in a ``SubmissionArchiveError`` whose message names
the student's file and the problem — never another exception, never a file outside the destination.
"""
import io
import os
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest

from autograder.intake.archive import (
    ArchiveLimits,
    SubmissionArchiveError,
    extract_submission,
    strip_archive_suffix,
)
from tests.autograder.instructor.helpers import tar_folder

POSIX = os.name == "posix"
LINEAR = b"import numpy as np\n\nclass Linear:\n    pass\n"


def make_zip(path, entries, **kwargs):
    """entries: [(name or ZipInfo, bytes)]"""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, **kwargs) as zf:
        for name, data in entries:
            zf.writestr(name, data)
    return path


def make_tar(path, members, mode="w:gz"):
    """members: [(TarInfo, bytes or None)]"""
    with tarfile.open(path, mode) as tf:
        for info, data in members:
            if data is not None:
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
            else:
                tf.addfile(info)
    return path


def good_entries(prefix=""):
    return [(f"{prefix}mytorch/__init__.py", b""), (f"{prefix}mytorch/nn/__init__.py", b""),
            (f"{prefix}mytorch/nn/linear.py", LINEAR)]


def extract_error(source, tmp_path, limits=None):
    with pytest.raises(SubmissionArchiveError) as info:
        extract_submission(source, tmp_path / "out", limits)
    exc = info.value
    assert str(exc).startswith(Path(source).name + ":"), str(exc)  # names the student's file
    assert not (tmp_path / "out").exists()                         # nothing half-extracted left
    return str(exc)


# -- submissions that must work ---------------------------------------------------------------
def test_zip_with_mytorch_at_the_top(tmp_path):
    src = make_zip(tmp_path / "alice.zip", good_entries())
    got = extract_submission(src, tmp_path / "out")
    assert got.root == tmp_path / "out"
    assert (got.root / "mytorch/nn/linear.py").read_bytes() == LINEAR
    assert got.files == 3 and got.bytes == len(LINEAR)


@pytest.mark.parametrize("prefix", ["handin/", "hw1/handout/"])
def test_extra_top_level_folders_are_found(tmp_path, prefix):
    src = make_zip(tmp_path / "bob.zip", good_entries(prefix) + [(prefix + "README.md", b"hi")])
    got = extract_submission(src, tmp_path / "out")
    assert got.root == tmp_path / "out" / prefix.rstrip("/")
    assert (got.root / "mytorch" / "nn" / "linear.py").is_file()


def test_tar_gz_and_folder(tmp_path, reference_submission):
    tgz = tar_folder(reference_submission, tmp_path / "carol.tgz", prefix="carol")
    got = extract_submission(tgz, tmp_path / "out1")
    assert (got.root / "mytorch" / "nn" / "linear.py").is_file() and got.root.name == "carol"
    got = extract_submission(reference_submission, tmp_path / "out2")
    assert got.root == tmp_path / "out2"
    assert (got.root / "mytorch" / "nn" / "linear.py").read_bytes() == \
        (reference_submission / "mytorch" / "nn" / "linear.py").read_bytes()


def test_plain_tar(tmp_path):
    members = []
    for name, data in good_entries():
        members.append((tarfile.TarInfo(name), data))
    src = make_tar(tmp_path / "dave.tar", members, mode="w")
    assert (extract_submission(src, tmp_path / "out").root / "mytorch/nn/linear.py").is_file()


def test_macos_droppings_are_skipped(tmp_path):
    src = make_zip(tmp_path / "erin.zip", good_entries("hw/") + [
        ("__MACOSX/hw/mytorch/._linear.py", b"\x00\x05"), ("hw/.DS_Store", b"x"),
        ("hw/mytorch/__pycache__/linear.cpython-311.pyc", b"junk")])
    got = extract_submission(src, tmp_path / "out")
    assert got.root.name == "hw"
    assert not (tmp_path / "out" / "__MACOSX").exists()
    assert not (got.root / "mytorch" / "__pycache__").exists()


def test_contents_of_mytorch_without_the_folder_are_wrapped(tmp_path):
    src = make_zip(tmp_path / "frank.zip", [("__init__.py", b""), ("nn/__init__.py", b""),
                                            ("nn/linear.py", LINEAR)])
    got = extract_submission(src, tmp_path / "out")
    assert (got.root / "mytorch" / "nn" / "linear.py").read_bytes() == LINEAR
    assert any("contents of mytorch/" in n for n in got.notes)


def test_non_utf8_names_are_cleaned_not_fatal(tmp_path):
    tar = make_tar(tmp_path / "gina.tar.gz", [
        (tarfile.TarInfo(n), d) for n, d in good_entries()] + [
        (tarfile.TarInfo("mytorch/notes_\udcff\udcfe.txt"), b"latin-1 name"),
        (tarfile.TarInfo("mytorch/tab\there.py"), b"# odd name\n")], mode="w:gz")
    got = extract_submission(tar, tmp_path / "out")
    names = sorted(p.name for p in (got.root / "mytorch").iterdir())
    assert "notes___.txt" in names and "tab_here.py" in names
    assert any("UTF-8" in n for n in got.notes)
    # a zip made without the UTF-8 flag (cp437 names) works too
    with zipfile.ZipFile(tmp_path / "hank.zip", "w") as zf:
        for name, data in good_entries():
            zf.writestr(name, data)
        info = zipfile.ZipInfo("mytorch/r\u00e9sum\u00e9.txt")
        zf.writestr(info, b"x")
    extract_submission(tmp_path / "hank.zip", tmp_path / "out2")


@pytest.mark.skipif(not POSIX, reason="byte file names need POSIX")
def test_non_utf8_names_in_a_folder(tmp_path):
    folder = tmp_path / "ivan"
    (folder / "mytorch" / "nn").mkdir(parents=True)
    (folder / "mytorch" / "nn" / "linear.py").write_bytes(LINEAR)
    try:
        with open(os.path.join(os.fsencode(folder / "mytorch"), b"caf\xe9.py"), "wb") as fh:
            fh.write(b"# latin-1 name\n")
    except OSError as exc:  # a file system that refuses such names
        pytest.skip(f"cannot create a non-UTF-8 file name here: {exc}")
    got = extract_submission(folder, tmp_path / "out")
    assert (got.root / "mytorch" / "caf_.py").is_file()


# -- submissions that must be refused ---------------------------------------------------------
@pytest.mark.parametrize("name, words", [
    ("../evil.py", "outside"), ("mytorch/../../evil.py", "outside"), ("..\\evil.py", "outside"),
    ("/tmp/evil_absolute.py", "absolute path"), ("C:\\evil.py", "absolute path"),
    ("C:/Windows/evil.py", "absolute path")])
def test_path_traversal_and_absolute_paths_in_a_zip(tmp_path, name, words):
    src = make_zip(tmp_path / "mallory.zip", good_entries() + [(name, b"print('pwned')")])
    message = extract_error(src, tmp_path)
    assert words in message
    assert not (tmp_path / "evil.py").exists() and not Path("/tmp/evil_absolute.py").exists()


@pytest.mark.parametrize("name", ["../evil.py", "/tmp/evil_absolute.py"])
def test_path_traversal_in_a_tar(tmp_path, name):
    src = make_tar(tmp_path / "mallory.tar.gz",
                   [(tarfile.TarInfo(n), d) for n, d in good_entries()] +
                   [(tarfile.TarInfo(name), b"print('pwned')")])
    message = extract_error(src, tmp_path)
    assert "outside" in message or "absolute" in message
    assert not (tmp_path / "evil.py").exists() and not Path("/tmp/evil_absolute.py").exists()


def test_symlink_in_a_zip(tmp_path):
    info = zipfile.ZipInfo("mytorch/nn/secret.py")
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    src = make_zip(tmp_path / "mallory.zip", good_entries() + [(info, b"/etc/passwd")])
    assert "symbolic link" in extract_error(src, tmp_path)


@pytest.mark.parametrize("kind", ["symlink", "hardlink", "device", "fifo"])
def test_links_and_special_files_in_a_tar(tmp_path, kind):
    info = tarfile.TarInfo("mytorch/nn/secret.py")
    info.type = {"symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE,
                 "device": tarfile.CHRTYPE, "fifo": tarfile.FIFOTYPE}[kind]
    info.linkname = "/etc/passwd" if kind != "hardlink" else "mytorch/nn/linear.py"
    src = make_tar(tmp_path / "mallory.tar", [(tarfile.TarInfo(n), d) for n, d in good_entries()]
                   + [(info, None)], mode="w")
    message = extract_error(src, tmp_path)
    assert ("link" in message) if "link" in kind else ("special file" in message)


@pytest.mark.skipif(not POSIX, reason="symlinks need POSIX")
def test_symlink_in_a_folder(tmp_path, reference_submission):
    (reference_submission / "mytorch" / "leak.py").symlink_to("/etc/passwd")
    assert "symbolic link" in extract_error(reference_submission, tmp_path)


def test_zip_bomb_stops_at_the_limit(tmp_path):
    """A 200 MB file of zeros compresses to ~200 KB; the per-file and total limits stop it."""
    src = tmp_path / "bomb.zip"
    with zipfile.ZipFile(src, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in good_entries():
            zf.writestr(name, data)
        with zf.open("mytorch/nn/weights.bin", "w", force_zip64=True) as fh:
            chunk = bytes(1 << 20)
            for _ in range(200):
                fh.write(chunk)
    assert src.stat().st_size < 2 * 2**20
    message = extract_error(src, tmp_path)
    assert "limit" in message and "MB" in message


def test_zip_whose_headers_lie_about_the_size(tmp_path):
    """Declared sizes are patched down to 100 bytes: the actual bytes are what counts (here zipfile
    stops at the declared size and the CRC check fails: a damaged archive, not 5 MB on disk)."""
    src = tmp_path / "liar.zip"
    big = os.urandom(64) * (5 * 2**20 // 64)
    make_zip(src, good_entries() + [("mytorch/big.py", big)])
    data = bytearray(src.read_bytes())
    size_field = len(big).to_bytes(4, "little")
    assert data.count(size_field) >= 2
    data = data.replace(size_field, (100).to_bytes(4, "little"))
    src.write_bytes(bytes(data))
    message = extract_error(src, tmp_path, ArchiveLimits(max_file_bytes=2**20))
    assert "damaged" in message or "more data" in message or "limit" in message


def test_total_size_limit_on_a_tar_gz(tmp_path):
    members = [(tarfile.TarInfo(n), d) for n, d in good_entries()]
    members += [(tarfile.TarInfo(f"mytorch/data{i}.bin"), bytes(2**20)) for i in range(8)]
    src = make_tar(tmp_path / "big.tgz", members)
    message = extract_error(src, tmp_path, ArchiveLimits(max_total_bytes=4 * 2**20))
    assert "limit" in message


def test_tar_header_bomb_is_bounded_by_the_byte_budget(tmp_path):
    """A 30 MB pax header is read by tarfile itself (not through our per-file budget): the
    budgeted reader under tarfile stops it."""
    info = tarfile.TarInfo("mytorch/nn/linear.py")
    info.pax_headers = {"comment": "x" * (30 * 2**20)}
    src = make_tar(tmp_path / "paxbomb.tar.gz", [(info, LINEAR)], mode="w:gz")
    message = extract_error(src, tmp_path, ArchiveLimits(max_total_bytes=2**20, max_files=100))
    assert "limit" in message


def test_too_many_files(tmp_path):
    entries = good_entries() + [(f"mytorch/f{i}.py", b"") for i in range(60)]
    src = make_zip(tmp_path / "many.zip", entries)
    assert "more than" in extract_error(src, tmp_path, ArchiveLimits(max_files=50))
    # and with the default limit (2000)
    src = make_zip(tmp_path / "many2.zip", good_entries() + [(f"mytorch/f{i}.py", b"")
                                                              for i in range(2001)])
    assert "2000" in extract_error(src, tmp_path)


def test_empty_archives_and_files(tmp_path):
    empty_zip = make_zip(tmp_path / "empty.zip", [])
    assert "empty" in extract_error(empty_zip, tmp_path)
    empty_tar = make_tar(tmp_path / "empty.tar.gz", [])
    assert "empty" in extract_error(empty_tar, tmp_path)
    (tmp_path / "zero.zip").write_bytes(b"")
    assert "empty" in extract_error(tmp_path / "zero.zip", tmp_path)
    (tmp_path / "empty_folder").mkdir()
    assert "empty" in extract_error(tmp_path / "empty_folder", tmp_path)


def test_not_an_archive_and_damaged_archives(tmp_path):
    (tmp_path / "notes.docx").write_bytes(b"this is not an archive at all")
    assert "not a folder or an archive" in extract_error(tmp_path / "notes.docx", tmp_path)
    good = make_zip(tmp_path / "ok.zip", good_entries())
    (tmp_path / "cut.zip").write_bytes(good.read_bytes()[:60])
    assert "damaged" in extract_error(tmp_path / "cut.zip", tmp_path)
    (tmp_path / "junk.tar.gz").write_bytes(b"\x1f\x8b\x08\x00" + os.urandom(200))
    assert "damaged" in extract_error(tmp_path / "junk.tar.gz", tmp_path)
    assert "does not exist" in extract_error(tmp_path / "missing.zip", tmp_path)


def test_archive_without_mytorch(tmp_path):
    src = make_zip(tmp_path / "noname.zip", [("hw1/linear.py", LINEAR), ("README.md", b"hi")])
    message = extract_error(src, tmp_path)
    assert "no mytorch/" in message and "README.md" in message


def test_two_mytorch_folders_are_ambiguous(tmp_path):
    src = make_zip(tmp_path / "twice.zip", good_entries("a/") + good_entries("b/"))
    assert "several mytorch/" in extract_error(src, tmp_path)


def test_duplicate_entries(tmp_path):
    with pytest.warns(UserWarning):  # zipfile warns about the duplicate name itself
        src = make_zip(tmp_path / "dup.zip", good_entries() + [("mytorch/nn/linear.py", b"x")])
    assert "more than once" in extract_error(src, tmp_path)


def test_archive_size_limit(tmp_path):
    src = make_zip(tmp_path / "huge.zip", good_entries() + [("mytorch/r.bin", os.urandom(2**20))])
    assert "limit" in extract_error(src, tmp_path, ArchiveLimits(max_archive_bytes=2**19))


def test_strip_archive_suffix():
    assert strip_archive_suffix("a_1_2_hw.tar.gz") == "a_1_2_hw"
    assert strip_archive_suffix("b.TGZ") == "b"
    assert strip_archive_suffix("c.zip") == "c"
    assert strip_archive_suffix("folder") == "folder"
