"""Gradescope: ``python -m autograder gradescope --out autograder.zip [--secret-file F]``.

The zip holds what Gradescope's "Zip file upload" autograder expects at its top level:

* ``setup.sh``: installs Python 3, pip and the grader's dependencies (numpy, pytest, hypothesis)
  system-wide, and creates the unprivileged user (default ``student``) that runs student code;
* ``run_autograder``: makes the grader's source private to root (``chmod 0700``: the reference
  solution and the secret stay unreadable for the student user), then runs
  ``python3 -m autograder.instructor.gradescope run``, which copies ``/autograder/submission``
  safely into a fresh folder readable by that user and grades it with ``python3 -m autograder check
  --hidden --user student``.
  ``results.json`` is ALWAYS written: when the grader itself fails, a fallback with score 0 and the
  error is written (by Python, or by the shell script if Python cannot even start);
* the grader (``autograder/``) and the reference ``mytorch/`` it uses for hidden cases;
* ``grader_secret.txt`` (mode 0600) only when ``--secret-file`` is given; without it Gradescope runs
  the public tests only.

Paths come from environment variables so that a test can run the whole thing in a temporary folder:
``GRADESCOPE_ROOT`` (default ``/autograder``; the submission is ``$GRADESCOPE_ROOT/submission`` and
the results go to ``$GRADESCOPE_ROOT/results/results.json``), ``GRADER_PYTHON`` (default
``python3``), ``GRADER_USER`` (default: the user named when the zip was built),
``GRADER_TIME_LIMIT`` (seconds for the whole grading, default 540, under Gradescope's default 10
minutes) and ``GRADER_CHECK_ARGS`` (extra options for ``check``, e.g. ``--timeout 20``),
``GRADER_ASSIGNMENT`` (the assignment graded, baked in from ``--assignment``),
``GRADER_ALLOW_WEAK_SANDBOX`` (``1``: grade even where the worker's sandbox is weaker than the
machine allows; set by ``--allow-weak-sandbox``).
"""
import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from ..channel.cleanup import remove_tree
from ..grading.assignment import find
from ..grading.report import error_results
from ..intake.archive import SubmissionArchiveError, archive_kind, extract_submission
from ..intake.files import atomic_path, write_atomically, zip_entry
from . import PROJECT_ROOT
from .requirements import requirements_txt

SECRET_NAME = "grader_secret.txt"
GRADER_FILE_SUFFIXES = (".py", ".toml", ".npz", ".json", ".ini")
DEFAULT_TIME_LIMIT = 540

SETUP_SH = r"""#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
if ! command -v python3 >/dev/null 2>&1 || ! python3 -m pip --version >/dev/null 2>&1; then
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-pip
fi
# system-wide, so that the unprivileged user can import numpy too
python3 -m pip install --no-cache-dir -r requirements.txt \
    || python3 -m pip install --no-cache-dir --break-system-packages -r requirements.txt
# the user that runs student code: no home, no shell, no password
if ! id -u __USER__ >/dev/null 2>&1; then
    useradd --system --no-create-home --shell /usr/sbin/nologin __USER__ \
        || adduser --system --no-create-home --disabled-login __USER__
fi
python3 -c "import numpy, pytest, hypothesis; print('grader dependencies OK')"
"""

RUN_AUTOGRADER = r"""#!/usr/bin/env bash
# Gradescope runs this as root for every submission. It always leaves a valid results.json.
set -u
ROOT="${GRADESCOPE_ROOT:-/autograder}"
SOURCE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PYTHON="${GRADER_PYTHON:-python3}"
export GRADER_USER="${GRADER_USER:-__USER__}"
export GRADER_ALLOW_WEAK_SANDBOX="${GRADER_ALLOW_WEAK_SANDBOX:-__ALLOW_WEAK__}"
export GRADER_ASSIGNMENT="${GRADER_ASSIGNMENT:-__ASSIGNMENT__}"
RESULTS="$ROOT/results/results.json"
mkdir -p "$ROOT/results"
rm -f "$RESULTS"
# the reference solution and the secret: root only, never readable by student code
chmod 0700 "$SOURCE"
[ -f "$SOURCE/grader_secret.txt" ] && chmod 0600 "$SOURCE/grader_secret.txt"
cd "$SOURCE"
"$PYTHON" -m autograder.instructor.gradescope run --root "$ROOT" --source "$SOURCE"
status=$?
if ! "$PYTHON" -c 'import json, sys; d = json.load(open(sys.argv[1])); assert isinstance(d["score"], (int, float))' "$RESULTS" >/dev/null 2>&1; then
    cat > "$RESULTS.tmp" <<EOF
{"score": 0, "output": "The autograder failed before it could grade this submission (exit status $status). Please tell the course staff.", "output_format": "text", "visibility": "visible", "stdout_visibility": "hidden", "tests": []}
EOF
    mv -f "$RESULTS.tmp" "$RESULTS"
fi
exit 0
"""  # noqa: E501 - a shell script kept verbatim: the fallback results.json is one JSON line


class GradescopeError(RuntimeError):
    pass


def _grader_files(root=PROJECT_ROOT):
    """[(path, name in the zip)] of the grader and the reference solution."""
    out = []
    for base, suffixes in ((root / "autograder", GRADER_FILE_SUFFIXES),
                           (root / "mytorch", (".py",))):
        if not base.is_dir():
            raise GradescopeError(f"{base} is missing: build the Gradescope zip from the "
                                  "instructor repository (it needs the reference mytorch/)")
        for path in sorted(base.rglob("*")):
            rel = path.relative_to(root)
            if not path.is_file() or "__pycache__" in rel.parts or \
                    any(p.startswith(".") for p in rel.parts) or path.suffix not in suffixes:
                continue
            out.append((path, rel.as_posix()))
    return out


def _add(zf, name, data, mode):
    zf.writestr(zip_entry(name, mode), data)


def build_autograder_zip(out, secret_file=None, user="student", root=PROJECT_ROOT,
                         allow_weak_sandbox=False, assignment=None):
    """Write Gradescope's autograder zip to ``out``; return {"files": n, "secret": bool}.

    ``allow_weak_sandbox``: grade even where the sandbox is weaker than the machine allows (see
    ``privilege.check_sandbox``); otherwise such a run gives every student an error, not a score.
    """
    import re

    if not re.fullmatch(r"[a-z_][a-z0-9_-]{0,31}", user or ""):
        raise GradescopeError(f"--user {user!r} is not a valid Unix user name")
    secret = None
    if secret_file is not None:
        from .hidden import SecretError, read_secret
        try:
            secret = read_secret(secret_file)
        except SecretError as exc:
            raise GradescopeError(str(exc)) from None
    assignment = assignment or find()
    out = Path(out)
    files = _grader_files(Path(root))
    with atomic_path(out) as tmp, zipfile.ZipFile(tmp, "w") as zf:
        _add(zf, "setup.sh", SETUP_SH.replace("__USER__", user), 0o755)
        _add(zf, "run_autograder", RUN_AUTOGRADER.replace("__USER__", user)
             .replace("__ALLOW_WEAK__", "1" if allow_weak_sandbox else "0")
             .replace("__ASSIGNMENT__", assignment.name), 0o755)
        _add(zf, "requirements.txt", requirements_txt(root, assignment), 0o644)
        for path, name in files:
            _add(zf, name, path.read_bytes(), 0o644)
        if secret is not None:
            _add(zf, SECRET_NAME, secret + "\n", 0o600)
    return {"files": len(files) + 3 + (secret is not None), "secret": secret is not None}


# -- what students see -------------------------------------------------------------------------
# Gradescope's visibility of a test: "visible" at once, "after_due_date" after the due date,
# "after_published" once the instructor publishes the grades, "hidden" never; a test without one
# takes the top-level "visibility". The top-level "output" is shown at once; the total "score" only
# when every test is visible (otherwise on publication);
# stdout only with stdout_visibility "visible".
def student_view(results, published=False):
    """What a student sees of a results.json (before the due date, or once grades are published)."""
    default = results.get("visibility", "visible")
    shown = {"visible"} | ({"after_due_date", "after_published"} if published else set())
    if default not in shown:
        return {}
    tests = [t for t in results.get("tests", []) if t.get("visibility", default) in shown]
    view = {"output": results.get("output", ""), "tests": tests}
    if len(tests) == len(results.get("tests", [])):
        view["score"] = results.get("score")
    if results.get("stdout_visibility") == "visible":
        view["stdout"] = "(the autograder's whole stdout)"
    return view


# -- inside Gradescope ------------------------------------------------------------------------
def _write_results(data, path):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, json.dumps(data, indent=2) + "\n", mode=0o644)


def _extract(submission, dest):
    """Unpack the submission folder;
    a folder holding only an archive (handin.zip) is unpacked too."""
    try:
        return extract_submission(submission, dest)
    except SubmissionArchiveError as first:
        archives = ([p for p in Path(submission).iterdir()
                     if p.is_file() and archive_kind(p) is not None]
                    if Path(submission).is_dir() else [])
        if len(archives) != 1:
            raise first
        shutil.rmtree(dest, ignore_errors=True)
        return extract_submission(archives[0], dest)


def run(root, source, user=None, python=None, time_limit=None):
    """Grade ``root/submission`` into ``root/results/results.json``; returns an exit status."""
    from ..channel.privilege import (
        UserError,
        WeakSandbox,
        check_sandbox,
        resolve_user,
        running_as_root,
    )

    start = time.monotonic()
    root, source = Path(root), Path(source)
    results = root / "results" / "results.json"
    python = python or sys.executable
    time_limit = float(time_limit or os.environ.get("GRADER_TIME_LIMIT") or DEFAULT_TIME_LIMIT)
    work = Path(tempfile.mkdtemp(prefix="mytorch-gradescope-"))
    try:
        os.chmod(work, 0o755)  # the student user reads the copy of the submission
        try:
            extracted = _extract(root / "submission", work / "submission")
        except SubmissionArchiveError as exc:
            _write_results(error_results(
                f"Your submission could not be graded: {exc.problem}\n\nUpload your handin.zip "
                "(made by `python -m autograder submit`), or the folder that holds mytorch/.",
                time.monotonic() - start), results)
            return 0
        private = work / "private"
        private.mkdir(mode=0o700)
        json_path = private / "results.json"
        cmd = [python, "-m", "autograder", "check", "--submission", str(extracted.root),
               "--json", str(json_path)]
        if os.environ.get("GRADER_ASSIGNMENT"):
            cmd += ["--assignment", os.environ["GRADER_ASSIGNMENT"]]
        secret = source / SECRET_NAME
        if secret.is_file():
            cmd += ["--hidden", "--secret-file", str(secret)]
        cmd += shlex.split(os.environ.get("GRADER_CHECK_ARGS", ""))  # e.g. "--timeout 20"
        notes = list(extracted.notes)
        drop_to = None
        if user and running_as_root():
            try:
                resolve_user(user)
                cmd += ["--user", user]
                drop_to = user
            except UserError as exc:
                notes.append(f"privilege drop unavailable: {exc} (did setup.sh run?)")
        try:  # one submission per run: the probe is this run's "once at the start"
            report, weak_notes = check_sandbox(drop_to, python,
                                               os.environ.get("GRADER_ALLOW_WEAK_SANDBOX") == "1")
        except WeakSandbox as exc:
            _write_results(error_results(
                f"The autograder cannot isolate student code on this machine, so it did not run "
                f"yours ({exc}). Please tell the course staff.", time.monotonic() - start), results)
            return 0
        cmd += ["--require-sandbox", ",".join(report.get("active", {}))]
        notes += weak_notes
        try:
            proc = subprocess.run(cmd, cwd=str(source), stdin=subprocess.DEVNULL,
                                  capture_output=True, timeout=time_limit)
        except subprocess.TimeoutExpired as exc:
            _write_results(error_results(
                f"Grading took longer than {time_limit:g} s and was stopped (an infinite loop in "
                "code that runs outside the tests?).", time.monotonic() - start), results)
            sys.stdout.write((exc.stdout or b"").decode("utf-8", "replace"))
            return 0
        out = proc.stdout.decode("utf-8", "replace")
        err = proc.stderr.decode("utf-8", "replace")
        sys.stdout.write(out)  # the autograder's stdout (hidden from students by stdout_visibility)
        sys.stderr.write(err)
        try:
            data = json.loads(json_path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or not isinstance(data.get("score"), (int, float)):
                raise ValueError("results.json has no numeric score")
        except (OSError, ValueError) as exc:
            last = err.strip().splitlines()[-1:] or [f"exit status {proc.returncode}"]
            if proc.returncode == 2:
                message = f"Your submission could not be graded: {last[0]}"
            elif secret.is_file():  # its stderr may quote a hidden case: the log only
                message = (f"The autograder failed (exit status {proc.returncode}; the reason is "
                           "in the autograder's log). Please tell the course staff.")
            else:
                message = (f"The autograder failed (exit status {proc.returncode}: {last[0]}; "
                           f"{exc}). Please tell the course staff.")
            data = error_results(message, time.monotonic() - start)
        if notes:
            data["output"] = data.get("output", "") + "\n" + "\n".join(f"note: {n}" for n in notes)
        _write_results(data, results)
        return 0
    except Exception as exc:  # whatever happens, Gradescope gets a results.json
        _write_results(error_results(f"The autograder failed ({type(exc).__name__}: {exc}). "
                                        "Please tell the course staff.",
                                        time.monotonic() - start), results)
        return 3
    finally:
        remove_tree(work)  # holds the submission the student's code wrote into


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m autograder.instructor.gradescope",
                                     description="Gradescope's side (called by run_autograder)")
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="grade $GRADESCOPE_ROOT/submission into results/results.json")
    r.add_argument("--root", default=os.environ.get("GRADESCOPE_ROOT", "/autograder"))
    r.add_argument("--source", default=str(PROJECT_ROOT))
    r.add_argument("--user", default=os.environ.get("GRADER_USER", "student"))
    r.add_argument("--python", default=sys.executable)
    args = parser.parse_args(argv)
    return run(args.root, args.source, user=args.user, python=args.python)


if __name__ == "__main__":
    sys.exit(main())
