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
# Gradescope copies this file to /autograder/run_autograder and runs that copy as root, in
# /autograder, for every submission: the grader is found in $ROOT/source, never beside this file.
# It always leaves a results.json: a grade, or (a problem of the grading machine) no score.
set -u
ROOT="${GRADESCOPE_ROOT:-/autograder}"
SOURCE="$ROOT/source"
PYTHON="${GRADER_PYTHON:-python3}"
export GRADER_USER="${GRADER_USER:-__USER__}"
export GRADER_ALLOW_WEAK_SANDBOX="${GRADER_ALLOW_WEAK_SANDBOX:-__ALLOW_WEAK__}"
export GRADER_NAMESPACES="${GRADER_NAMESPACES:-__NAMESPACES__}"
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
if ! "$PYTHON" -c 'import json, sys; d = json.load(open(sys.argv[1])); assert isinstance(d.get("score"), (int, float)) or d["extra_data"]["grader_problem"]' "$RESULTS" >/dev/null 2>&1; then
    echo "GRADER PROBLEM (no score was given): the grader did not start or wrote no results (exit status $status; python: $PYTHON, source: $SOURCE)"
    cat > "$RESULTS.tmp" <<EOF
{"output": "__NOT_GRADED__", "output_format": "text", "visibility": "visible", "stdout_visibility": "hidden", "extra_data": {"grader_problem": "run_autograder: exit status $status"}}
EOF
    mv -f "$RESULTS.tmp" "$RESULTS"
fi
exit 0
"""  # noqa: E501 - a shell script kept verbatim: the fallback results.json is one JSON line

# What students read when the grading machine (not their code) failed: no score, and no detail
# of the machine (the course staff read that in the autograder's output, stdout).
NOT_GRADED = ("The autograder could not grade this submission because of a problem on the "
              "grading machine, not in your code, so no score was given. The course staff can "
              "see the reason in the autograder's output; please tell them.")
NAMESPACE_POLICIES = ("optional", "required")


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
                         allow_weak_sandbox=False, assignment=None, namespaces="optional"):
    """Write Gradescope's autograder zip to ``out``; return {"files": n, "secret": bool}.

    ``namespaces``: where the container refuses namespaces (Docker's default seccomp profile),
    grade with the other layers (``optional``) or give no score (``required``); see
    ``describe_policy``. ``allow_weak_sandbox``: grade even where any layer the machine offers is
    missing (see ``privilege.check_sandbox``); otherwise such a run gives no score.
    """
    import re

    if not re.fullmatch(r"[a-z_][a-z0-9_-]{0,31}", user or ""):
        raise GradescopeError(f"--user {user!r} is not a valid Unix user name")
    if namespaces not in NAMESPACE_POLICIES:
        raise GradescopeError(f"--namespaces must be one of {', '.join(NAMESPACE_POLICIES)}, "
                              f"got {namespaces!r}")
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
             .replace("__NAMESPACES__", namespaces).replace("__NOT_GRADED__", NOT_GRADED)
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


class MachineProblem(Exception):
    """The grading machine, not the submission, stopped this grading: no score is given."""


def machine_problem(reason, seconds):
    """results.json without a score (Gradescope then records none, never a zero): students read
    ``NOT_GRADED``; the reason goes to the autograder's output, which only the course staff see."""
    print(f"GRADER PROBLEM (no score was given): {reason}")
    return {"execution_time": round(seconds, 3), "output": NOT_GRADED, "output_format": "text",
            "visibility": "visible", "stdout_visibility": "hidden",
            "extra_data": {"grader_problem": reason}}


def _student_user(user, python, submission):
    """The user student code runs as (None when the grader is not root); raises MachineProblem
    unless that user can run ``python`` and read this very ``submission``."""
    from ..channel.privilege import USER_ENV, UserError, probe, resolve_user, running_as_root

    if not running_as_root():
        return None
    if (user or "").lower() in ("", "none", "root", "0"):
        os.environ[USER_ENV] = "none"  # check and the sandbox probe keep root too
        print("note: GRADER_USER=none: student code runs as root (inside its namespaces only)")
        return None
    try:
        account = resolve_user(user)
    except UserError as exc:
        raise MachineProblem(f"{exc}; setup.sh creates it: did it run?") from None
    why = probe(account, python, os.path.abspath(submission))
    if why is not None:
        raise MachineProblem(f"student code would run as root: {why}")
    return account.name


def _scrub(data, paths):
    """Replace the grader's own paths in every text students read (names of temporary folders
    tell them nothing and show the machine)."""
    names = {}
    for path, shown in paths:
        for variant in {str(path), os.path.realpath(path)}:
            names[variant] = shown
    ordered = sorted(names, key=len, reverse=True)

    def clean(text):
        for path in ordered:
            text = text.replace(path + os.sep, names[path] + "/").replace(path, names[path])
        return text

    data["output"] = clean(data.get("output", ""))
    for test in data.get("tests", []):
        for key in ("name", "output"):
            if isinstance(test.get(key), str):
                test[key] = clean(test[key])
    return data


def run(root, source, user=None, python=None, time_limit=None):
    """Grade ``root/submission`` into ``root/results/results.json``; returns an exit status."""
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
                f"{exc.problem}\n\nUpload your handin.zip (made by `python -m autograder "
                "submit`), or the folder that holds mytorch/.", time.monotonic() - start), results)
            return 0
        try:
            data = _grade(extracted.root, source, python, user, time_limit, start)
        except MachineProblem as exc:
            data = machine_problem(str(exc), time.monotonic() - start)
        if "score" in data and extracted.notes:  # about the upload itself: for the student
            data["output"] += "\n" + "\n".join(f"note: {n}" for n in extracted.notes)
        _write_results(_scrub(data, [(extracted.root, "your submission"),
                                     (work, "the grader's folder")]), results)
        return 0
    except Exception as exc:  # whatever happens, Gradescope gets a results.json
        _write_results(machine_problem(f"the autograder failed ({type(exc).__name__}: {exc})",
                                       time.monotonic() - start), results)
        return 3
    finally:
        remove_tree(work)  # holds the unpacked submission


def _grade(submission, source, python, user, time_limit, start):
    """results.json of ``check`` on ``submission``; raises MachineProblem when the machine (the
    sandbox, the user, the grader itself) rather than the submission stopped it."""
    from ..channel.privilege import NAMESPACE_LAYERS, WeakSandbox, check_sandbox
    from ..channel.transport import SANDBOX_FAILED

    drop_to = _student_user(user, python, submission)  # probed on this very submission
    optional = NAMESPACE_LAYERS if os.environ.get("GRADER_NAMESPACES") != "required" else ()
    try:  # one submission per run: the probe is this run's "once at the start"
        report, notes = check_sandbox(drop_to, python,
                                      os.environ.get("GRADER_ALLOW_WEAK_SANDBOX") == "1", optional)
    except WeakSandbox as exc:
        raise MachineProblem(f"cannot isolate student code on this machine: {exc}") from None
    for note in notes:  # the machine, for the instructor's log only
        print(f"note: {note}")
    private = Path(tempfile.mkdtemp(prefix="mytorch-gradescope-results-"))  # mode 0700
    try:
        json_path = private / "results.json"
        cmd = [python, "-m", "autograder", "check", "--submission", str(submission),
               "--json", str(json_path)]
        if os.environ.get("GRADER_ASSIGNMENT"):
            cmd += ["--assignment", os.environ["GRADER_ASSIGNMENT"]]
        secret = source / SECRET_NAME
        if secret.is_file():
            cmd += ["--hidden", "--secret-file", str(secret)]
        cmd += shlex.split(os.environ.get("GRADER_CHECK_ARGS", ""))  # e.g. "--timeout 20"
        if drop_to:
            cmd += ["--user", drop_to]
        # every layer the probe had, "unprivileged" included: a worker without one runs nothing
        cmd += ["--require-sandbox", ",".join(report.get("active", {}))]
        try:
            proc = subprocess.run(cmd, cwd=str(source), stdin=subprocess.DEVNULL,
                                  capture_output=True, timeout=time_limit)
        except subprocess.TimeoutExpired as exc:
            sys.stdout.write((exc.stdout or b"").decode("utf-8", "replace"))
            return error_results(f"Grading took longer than {time_limit:g} s and was stopped (an "
                                 "infinite loop in code that runs outside the tests?).",
                                 time.monotonic() - start)
        err = proc.stderr.decode("utf-8", "replace")
        sys.stdout.write(proc.stdout.decode("utf-8", "replace"))  # the instructor's log
        sys.stderr.write(err)
        last = err.strip().splitlines()[-1:] or [f"exit status {proc.returncode}"]
        if proc.returncode == 2:  # the submission cannot be graded (check's own words)
            return error_results(last[0].removeprefix("error: "), time.monotonic() - start)
        try:
            data = json.loads(json_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise MachineProblem(f"check exited with status {proc.returncode} and wrote no "
                                 f"results ({exc}): {last[0]}") from None
        if proc.returncode == SANDBOX_FAILED or not isinstance(data.get("score"), (int, float)):
            problems = data.get("grader_problems") or [last[0]]
            raise MachineProblem("; ".join(str(p) for p in problems))
        return data
    finally:
        remove_tree(private)  # holds what the student's code wrote


def describe_policy(user, namespaces="optional", allow_weak_sandbox=False):
    """What the bundle does on the machines it may meet: printed when it is built."""
    if allow_weak_sandbox:
        where_refused = ("grades with whatever layers remain (--allow-weak-sandbox), student "
                         f"code as user {user}; the autograder's output names what was missing")
    elif namespaces == "optional":
        where_refused = (f"grades with the layers that remain: student code runs as user {user} "
                         "(never root), under Landlock where the kernel has it, a seccomp filter, "
                         "resource limits and no capabilities. The per-submission container is "
                         "the outer wall; the grader's source, the reference and the secret are "
                         "root-only files the student user cannot read. (--namespaces required "
                         "refuses to grade there instead)")
    else:
        where_refused = ("gives NO score to any submission (--namespaces required): every "
                         "student sees that the grading machine had a problem, and the "
                         "autograder's output says which layer was missing")
    import textwrap

    bar = "=" * 78
    cases = [
        "* Where namespaces work (a plain server, a laptop): student code runs in its own user, "
        f"PID, network and IPC namespaces, as user {user}, with every other layer.",
        "* Where the container refuses namespaces (Gradescope, and Docker's default seccomp "
        f"profile): the bundle {where_refused}.",
        f"* Where user {user} cannot run Python or read the submission, or another required layer "
        "is missing: no score (never a zero) and the reason in the autograder's output."]
    return "\n".join([bar, "SANDBOX POLICY of this bundle"]
                     + [textwrap.fill(c, 78, subsequent_indent="  ") for c in cases] + [bar])


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
