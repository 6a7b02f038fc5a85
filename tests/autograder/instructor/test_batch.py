"""Grading a whole class: ``python -m autograder grade`` (autograder/instructor/batch.py).

The end-to-end tests grade with ``-k linear`` (tasks 1.1 and 1.2, 15 points) to stay fast: the class
is the reference, the reference with a transposed dLdW, a broken archive and a folder without
mytorch/.
"""
import csv
import io
import json
import os
import time
from pathlib import Path

import pytest

from autograder.instructor.console import Progress
from autograder.instructor.discovery import (
    discover,
    read_gradescope_metadata,
    student_id_from_name,
)
from tests.autograder.instructor.helpers import (
    LINEAR_BUG,
    REPO,
    copy_reference,
    run_grader,
    tar_folder,
    zip_folder,
)

pytestmark = pytest.mark.slow  # the grader end to end: see pyproject's markers

ROOT_ONLY_NOTE = "privilege drop"


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return {row["student"]: row for row in csv.DictReader(fh)}


def meta(out, student):
    return json.loads((out / "students" / student / ".meta.json").read_text(encoding="utf-8"))


@pytest.fixture
def class_export(tmp_path):
    """A Canvas-like export folder: one entry per student."""
    export = tmp_path / "export"
    export.mkdir()
    copy_reference(export / "alice")                                       # a folder
    buggy = copy_reference(tmp_path / "src" / "bob", bug=LINEAR_BUG)
    zip_folder(buggy, export / "bob_12345_67890_handin.zip", prefix="handin")  # Canvas name
    (export / "carol_222_333_hw1.tar.gz").write_bytes(b"\x1f\x8b\x08\x00 not really gzip")
    (export / "dave").mkdir()
    (export / "dave" / "linear.py").write_text("# forgot the mytorch/ folder\n")
    (export / "README.txt").write_text("not a submission")  # ignored
    return export


def grade(*args, timeout=900):
    proc = run_grader("grade", *args, "-k", "linear", "--jobs", "2", timeout=timeout)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def test_grade_a_class_then_resume_then_force(tmp_path, class_export):
    out = tmp_path / "out"
    proc = grade(class_export, "--out", out)
    rows = read_csv(out / "grades.csv")
    assert sorted(rows) == ["alice", "bob", "carol", "dave"]
    assert float(rows["alice"]["total"]) == 15 and rows["alice"]["status"] == "graded"
    assert float(rows["alice"]["1.1"]) == 5 and float(rows["alice"]["1.2"]) == 10
    assert float(rows["bob"]["1.1"]) == 5 and float(rows["bob"]["1.2"]) < 10
    assert rows["bob"]["status"] == "graded"
    for bad in ("carol", "dave"):
        assert float(rows[bad]["total"]) == 0 and rows[bad]["status"] == "invalid submission"
    assert "damaged" in rows["carol"]["message"] \
        and "carol_222_333_hw1.tar.gz" in rows["carol"]["message"]
    assert "no mytorch/" in rows["dave"]["message"]
    # per-student reports, in Gradescope's format
    for student in rows:
        results = json.loads(
            (out / "students" / student / "results.json").read_text(encoding="utf-8"))
        assert isinstance(results["score"], (int, float)) and "tests" in results
        assert (out / "students" / student / "feedback.txt").is_file()
    bob_feedback = (out / "students" / "bob" / "feedback.txt").read_text(encoding="utf-8")
    assert "transposed" in bob_feedback and "test_linear.py::test_backward" in bob_feedback
    assert "could not be graded" in \
        (out / "students" / "carol" / "feedback.txt").read_text(encoding="utf-8")
    summary = (out / "summary.txt").read_text(encoding="utf-8")
    assert "4 students" in summary and "median" in summary and "histogram" in summary
    assert "test_linear.py::test_backward" in summary  # the most failed tests
    assert "[4/4]" in proc.stderr  # progress lines (not a tty: one per student)
    stamps = {s: meta(out, s)["graded_at"] for s in rows}
    mtimes = {s: (out / "students" / s / "results.json").stat().st_mtime_ns for s in rows}

    # a re-run skips everyone: nothing changed
    proc = grade(class_export, "--out", out)
    assert "4 unchanged since the last run" in proc.stderr
    assert {s: (out / "students" / s / "results.json").stat().st_mtime_ns for s in rows} == mtimes
    assert read_csv(out / "grades.csv") == rows

    # a changed submission is regraded, the others are not
    linear = class_export / "alice" / "mytorch" / "nn" / "linear.py"
    linear.write_text(linear.read_text().replace(*LINEAR_BUG))
    proc = grade(class_export, "--out", out)
    assert "3 unchanged" in proc.stderr
    assert float(read_csv(out / "grades.csv")["alice"]["1.2"]) < 10

    # --force regrades everyone
    time.sleep(1.1)
    proc = grade(class_export, "--out", out, "--force")
    assert "0 unchanged" in proc.stderr
    assert all(meta(out, s)["graded_at"] != stamps[s] or s == "alice" for s in rows)
    assert all((out / "students" / s / "results.json").stat().st_mtime_ns != mtimes[s]
               for s in rows)


def test_a_student_already_graded_is_not_graded_again(tmp_path):
    """Resuming a killed batch: students with results are kept; the one without is graded."""
    export = tmp_path / "export"
    copy_reference(export / "erin")
    copy_reference(export / "fay")
    out = tmp_path / "out"
    grade(export, "--out", out)
    erin_results = (out / "students" / "erin" / "results.json").read_bytes()
    # as if the batch was killed while grading fay: her results exist, but her .meta.json not
    (out / "students" / "fay" / ".meta.json").unlink()
    (out / "grades.csv").unlink()
    proc = grade(export, "--out", out)
    assert "1 unchanged" in proc.stderr and "1 to grade" in proc.stderr
    assert (out / "students" / "erin" / "results.json").read_bytes() == erin_results
    assert sorted(read_csv(out / "grades.csv")) == ["erin", "fay"]
    assert (out / "students" / "fay" / ".meta.json").is_file()


def test_single_submissions_and_archives(tmp_path):
    ref = copy_reference(tmp_path / "gus")
    tgz = tar_folder(ref, tmp_path / "hana.tgz", prefix="hana_hw1")
    out = tmp_path / "out"
    grade(ref, tgz, "--out", out)
    rows = read_csv(out / "grades.csv")
    assert sorted(rows) == ["gus", "hana"]
    assert float(rows["hana"]["total"]) == 15 == float(rows["gus"]["total"])


def test_stuck_student_is_stopped_at_the_wall_time_cap(tmp_path):
    export = tmp_path / "export"
    stuck = copy_reference(export / "ivan")
    init = stuck / "mytorch" / "__init__.py"
    init.write_text("import time\ntime.sleep(120)\n" + init.read_text())
    out = tmp_path / "out"
    start = time.monotonic()
    proc = run_grader("grade", stuck, "--out", out, "-k", "linear", "--student-timeout", "6")
    assert proc.returncode == 0, proc.stderr
    assert time.monotonic() - start < 60
    row = read_csv(out / "grades.csv")["ivan"]
    assert row["status"] == "timed out" and float(row["total"]) == 0
    # nothing of that student is left running (the worker has a session of its own)
    time.sleep(0.5)
    leftovers = []
    for pid in filter(str.isdigit, os.listdir("/proc") if os.path.isdir("/proc") else []):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        # this checkout's workers only (other checkouts may be grading on the same machine)
        if b"mytorch-batch-" in cmdline and b"worker.py" in cmdline and \
                os.fsencode(REPO / "autograder") in cmdline:
            leftovers.append(cmdline)
    assert not leftovers


def test_gradescope_export_names_from_metadata(tmp_path):
    export = tmp_path / "gs_export"
    copy_reference(export / "submission_111")
    copy_reference(export / "submission_222" / "hw1")  # one extra folder inside
    (export / "submission_metadata.yml").write_text(GS_METADATA, encoding="utf-8")
    out = tmp_path / "out"
    grade(export, "--out", out)
    rows = read_csv(out / "grades.csv")
    assert rows["submission_111"]["name"] == "Jane Doe"
    assert rows["submission_111"]["email"] == "jane@example.edu"
    assert rows["submission_222"]["name"] == "Al Smith; Bo Jones"
    assert float(rows["submission_222"]["total"]) == 15


GS_METADATA = """\
submission_111:
  :submitters:
  - :name: Jane Doe
    :sid: '1234'
    :email: jane@example.edu
  :created_at: 2024-01-31 10:00:00.000000000 -05:00
  :score: 10.0
  :results:
    :tests:
    - :name: should not be read
submission_222:
  :submitters:
  - :name: "Al Smith"
    :sid: '1'
    :email: al@example.edu
  - :name: Bo Jones
    :email: bo@example.edu
  :created_at: 2024-01-31 11:00:00.000000000 -05:00
"""


# -- fast unit tests --------------------------------------------------------------------------
@pytest.mark.parametrize("name, expected", [
    ("lastfirst_12345_67890_hw1.zip", "lastfirst"),
    ("doejane_LATE_12345_67890_handin.tar.gz", "doejane"),
    ("submission_123456", "submission_123456"),
    ("alice.zip", "alice"),
    ("team_1", "team_1"),
    ("weird name (2).tgz", "weird name (2)"),
    ("zoë_Müller", "zoë_Müller"),
    ("zoe\u0308", "zo\u00eb"),                                  # NFC
    ("李明.zip", "李明"),
    ("a:b/c\nd.zip", "a_b_c_d"),
    ("\x1b]0;owned\x07x", "]0;owned_x"),
    ("..", "student"),
])
def test_student_ids(name, expected):
    assert student_id_from_name(name) == expected


def test_metadata_parser(tmp_path):
    path = tmp_path / "submission_metadata.yml"
    path.write_text(GS_METADATA, encoding="utf-8")
    meta = read_gradescope_metadata(path)
    assert meta["submission_111"] == {"name": "Jane Doe", "email": "jane@example.edu",
                                      "sid": "1234"}
    assert meta["submission_222"]["email"] == "al@example.edu; bo@example.edu"
    assert read_gradescope_metadata(tmp_path / "missing.yml") == {}


def test_discover_skips_what_is_not_a_submission(tmp_path):
    export = tmp_path / "export"
    export.mkdir()
    (export / "amy_1_2_a.zip").write_bytes(b"PK\x05\x06" + bytes(18))
    (export / "ben").mkdir()
    (export / ".DS_Store").write_bytes(b"")
    (export / "notes.md").write_text("x")
    (export / "random.bin").write_bytes(b"x")
    students, warnings = discover([export], tmp_path / "out")
    assert [s.id for s in students] == ["amy", "ben"]
    assert any("random.bin" in w for w in warnings)


def test_missing_submission_path_is_a_clear_error(tmp_path):
    proc = run_grader("grade", tmp_path / "nope", "--out", tmp_path / "out")
    assert proc.returncode == 2 and "does not exist" in proc.stderr


class FakeTty(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_on_a_tty_and_plain_lines_otherwise():
    tty = FakeTty()
    bar = Progress(3, tty)
    for name in ("a", "b", "c"):
        bar.step(f"{name}: 1/1")
    text = tty.getvalue()
    assert text.count("\r[") == 3 and "3/3" in text and "ETA" in text and text.endswith("\n")
    plain = io.StringIO()
    lines = Progress(2, plain)
    lines.step("a: 1/1")
    lines.step("b: 0/1")
    assert plain.getvalue().splitlines()[1].startswith("[2/2] b: 0/1") \
        and "\r" not in plain.getvalue()
