"""The Gradescope bundle, run the way Gradescope runs it (``gradescope_harness.py``): the layout of
``/autograder`` in a private mount namespace, ``setup.sh`` once as root, the harness's own copy
``/autograder/run_autograder`` in ``/autograder``; plainly as root, and under a seccomp filter like
Docker's default profile (``docker_seccomp.py``), which refuses namespaces.

One harness session grades a few submissions (module fixture); each test reads its part.
"""
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.instructor.gradescope import NOT_GRADED, build_autograder_zip, student_view
from autograder.instructor.handout import build_handout
from tests.autograder.instructor import docker_seccomp
from tests.autograder.instructor.helpers import REPO, copy_reference, zip_folder

pytestmark = pytest.mark.slow  # the grader end to end: see pyproject's markers

HERE = Path(__file__).resolve().parent
USER = "student"
MODES = ("plain", "docker")
PROBE = '''import os as _os


def _try(path):
    try:
        with open(path, "rb") as fh:
            fh.read(1)
        return "READ"
    except OSError as exc:
        return type(exc).__name__


raise RuntimeError(f"PROBE uid={_os.getuid()} euid={_os.geteuid()} "
                   f"secret={_try('/autograder/source/grader_secret.txt')} "
                   f"source={_try('/autograder/source/autograder/__init__.py')} "
                   f"reference={_try('/autograder/source/mytorch/nn/linear.py')}")
'''


def why_not():
    """Why this machine cannot run the harness (None when it can)."""
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        return ("needs root on Linux: Gradescope's harness runs the bundle as root, and the test "
                "builds a private mount namespace and switches to the unprivileged user")
    for tool in ("unshare", "pivot_root", "mount", "bash"):
        if shutil.which(tool) is None:
            return f"needs util-linux's {tool}"
    if not docker_seccomp.supported():
        return "the Docker-like seccomp filter is written for x86-64 and AArch64 only"
    probe = subprocess.run(["unshare", "-m", "--propagation", "private", "true"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        return f"this machine refuses a private mount namespace: {probe.stderr.strip()}"
    return None


@pytest.fixture(scope="module")
def harness(tmp_path_factory):
    reason = why_not()
    if reason:
        pytest.skip(reason)
    tmp = tmp_path_factory.mktemp("gradescope-harness")
    secret = tmp / "secret.txt"
    secret.write_text("gradescope-harness-secret\n")
    build_autograder_zip(tmp / "autograder.zip", secret_file=secret, user=USER)
    subs = tmp / "submissions"
    copy_reference(subs / "reference")
    shutil.copytree(build_handout(tmp / "handout") / "mytorch", subs / "starter" / "mytorch")
    zip_folder(subs / "reference", tmp / "handin.zip")
    probe = copy_reference(tmp / "probe")
    init = probe / "mytorch" / "__init__.py"
    init.write_text(PROBE + init.read_text(encoding="utf-8"), encoding="utf-8")
    zip_folder(probe, tmp / "probe-handin.zip")
    submissions = {"reference": subs / "reference", "starter": subs / "starter",
                   "handin.zip": tmp / "handin.zip", "probe": tmp / "probe-handin.zip"}
    # "probe" is a folder holding handin.zip, as Gradescope stores an uploaded file
    (tmp / "probe-upload").mkdir()
    shutil.copy(tmp / "probe-handin.zip", tmp / "probe-upload" / "handin.zip")
    submissions["probe"] = tmp / "probe-upload"
    runs = []
    for mode in MODES:
        seccomp = "" if mode == "plain" else "docker"
        runs += [{"name": f"{mode}-{name}", "submission": name, "seccomp": seccomp}
                 for name in ("reference", "starter", "handin.zip")]
        runs.append({"name": f"{mode}-probe", "submission": "probe", "seccomp": seccomp,
                     "check_args": "-k test_forward"})
    runs.append({"name": "old-docker-probe", "submission": "probe",
                 "seccomp": "docker-no-landlock", "check_args": "-k test_forward"})
    # a bundle built with --namespaces required (the value run_autograder bakes in)
    runs.append({"name": "docker-required", "submission": "reference", "seccomp": "docker",
                 "check_args": "-k test_forward", "env": {"GRADER_NAMESPACES": "required"}})
    out = tmp / "out"
    out.mkdir()
    plan = {"bundle": str(tmp / "autograder.zip"), "out": str(out), "newroot": str(tmp / "root"),
            "launcher": str(HERE / "docker_seccomp.py"), "user": USER, "repo": str(REPO),
            "submissions": {k: str(v) for k, v in submissions.items()}, "runs": runs}
    (tmp / "root").mkdir()
    (tmp / "plan.json").write_text(json.dumps(plan))
    proc = subprocess.run(["unshare", "-m", "--propagation", "private", sys.executable,
                           str(HERE / "gradescope_harness.py"), str(tmp / "plan.json")],
                          capture_output=True, text=True, timeout=1200)
    facts = json.loads((out / "harness.json").read_text()) if (out / "harness.json").exists() \
        else {}
    assert proc.returncode == 0, (proc.stdout, proc.stderr, facts)
    results = {r["name"]: json.loads((out / f"{r['name']}.json").read_text())
               for r in runs if (out / f"{r['name']}.json").exists()}
    logs = {r["name"]: (out / f"{r['name']}.stdout").read_text() for r in runs}
    yield facts, results, logs
    for copies in ("submissions", "stage", "handout", "probe", "root"):
        shutil.rmtree(tmp / copies, ignore_errors=True)


def run_of(harness, name):
    _, results, logs = harness
    assert name in results, f"{name} wrote no results.json:\n{logs[name]}"
    return results[name], logs[name]


def test_setup_runs_once_and_the_filter_refuses_namespaces(harness):
    facts, _, _ = harness
    assert facts["setup_status"] == 0, facts["setup_output"]
    assert "grader dependencies OK" in facts["setup_output"]
    status, message = facts["unshare_under_filter"]
    assert status != 0 and "Operation not permitted" in message, facts
    assert isinstance(facts["user_uid"], int) and facts["user_uid"] != 0


@pytest.mark.parametrize("mode", MODES)
def test_reference_scores_full_marks_and_the_starter_nothing(harness, mode):
    reference, log = run_of(harness, f"{mode}-reference")
    assert reference["score"] == 100, (reference.get("output"), log)
    assert any("hidden cases" in t["name"] for t in reference["tests"])  # the secret was used
    starter, log = run_of(harness, f"{mode}-starter")
    assert starter["score"] == 0 and starter["tests"], (starter.get("output"), log)


@pytest.mark.parametrize("mode", MODES)
def test_a_handin_zip_scores_what_its_folder_scores(harness, mode):
    folder, _ = run_of(harness, f"{mode}-reference")
    upload, log = run_of(harness, f"{mode}-handin.zip")
    assert upload["score"] == folder["score"], (upload.get("output"), log)
    assert [(t["name"], t.get("score")) for t in upload["tests"]] == \
        [(t["name"], t.get("score")) for t in folder["tests"]]


@pytest.mark.parametrize("mode", [*MODES, "old-docker"])
def test_student_code_runs_unprivileged_and_reads_neither_source_nor_secret(harness, mode):
    facts, _, _ = harness
    results, log = run_of(harness, f"{mode}-probe")
    found = re.search(r"PROBE uid=(\d+) euid=(\d+) secret=(\w+) source=(\w+) reference=(\w+)",
                      results["output"])
    assert found, (results["output"], log)
    uid, euid, secret, source, reference = found.groups()
    assert int(uid) == int(euid) == facts["user_uid"], found.group(0)
    assert "READ" not in (secret, source, reference), found.group(0)
    # the instructor's log names the layers, the user among them
    assert f"unprivileged (uid {facts['user_uid']})" in log, log


def test_where_namespaces_are_refused_the_other_layers_grade(harness):
    _, docker_log = run_of(harness, "docker-reference")
    _, plain_log = run_of(harness, "plain-reference")
    assert "user-ns (" in plain_log.split("sandbox layers:")[1].split(";")[0]
    docker_layers = docker_log.split("sandbox layers:")[1].splitlines()[0]
    active, _, missing = docker_layers.partition("; missing:")
    assert "user-ns" not in active and "user-ns" in missing, docker_layers
    for layer in ("unprivileged", "seccomp", "caps-dropped", "no-new-privs", "rlimits"):
        assert layer in active, docker_layers
    assert "allowed where namespaces are refused" in docker_log
    _, old_log = run_of(harness, "old-docker-probe")
    assert "landlock" in old_log.split("sandbox layers:")[1].split("; missing:")[1], old_log


def test_where_namespaces_are_required_and_refused_no_score_is_given(harness):
    results, log = run_of(harness, "docker-required")
    assert "score" not in results and results["output"] == NOT_GRADED, results
    assert "GRADER PROBLEM (no score was given)" in log and "user-ns is missing" in log, log
    assert "user-ns" not in json.dumps(student_view(results, published=True))


@pytest.mark.parametrize("name", ["plain-reference", "docker-starter", "docker-probe",
                                  "old-docker-probe"])
def test_students_see_no_machine_details(harness, name):
    results, _ = run_of(harness, name)
    seen = json.dumps(student_view(results, published=True))
    for machine in ("/tmp/", "mytorch-gradescope", "sandbox layers", "ran as root",
                    "privilege drop", "unprivileged", "user-ns"):
        assert machine not in seen, (machine, seen)
    assert NOT_GRADED not in seen  # every run here is a grade, not a machine problem
