"""Assignments as data (autograder/grading/assignment.py) and the options that pick one."""
import json
import subprocess
import sys

import pytest

from autograder.grading.assignment import AssignmentError, course, find, listing
from tests.autograder.grader_runs import REPO


def make_course(folder, names, course_toml=None):
    for name in names:
        (folder / name).mkdir(parents=True)
        (folder / name / "rubric.toml").write_text(
            f'title = "{name.upper()}"\ndescription = "about {name}"\n', encoding="utf-8")
    if course_toml is not None:
        (folder / "course.toml").write_text(course_toml, encoding="utf-8")
    return folder


def test_the_course_lists_its_assignments_in_teaching_order(tmp_path):
    folder = make_course(tmp_path, ["hw10", "hw2"], 'assignments = ["hw2", "hw10"]\n')
    assert [a.name for a in course(folder)] == ["hw2", "hw10"]
    assert find(folder=folder).name == "hw2"  # no default named: the first
    assert find("hw10", folder=folder).title == "HW10"
    assert listing(folder).splitlines() == ["hw2 HW2 - about hw2", "hw10 HW10 - about hw10"]


@pytest.mark.parametrize("course_toml, problem", [
    ('assignments = ["hw1", "hw3"]\n', "hw3, which has no folder"),
    ('assignments = ["hw1"]\ndefault = "hw2"\n', "default 'hw2' is not one of"),
    ('assignments = [\n', "course.toml"),
])
def test_a_broken_course_file_says_what_is_wrong(tmp_path, course_toml, problem):
    folder = make_course(tmp_path, ["hw1", "hw2"], course_toml)
    with pytest.raises(AssignmentError, match=problem):
        find(folder=folder)


def test_an_unknown_assignment_names_the_ones_there_are(tmp_path):
    folder = make_course(tmp_path, ["hw1", "hw2"])
    with pytest.raises(AssignmentError, match="no assignment 'hw3'; this course has: hw1, hw2"):
        find("hw3", folder=folder)


def test_the_folders_of_an_assignment():
    hw1 = find("hw1")
    assert hw1.rubric_path.is_file() and hw1.suite_dir.is_dir() and hw1.writeup.is_file()
    assert (hw1.cases_dir / "meta.json").is_file()
    assert hasattr(hw1.generators(), "GENERATORS")


def cli(*args):
    return subprocess.run([sys.executable, "-m", "autograder", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_the_command_line_lists_and_picks_assignments(tmp_path):
    listed = cli("--list-assignments")
    assert listed.returncode == 0
    names = [line.split()[0] for line in listed.stdout.splitlines()]
    assert names == [a.name for a in course()] and "hw1" in names
    unknown = cli("--assignment", "nope")
    assert unknown.returncode == 2 and "no assignment 'nope'" in unknown.stderr
    graded = cli("--assignment", "hw1", "-k", "hw1 and task2_1", "--json", str(tmp_path / "r.json"))
    assert graded.returncode == 0, graded.stderr
    results = json.loads((tmp_path / "r.json").read_text())
    assert results["extra_data"]["assignment"] == "hw1"
    assert [t["number"] for t in results["tests"]] == ["2.1"]
