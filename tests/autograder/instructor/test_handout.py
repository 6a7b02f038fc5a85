"""The student handout built from the reference: stubs, no leaks, deterministic, gradable."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.grading.assignment import find
from autograder.grading.rubric import load_rubric
from autograder.instructor.handout import (
    build_handout,
    find_solution_leaks,
    solution_lines,
)

HW1 = find("hw1")

pytestmark = pytest.mark.slow  # the grader end to end: see pyproject's markers

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def handout(tmp_path_factory):
    return build_handout(tmp_path_factory.mktemp("build") / "handout")


def grade(folder, tmp_path):
    out = tmp_path / "results.json"
    env = {**os.environ, "MYTORCH_GRADER_USER": "none"}
    proc = subprocess.run([sys.executable, "-m", "autograder", "--json", str(out)], cwd=folder,
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(out.read_text()), proc.stdout


def test_no_solution_line_anywhere_in_the_handout(handout):
    assert solution_lines(ROOT)  # the scan has something to look for
    assert find_solution_leaks(handout, ROOT) == []
    assert not (handout / "autograder" / "suite" / "hidden").exists()
    for name in ("reference.py", "cases.py", "hidden.py", "handout.py"):
        assert not (handout / "autograder" / name).exists()


def test_every_stub_names_its_task(handout):
    text = "".join(p.read_text() for p in (handout / "mytorch").rglob("*.py"))
    for task in load_rubric(HW1.rubric_path):
        if task.regions:
            assert f'raise NotImplementedError("{task.id}: {task.title}")' in text


def test_starter_scores_zero_with_not_implemented_everywhere(handout, tmp_path):
    results, table = grade(handout, tmp_path)
    assert results["score"] == 0
    assert len(results["tests"]) == len(load_rubric(HW1.rubric_path))
    for entry in results["tests"]:
        assert "not implemented yet" in entry["output"], entry
    assert "Total" in table


def test_restoring_the_reference_scores_full_marks(handout, tmp_path):
    copy = tmp_path / "handout"
    shutil.copytree(handout, copy)
    shutil.rmtree(copy / "mytorch")
    shutil.copytree(ROOT / "mytorch", copy / "mytorch",
                    ignore=shutil.ignore_patterns("__pycache__"))
    results, _ = grade(copy, tmp_path)
    assert results["score"] == 100


def test_two_builds_are_byte_identical(tmp_path):
    a = build_handout(tmp_path / "a" / "handout")
    b = build_handout(tmp_path / "b" / "handout")
    assert (tmp_path / "a" / "handout.zip").read_bytes() == \
        (tmp_path / "b" / "handout.zip").read_bytes()
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files_a == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    for rel in files_a:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel


def test_submit_writes_handin_with_manifest(handout, tmp_path):
    import zipfile
    copy = tmp_path / "h"
    shutil.copytree(handout, copy)
    env = {**os.environ, "MYTORCH_GRADER_USER": "none"}
    # the starter scores 0, which submit refuses without --anyway
    # (tests/autograder/test_student_cli.py)
    proc = subprocess.run([sys.executable, "-m", "autograder", "submit", "--anyway"], cwd=copy,
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr
    with zipfile.ZipFile(copy / "handin.zip") as zf:
        names = zf.namelist()
        manifest = json.loads(zf.read("MANIFEST.json"))
    assert all(n.startswith("mytorch/") or n == "MANIFEST.json" for n in names)
    assert {f["path"] for f in manifest["files"]} == set(names) - {"MANIFEST.json"}
    wrong = subprocess.run([sys.executable, "-m", "autograder", "submit", "--folder",
                            str(tmp_path)], cwd=copy, capture_output=True, text=True, env=env)
    assert wrong.returncode == 2 and "no mytorch/ folder" in wrong.stderr
