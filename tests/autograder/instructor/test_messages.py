"""Messages and small commands instructors and students meet first (issue 18): --version, the
Gradescope zip into a new folder, "could not be graded" said once, the LICENSE."""
import json
import sys

from autograder import __version__
from autograder.grading.assignment import tomllib
from autograder.grading.report import NOT_GRADED, error_results
from autograder.instructor.batch import Options, _error_row
from autograder.instructor.discovery import Student
from autograder.instructor.one_student import grade_student, prepare
from tests.autograder.instructor.helpers import REPO, run_grader


def test_version_is_the_one_pyproject_declares():
    with open(REPO / "pyproject.toml", "rb") as fh:
        declared = tomllib.load(fh)["project"]["version"]
    assert __version__ == declared
    proc = run_grader("--version")
    assert proc.returncode == 0 and proc.stdout.startswith(f"mytorch kit autograder {declared} ")
    assert f"Python {sys.version.split()[0]}" in proc.stdout


def test_the_license_is_mit_as_pyproject_says():
    with open(REPO / "pyproject.toml", "rb") as fh:
        assert tomllib.load(fh)["project"]["license"] == "MIT"
    text = (REPO / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License") and "the mytorch kit authors" in text


def test_gradescope_out_into_a_new_folder_and_into_a_folder(tmp_path):
    out = tmp_path / "new" / "deeper" / "autograder.zip"
    proc = run_grader("gradescope", "--out", out)
    assert proc.returncode == 0 and out.is_file(), proc.stderr
    proc = run_grader("gradescope", "--out", tmp_path / "new")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "is a folder; give the zip's file name" in proc.stderr


def test_could_not_be_graded_is_said_once(tmp_path):
    for message in ("no mytorch/", NOT_GRADED + "no mytorch/"):
        output = error_results(message)["output"]
        assert output.count("could not be graded") == 1 and output.count("Score: 0") == 1
    empty = tmp_path / "empty"
    empty.mkdir()
    opts = Options(out=tmp_path / "out")
    student = Student("empty", empty)
    row = grade_student(student, opts, prepare(student))
    assert row["status"] == "invalid submission" and "is empty" in row["message"]
    folder = tmp_path / "out" / "students" / "empty"
    feedback = (folder / "feedback.txt").read_text(encoding="utf-8")
    results = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    for text in (feedback, results["output"]):
        assert text.count("could not be graded") == 1 and text.count("Score: 0") == 1, text
    _error_row(Student("boom", empty), opts, RuntimeError("boom"))
    feedback = (tmp_path / "out" / "students" / "boom" / "feedback.txt").read_text("utf-8")
    assert feedback.count("could not be graded") == 1 and "RuntimeError: boom" in feedback
