"""Writing a submission's files under a budget, from a zip, a tar or (through the walker) a folder.

``Writer`` creates folders and files under the destination while counting entries, depth and bytes
against ``ArchiveLimits``; the readers stream every member through it, so the limits hold on the
bytes actually decompressed (a zip bomb or a tar bomb stops at the limit), whatever the headers
declare. Every problem is a ``SubmissionArchiveError`` naming the student's file.
"""
import bz2
import gzip
import lzma
import os
import stat
import struct
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .walker import is_skipped_name, safe_parts, show_name, skipped_path

CHUNK = 1 << 16


@dataclass
class ArchiveLimits:
    """Limits on one submission. The defaults are generous for a homework of a few .py files."""

    max_total_bytes: int = 50 * 2**20    # uncompressed bytes of all graded files together
    max_file_bytes: int = 20 * 2**20     # uncompressed bytes of one file
    max_files: int = 2000                # graded entries (files and folders)
    max_archive_bytes: int = 100 * 2**20 # size of the archive file itself
    # What tools leave beside the code (.venv/, .git/, ...) is skipped, not graded, so it does not
    # count above; only these generous caps bound the work of passing over it.
    max_listed_entries: int = 100_000    # entries an archive or folder lists, skipped ones too
    max_skipped_bytes: int = 1 << 30     # bytes of skipped tar members read past (zips seek)
    max_depth: int = 32                  # folders in one path
    max_skipped_shown: int = 8           # skipped names listed in the note
    search_depth: int = 2                # extra folders allowed above mytorch/


class SubmissionArchiveError(ValueError):
    """The submission cannot be unpacked safely, or holds no mytorch/ to grade."""

    def __init__(self, source, problem):
        self.source, self.problem = str(source), problem
        super().__init__(f"{Path(self.source).name or self.source}: {problem}")


# -- writing under a budget -------------------------------------------------------------------
class Writer:
    """Creates folders and files under ``dest`` while counting entries and bytes."""

    def __init__(self, dest, limits, source):
        self.dest, self.limits, self.source = Path(dest), limits, source
        self.entries = 0
        self.listed = 0
        self.skipped_bytes = 0
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
                + ", ".join(show_name(n)[1:-1] for n in shown)
                + (f" and {more} more" if more else ""))

    def error(self, problem):
        raise SubmissionArchiveError(self.source, problem)

    def parts(self, name):
        return safe_parts(name, self.error, self._cleaned)

    def _cleaned(self):
        self.renamed = True

    def count_entry(self):
        """Count one graded entry (a skipped one is counted by ``count_listed`` only)."""
        self.entries += 1
        if self.entries > self.limits.max_files:
            self.error(f"holds more than {self.limits.max_files} files and folders to grade "
                       "(the limit; skipped folders such as .venv/ do not count)")

    def count_listed(self):
        """Count one entry as listed, skipped or not: a listing of millions stops early."""
        self.listed += 1
        if self.listed > self.limits.max_listed_entries:
            self.error(f"lists more than {self.limits.max_listed_entries} entries, skipped "
                       "folders such as .venv/ included (the limit)")

    def skip_bytes(self, size):
        """Allow ``size`` bytes of a skipped member to be read past (never written)."""
        self.skipped_bytes += max(size, 0)
        if self.skipped_bytes > self.limits.max_skipped_bytes:
            self.error(f"holds more than {megabytes(self.limits.max_skipped_bytes)} in skipped "
                       "folders such as .venv/ (the limit)")

    def _path(self, parts, kind, original):
        if len(parts) > self.limits.max_depth:
            self.error(f"entry {show_name(original)} is nested more than {self.limits.max_depth} "
                       "folders deep")
        for i in range(1, len(parts)):
            prev = self.seen.get("/".join(parts[:i]))
            if prev == "file":
                self.error(f"entry {show_name(original)} "
                           f"is inside {show_name('/'.join(parts[:i]))}, which is a file")
            self.seen.setdefault("/".join(parts[:i]), "dir")
        key = "/".join(parts)
        prev = self.seen.get(key)
        if prev is not None and (prev != "dir" or kind != "dir"):
            self.error(f"entry {show_name(original)} appears more than once")
        self.seen[key] = kind
        path = self.dest.joinpath(*parts)
        # belt and braces: every component is cleaned and no link is ever created, so this holds
        if os.path.commonpath([os.path.abspath(path), os.path.abspath(self.dest)]) != \
                os.path.abspath(self.dest):
            self.error(f"entry {show_name(original)} points outside the archive")
        return path

    def mkdir(self, parts, original):
        if not parts:
            return
        path = self._path(parts, "dir", original)
        path.mkdir(mode=0o755, parents=True, exist_ok=True)

    def write(self, parts, stream, declared, original):
        """Copy ``stream`` to the file ``parts`` under the per-file and total budgets."""
        if not parts:
            self.error(f"entry {show_name(original)} has an empty name")
        lim = self.limits
        if declared is not None and declared > lim.max_file_bytes:
            self.error(f"{show_name(original)} is {megabytes(declared)} "
                       "(its declared size, not read), more "
                       f"than the {megabytes(lim.max_file_bytes)} limit for one file")
        if declared is not None and self.total + declared > lim.max_total_bytes:
            self.error(f"uncompressed contents exceed the {megabytes(lim.max_total_bytes)} limit "
                       f"(at {show_name(original)}, which declares {megabytes(declared)})")
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
                    self.error(f"{show_name(original)} unpacks to more than "
                               f"{megabytes(lim.max_file_bytes)} "
                               "(the limit for one file; a zip bomb?)")
                if self.total > lim.max_total_bytes:
                    self.error("uncompressed contents exceed the "
                               f"{megabytes(lim.max_total_bytes)} limit "
                               f"(reached in {show_name(original)}; a zip bomb?)")
                if declared is not None and written > declared:
                    self.error(f"{show_name(original)} holds more data than its header declares")
                out.write(chunk)
        self.files += 1


def megabytes(n):
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
def extract_zip(fh, writer):
    lim = writer.limits
    entries = zip_declared_entries(fh)
    if entries is not None and entries > lim.max_listed_entries:
        writer.error(f"declares {entries} entries, more than the limit of "
                     f"{lim.max_listed_entries} (refused before its list of entries was read)")
    with zipfile.ZipFile(fh) as zf:
        infos = zf.infolist()
        if len(infos) > lim.max_listed_entries:
            writer.error(f"holds {len(infos)} entries, more than the limit of "
                         f"{lim.max_listed_entries}")
        graded = []
        for info in infos:  # what is skipped is never read, so it counts towards no limit
            writer.count_listed()
            parts = writer.parts(info.filename)
            if skipped_path(parts):
                writer.skip(parts)
            else:
                graded.append((info, parts))
        declared = sum(max(i.file_size, 0) for i, _ in graded)
        if declared > lim.max_total_bytes:
            writer.error(f"declares {megabytes(declared)} of uncompressed contents, more than the "
                         f"{megabytes(lim.max_total_bytes)} limit (a zip bomb?)")
        for info, parts in graded:
            writer.count_entry()
            mode = (info.external_attr >> 16) & 0o177777
            kind = stat.S_IFMT(mode)
            if kind == stat.S_IFLNK:
                writer.error(f"entry {show_name(info.filename)} is a symbolic link (links are not "
                             "accepted in submissions)")
            if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
                writer.error(f"entry {show_name(info.filename)} is a special file (mode "
                             f"{oct(mode)}), not a regular file")
            if info.is_dir() or kind == stat.S_IFDIR:
                writer.mkdir(parts, info.filename)
                continue
            if info.flag_bits & 0x1:
                writer.error(f"entry {show_name(info.filename)} is encrypted")
            with zf.open(info) as stream:
                writer.write(parts, stream, info.file_size, info.filename)


_EOCD = struct.Struct("<4s4H2LH")              # end of central directory record (22 bytes)
_ZIP64_LOCATOR = struct.Struct("<4sLQL")        # zip64 end of central directory locator (20)
_ZIP64_EOCD = struct.Struct("<4sQ2H2L4Q")       # zip64 end of central directory record (56)


def zip_declared_entries(fh):
    """The entry count a zip declares in its end records (zip64's when it has one), read from the
    file's tail before ``zipfile`` loads the central directory: a forged count of millions costs
    nothing to refuse. None when the records cannot be read here (``zipfile`` then decides)."""
    try:
        size = os.fstat(fh.fileno()).st_size
        start = max(0, size - (65535 + _EOCD.size + _ZIP64_LOCATOR.size))
        fh.seek(start)
        tail = fh.read()
        at = tail.rfind(b"PK\x05\x06")
        if at < 0 or at + _EOCD.size > len(tail):
            return None
        total = _EOCD.unpack_from(tail, at)[4]
        loc = at - _ZIP64_LOCATOR.size
        if loc >= 0 and tail[loc:loc + 4] == b"PK\x06\x07":
            record_at = _ZIP64_LOCATOR.unpack_from(tail, loc)[2]
            if record_at + _ZIP64_EOCD.size > size:
                return None
            fh.seek(record_at)
            record = fh.read(_ZIP64_EOCD.size)
            if len(record) == _ZIP64_EOCD.size and record[:4] == b"PK\x06\x06":
                total = max(total, _ZIP64_EOCD.unpack(record)[7])
            else:
                return None
        elif total == 0xFFFF:
            return None
        return total
    except (OSError, struct.error):
        return None
    finally:
        try:
            fh.seek(0)
        except OSError:
            pass


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


def extract_tar(raw, writer):
    lim = writer.limits

    def exceeded():
        writer.error(f"uncompressed contents exceed the {megabytes(lim.max_total_bytes)} limit "
                     "(a tar bomb?)")

    stream = _open_decompressed(raw)
    try:
        # headers take 512 bytes (a long name or pax header some more); the budget bounds them too
        budget = lim.max_total_bytes + (lim.max_files + 2) * 2048 + 2**20
        reader = _BudgetReader(stream, budget, exceeded)
        with tarfile.open(fileobj=reader, mode="r|", encoding="utf-8",
                          errors="surrogateescape") as tf:
            for member in tf:
                writer.count_listed()
                parts = writer.parts(member.name)
                if skipped_path(parts):
                    writer.skip(parts)
                    # tarfile reads past the member's data (padded to a block): allowed, never
                    # written, bounded by max_skipped_bytes; its header is allowed too
                    data = member.size + (-member.size) % 512 if member.isreg() else 0
                    writer.skip_bytes(data)
                    reader.left += data + 1024
                    continue
                writer.count_entry()
                if member.issym() or member.islnk():
                    what = "symbolic" if member.issym() else "hard"
                    writer.error(f"entry {show_name(member.name)} is a {what} link (links are not "
                                 "accepted in submissions)")
                if member.isdir():
                    writer.mkdir(parts, member.name)
                elif member.isreg():
                    fh = tf.extractfile(member)
                    writer.write(parts, fh, member.size, member.name)
                else:
                    writer.error(f"entry {show_name(member.name)} "
                                 "is a device, FIFO or other special file, not a regular file")
    finally:
        stream.close()
