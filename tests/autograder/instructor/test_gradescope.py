"""Gradescope's autograder zip (autograder/instructor/gradescope.py), built and run end to end in a
simulated ``/autograder`` (``GRADESCOPE_ROOT`` in a temp folder)."""
import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile

import pytest

from autograder.instructor.gradescope import (
    NOT_GRADED,
    SECRET_NAME,
    build_autograder_zip,
    student_view,
)
from tests.autograder.instructor.helpers import REPO, copy_reference, run_grader

pytestmark = pytest.mark.slow  # the grader end to end: see pyproject's markers

POSIX = os.name == "posix"
needs_bash = pytest.mark.skipif(not POSIX or shutil.which("bash") is None,
                                reason="run_autograder is a bash script (Gradescope runs Linux)")


def zip_modes(path):
    with zipfile.ZipFile(path) as zf:
        return {i.filename: (i.external_attr >> 16) & 0o777 for i in zf.infolist()}


def test_zip_contents(tmp_path):
    proc = run_grader("gradescope", "--out", tmp_path / "autograder.zip")
    assert proc.returncode == 0, proc.stderr
    modes = zip_modes(tmp_path / "autograder.zip")
    assert modes["setup.sh"] == 0o755 and modes["run_autograder"] == 0o755
    assert "requirements.txt" in modes and "autograder/__main__.py" in modes
    assert "autograder/assignments/hw1/rubric.toml" in modes and "mytorch/nn/linear.py" in modes
    assert any(n.startswith("autograder/assignments/hw1/public_cases/") for n in modes)
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in modes)
    assert SECRET_NAME not in modes  # no secret unless asked for
    with zipfile.ZipFile(tmp_path / "autograder.zip") as zf:
        setup = zf.read("setup.sh").decode()
        run = zf.read("run_autograder").decode()
    assert "numpy" in zf_text(tmp_path / "autograder.zip", "requirements.txt")
    assert "useradd" in setup and "student" in setup and "pip install" in setup
    assert "chmod 0700" in run and "results.json" in run


def zf_text(path, name):
    with zipfile.ZipFile(path) as zf:
        return zf.read(name).decode()


def test_secret_goes_in_only_when_given_and_root_only(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("a-long-enough-secret\n")
    info = build_autograder_zip(tmp_path / "ag.zip", secret_file=secret)
    assert info["secret"]
    modes = zip_modes(tmp_path / "ag.zip")
    assert modes[SECRET_NAME] == 0o600
    assert zf_text(tmp_path / "ag.zip", SECRET_NAME).strip() == "a-long-enough-secret"
    proc = run_grader("gradescope", "--out", tmp_path / "x.zip", "--secret-file", tmp_path / "nope")
    assert proc.returncode == 2 and "cannot read the secret file" in proc.stderr


def layout(tmp_path, zip_path):
    """A fake /autograder: source/ (the unzipped zip), submission/, results/."""
    root = tmp_path / "autograder"
    (root / "source").mkdir(parents=True)
    (root / "submission").mkdir()
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(root / "source")
    return root


def run_autograder(root, extra_env=None, timeout=900):
    """Run the bundle as Gradescope's harness does: its own copy ``root/run_autograder`` (made at
    the image build), in ``root``; nothing on PYTHONPATH, so the script must find the grader in
    ``root/source`` itself. As root, student code keeps root inside its namespaces here
    (``GRADER_USER=none``): the unprivileged user is test_gradescope_harness.py's subject."""
    shutil.copy(root / "source" / "run_autograder", root / "run_autograder")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(GRADESCOPE_ROOT=str(root), GRADER_PYTHON=sys.executable, GRADER_USER="none")
    env.update(extra_env or {})
    proc = subprocess.run(["bash", str(root / "run_autograder")], env=env,
                          capture_output=True, text=True, timeout=timeout, cwd=str(root))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = json.loads((root / "results" / "results.json").read_text(encoding="utf-8"))
    assert isinstance(results.get("score"), (int, float)) or \
        results["extra_data"]["grader_problem"], results
    return results, proc


@needs_bash
def test_reference_scores_full_marks_with_hidden_tests(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("gradescope-test-secret\n")
    build_autograder_zip(tmp_path / "ag.zip", secret_file=secret)
    root = layout(tmp_path, tmp_path / "ag.zip")
    copy_reference(root / "submission")
    (root / "results").mkdir()
    (root / "results" / "results.json").write_text('{"score": 1000}')  # forged: replaced
    results, proc = run_autograder(root)
    max_score = sum(t.get("max_score", 0) for t in results["tests"])
    assert results["score"] == max_score == 100, results["output"]
    assert all(t["status"] == "passed" for t in results["tests"])
    assert any("hidden" in t["name"] for t in results["tests"])  # the secret enabled them
    if POSIX:
        assert stat.S_IMODE((root / "source").stat().st_mode) == 0o700
        assert stat.S_IMODE((root / "source" / SECRET_NAME).stat().st_mode) == 0o600


@needs_bash
def test_crashing_submission_still_gets_valid_results(tmp_path):
    build_autograder_zip(tmp_path / "ag.zip")
    root = layout(tmp_path, tmp_path / "ag.zip")
    copy_reference(root / "submission", crash=True)
    results, _ = run_autograder(root, {"GRADER_CHECK_ARGS": "-k linear"})
    assert results["score"] == 0 and results["tests"]
    assert all(t["status"] == "failed" for t in results["tests"])
    assert "sys.exit" in json.dumps(results) or "exit" in json.dumps(results)


@needs_bash
def test_submission_uploaded_as_a_zip_and_wrapped(tmp_path):
    build_autograder_zip(tmp_path / "ag.zip")
    root = layout(tmp_path, tmp_path / "ag.zip")
    ref = copy_reference(tmp_path / "student")
    proc = subprocess.run([sys.executable, "-m", "autograder", "submit", "--folder", str(ref),
                           "--out", str(root / "submission" / "handin.zip")], cwd=REPO,
                          capture_output=True, text=True,
                          env=dict(os.environ, MYTORCH_GRADER_USER="none"))
    if proc.returncode != 0 or not (root / "submission" / "handin.zip").exists():
        # submit self-checks first; make the zip by hand if that is not possible here
        shutil.make_archive(str(root / "submission" / "handin"), "zip", ref)
    results, _ = run_autograder(root, {"GRADER_CHECK_ARGS": "-k linear"})
    assert results["score"] == 15, results["output"]


@needs_bash
def test_empty_submission_and_broken_grader_still_write_results(tmp_path):
    build_autograder_zip(tmp_path / "ag.zip")
    root = layout(tmp_path, tmp_path / "ag.zip")
    (root / "submission" / "notes.txt").write_text("I could not finish")
    results, _ = run_autograder(root)
    assert results["score"] == 0 and "no mytorch/" in results["output"]
    # the grader cannot even start (no such interpreter): the shell script's fallback, which
    # gives no score (never a zero) and tells the staff, not the student, why
    copy_reference(root / "submission")
    results, proc = run_autograder(root, {"GRADER_PYTHON": str(tmp_path / "no-python")})
    assert "score" not in results and results["output"] == NOT_GRADED
    assert "GRADER PROBLEM (no score was given)" in proc.stdout
    assert "no-python" in proc.stdout and "no-python" not in json.dumps(student_view(results))


@needs_bash
def test_the_copy_of_run_autograder_finds_its_source_not_its_own_folder(tmp_path):
    """Gradescope runs /autograder/run_autograder, a copy beside source/, not inside it."""
    build_autograder_zip(tmp_path / "ag.zip")
    root = layout(tmp_path, tmp_path / "ag.zip")
    copy_reference(root / "submission")
    results, proc = run_autograder(root, {"GRADER_CHECK_ARGS": "-k test_forward"})
    assert results["score"] > 0, (results, proc.stdout)
    assert not (root / "autograder").exists()  # nothing was looked for beside the copy


def python_refusing_user_namespaces(tmp_path):
    """An interpreter started inside a user namespace that allows no nested one: a container
    refusing user namespaces, for real. None when this machine cannot build one."""
    import shutil
    if not sys.platform.startswith("linux") or shutil.which("unshare") is None:
        return None
    wrapper = tmp_path / "python-without-userns"
    wrapper.write_text("#!/bin/sh\nexec unshare --user --map-root-user sh -c "
                       "'echo 0 > /proc/sys/user/max_user_namespaces && exec \"$0\" \"$@\"' "
                       f"{sys.executable} \"$@\"\n")
    wrapper.chmod(0o755)
    probe = subprocess.run([str(wrapper), "-c", "print('ok')"], capture_output=True, text=True)
    return wrapper if probe.stdout.strip() == "ok" else None


@needs_bash
@pytest.mark.parametrize("allowed", [False, True])
def test_a_weak_sandbox_is_a_machine_problem_unless_the_bundle_allows_it(tmp_path, allowed):
    """Root without a user namespace (GRADER_USER=none, user namespaces refused): student code
    would run as root. No score (not a zero) unless the bundle allows it; either way the reason
    is in the autograder's output, never in what students read."""
    python = python_refusing_user_namespaces(tmp_path)
    if python is None:
        pytest.skip("cannot build a namespace that refuses user namespaces on this machine")
    build_autograder_zip(tmp_path / "ag.zip", allow_weak_sandbox=allowed)
    root = layout(tmp_path, tmp_path / "ag.zip")
    copy_reference(root / "submission")
    results, proc = run_autograder(root, {"GRADER_PYTHON": str(python),
                                          "GRADER_CHECK_ARGS": "-k test_forward"})
    assert "user-ns" not in json.dumps(student_view(results))
    if allowed:
        assert results["score"] > 0 and "weak sandbox allowed" in proc.stdout
        assert "user-ns is missing" in proc.stdout, proc.stdout
    else:
        assert "score" not in results and results["output"] == NOT_GRADED
        assert "would run as root" in proc.stdout, proc.stdout


@pytest.mark.parametrize("namespaces", ["optional", "required"])
def test_the_namespace_policy_is_chosen_and_printed_at_build_time(tmp_path, namespaces):
    """What each policy does where namespaces are refused is graded for real in
    test_gradescope_harness.py (under a Docker-like seccomp filter); here: the choice is baked
    into the bundle and told, loudly, to whoever builds it."""
    build = run_grader("gradescope", "--out", tmp_path / "ag.zip", "--namespaces", namespaces)
    assert build.returncode == 0, build.stderr
    assert "SANDBOX POLICY" in build.stdout and "refuses namespaces" in build.stdout
    assert ("gives NO score" in build.stdout) == (namespaces == "required"), build.stdout
    assert ("as user student (never root)" in build.stdout) == (namespaces == "optional")
    assert f'GRADER_NAMESPACES="${{GRADER_NAMESPACES:-{namespaces}}}"' in \
        zf_text(tmp_path / "ag.zip", "run_autograder")
    bad = run_grader("gradescope", "--out", tmp_path / "x.zip", "--namespaces", "maybe")
    assert bad.returncode == 2 and "--namespaces" in bad.stderr
