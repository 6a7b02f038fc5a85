"""``python -m autograder submit``: pack the files a student may change into ``handin.zip``.

Only ``mytorch/**/*.py`` goes in (no caches, no autograder), with ``MANIFEST.json`` listing every
file with its size and sha256 and the self-check's score. Pure Python ``zipfile``: works on Windows.
"""
import hashlib
import json
import platform
import zipfile
from pathlib import Path

from .intake.files import atomic_path, zip_entry


class SubmitError(RuntimeError):
    pass


def student_files(folder):
    folder = Path(folder)
    if not (folder / "mytorch").is_dir():
        raise SubmitError(f"no mytorch/ folder in {folder.resolve()}: run `python -m autograder "
                          "submit` from your handout folder (the one that holds mytorch/)")
    files = sorted(p for p in (folder / "mytorch").rglob("*.py")
                   if "__pycache__" not in p.parts and p.is_file())
    if not files:
        raise SubmitError(f"{folder / 'mytorch'} holds no .py files")
    return files


def self_check_verdict(result, out):
    """Why ``submit`` should not write ``out`` after the self-check ``result`` (a report.Grade)
    unless told ``--anyway``; None when nothing stands in the way."""
    if result.unimportable:
        return (f"the self-check could not import your code ({', '.join(result.unimportable)}; "
                f"see the top of `python -m autograder`), so the course's grader could not "
                f"either: {out} was not written. Fix that first, or pass --anyway to pack it as "
                f"it is.")
    if result.max_score > 0 and result.score == 0:
        return (f"the self-check scored 0 / {result.max_score:g}: {out} was not written. Run "
                "`python -m autograder` to see why, or pass --anyway to pack it as it is.")
    return None


def make_handin(folder=".", out="handin.zip", score=None):
    """Write ``out`` from ``folder``; return the manifest (a dict)."""
    folder, out = Path(folder), Path(out)
    files = student_files(folder)
    manifest = {"files": [], "self_check": score, "python": platform.python_version()}
    with atomic_path(out) as tmp, zipfile.ZipFile(tmp, "w") as zf:
        for path in files:
            data = path.read_bytes()
            name = path.relative_to(folder).as_posix()
            manifest["files"].append({"path": name, "size": len(data),
                                      "sha256": hashlib.sha256(data).hexdigest()})
            zf.writestr(zip_entry(name), data)
        zf.writestr(zip_entry("MANIFEST.json"), json.dumps(manifest, indent=2) + "\n")
    return manifest
