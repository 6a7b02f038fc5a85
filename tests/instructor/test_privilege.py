"""Privilege drop (autograder/privilege.py): student code runs as an unprivileged user when the
grader runs as root, and degrades to a clear note — never a crash — when that is impossible."""
import os
import shutil
import sys
import textwrap
from pathlib import Path

import pytest
from instructor_helpers import run_grader

from autograder import privilege
from autograder.privilege import UserError, choose_user, probe, resolve_user

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
    for exe in [sys.executable, shutil.which("python3"), "/usr/bin/python3", "/usr/local/bin/python3"]:
        if exe and os.path.exists(exe) and os.path.realpath(exe) not in seen:
            seen.add(os.path.realpath(exe))
            out.append(exe)
    return out


@pytest.mark.skipif(not ROOT, reason="dropping privileges needs the tests to run as root")
def test_worker_runs_as_the_unprivileged_user():
    from autograder.proxy import Submission
    from autograder.transport import Limits

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
