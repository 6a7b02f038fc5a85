"""Safe extraction of one student's submission: a folder, ``.zip``, ``.tar``, ``.tar.gz``/``.tgz``.

Instructors grade files that students made, so nothing in a submission is trusted. A folder is read
by one bounded walker (``walker.copy_folder``) before anything else reads it: regular files only,
links never followed, every open non-blocking (a FIFO never blocks), with caps on depth, entries,
bytes read and apparent size; the batch then hashes and grades that bounded copy.
In archives and folders:

* no absolute paths, no ``..``, no symbolic links, devices, FIFOs or other special files — every one
  of those is rejected, never "fixed"; a folder's regular files are copied by content, so a hard
  link is judged only in the submission that holds it (``walker.shareable_link``);
* limits on the archive's own size, the number of entries, the size of one file and the total
  uncompressed size, all on what is graded: what tools leave beside the code (below) is skipped
  before anything is counted, and only passing over it is bounded (``max_listed_entries``,
  ``max_skipped_bytes``). A zip's declared entry count (zip64's included) is checked before its
  central directory is read. Sizes declared in headers are checked first, but the limits hold on
  the bytes actually decompressed: every file is streamed through a byte budget, and a tar archive
  is read through a reader that stops after the budget (a zip bomb or a tar bomb stops there);
* names that are not valid UTF-8 (or hold control characters) are cleaned into readable ones, never
  a crash; what tools leave beside the code (``.venv/``, ``venv/``, ``__pycache__/``,
  ``.hypothesis/``, ``.git/``, macOS' ``__MACOSX``/``._*``, editor backups) is skipped with a note;
* the folder holding ``mytorch/`` is then located, allowing the extra top-level folders that zipping
  a folder (or Canvas/Gradescope exports) adds; a folder without one that holds ``handin.zip`` or a
  single archive is graded from that archive.

This module is on the student side too: ``check --submission handin.zip`` unpacks with it.

Every problem is a ``SubmissionArchiveError`` naming the student's file and what is wrong with it;
no other exception escapes ``extract_submission``.
"""
import gzip
import lzma
import os
import shutil
import stat
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from .unpack import (
    ArchiveLimits,
    SubmissionArchiveError,
    Writer,
    extract_tar,
    extract_zip,
    megabytes,
)
from .walker import (
    NotRegularFile,
    clean_component,
    copy_folder,
    file_kind,
    open_regular,
    show_name,
)

ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
HANDIN_NAME = "handin.zip"  # what `python -m autograder submit` writes
@dataclass
class Extracted:
    root: Path            # the folder holding mytorch/
    files: int = 0
    bytes: int = 0
    notes: list = field(default_factory=list)


def strip_archive_suffix(name):
    """'alice_1_2_hw1.tar.gz' -> 'alice_1_2_hw1'; a name without an archive suffix is unchanged."""
    lower = name.lower()
    for suffix in sorted(ARCHIVE_SUFFIXES, key=len, reverse=True):
        if lower.endswith(suffix) and len(name) > len(suffix):
            return name[:-len(suffix)]
    return name


def archive_kind(path, dir_fd=None):
    """'zip', 'tar' or None (not an archive we read), by magic bytes first, then by name. Only a
    regular file is ever opened (never blocking, never through a link)."""
    try:
        fh, _ = open_regular(path, dir_fd)
        with fh:
            head = fh.read(512)
    except OSError:
        return None
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08"):
        return "zip"
    if head[:2] == b"\x1f\x8b" or head[:3] == b"BZh" or head[:6] == b"\xfd7zXZ\x00":
        return "tar"
    if len(head) >= 262 and head[257:262] == b"ustar":
        return "tar"
    lower = str(path).lower()
    if lower.endswith(".zip"):
        return "zip"
    if any(lower.endswith(s) for s in ARCHIVE_SUFFIXES):
        return "tar"
    return None


def is_archive_name(name):
    return name.lower().endswith(ARCHIVE_SUFFIXES)


# -- locating mytorch/ ------------------------------------------------------------------------
def _has_python(folder):
    return any(p.suffix == ".py" for p in folder.rglob("*.py"))


def locate_root(dest, source, limits=None):
    """The folder under ``dest`` that holds ``mytorch/`` (at most ``search_depth`` levels down).

    A submission that holds the *contents* of mytorch/ (its ``nn/`` … without the folder itself) is
    accepted too: it is wrapped into a ``mytorch/`` folder, with a note.
    """
    limits = limits or ArchiveLimits()
    dest = Path(dest)
    level, notes = [dest], []
    for _depth in range(limits.search_depth + 1):
        found = [d for d in level if (d / "mytorch").is_dir() and _has_python(d / "mytorch")]
        if len(found) == 1:
            return found[0], notes
        if len(found) > 1:
            names = ", ".join(str(d.relative_to(dest) / "mytorch") for d in found)
            raise SubmissionArchiveError(source, f"holds several mytorch/ folders ({names}); "
                                         "which one to grade is ambiguous")
        level = sorted(c for d in level for c in d.iterdir() if c.is_dir())
    # the contents of mytorch/ without the folder: nn/ (and maybe __init__.py) at some level
    level = [dest]
    for _depth in range(limits.search_depth + 1):
        found = [d for d in level if (d / "nn").is_dir() and _has_python(d / "nn")
                 and d.name != "mytorch"]
        if len(found) == 1:
            wrapper = dest / "_submission"
            wrapper.mkdir()
            if found[0] != dest:
                os.replace(found[0], wrapper / "mytorch")
            else:  # the contents are at the top: move them one level down
                target = wrapper / "mytorch"
                target.mkdir()
                for child in list(dest.iterdir()):
                    if child != wrapper:
                        os.replace(child, target / child.name)
            notes.append("the submission holds the contents of mytorch/ without the folder itself; "
                         "graded as if they were in mytorch/")
            return wrapper, notes
        level = sorted(c for d in level for c in d.iterdir() if c.is_dir())
    top = sorted(p.name + ("/" if p.is_dir() else "") for p in dest.iterdir())
    if not top:
        raise SubmissionArchiveError(source, "is empty (no files to grade)")
    shown = ", ".join(top[:8]) + (f", … ({len(top)} entries)" if len(top) > 8 else "")
    raise SubmissionArchiveError(source, f"holds no mytorch/ folder with Python files (its top "
                                 f"level holds: {shown})")


# -- entry point ------------------------------------------------------------------------------
def extract_submission(source, dest, limits=None):
    """Unpack (or copy) ``source`` into the new folder ``dest``; return an ``Extracted``.

    ``source`` is a folder or an archive; a folder without ``mytorch/`` that holds ``handin.zip``
    or exactly one archive is graded from that archive. ``dest`` must not exist yet (its parent
    must). Raises ``SubmissionArchiveError`` (and nothing else) when the submission cannot be used.
    """
    limits = limits or ArchiveLimits()
    source, dest = Path(source), Path(dest)
    try:
        dest.mkdir(mode=0o755)
    except OSError as exc:
        raise SubmissionArchiveError(source, f"cannot create the folder to unpack into ({dest}): "
                                     f"{exc.strerror}") from None
    writer = Writer(dest, limits, source)
    notes = []
    try:
        try:
            mode = os.lstat(source).st_mode
        except FileNotFoundError:
            writer.error("does not exist")
        if stat.S_ISDIR(mode):
            copy_folder(source, writer)
            inner = None if _mytorch_folders(dest, limits) else _graded_archive(dest, source)
            if inner is not None:
                inner_dest = Path(tempfile.mkdtemp(prefix="_unpacked-", dir=dest))
                os.chmod(inner_dest, 0o755)  # the worker's user reads it, as every folder
                inner_writer = Writer(inner_dest, limits, source / inner.name)
                _unpack_file(inner, inner_writer)
                notes.append(f"graded from {show_name(inner.name)[1:-1]}, "
                             "the archive in the folder")
                dest, writer.renamed = inner_dest, writer.renamed or inner_writer.renamed
                writer.skipped += inner_writer.skipped
        elif stat.S_ISREG(mode):
            _unpack_file(source, writer)
        else:
            writer.error(f"is {file_kind(mode)}, not a folder or an archive")
        root, located = locate_root(dest, source, limits)
        notes += located
    except SubmissionArchiveError:
        shutil.rmtree(writer.dest, ignore_errors=True)
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, tarfile.TarError, EOFError, lzma.LZMAError,
            gzip.BadGzipFile, NotImplementedError, UnicodeError, ValueError) as exc:
        shutil.rmtree(writer.dest, ignore_errors=True)
        raise SubmissionArchiveError(source, f"is damaged or not a valid archive "
                                     f"({type(exc).__name__}: {_brief(exc)})") from None
    except OSError as exc:
        shutil.rmtree(writer.dest, ignore_errors=True)
        raise SubmissionArchiveError(source, f"could not be unpacked ({type(exc).__name__}: "
                                     f"{_brief(exc)})") from None
    except Exception as exc:  # a damaged archive may raise anything; never escape
        shutil.rmtree(writer.dest, ignore_errors=True)
        raise SubmissionArchiveError(source, f"could not be unpacked (unexpected "
                                     f"{type(exc).__name__}: {_brief(exc)})") from None
    if writer.renamed:
        notes.append("some file names were not valid UTF-8 and were cleaned")
    skipped = writer.skipped_note()
    if skipped:
        notes.append(skipped)
    return Extracted(root, writer.files, writer.total, notes)


def _unpack_file(path, writer):
    """Unpack the archive ``path`` (opened as a regular file only, never blocking)
    into ``writer``."""
    limits = writer.limits
    try:
        fh, st = open_regular(path)
    except NotRegularFile as exc:
        writer.error(str(exc))
    with fh:
        if st.st_size > limits.max_archive_bytes:
            writer.error(f"is {megabytes(st.st_size)}, "
                         f"more than the {megabytes(limits.max_archive_bytes)} "
                         "limit for one submission")
        if st.st_size == 0:
            writer.error("is an empty file")
        kind = archive_kind(path)
        if kind == "zip":
            extract_zip(fh, writer)
        elif kind == "tar":
            extract_tar(fh, writer)
        else:
            writer.error("is not a folder or an archive this grader reads (.zip, .tar, "
                         ".tar.gz, .tgz)")


def _mytorch_folders(dest, limits):
    """Folders named mytorch/ at most ``search_depth`` levels below ``dest``
    (in the bounded copy)."""
    level, found = [dest], []
    for _ in range(limits.search_depth + 1):
        found += [d / "mytorch" for d in level if (d / "mytorch").is_dir()]
        level = [c for d in level for c in d.iterdir() if c.is_dir()]
    return found


def _graded_archive(folder, source):
    """The archive a folder without mytorch/ is graded from: handin.zip, else its only archive."""
    archives = sorted(p for p in folder.iterdir() if p.is_file() and archive_kind(p) is not None)
    handin = [p for p in archives if p.name.lower() == HANDIN_NAME]
    if handin or len(archives) == 1:
        return (handin or archives)[0]
    if archives:
        names = ", ".join(p.name for p in archives[:5])
        raise SubmissionArchiveError(source, f"holds no mytorch/ folder but several archives "
                                     f"({names}); which one to grade is ambiguous (name the one "
                                     f"to grade {HANDIN_NAME}, or leave only it)")
    return None


def _brief(exc, limit=300):
    text = clean_component(str(exc))
    return text if len(text) <= limit else text[:limit] + "…"
