"""Finding the students in what an instructor has: folders, archives and LMS exports.

Each SUBMISSION argument is one student's folder or archive, or a folder of many (a Canvas or
Gradescope export: one entry per student, with Gradescope's ``submission_metadata.yml`` giving names
and emails). ``discover`` returns one ``Student`` per entry with a unique id; ``content_hash``
fingerprints a submission so that an unchanged one is not graded twice.
"""
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from .archive import (
    SKIP_NAMES,
    archive_kind,
    clean_component,
    is_archive_name,
    strip_archive_suffix,
)

METADATA_NAME = "submission_metadata.yml"
IGNORED_SUFFIXES = (".yml", ".yaml", ".csv", ".txt", ".md", ".json", ".html", ".pdf")
CANVAS_NAME = re.compile(r"^(.+?)_(?:late_)?\d+_\d+(?:_|$)", re.IGNORECASE)




class DiscoveryError(RuntimeError):
    """A SUBMISSION argument cannot be used at all (it does not exist)."""


@dataclass
class Student:
    id: str
    source: Path
    name: str = ""
    email: str = ""
    sid: str = ""



def student_id_from_name(name):
    """The student id an export's file or folder name stands for.

    Canvas: ``lastfirst_12345_67890_hw1.zip`` (or ``lastfirst_LATE_12345_67890_...``) -> ``lastfirst``;
    anything else (``submission_123456``, ``alice.zip``) -> its name without the archive suffix.
    """
    stem = strip_archive_suffix(clean_component(name))
    match = CANVAS_NAME.match(stem)
    if match and match.group(1):
        stem = match.group(1)
    safe = re.sub(r"[^A-Za-z0-9._@+-]+", "_", stem).strip("._")[:100]
    return safe or "student"


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
    return {folder: {k: "; ".join(p.get(k, "") for p in people if p.get(k))
                     for k in ("name", "email", "sid")}
            for folder, people in out.items()}


def _unquote(text):
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        text = text[1:-1]
    return text


def _ignored(path, out_dir):
    name = path.name
    if name in SKIP_NAMES or name.startswith(".") or name == METADATA_NAME:
        return True
    try:
        if path.resolve() == out_dir.resolve() or out_dir.resolve().is_relative_to(path.resolve()):
            return True
    except OSError:
        pass
    return path.is_file() and name.lower().endswith(IGNORED_SUFFIXES)


def _is_single(folder):
    """A folder holding mytorch/ (maybe one folder down) is one student; others are exports."""
    if (folder / "mytorch").is_dir():
        return True
    children = [c for c in folder.iterdir() if c.name not in SKIP_NAMES and not c.name.startswith(".")]
    return (len(children) == 1 and children[0].is_dir() and (children[0] / "mytorch").is_dir()
            and not (folder / METADATA_NAME).exists())


def discover(paths, out_dir):
    """[Student] for the SUBMISSION arguments, with unique ids, and a list of warnings."""
    out_dir = Path(out_dir)
    found, warnings = [], []
    for arg in paths:
        path = Path(arg)
        if not path.exists() and not path.is_symlink():
            raise DiscoveryError(f"{path} does not exist")
        if path.is_dir() and not _is_single(path):
            meta = read_gradescope_metadata(path / METADATA_NAME)
            entries = sorted(path.iterdir(), key=lambda p: p.name)
            count = 0
            for child in entries:
                if _ignored(child, out_dir):
                    continue
                if child.is_file() and not is_archive_name(child.name) and \
                        archive_kind(child) is None and not CANVAS_NAME.match(child.name):
                    warnings.append(f"skipped {child}: not a folder or an archive")
                    continue
                info = meta.get(child.name, {})
                found.append(Student(student_id_from_name(child.name), child, **info))
                count += 1
            if count == 0:
                warnings.append(f"{path} holds no submissions (no mytorch/, no student folders or "
                                "archives)")
        else:
            found.append(Student(student_id_from_name(path.name), path))
    seen = {}
    for student in found:
        base = student.id
        n = seen.get(base, 0) + 1
        seen[base] = n
        if n > 1:
            student.id = f"{base}-{n}"
            while student.id in seen:
                n += 1
                student.id = f"{base}-{n}"
            seen[student.id] = 1
            warnings.append(f"two submissions map to the student id {base}: {student.source} "
                            f"is graded as {student.id}")
    return found, warnings



def content_hash(source):
    """sha256 of a submission: an archive's bytes, or a folder's relative paths and contents."""
    h = hashlib.sha256()
    source = Path(source)
    if source.is_file():
        h.update(b"file\0")
        with open(source, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        return h.hexdigest()
    h.update(b"folder\0")
    for root, dirs, files in os.walk(source, followlinks=False):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_NAMES)
        rel = os.path.relpath(root, source)
        for name in sorted(files):
            if name in SKIP_NAMES:
                continue
            path = os.path.join(root, name)
            h.update(os.fsencode(os.path.join(rel, name)) + b"\0")
            try:
                if os.path.islink(path):
                    h.update(b"link\0" + os.fsencode(os.readlink(path)))
                else:
                    with open(path, "rb") as fh:
                        for chunk in iter(lambda: fh.read(1 << 20), b""):
                            h.update(chunk)
            except OSError as exc:
                h.update(f"unreadable {exc.errno}".encode())
            h.update(b"\0")
    return h.hexdigest()
