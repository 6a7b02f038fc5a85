"""Helpers of the instructor-side tests (imported as ``instructor_helpers``): students'
submissions made from the reference solution, archives of them, running the grader's CLI, and
headless Chromium for the HTML reports."""
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
LINEAR_BUG = ("dLdZ.T @ self.A", "self.A.T @ dLdZ")


def copy_reference(dest, bug=None, crash=False):
    """``dest/mytorch``: a copy of the reference, optionally with a bug or a crash at import."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copytree(REPO / "mytorch", dest / "mytorch",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".*"))
    if bug:
        path = dest / "mytorch" / "nn" / "linear.py"
        text = path.read_text(encoding="utf-8")
        assert bug[0] in text, f"the reference no longer contains {bug[0]!r}"
        path.write_text(text.replace(bug[0], bug[1]), encoding="utf-8")
    if crash:
        path = dest / "mytorch" / "__init__.py"
        path.write_text("import sys\nsys.exit(3)\n" + path.read_text(encoding="utf-8"),
                        encoding="utf-8")
    return dest


def zip_folder(folder, out, prefix=""):
    """Zip every file under ``folder`` as ``prefix/<relative path>``."""
    folder = Path(folder)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, (Path(prefix) / path.relative_to(folder)).as_posix())
    return Path(out)


def tar_folder(folder, out, prefix=""):
    folder = Path(folder)
    with tarfile.open(out, "w:gz") as tf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                tf.add(path, (Path(prefix) / path.relative_to(folder)).as_posix())
    return Path(out)


def run_grader(*args, cwd=REPO, env=None, timeout=900):
    return subprocess.run([sys.executable, "-m", "autograder", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, env=env, timeout=timeout)


def chromium():
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    if os.environ.get("CI"):
        pytest.fail("Chromium is missing: .ci/run installs Debian's chromium for these tests")
    pytest.skip("Chromium is not installed (Debian: apt-get install chromium); .ci/run installs it")


def run_chromium(tmp_path, *args):
    profile = tmp_path / "profile"
    cmd = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", "--disable-extensions", f"--user-data-dir={profile}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True)


def chromium_dom(tmp_path, url):
    return run_chromium(tmp_path, "--virtual-time-budget=3000", "--dump-dom", url).stdout
