"""A hostile student in a class batch cannot change anyone else's grade
(autograder/instructor/batch.py).

Mallory's Linear.forward signals the grader (SIGTERM, SIGSTOP and SIGKILL to its parent, SIGKILL to
the parent's process group), forks sleepers, writes 8 MB files, and writes forged results where the
batch writes them (grades.csv, alice/results.json — paths it is told, as if it had found them) and
where its own grading process writes its JSON. Alice (the reference) and Bob (a bug) are graded in
the same batch, two at a time, and must get exactly the rows they get in a batch without Mallory.
"""
import csv
import json
import os
import subprocess
import sys
import textwrap

import pytest

from autograder.channel.sandbox import landlock
from tests.autograder.instructor.helpers import LINEAR_BUG, REPO, copy_reference

pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    os.name != "posix" or landlock.abi_version() < 6,
    reason="needs Linux Landlock ABI 6 (Linux 6.12): without it a student running as the grader's "
           "user can signal the grader and write its output folder")]

MALLORY = '''
        import os, signal, time

        def grader_group():
            # in the worker's PID namespace the grader's group has no number: getpgid says 0,
            # which killpg would take for the worker's own group
            group = os.getpgid(os.getppid())
            if group == 0:
                raise PermissionError("the grader's process group is not visible")
            return group

        failures = []
        for attack in (
                lambda: os.kill(os.getppid(), signal.SIGTERM),
                lambda: os.kill(os.getppid(), signal.SIGSTOP),
                lambda: os.kill(os.getppid(), signal.SIGKILL),
                lambda: os.killpg(grader_group(), signal.SIGKILL),
                lambda: open({grades!r}, "w").write("student,total\\nmallory,100\\nalice,0\\n"),
                lambda: open({alice!r}, "w").write('{{"score": 0, "tests": []}}'),
                lambda: open(os.path.join("..", "results.json"), "w").write('{{"score": 100}}'),
                lambda: open(os.path.join("..", "..", "grades.csv"), "w").write("forged"),
                lambda: open("fill.bin", "wb").write(b"\\0" * (8 << 20))):
            try:
                attack()
            except OSError as exc:
                failures.append(type(exc).__name__)
        for _ in range(10):
            if os.fork() == 0:
                try:
                    time.sleep(300)
                finally:
                    os._exit(0)
        print("mallory,100,forged row")
        if failures:
            raise RuntimeError(f"{{len(failures)}} attacks refused: {{failures}}")
'''


def batch(out, *students):
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", *map(str, students),
                           "--out", str(out), "-k", "linear", "--jobs", "2"],
                          cwd=REPO, capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, MYTORCH_GRADER_USER="none"),
                          start_new_session=True)  # a killpg of the batch's group misses pytest
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with open(out / "grades.csv", newline="", encoding="utf-8") as fh:
        return {row["student"]: row for row in csv.DictReader(fh)}


def comparable(row):
    return {k: v for k, v in row.items() if k not in ("submission",)}


def test_a_hostile_student_changes_nobody_elses_grade(tmp_path):
    out = tmp_path / "out"
    export = tmp_path / "export"
    copy_reference(export / "alice")
    copy_reference(export / "bob", bug=LINEAR_BUG)
    mallory = copy_reference(export / "mallory")
    linear = mallory / "mytorch" / "nn" / "linear.py"
    anchor = "        Z = A @ self.W.T\n"
    code = textwrap.dedent(MALLORY.format(grades=str(out / "grades.csv"),
                                          alice=str(out / "students" / "alice" / "results.json")))
    text = linear.read_text(encoding="utf-8")
    assert text.count(anchor) == 1
    linear.write_text(text.replace(anchor, textwrap.indent(code.strip("\n") + "\n", " " * 8)
                                   + anchor), encoding="utf-8")

    rows = batch(out, export)
    alone = batch(tmp_path / "alone", export / "alice", export / "bob")

    assert sorted(rows) == ["alice", "bob", "mallory"]
    for student in ("alice", "bob"):
        assert comparable(rows[student]) == comparable(alone[student])
        mine = json.loads(
            (out / "students" / student / "results.json").read_text(encoding="utf-8"))
        theirs = json.loads(
            (tmp_path / "alone" / "students" / student / "results.json").read_text("utf-8"))
        assert [(t["number"], t["score"], t["output"]) for t in mine["tests"]] == \
            [(t["number"], t["score"], t["output"]) for t in theirs["tests"]]
    assert float(rows["alice"]["total"]) == 15 and float(rows["bob"]["total"]) < 15
    # Mallory: graded, and every attack refused (so her forward raises: every test_forward
    # fails; the backward tests grade what forward stored before raising)
    assert rows["mallory"]["status"] == "graded" and float(rows["mallory"]["total"]) < 15
    results = json.loads(
        (out / "students" / "mallory" / "results.json").read_text(encoding="utf-8"))
    forward_tests = [t for entry in results["tests"] for t in entry["extra_data"]["tests"]
                     if t["name"].startswith("test_linear.py::test_forward[")]
    assert forward_tests and all(t["status"] == "failed" for t in forward_tests)
    feedback = (out / "students" / "mallory" / "feedback.txt").read_text(encoding="utf-8")
    assert "8 attacks refused" in feedback, feedback
    assert "forged" not in (out / "grades.csv").read_text(encoding="utf-8")
