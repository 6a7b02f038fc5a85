"""Safe extraction of one student's submission: a folder, ``.zip``, ``.tar``, ``.tar.gz``/``.tgz``.

Instructors grade files that students made, so nothing in a submission is trusted. A folder is read
by one bounded walker (``_copy_folder``) before anything else reads it: regular files only, links
never followed, every open non-blocking (a FIFO never blocks), with caps on depth, entries, bytes
read and apparent size; the batch then hashes and grades that bounded copy. In archives and folders:

* no absolute paths, no ``..``, no links (symbolic or hard), devices, FIFOs or other special files —
  every one of those is rejected, never "fixed";
* limits on the archive's own size, the number of entries, the size of one file and the total
  uncompressed size. Sizes declared in headers are checked first, but the limits hold on the bytes
  actually decompressed: every file is streamed through a byte budget, and a tar archive is read
  through a reader that stops after the budget (a zip bomb or a tar bomb stops at the limit);
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
import bz2
import errno
import gzip
import lzma
import os
import re
import shutil
import stat
import struct
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
# Folders that tools make beside a student's code: never graded, never descended into.
SKIP_DIRS = {".venv", "venv", "__pycache__", ".hypothesis", ".git", ".ipynb_checkpoints",
             "__MACOSX", ".pytest_cache", ".mypy_cache", ".idea", ".vscode"}
SKIP_FILES = {".DS_Store", "Thumbs.db", "desktop.ini"}
SKIP_NAMES = SKIP_DIRS | SKIP_FILES
HANDIN_NAME = "handin.zip"  # what `python -m autograder submit` writes
CHUNK = 1 << 16
_OPEN_FLAGS = (os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
               | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0))
# Walk by directory descriptors where the platform can (no path ever re-resolved, so a folder
# swapped for a link while it is read is not followed); by paths elsewhere (Windows).
_FD_WALK = os.open in os.supports_dir_fd and os.scandir in os.supports_fd \
    and hasattr(os, "O_DIRECTORY")


@dataclass
class ArchiveLimits:
    """Limits on one submission. The defaults are generous for a homework of a few .py files."""

    max_total_bytes: int = 50 * 2**20    # uncompressed bytes of all files together
    max_file_bytes: int = 20 * 2**20     # uncompressed bytes of one file
    max_files: int = 2000                # entries (files and folders) in the archive or folder
    max_archive_bytes: int = 100 * 2**20 # size of the archive file itself
    max_depth: int = 32                  # folders in one path
    max_skipped_shown: int = 8           # skipped names listed in the note
    search_depth: int = 2                # extra folders allowed above mytorch/


class SubmissionArchiveError(ValueError):
    """The submission cannot be unpacked safely, or holds no mytorch/ to grade."""

    def __init__(self, source, problem):
        self.source, self.problem = str(source), problem
        super().__init__(f"{Path(self.source).name or self.source}: {problem}")


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


class NotRegularFile(OSError):
    """What was opened is not a regular file (a FIFO, socket, device or folder)."""


def file_kind(mode):
    for test, name in ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISDIR, "a folder"),
                       (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):
        if test(mode):
            return name
    return "a regular file" if stat.S_ISREG(mode) else "a special file"


def open_regular(path, dir_fd=None):
    """(binary file object, stat) of the regular file ``path``, opened without following a link and
    without blocking: a FIFO, socket, device or link raises ``NotRegularFile`` instead of hanging or
    being read."""
    try:
        st = os.stat(path, dir_fd=dir_fd, follow_symlinks=False)
    except NotImplementedError:
        st = os.lstat(path)
    if not stat.S_ISREG(st.st_mode):  # never open a device: opening one can act
        raise NotRegularFile(f"is {file_kind(st.st_mode)}, not a regular file")
    try:
        fd = os.open(path, _OPEN_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENXIO, errno.EMLINK):  # swapped for a link or socket
            raise NotRegularFile("is not a regular file (it changed while it was read)") from None
        raise
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise NotRegularFile(f"is {file_kind(st.st_mode)}, not a regular file")
    if hasattr(os, "set_blocking"):
        os.set_blocking(fd, True)  # a regular file: reads are plain reads again
    return os.fdopen(fd, "rb"), st


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


# -- names ------------------------------------------------------------------------------------
_DRIVE = re.compile(r"^[A-Za-z]:")


def clean_component(comp):
    """A path component made printable: undecodable bytes and control characters become '_'."""
    raw = comp.encode("utf-8", "surrogateescape") if isinstance(comp, str) else bytes(comp)
    text = raw.decode("utf-8", "replace")
    text = "".join("_" if ch == "\ufffd" or ord(ch) < 32 or ord(ch) == 127 else ch for ch in text)
    return text


def safe_parts(name, error, on_clean=None):
    """The cleaned components of an archive member name; ``error(problem)`` raises, ``on_clean()``
    is called when a component had to be cleaned."""
    name = name.replace("\\", "/")
    if name.startswith("/") or _DRIVE.match(name):
        error(f"entry {_show(name)} has an absolute path")
    parts = []
    for comp in name.split("/"):
        if comp in ("", "."):
            continue
        if comp == "..":
            error(f"entry {_show(name)} points outside the archive ('..')")
        cleaned = clean_component(comp)
        if cleaned != comp and on_clean is not None:
            on_clean()
        if len(cleaned.encode("utf-8")) > 255:
            error(f"entry {_show(name)} has a name longer than 255 bytes")
        parts.append(cleaned)
    return parts


def _show(name, limit=120):
    text = "/".join(clean_component(c) for c in str(name).replace("\\", "/").split("/"))
    return repr(text if len(text) <= limit else text[:limit] + "…")


def is_skipped_name(name):
    """Folders and files that tools, editors and operating systems leave beside a student's code."""
    return (name in SKIP_NAMES or name.startswith("._") or name.endswith(("~", ".swp", ".swo"))
            or (len(name) > 1 and name.startswith("#") and name.endswith("#")))


def _skipped(parts):
    return any(is_skipped_name(p) for p in parts)


# -- writing under a budget -------------------------------------------------------------------
class _Writer:
    """Creates folders and files under ``dest`` while counting entries and bytes."""

    def __init__(self, dest, limits, source):
        self.dest, self.limits, self.source = Path(dest), limits, source
        self.entries = 0
        self.files = 0
        self.total = 0
        self.seen = {}   # relative path -> "file" | "dir"
        self.renamed = False
        self.skipped = []  # relative names of what was left out (see is_skipped_name)

    def skip(self, parts):
        """Note a skipped entry (once per skipped folder: nothing below it is counted)."""
        for i, part in enumerate(parts):
            if is_skipped_name(part):
                name = "/".join(parts[:i + 1])
                if name not in self.skipped:
                    self.skipped.append(name)
                return

    def skipped_note(self):
        if not self.skipped:
            return None
        shown = self.skipped[:self.limits.max_skipped_shown]
        more = len(self.skipped) - len(shown)
        return ("skipped what tools and editors leave beside the code (not graded): "
                + ", ".join(_show(n)[1:-1] for n in shown) + (f" and {more} more" if more else ""))

    def error(self, problem):
        raise SubmissionArchiveError(self.source, problem)

    def parts(self, name):
        return safe_parts(name, self.error, self._cleaned)

    def _cleaned(self):
        self.renamed = True

    def count_entry(self):
        self.entries += 1
        if self.entries > self.limits.max_files:
            self.error(f"holds more than {self.limits.max_files} files and folders (the limit)")

    def _path(self, parts, kind, original):
        if len(parts) > self.limits.max_depth:
            self.error(f"entry {_show(original)} is nested more than {self.limits.max_depth} "
                       "folders deep")
        for i in range(1, len(parts)):
            prev = self.seen.get("/".join(parts[:i]))
            if prev == "file":
                self.error(f"entry {_show(original)} is inside {_show('/'.join(parts[:i]))}, "
                           "which is a file")
            self.seen.setdefault("/".join(parts[:i]), "dir")
        key = "/".join(parts)
        prev = self.seen.get(key)
        if prev is not None and (prev != "dir" or kind != "dir"):
            self.error(f"entry {_show(original)} appears more than once")
        self.seen[key] = kind
        path = self.dest.joinpath(*parts)
        # belt and braces: every component is cleaned and no link is ever created, so this holds
        if os.path.commonpath([os.path.abspath(path), os.path.abspath(self.dest)]) != \
                os.path.abspath(self.dest):
            self.error(f"entry {_show(original)} points outside the archive")
        return path

    def mkdir(self, parts, original):
        if not parts:
            return
        path = self._path(parts, "dir", original)
        path.mkdir(mode=0o755, parents=True, exist_ok=True)

    def write(self, parts, stream, declared, original):
        """Copy ``stream`` to the file ``parts`` under the per-file and total budgets."""
        if not parts:
            self.error(f"entry {_show(original)} has an empty name")
        lim = self.limits
        if declared is not None and declared > lim.max_file_bytes:
            self.error(f"{_show(original)} is {_mb(declared)} (its declared size, not read), more "
                       f"than the {_mb(lim.max_file_bytes)} limit for one file")
        if declared is not None and self.total + declared > lim.max_total_bytes:
            self.error(f"uncompressed contents exceed the {_mb(lim.max_total_bytes)} limit "
                       f"(at {_show(original)}, which declares {_mb(declared)})")
        path = self._path(parts, "file", original)
        path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | \
            getattr(os, "O_BINARY", 0)
        fd = os.open(path, flags, 0o644)
        written = 0
        with os.fdopen(fd, "wb") as out:
            while True:
                chunk = stream.read(CHUNK)
                if not chunk:
                    break
                written += len(chunk)
                self.total += len(chunk)
                if written > lim.max_file_bytes:
                    self.error(f"{_show(original)} unpacks to more than {_mb(lim.max_file_bytes)} "
                               "(the limit for one file; a zip bomb?)")
                if self.total > lim.max_total_bytes:
                    self.error(f"uncompressed contents exceed the {_mb(lim.max_total_bytes)} limit "
                               f"(reached in {_show(original)}; a zip bomb?)")
                if declared is not None and written > declared:
                    self.error(f"{_show(original)} holds more data than its header declares")
                out.write(chunk)
        self.files += 1


def _mb(n):
    if n >= 2**30:
        return f"{n / 2**30:.1f} GB"
    return f"{n / 2**20:.1f} MB" if n >= 2**20 else f"{n} bytes"


class _BudgetReader:
    """A read-only stream that fails once more than ``budget`` bytes were read from it."""

    def __init__(self, raw, budget, on_exceed):
        self.raw, self.left, self.on_exceed = raw, budget, on_exceed

    def read(self, size=-1):
        if size is None or size < 0:
            size = self.left + 1
        data = self.raw.read(min(size, self.left + 1))
        self.left -= len(data)
        if self.left < 0:
            self.on_exceed()
        return data

    def readable(self):
        return True


# -- the three kinds of source ----------------------------------------------------------------
def _extract_zip(fh, writer):
    lim = writer.limits
    entries = _zip_declared_entries(fh)
    if entries is not None and entries > lim.max_files:
        writer.error(f"holds {entries} entries, more than the limit of {lim.max_files}")
    with zipfile.ZipFile(fh) as zf:
        infos = zf.infolist()
        if len(infos) > lim.max_files:
            writer.error(f"holds {len(infos)} entries, more than the limit of {lim.max_files}")
        declared = sum(max(i.file_size, 0) for i in infos)
        if declared > lim.max_total_bytes:
            writer.error(f"declares {_mb(declared)} of uncompressed contents, more than the "
                         f"{_mb(lim.max_total_bytes)} limit (a zip bomb?)")
        for info in infos:
            writer.count_entry()
            parts = writer.parts(info.filename)
            if _skipped(parts):
                writer.skip(parts)
                continue
            mode = (info.external_attr >> 16) & 0o177777
            kind = stat.S_IFMT(mode)
            if kind == stat.S_IFLNK:
                writer.error(f"entry {_show(info.filename)} is a symbolic link (links are not "
                             "accepted in submissions)")
            if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
                writer.error(f"entry {_show(info.filename)} is a special file (mode "
                             f"{oct(mode)}), not a regular file")
            if info.is_dir() or kind == stat.S_IFDIR:
                writer.mkdir(parts, info.filename)
                continue
            if info.flag_bits & 0x1:
                writer.error(f"entry {_show(info.filename)} is encrypted")
            with zf.open(info) as stream:
                writer.write(parts, stream, info.file_size, info.filename)


def _zip_declared_entries(fh):
    """Entry count from the end-of-central-directory record, read before zipfile loads the whole
    central directory (None when it cannot be read here, e.g. zip64)."""
    try:
        size = os.fstat(fh.fileno()).st_size
        fh.seek(max(0, size - (65535 + 22)))
        tail = fh.read()
        fh.seek(0)
    except OSError:
        return None
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or at + 22 > len(tail):
        return None
    total = struct.unpack("<H", tail[at + 10:at + 12])[0]
    return None if total == 0xFFFF else total


def _open_decompressed(raw):
    head = raw.read(6)
    raw.seek(0)
    if head[:2] == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=raw, mode="rb")
    if head[:3] == b"BZh":
        return bz2.BZ2File(raw, mode="rb")
    if head[:6] == b"\xfd7zXZ\x00":
        return lzma.LZMAFile(raw, mode="rb")
    return raw


def _extract_tar(raw, writer):
    lim = writer.limits

    def exceeded():
        writer.error(f"uncompressed contents exceed the {_mb(lim.max_total_bytes)} limit "
                     "(a tar bomb?)")

    stream = _open_decompressed(raw)
    try:
        # headers take 512 bytes (a long name or pax header some more); the budget bounds them too
        budget = lim.max_total_bytes + (lim.max_files + 2) * 2048 + 2**20
        reader = _BudgetReader(stream, budget, exceeded)
        with tarfile.open(fileobj=reader, mode="r|", encoding="utf-8",
                          errors="surrogateescape") as tf:
            for member in tf:
                writer.count_entry()
                parts = writer.parts(member.name)
                if _skipped(parts):
                    writer.skip(parts)
                    continue
                if member.issym() or member.islnk():
                    what = "symbolic" if member.issym() else "hard"
                    writer.error(f"entry {_show(member.name)} is a {what} link (links are not "
                                 "accepted in submissions)")
                if member.isdir():
                    writer.mkdir(parts, member.name)
                elif member.isreg():
                    fh = tf.extractfile(member)
                    writer.write(parts, fh, member.size, member.name)
                else:
                    writer.error(f"entry {_show(member.name)} is a device, FIFO or other special "
                                 "file, not a regular file")
    finally:
        stream.close()


def _copy_folder(folder, writer):
    """Copy the folder ``folder`` through the bounded walker (see the module's docstring)."""
    if _FD_WALK:
        try:
            fd = os.open(folder, _OPEN_FLAGS | os.O_DIRECTORY)
        except OSError as exc:
            writer.error(f"cannot open the folder ({exc.strerror})")
        try:
            _walk(fd, None, writer, [])
        finally:
            os.close(fd)
    else:
        _walk(None, os.fspath(folder), writer, [])


def _walk(dir_fd, dir_path, writer, rel):
    """Copy one folder's entries (by descriptor ``dir_fd``, or by ``dir_path`` where descriptors
    cannot be used), then descend; depth, entries and bytes are bounded by ``writer``."""
    shown = _show("/".join(rel)) if rel else "the folder"
    entries = []
    try:
        with os.scandir(dir_fd if dir_fd is not None else dir_path) as listing:
            for entry in listing:  # counted as listed: a folder of a million entries stops early
                writer.count_entry()
                entries.append(entry)
    except OSError as exc:
        writer.error(f"cannot list {shown}: {exc.strerror}")
    folders = []
    for entry in sorted(entries, key=lambda e: e.name):
        name = clean_component(entry.name)
        if name != entry.name:
            writer.renamed = True
        parts = rel + [name]
        original = "/".join(parts)
        if is_skipped_name(name):
            writer.skip(parts)
            continue
        where = entry.name if dir_fd is not None else entry.path
        try:
            st = os.stat(where, dir_fd=dir_fd, follow_symlinks=False)
        except OSError as exc:
            writer.error(f"cannot read {_show(original)}: {exc.strerror}")
        if stat.S_ISDIR(st.st_mode):
            writer.mkdir(parts, original)  # checks the depth before anything below is opened
            folders.append((entry, parts, original))
        elif stat.S_ISREG(st.st_mode):
            if st.st_nlink > 1 and os.name == "posix":
                writer.error(f"{_show(original)} is a hard link (links are not accepted in "
                             "submissions)")
            try:
                fh, st = open_regular(where, dir_fd)
            except NotRegularFile as exc:
                writer.error(f"{_show(original)} {exc}")
            with fh:
                writer.write(parts, fh, st.st_size, original)
        else:
            what = file_kind(st.st_mode)
            why = " (links are not accepted in submissions)" if stat.S_ISLNK(st.st_mode) else \
                ", not a regular file"
            writer.error(f"{_show(original)} is {what}{why}")
    for entry, parts, original in folders:
        if dir_fd is None:
            _walk(None, entry.path, writer, parts)
            continue
        try:
            fd = os.open(entry.name, _OPEN_FLAGS | os.O_DIRECTORY, dir_fd=dir_fd)
        except OSError as exc:  # ELOOP/ENOTDIR: swapped for a link or a file since it was listed
            writer.error(f"cannot open {_show(original)} ({exc.strerror})")
        try:
            _walk(fd, None, writer, parts)
        finally:
            os.close(fd)


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
    for depth in range(limits.search_depth + 1):
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
    for depth in range(limits.search_depth + 1):
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
    writer = _Writer(dest, limits, source)
    notes = []
    try:
        try:
            mode = os.lstat(source).st_mode
        except FileNotFoundError:
            writer.error("does not exist")
        if stat.S_ISDIR(mode):
            _copy_folder(source, writer)
            inner = None if _mytorch_folders(dest, limits) else _graded_archive(dest, source)
            if inner is not None:
                inner_dest = Path(tempfile.mkdtemp(prefix="_unpacked-", dir=dest))
                inner_writer = _Writer(inner_dest, limits, source / inner.name)
                _unpack_file(inner, inner_writer)
                notes.append(f"graded from {_show(inner.name)[1:-1]}, the archive in the folder")
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
    except Exception as exc:  # noqa: BLE001 — a damaged archive may raise anything; never escape
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
    """Unpack the archive ``path`` (opened as a regular file only, never blocking) into ``writer``."""
    limits = writer.limits
    try:
        fh, st = open_regular(path)
    except NotRegularFile as exc:
        writer.error(str(exc))
    with fh:
        if st.st_size > limits.max_archive_bytes:
            writer.error(f"is {_mb(st.st_size)}, more than the {_mb(limits.max_archive_bytes)} "
                         "limit for one submission")
        if st.st_size == 0:
            writer.error("is an empty file")
        kind = archive_kind(path)
        if kind == "zip":
            _extract_zip(fh, writer)
        elif kind == "tar":
            _extract_tar(fh, writer)
        else:
            writer.error("is not a folder or an archive this grader reads (.zip, .tar, "
                         ".tar.gz, .tgz)")


def _mytorch_folders(dest, limits):
    """Folders named mytorch/ at most ``search_depth`` levels below ``dest`` (in the bounded copy)."""
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
