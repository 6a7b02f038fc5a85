"""Writing files so that a reader never sees half of one, and zips that are byte-identical.

Every file the grader and the instructor tools produce goes through here: the data is written to a
temporary file beside the target and renamed over it, so an interrupted run leaves the old file or
the new one, never a torn one. Every ``--out`` folder is prepared by ``prepare_output_dir``, which
never deletes what the command did not make.
"""
import contextlib
import json
import os
import shutil
import threading
import zipfile
from pathlib import Path

# Zip entries carry this timestamp, so that two builds of the same files are byte-identical.
ZIP_DATE = (2020, 1, 1, 0, 0, 0)


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside ``path``; on success it replaces ``path``,
    else it is removed."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}.{threading.get_ident()}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def write_atomically(path, data, mode=None):
    """Write ``data`` (str as UTF-8, or bytes) to ``path`` atomically; ``mode``: its permissions."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data.encode("utf-8") if isinstance(data, str) else data)
        if mode is not None:
            os.chmod(tmp, mode)


def write_json_atomically(data, path):
    write_atomically(path, json.dumps(data, indent=2) + "\n")


def zip_entry(name, mode=0o644):
    """A deflated zip entry with a fixed date and the given Unix permissions."""
    info = zipfile.ZipInfo(name, ZIP_DATE)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = (0o100000 | mode) << 16
    return info


class OutputDirError(ValueError):
    """An output folder that a command must not write into
    (it could destroy what it did not make)."""


def _is_same_or_parent(folder, path):
    return path == folder or path.is_relative_to(folder)


def _protected_folders():
    """(folder, why) pairs an output folder must be neither of nor a parent of."""
    found = [(Path.cwd().resolve(), "the current folder"),
             (Path(__file__).resolve().parent.parent, "the mytorch kit's repository")]
    with contextlib.suppress(RuntimeError, KeyError, OSError):
        found.append((Path.home().resolve(), "your home folder"))
    return found


def prepare_output_dir(path, marker_name, replace=False):
    """Make ``path`` ready for a command's output, never destroying anything the command
    did not make.

    Refused (``OutputDirError``): the current folder, the repository, the home folder or a parent of
    any of them; a folder inside a git repository's root (holding ``.git``); a file; and any
    non-empty folder without ``marker_name``, the file this function writes into every folder it
    prepares. A folder with the marker is a previous output of the same command: kept as it is (a
    batch resumes there), or emptied first with ``replace`` (a build). Returns the resolved path.
    """
    path = Path(path).expanduser()
    target = path.resolve()
    for folder, why in _protected_folders():
        if _is_same_or_parent(target, folder):
            what = "is" if target == folder else "holds"
            raise OutputDirError(f"refusing to write into {path}: it {what} {why} ({folder}); "
                                 "choose a new folder for the output")
    if (target / ".git").exists():
        raise OutputDirError(f"refusing to write into {path}: it is a git repository")
    if target.exists() and not target.is_dir():
        raise OutputDirError(f"refusing to write into {path}: it exists and is not a folder")
    marker = target / marker_name
    entries = sorted(target.iterdir()) if target.is_dir() else []
    if entries and not (marker.is_file() and not marker.is_symlink()):
        shown = ", ".join(p.name for p in entries[:5]) + (", …" if len(entries) > 5 else "")
        raise OutputDirError(
            f"refusing to write into {path}: it is not empty ({shown}) and was not made by this "
            f"command (no {marker_name} in it); choose a new or empty folder "
            "(--force cannot override this: it only replaces this command's own output)")
    if entries and replace:
        for entry in entries:  # the marker says the whole folder is ours: replace it
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
    target.mkdir(parents=True, exist_ok=True)
    if not marker.is_file():
        write_atomically(marker, f"Made by `python -m autograder`. A later run may replace "
                                 f"everything in {target.name}/ while this file is here.\n")
    return target
