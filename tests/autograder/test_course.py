"""Every assignment of the course, end to end: the reference scores 100 (public and --hidden), the
handout builds with the earlier assignments solved or brought by the student and its starter scores
0, the Gradescope bundle and class grading work per assignment, and the committed public cases
are what the generators draw.

(The HW1-specific behaviour of each command is tested in its own module; this one holds the
per-assignment guarantees for every assignment ``course.toml`` lists.)
"""
import csv
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from autograder.grading.assignment import course, find
from autograder.grading.case_store import load_cases
from autograder.grading.rubric import load_rubric
from autograder.instructor.handout import build_handout
from autograder.instructor.hidden import SECRET_ENV
from tests.autograder.grader_runs import REPO, item_results, run_grader
from tests.autograder.instructor.helpers import copy_reference
from tests.autograder.instructor.helpers import run_grader as run_command

pytestmark = pytest.mark.slow  # the grader end to end: see pyproject's markers

ASSIGNMENTS = [a.name for a in course()]
SECRET = "course-test-secret-0123456789"


def visible_tasks(name):
    return [t for t in load_rubric(find(name).rubric_path) if t.visibility == "visible"]


@pytest.mark.parametrize("name", ASSIGNMENTS)
@pytest.mark.parametrize("hidden", [False, True], ids=["public", "hidden"])
def test_the_reference_scores_100(tmp_path, name, hidden):
    args = ("--assignment", name) + (("--hidden",) if hidden else ())
    run = run_grader(REPO, tmp_path / "results.json", args,
                     env={SECRET_ENV: SECRET} if hidden else None)
    assert run.returncode == 0, run.describe()
    assert run.results["score"] == 100, run.describe()
    assert run.results["extra_data"]["assignment"] == name
    numbers = list(dict.fromkeys(t["number"] for t in run.results["tests"]))
    assert numbers == [t.id for t in visible_tasks(name)]
    items = [item for tests in item_results(run.results).values() for item in tests]
    assert any("[hidden-" in item for item in items) == hidden, items


def grade_folder(folder, tmp_path):
    out = tmp_path / "results.json"
    env = {**os.environ, "MYTORCH_GRADER_USER": "none"}
    proc = subprocess.run([sys.executable, "-m", "autograder", "--json", str(out)], cwd=folder,
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(out.read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", ASSIGNMENTS)
@pytest.mark.parametrize("earlier", ["solved", "bring-your-own"])
def test_the_handout_builds_and_its_starter_scores_zero(tmp_path, name, earlier):
    assignment = find(name)
    handout = build_handout(tmp_path / "build" / "handout", assignment=assignment,
                            earlier=earlier)
    stubs = "".join(p.read_text(encoding="utf-8") for p in (handout / "mytorch").rglob("*.py"))
    for task in visible_tasks(name):
        if task.regions:
            assert f'raise NotImplementedError("{task.id}: {task.title}")' in stubs
    position = ASSIGNMENTS.index(name)
    for other in ASSIGNMENTS[:position]:  # the earlier assignments: kept, or stubbed
        for task in load_rubric(find(other).rubric_path):
            stubbed = f'raise NotImplementedError("{task.id}: {task.title}")' in stubs
            assert stubbed == (earlier == "bring-your-own" and bool(task.regions)), task.id
    assert (handout / "writeup.md").read_text(encoding="utf-8") == \
        assignment.writeup.read_text(encoding="utf-8")
    results = grade_folder(handout, tmp_path)
    assert results["score"] == 0
    assert [t["number"] for t in results["tests"]] == [t.id for t in visible_tasks(name)]
    for entry in results["tests"]:
        assert "not implemented yet" in entry["output"], entry
    shutil.rmtree(handout / "mytorch")  # the reference in the handout: full marks
    copy_reference(handout)
    assert grade_folder(handout, tmp_path)["score"] == 100


@pytest.mark.skipif(os.name != "posix" or shutil.which("bash") is None,
                    reason="run_autograder is a bash script (Gradescope runs Linux)")
@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_the_gradescope_bundle_grades_its_assignment(tmp_path, name):
    from tests.autograder.instructor.test_gradescope import layout, run_autograder

    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET + "\n")
    proc = run_command("gradescope", "--assignment", name, "--out", tmp_path / "ag.zip",
                       "--secret-file", secret)
    assert proc.returncode == 0, proc.stderr
    root = layout(tmp_path, tmp_path / "ag.zip")
    assert (root / "source" / "autograder" / "assignments" / name / "rubric.toml").is_file()
    copy_reference(root / "submission")
    (root / "results").mkdir()
    results, _ = run_autograder(root)
    assert results["score"] == 100, results.get("output")
    numbers = list(dict.fromkeys(t["number"] for t in results["tests"]))
    assert numbers == [t.id for t in visible_tasks(name)]
    assert any("[hidden-" in item for tests in item_results(results).values() for item in tests)


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_a_class_is_graded_per_assignment(tmp_path, name):
    export = tmp_path / "export"
    copy_reference(export / "alice")
    (export / "bob").mkdir(parents=True)
    (export / "bob" / "notes.txt").write_text("no code here\n")
    out = tmp_path / "out"
    proc = run_command("grade", export, "--out", out, "--assignment", name, "--jobs", "2",
                       timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with open(out / "grades.csv", newline="", encoding="utf-8") as fh:
        rows = {row["student"]: row for row in csv.DictReader(fh)}
    assert float(rows["alice"]["total"]) == 100 and rows["alice"]["status"] == "graded"
    assert rows["bob"]["status"] == "invalid submission"
    for task in visible_tasks(name):
        assert float(rows["alice"][task.id]) == task.points
    assert (out / "report.html").is_file() and (out / "summary.txt").is_file()


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_the_committed_public_cases_are_what_the_generators_draw(name):
    from autograder.instructor.reference import load_reference

    assignment = find(name)
    meta = json.loads((assignment.cases_dir / "meta.json").read_text(encoding="utf-8"))
    generators = assignment.generators()
    assert meta["components"] == sorted(generators.GENERATORS)
    ref = load_reference()
    for component in generators.GENERATORS:
        drawn = generators.generate(component, meta["seed"], ref)
        stored = load_cases(component, assignment.cases_dir)
        assert len(drawn) == len(stored), component
        for fresh, kept in zip(drawn, stored):
            assert sorted(fresh) == sorted(kept), component
            for key in fresh:
                assert np.allclose(fresh[key], kept[key], rtol=1e-12, atol=1e-12), \
                    (component, key)
