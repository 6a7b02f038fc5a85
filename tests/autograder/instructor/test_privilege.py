"""Privilege drop (autograder/channel/privilege.py): student code runs as an unprivileged user when
the
grader runs as root, and degrades to a clear note — never a crash — when that is impossible."""
import os
import shutil
import sys
import textwrap
from pathlib import Path

import pytest

from autograder.channel import privilege
from autograder.channel.privilege import UserError, choose_user, probe, resolve_user
from tests.autograder.instructor.helpers import run_grader

pytestmark = pytest.mark.slow  # the grader end to end: see pyproject's markers

POSIX = os.name == "posix"
ROOT = POSIX and os.geteuid() == 0

PROBE_MODULE = textwrap.dedent('''
    import os


    def uid():
        return os.getuid()


    def can_read(path):
        try:
            with open(path, "rb") as fh:
                fh.read(1)
            return True
        except OSError:
            return False
''')


def world_readable_submission():
    """A submission under a world-readable temp folder (pytest's tmp_path is 0700)."""
    import tempfile
    folder = Path(tempfile.mkdtemp(prefix="mytorch-privtest-"))
    os.chmod(folder, 0o755)
    (folder / "mytorch").mkdir(mode=0o755)
    (folder / "mytorch" / "__init__.py").write_text(PROBE_MODULE)
    os.chmod(folder / "mytorch" / "__init__.py", 0o644)
    return folder


def candidate_pythons():
    """Interpreters with NumPy, this one first (it may live under a private home, e.g. pyenv)."""
    seen, out = set(), []
    for exe in [sys.executable, shutil.which("python3"), "/usr/bin/python3",
                "/usr/local/bin/python3"]:
        if exe and os.path.exists(exe) and os.path.realpath(exe) not in seen:
            seen.add(os.path.realpath(exe))
            out.append(exe)
    return out


@pytest.mark.skipif(not ROOT, reason="dropping privileges needs the tests to run as root")
def test_worker_runs_as_the_unprivileged_user():
    from autograder.channel.proxy import Submission
    from autograder.channel.transport import Limits

    user = resolve_user("nobody")
    sub_dir = world_readable_submission()
    try:
        reasons, python = [], None
        for exe in candidate_pythons():
            reason = probe(user, exe, str(sub_dir))
            if reason is None:
                python = exe
                break
            reasons.append(reason)
        if python is None:
            pytest.skip("no interpreter with NumPy that user nobody can run: " + "; ".join(reasons))
        sub = Submission(sub_dir, Limits(), python=python, user=user)
        try:
            assert sub.function("mytorch.uid")() == user.uid != os.getuid()
            assert sub.function("mytorch.can_read")("/root/.bashrc") is False or \
                not os.path.exists("/root/.bashrc")
        finally:
            sub.close()
    finally:
        shutil.rmtree(sub_dir, ignore_errors=True)


@pytest.mark.skipif(not ROOT, reason="needs root")
def test_root_without_user_defaults_to_nobody_or_explains_why_not(reference_submission):
    privilege.probe.cache_clear()
    user, notes = choose_user(None, reference_submission)
    if user is not None:
        assert user.name == "nobody" and any("nobody" in n for n in notes)
    else:
        assert any(n.startswith("privilege drop unavailable:") for n in notes), notes


@pytest.mark.skipif(not ROOT, reason="needs root")
def test_check_falls_back_with_a_note_instead_of_crashing(reference_submission):
    proc = run_grader("check", "--submission", reference_submission, "-k", "test_forward",
                      "--user", "nobody")
    assert proc.returncode in (0, 3), proc.stdout + proc.stderr
    assert "Total" in proc.stdout
    user, _ = choose_user("nobody", reference_submission)
    if user is None:  # e.g. a pyenv interpreter under /root (mode 0700): no drop, a note
        assert "privilege drop unavailable" in proc.stdout


def test_env_none_keeps_root(monkeypatch, reference_submission):
    monkeypatch.setenv(privilege.USER_ENV, "none")
    assert choose_user(None, reference_submission) == (None, [])


def test_unknown_user_is_a_clear_error(reference_submission):
    if not POSIX:
        with pytest.raises(UserError, match="POSIX"):
            resolve_user("nobody")
        return
    with pytest.raises(UserError, match="no user named"):
        resolve_user("no-such-user-xyz")
    proc = run_grader("check", "--submission", reference_submission, "--user", "no-such-user-xyz")
    assert proc.returncode == 2 and "no user named 'no-such-user-xyz'" in proc.stderr


@pytest.mark.skipif(not POSIX or ROOT, reason="the non-root path")
def test_not_root_cannot_switch_users(reference_submission):
    user, notes = choose_user("nobody", reference_submission)
    assert user is None and "only root" in notes[0]


# --------------------------------------------------------------------------- the batch's sandbox

def test_sandbox_problems_name_root_and_refused_namespaces():
    strong = {"active": {"user-ns": "uid 65534, host uid 0", "pid-ns": ""}, "missing": {},
              "weak": [], "host_uid": 0}
    assert privilege.sandbox_problems(strong) == []
    refused = {"active": {"pid-ns": ""}, "missing": {"user-ns": "user namespace refused: EPERM"},
               "weak": ["user-ns"], "host_uid": 0}
    problems = privilege.sandbox_problems(refused)
    assert any("user-ns is missing" in p and "EPERM" in p for p in problems)
    assert any("as root" in p for p in problems)
    unprivileged = dict(refused, host_uid=1000, weak=[])  # a kernel without user namespaces
    assert privilege.sandbox_problems(unprivileged) == []


def _grade_args(*extra):
    from autograder.__main__ import build_parser
    return build_parser().parse_args(["grade", *map(str, extra)])


def test_a_weak_sandbox_stops_a_batch_unless_allowed(monkeypatch, tmp_path, reference_submission):
    from autograder.instructor.batch import BatchError, run_batch
    weak = {"active": {"rlimits": ""}, "missing": {"pid-ns": "namespaces refused: EPERM"},
            "weak": ["pid-ns"], "host_uid": 0}
    monkeypatch.setattr(privilege, "probe_sandbox", lambda *a, **k: weak)
    args = _grade_args(reference_submission, "--out", tmp_path / "out", "-k", "test_forward",
                       "--jobs", "1")
    with pytest.raises(BatchError, match="--allow-weak-sandbox") as exc:
        run_batch(args)
    assert "pid-ns is missing" in str(exc.value) and "as root" in str(exc.value)
    assert not (tmp_path / "out").exists()  # checked before anything was graded

    import io
    log = io.StringIO()
    allowed = _grade_args(reference_submission, "--out", tmp_path / "out", "-k", "test_forward",
                          "--jobs", "1", "--allow-weak-sandbox")
    assert run_batch(allowed, stream=log) == 0
    assert "weak sandbox allowed: pid-ns is missing" in log.getvalue()
    assert "sandbox layers: rlimits; missing: pid-ns" in log.getvalue()


@pytest.mark.skipif(not POSIX, reason="the sandbox layers are Linux's")
def test_a_row_whose_sandbox_failed_is_not_cached(monkeypatch, tmp_path, reference_submission):
    """The probe promised a layer the students' workers then lack (for real: a layer no worker
    has): no student code runs, the row says why, and the next run grades the student again."""
    import csv

    from autograder.instructor.batch import run_batch
    real = privilege.probe_sandbox

    def promising(*args, **kwargs):
        report = real(*args, **kwargs)
        report["active"]["imaginary-layer"] = ""
        return report

    monkeypatch.setattr(privilege, "probe_sandbox", promising)
    out = tmp_path / "out"
    args = _grade_args(reference_submission, "--out", out, "-k", "test_forward", "--jobs", "1")
    for _ in range(2):  # the second run must not skip the student as unchanged
        import io
        log = io.StringIO()
        assert run_batch(args, stream=log) == 0
        assert "0 unchanged since the last run" in log.getvalue()
        with open(out / "grades.csv", newline="", encoding="utf-8") as fh:
            (row,) = list(csv.DictReader(fh))
        assert row["status"] == "sandbox failed" and float(row["total"]) == 0
        student = out / "students" / row["student"]
        assert not (student / ".meta.json").exists()
        assert "imaginary-layer" in (student / "feedback.txt").read_text(encoding="utf-8")


@pytest.mark.skipif(not ROOT, reason="needs root: the worker must start as root to be refused")
def test_a_worker_required_to_be_unprivileged_runs_nothing_as_root(monkeypatch, tmp_path):
    """The Gradescope bundle requires the probe's ``unprivileged`` layer of every worker: when the
    drop fails for one submission, its code never runs as root."""
    from autograder.channel.proxy import Submission
    from autograder.channel.transport import Limits

    (tmp_path / "mytorch").mkdir()
    (tmp_path / "mytorch" / "__init__.py").write_text(PROBE_MODULE)
    limits = Limits(require_layers=("unprivileged",))
    sub = Submission(tmp_path, limits)  # no user: the worker starts as root
    try:
        with pytest.raises(Exception, match="could not isolate your code"):
            sub.function("mytorch.uid")()
    finally:
        sub.close()
    assert limits.sandbox_failures == ["unprivileged: runs as root"]


@pytest.mark.skipif(not POSIX, reason="file modes are POSIX's")
def test_a_handin_zip_in_the_upload_folder_is_unpacked_readable_by_others(tmp_path):
    """Gradescope stores an uploaded handin.zip in /autograder/submission/: the folder it is
    unpacked into must be readable by the unprivileged user, like every other one."""
    import stat
    import zipfile

    from autograder.intake.archive import extract_submission

    upload = tmp_path / "upload"
    upload.mkdir()
    with zipfile.ZipFile(upload / "handin.zip", "w") as zf:
        zf.writestr("mytorch/__init__.py", "")
        zf.writestr("mytorch/nn/linear.py", "x = 1\n")
    extracted = extract_submission(upload, tmp_path / "unpacked")
    folders = [extracted.root, *[p for p in extracted.root.rglob("*") if p.is_dir()]]
    parent = extracted.root
    while parent != tmp_path:  # every folder from the unpacked one down
        folders.append(parent)
        parent = parent.parent
    for folder in folders:
        mode = stat.S_IMODE(folder.stat().st_mode)
        assert mode & 0o005 == 0o005, f"{folder} has mode {mode:o}"
