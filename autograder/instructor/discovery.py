"""Finding the students in what an instructor has: folders, archives and LMS exports.

Each SUBMISSION argument is one student's folder or archive, or a folder of many (a Canvas or
Gradescope export: one entry per student, with Gradescope's ``submission_metadata.yml`` giving names
and emails). ``discover`` returns one ``Student`` per entry. A student's id comes from the name of
their entry alone (never from what else is in the batch), so two entries that would share an id
(one misnamed file) are one ``Student`` that lists them all in ``ambiguous``: the batch grades the
rest of the class and reports that id as a row that needs the instructor. Entries are looked at
without following links or opening anything but regular files; what is in them is read only
through the bounded copy (``autograder/intake/archive.py``), which ``content_hash`` fingerprints.
"""
import hashlib
import os
import re
import stat
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from ..grading.text import one_line
from ..intake.archive import HANDIN_NAME, archive_kind, is_archive_name, strip_archive_suffix
from ..intake.walker import file_kind, is_skipped_name

METADATA_NAME = "submission_metadata.yml"
IGNORED_SUFFIXES = (".yml", ".yaml", ".csv", ".txt", ".md", ".json", ".html", ".pdf")
# Canvas's download: <lastfirst>_[LATE_]<Canvas user id>_<submission id>_<file name>
CANVAS_NAME = re.compile(r"^(.+?)_(?:late_)?(\d+)_\d+(?:_|$)", re.IGNORECASE)
# What cannot be part of a folder name on Linux, macOS or Windows, or reads badly in a CSV cell.
PATH_UNSAFE = re.compile(r'[/\\:*?"<>|]')
WINDOWS_RESERVED = re.compile(r"^(con|prn|aux|nul|com\d|lpt\d)(\..*)?$", re.IGNORECASE)
ID_BYTES = 200  # longest id in UTF-8 bytes (a folder name holds 255)


class DiscoveryError(RuntimeError):
    """A SUBMISSION argument cannot be used at all (it does not exist)."""


@dataclass
class Student:
    id: str
    source: Path
    name: str = ""
    email: str = ""
    sid: str = ""
    lms_id: str = ""     # the LMS's own id of the student (Canvas's user id), when the name has it
    ambiguous: tuple = ()  # every entry that would be graded as this id, when there are several

    def clash(self):
        """Why this id cannot be graded as it is (None when it can): the entries sharing it."""
        if not self.ambiguous:
            return None
        shown = " and ".join(one_line(p, 300) for p in self.ambiguous)
        return (f"{len(self.ambiguous)} submissions would all be graded as student "
                f"{one_line(self.id)!r}: {shown}. Student ids come from file and folder names "
                "alone: rename or remove all but one, then run the same command again")


def student_id_from_name(name):
    """The student id an export's file or folder name stands for.

    Canvas: ``lastfirst_12345_67890_hw1.zip`` (or ``lastfirst_LATE_12345_67890_...``)
    -> ``lastfirst``; anything else (``submission_123456``, ``alice.zip``) -> its name without the
    archive suffix. The id keeps every letter of the name (Unicode NFC: ``zoë_Müller``, ``李明``);
    only characters that are unsafe in a path or a report (separators, ``:*?"<>|``, control and
    format characters) become ``_``.
    """
    name = os.fsdecode(name) if isinstance(name, bytes) else name
    try:  # undecodable bytes of a file name (surrogate escapes) become U+FFFD, then "_"
        name = name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:
        name = name.encode("utf-8", "replace").decode("utf-8")
    stem = strip_archive_suffix(unicodedata.normalize("NFC", name))
    match = CANVAS_NAME.match(stem)
    if match and match.group(1):
        stem = match.group(1)
    safe = "".join("_" if unicodedata.category(ch)[0] in "CZ" and ch != " " or ch == "\ufffd"
                   else ch for ch in PATH_UNSAFE.sub("_", stem))
    safe = safe.strip(" ._")
    while len(safe.encode("utf-8")) > ID_BYTES:
        safe = safe[:-1]
    if WINDOWS_RESERVED.match(safe):
        safe += "_"
    return safe or "student"


def lms_id_from_name(name):
    """The LMS's user id an export's entry name carries (Canvas: ``ivan_123456_7891011_handin.zip``
    -> ``"123456"``), or ""."""
    match = CANVAS_NAME.match(os.fsdecode(name) if isinstance(name, bytes) else name)
    return match.group(2) if match and match.group(1) else ""


def read_gradescope_metadata(path):
    """{submission folder: {"name", "email", "sid"}} from Gradescope's ``submission_metadata.yml``.

    A tiny line parser for the one shape Gradescope writes (no YAML dependency)::

        submission_123456:
          :submitters:
          - :name: Jane Doe
            :sid: '1234'
            :email: jane@example.edu
    Group submissions join their submitters with "; ". Unreadable files give {}.
    """
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    out, current, people, in_submitters, sub_indent = {}, None, None, False, 0
    for raw in text.splitlines():
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        indent = len(raw) - len(raw.lstrip(" "))
        line = raw.strip()
        if indent == 0 and line.endswith(":"):
            current = _unquote(line[:-1])
            people = out.setdefault(current, [])
            in_submitters = False
            continue
        if current is None:
            continue
        if line.lstrip(":").startswith("submitters:"):
            in_submitters, sub_indent = True, indent
            continue
        if not in_submitters:
            continue
        if indent <= sub_indent and not line.startswith("- "):
            in_submitters = False
            continue
        if line.startswith("- "):
            people.append({})
            line = line[2:].strip()
        if not people:
            people.append({})
        key, sep, value = line.lstrip(":").partition(":")
        if sep and key.strip() in ("name", "email", "sid"):
            people[-1].setdefault(key.strip(), _unquote(value))
    return {folder: {k: one_line("; ".join(p.get(k, "") for p in people if p.get(k)), 300)
                     for k in ("name", "email", "sid")}
            for folder, people in out.items()}


def _unquote(text):
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        text = text[1:-1]
    return text


def _ignored(path, kind, out_dir):
    name = path.name
    if is_skipped_name(name) or name.startswith(".") or name == METADATA_NAME:
        return True
    try:
        if path.resolve() == out_dir.resolve() or out_dir.resolve().is_relative_to(path.resolve()):
            return True
    except OSError:
        pass
    return kind == "file" and name.lower().endswith(IGNORED_SUFFIXES)


def _kind(path):
    """'dir', 'file', 'link' or what else the entry is, without following a link."""
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return "missing"
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISREG(mode):
        return "file"
    return "link" if stat.S_ISLNK(mode) else file_kind(mode)


def _is_single(folder):
    """A folder holding mytorch/ or handin.zip is one student's; any other folder is an export."""
    return _kind(folder / "mytorch") == "dir" or _kind(folder / HANDIN_NAME) == "file"


def _export_entries(path, out_dir, warnings):
    """(entry, kind) of the submissions in an export folder, sorted by name."""
    found = []
    for child in sorted(path.iterdir(), key=lambda p: p.name):
        kind = _kind(child)
        if _ignored(child, kind, out_dir):
            continue
        if kind == "file" and not is_archive_name(child.name) and archive_kind(child) is None \
                and not CANVAS_NAME.match(child.name):
            warnings.append(f"skipped {one_line(child)}: not a folder or an archive")
            continue
        if kind not in ("dir", "file", "link"):
            warnings.append(f"skipped {one_line(child)}: {kind}, not a folder or an archive")
            continue
        found.append(child)  # a link is kept: its row says links are not accepted
    return found


def discover(paths, out_dir):
    """([Student], warnings) for the SUBMISSION arguments.

    Raises ``DiscoveryError`` for an argument that does not exist. Entries that would get the same
    student id (compared without case: they would share a folder on macOS and Windows) become one
    ``Student`` whose ``ambiguous`` names them all, and a warning.
    """
    out_dir = Path(out_dir)
    found, warnings, seen_sources = [], [], set()
    for arg in paths:
        path = Path(arg)
        kind = _kind(path)
        if kind == "missing":
            raise DiscoveryError(f"{one_line(path)} does not exist")
        if kind == "dir" and not _is_single(path):
            meta = read_gradescope_metadata(path / METADATA_NAME)
            entries = _export_entries(path, out_dir, warnings)
            if len(entries) == 1 and _kind(entries[0]) == "dir":
                warnings.append(f"{one_line(path)} holds one student folder "
                                f"({one_line(entries[0].name)}) and no mytorch/: graded as a class "
                                "of one")
            if not entries:
                warnings.append(f"{one_line(path)} holds no submissions (no mytorch/, no student "
                                "folders or archives)")
            for child in entries:
                info = meta.get(child.name, {})
                found.append(Student(student_id_from_name(child.name), child,
                                     lms_id=lms_id_from_name(child.name), **info))
        else:
            found.append(Student(student_id_from_name(path.name), path,
                                 lms_id=lms_id_from_name(path.name)))
    unique, by_id = [], {}
    for student in found:
        source = os.path.realpath(student.source)
        if source in seen_sources:
            warnings.append(f"{one_line(student.source)} was given twice; graded once")
            continue
        seen_sources.add(source)
        other = by_id.setdefault(student.id.casefold(), student)
        if other is not student:
            other.ambiguous = (other.ambiguous or (other.source,)) + (student.source,)
            continue
        unique.append(student)
    for student in unique:
        if student.ambiguous:
            warnings.append(f"not graded: {student.clash()}")
    return unique, warnings


def content_hash(folder):
    """sha256 of a bounded copy made by ``archive.extract_submission`` (never of the student's own
    files, which may hold FIFOs, links or sparse files): its relative paths and contents."""
    h = hashlib.sha256()
    folder = Path(folder)
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        rel = os.path.relpath(root, folder)
        for name in sorted(files):
            h.update(os.fsencode(os.path.join(rel, name)) + b"\0")
            with open(os.path.join(root, name), "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
            h.update(b"\0")
    return h.hexdigest()
