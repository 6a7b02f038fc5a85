"""What students read of a grade with hidden rows (grading/report.py): one line that says what the
visible rows are worth and what comes after the deadline, no ``0 / 0`` rows, labels never cut, and
nothing of the grading machine (its notes stay data for the instructor's tools)."""
import re

from autograder.grading.report import Grade, TaskGrade, render_table, results_json
from autograder.grading.results import TestResult as Result
from autograder.instructor.gradescope import _scrub, student_view

LONG = "MLP0 (and the shared forward/backward) (hidden cases)"
MACHINE_NOTE = ("sandbox layers: user-ns (uid 65534, host uid 0), pid-ns; missing: landlock; "
                "privilege drop unavailable: student code ran as root")


def row(task, max_score, passed, hidden=False):
    return Result(f"suite/test_{task}.py::test_x", task, max_score, hidden=hidden,
                      status="passed" if passed else "failed",
                      feedback="" if passed else "Z is wrong")


def graded_with_hidden():
    tasks = [TaskGrade("1.1", "Linear: forward", 5, "visible", [row("1.1", 0, True)]),
             TaskGrade("1.1", "Linear: forward (hidden cases)", 5, "hidden",
                       [row("1.1", 5, True, hidden=True)]),
             TaskGrade("2.3", "ReLU", 3, "visible", [row("2.3", 1, True)]),
             TaskGrade("2.3", "ReLU (hidden cases)", 3, "hidden", [row("2.3", 2, False, True)]),
             TaskGrade("6.1", LONG, 8, "hidden", [row("6.1", 8, False, True)])]
    return Grade(tasks, "/tmp/mytorch-gradescope-abc/submission", 1.0, notes=[MACHINE_NOTE])


def test_one_line_tells_what_the_visible_rows_are_worth_and_what_comes_later():
    results = results_json(graded_with_hidden())
    seen = student_view(results)
    assert "score" not in seen  # the total appears when grades are published
    line = seen["output"]
    assert line.startswith("Graded now: 1 / 1 points (the rows with a score).")
    assert "The other 15 of 16 points are graded on hidden cases after the deadline" in line
    assert "`python -m autograder` counts the public cases for all 16 points" in line
    assert re.findall(r"(\d+) / (\d+)", line) == [("1", "1")]  # one score, the visible one
    # a visible row worth nothing (its points are in the hidden row) shows no "0 / 0"
    first = seen["tests"][0]
    assert first["name"] == "1.1 Linear: forward" and "max_score" not in first
    assert "score" not in first and first["status"] == "passed"
    relu = seen["tests"][1]
    assert (relu["score"], relu["max_score"]) == (1, 1)


def test_nothing_visible_to_grade_is_said_so():
    grade = graded_with_hidden()
    grade.tasks = [t for t in grade.tasks if t.id != "2.3"]
    line = results_json(grade)["output"]
    assert line.startswith("Nothing is graded now: all 13 points are graded on hidden cases")
    assert not re.search(r"\d+ / \d+", line)


def test_machine_notes_are_data_not_student_text():
    results = results_json(graded_with_hidden())
    assert results["extra_data"]["notes"] == [MACHINE_NOTE]
    shown = str(student_view(results, published=True))
    for machine in ("sandbox layers", "ran as root", "privilege drop", "/tmp/"):
        assert machine not in shown


def test_labels_are_never_cut():
    table = render_table(graded_with_hidden())
    assert f"6.1   {LONG}" in table
    widths = {len(line) for line in table.splitlines() if re.match(r"\d\.\d +", line)}
    assert len(widths) == 1  # the score column stays aligned past the longest label


def test_the_grader_s_paths_are_scrubbed_from_what_students_read(tmp_path):
    work = tmp_path / "mytorch-gradescope-x1"
    root = work / "submission" / "_unpacked-abc"
    data = {"output": f"ImportError: mytorch was not found in {root}/mytorch (see {work})",
            "tests": [{"name": "1.1", "output": f'File "{root}/mytorch/nn/linear.py"'}]}
    _scrub(data, [(root, "your submission"), (work, "the grader's folder")])
    assert data["output"] == ("ImportError: mytorch was not found in your submission/mytorch "
                              "(see the grader's folder)")
    assert data["tests"][0]["output"] == 'File "your submission/mytorch/nn/linear.py"'
