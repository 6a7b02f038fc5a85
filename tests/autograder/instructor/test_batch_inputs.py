"""What instructors feed a batch, as it really arrives, and hostile filesystem entries in it
(autograder/intake/archive.py's bounded walker, autograder/instructor/discovery.py, batch.py).

The end-to-end batches grade with ``-k linear`` (tasks 1.1 and 1.2, 15 points) to stay fast.
"""
import csv
import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest

from autograder.channel.cleanup import remove_tree
from autograder.grading.assignment import find
from autograder.grading.rubric import load_rubric
from autograder.instructor.discovery import discover
from autograder.intake.archive import SubmissionArchiveError, extract_submission
from tests.autograder.instructor.helpers import REPO, copy_reference, run_grader, zip_folder

pytestmark = pytest.mark.slow  # the grader end to end: see pyproject's markers

POSIX = os.name == "posix"
ENV = dict(os.environ, MYTORCH_GRADER_USER="none")


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return {row["student"]: row for row in csv.DictReader(fh)}


def grade(*args, timeout=600, expect=0):
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", *map(str, args),
                           "-k", "linear"], cwd=REPO, capture_output=True, text=True, env=ENV,
                          timeout=timeout)
    assert proc.returncode == expect, proc.stdout + proc.stderr
    return proc


def handin_zip(folder, dest):
    """``dest``: the zip `python -m autograder submit` writes (mytorch/ at its top)."""
    return zip_folder(folder / "mytorch", dest, prefix="mytorch")


# -- submissions as they arrive ---------------------------------------------------------------
def test_folders_holding_handin_zip_venvs_and_unicode_names(tmp_path):
    export = tmp_path / "export"
    ref = copy_reference(tmp_path / "src" / "ref")
    (export / "zoë_Müller").mkdir(parents=True)
    handin_zip(ref, export / "zoë_Müller" / "handin.zip")           # the file students upload
    (export / "李明").mkdir()
    handin_zip(ref, export / "李明" / "my work.zip")                  # one archive, any name
    venv = copy_reference(export / "vic")                             # a handout with its .venv
    (venv / ".venv" / "bin").mkdir(parents=True)
    if POSIX:
        os.symlink(sys.executable, venv / ".venv" / "bin" / "python")
    (venv / "mytorch" / "__pycache__").mkdir(exist_ok=True)
    (venv / ".hypothesis").mkdir()
    (venv / "mytorch" / "nn" / ".linear.py.swp").write_bytes(b"\0editor")
    (venv / "mytorch" / "nn" / "linear.py~").write_text("backup")
    out = tmp_path / "out"
    proc = grade(export, "--out", out)
    rows = read_csv(out / "grades.csv")
    assert sorted(rows) == sorted(["zoë_Müller", "李明", "vic"])
    assert all(float(r["total"]) == 15 for r in rows.values()), rows
    assert (out / "students" / "zoë_Müller" / "results.json").is_file()
    assert "graded from handin.zip" in \
        (out / "students" / "zoë_Müller" / "feedback.txt").read_text()
    note = (out / "students" / "vic" / "feedback.txt").read_text(encoding="utf-8")
    assert "skipped" in note and ".venv" in note and ".hypothesis" in note \
        and ".linear.py.swp" in note
    assert proc.stderr.count("student code runs as") == 1  # the privilege state, once


@pytest.mark.skipif(not POSIX, reason="symbolic links")
def test_a_link_outside_the_skipped_folders_is_still_refused(tmp_path, reference_submission):
    os.symlink("/etc/passwd", reference_submission / "mytorch" / "passwd")
    with pytest.raises(SubmissionArchiveError, match="passwd.*symbolic link"):
        extract_submission(reference_submission, tmp_path / "out")


def test_check_accepts_a_zip(tmp_path, reference_submission):
    zipped = handin_zip(reference_submission, tmp_path / "handin.zip")
    proc = run_grader("check", "--submission", zipped, "-k", "linear", env=ENV)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "15 / 15" in proc.stdout and "handin.zip (unpacked)" in proc.stdout
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"PK\x03\x04 not a zip")
    proc = run_grader("check", "--submission", bad, env=ENV)
    assert proc.returncode == 2 and "cannot grade" in proc.stderr and "bad.zip" in proc.stderr


def test_a_folder_of_one_student_folder_is_a_class_of_one(tmp_path):
    copy_reference(tmp_path / "class" / "alice")
    students, warnings = discover([tmp_path / "class"], tmp_path / "out")
    assert [s.id for s in students] == ["alice"]
    assert any("class of one" in w and "alice" in w for w in warnings)


def test_ambiguous_ids_are_one_row_naming_both_sources(tmp_path):
    export = tmp_path / "export"
    copy_reference(export / "alice")
    (export / "alice.tar").write_bytes(b"\x1f\x8b not really")
    students, warnings = discover([export], tmp_path / "out")
    assert [s.id for s in students] == ["alice"]
    assert students[0].ambiguous == (export / "alice", export / "alice.tar")
    assert any("alice.tar" in w and str(export / "alice") in w for w in warnings)
    # ids differing only in case would share a folder on macOS and Windows
    other = tmp_path / "other"
    copy_reference(other / "Bob")
    copy_reference(other / "bob")
    students, _ = discover([other], tmp_path / "out")
    assert len(students) == 1 and {p.name for p in students[0].ambiguous} == {"Bob", "bob"}


def test_the_files_instructors_really_get(tmp_path):
    """One export as Canvas hands it over, with what goes wrong in a real class: a Canvas name
    with its user id, a syntax error, one misnamed file (two entries, one id), a Gradescope-style
    folder holding handin.zip. Everyone else is graded; the LMS exports sit beside grades.csv;
    a re-run skips every unchanged student, the one in a folder holding handin.zip included."""
    export = tmp_path / "export"
    ref = copy_reference(tmp_path / "src" / "ref")
    export.mkdir()
    handin_zip(ref, export / "ivan_123456_7891011_handin.zip")
    broken = copy_reference(tmp_path / "src" / "broken")
    linear = broken / "mytorch" / "nn" / "linear.py"
    linear.write_text(linear.read_text().replace("def forward(self, A):", "def forward(self, A)",
                                                 1))
    handin_zip(broken, export / "petrov_222_333_handin.zip")
    handin_zip(ref, export / "zoe_444_555_handin.zip")
    handin_zip(ref, export / "zoe_444_556_handin-1.zip")   # a resubmission: two files, one id
    (export / "submission_9").mkdir()
    handin_zip(ref, export / "submission_9" / "handin.zip")
    out = tmp_path / "out"
    proc = grade(export, "--out", out)
    assert "not graded: 2 submissions would all be graded as student 'zoe'" in proc.stderr
    rows = read_csv(out / "grades.csv")
    assert sorted(rows) == ["ivan", "petrov", "submission_9", "zoe"]
    ivan, petrov, zoe = rows["ivan"], rows["petrov"], rows["zoe"]
    assert ivan["lms_id"] == "123456" and ivan["total"] == "15" and ivan["status"] == "graded"
    assert all(r["assignment"] == "hw1" for r in rows.values())
    assert petrov["status"] == "graded: does not import"
    assert "mytorch/nn/linear.py, line" in petrov["message"], petrov
    assert petrov["total"] == "0"  # as the untouched starter's, but told apart
    assert zoe["status"] == "needs the instructor" and "zoe_444_556_handin-1.zip" in \
        zoe["message"] and "zoe_444_555_handin.zip" in zoe["message"]
    assert rows["submission_9"]["total"] == "15"
    # the documented columns are the file's
    with open(out / "grades.csv", encoding="utf-8") as fh:
        header = fh.readline().strip().split(",")
    tasks = [t.id for t in load_rubric(find("hw1").rubric_path) if t.visibility == "visible"]
    assert header == documented_grades_columns(tasks)
    # report.html shows the status and its reason
    report = (out / "report.html").read_text(encoding="utf-8")
    assert "graded: does not import" in report and "needs the instructor" in report
    assert "zoe_444_556_handin-1.zip" in report
    # LMS exports: Canvas's ID and a points row; no score for the id that needs the instructor
    with open(out / "canvas-grades.csv", newline="", encoding="utf-8") as fh:
        canvas = list(csv.reader(fh))
    assert canvas[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "hw1"]
    assert canvas[1] == ["Points Possible", "", "", "", "", ivan["max_score"]]
    by_id = {r[0]: r for r in canvas[2:]}
    assert by_id["ivan"][1] == "123456" and by_id["ivan"][5] == "15"
    assert by_id["petrov"][1] == "222" and by_id["zoe"][5] == ""
    with open(out / "gradescope-grades.csv", newline="", encoding="utf-8") as fh:
        gs = {r["Name"]: r for r in csv.DictReader(fh)}
    assert gs["ivan"]["Total Score"] == "15" and gs["ivan"]["Max Points"] == ivan["max_score"]
    assert gs["zoe"]["Total Score"] == ""
    # a re-run: nothing changed, nothing regraded (the folder holding handin.zip included)
    proc = grade(export, "--out", out)
    assert "3 unchanged since the last run" in proc.stderr, proc.stderr
    assert read_csv(out / "grades.csv") == rows


def documented_grades_columns(task_ids):
    """The columns docs/instructors.md lists for grades.csv, with the tasks' columns filled in."""
    doc = (REPO / "docs" / "instructors.md").read_text(encoding="utf-8")
    line = next(x for x in doc.splitlines() if x.startswith("  | `grades.csv` |"))
    columns = []
    for name in re.findall(r"`([^`]+)`", line.split("|")[2]):
        columns += task_ids if name == "<task ids>" else [name]
    return columns


def test_names_that_clash_with_the_batch_outputs(tmp_path):
    export = tmp_path / "export"
    copy_reference(export / "grades.csv")       # a student folder named like an output
    copy_reference(export / "summary.txt")
    copy_reference(export / "students")
    out = tmp_path / "out"
    grade(export, "--out", out)
    rows = read_csv(out / "grades.csv")
    assert sorted(rows) == ["grades.csv", "students", "summary.txt"]
    assert all(float(r["total"]) == 15 for r in rows.values())
    assert (out / "summary.txt").is_file()


# -- a batch nothing in a submission can stop -------------------------------------------------
@pytest.mark.skipif(not POSIX or not hasattr(os, "mkfifo"), reason="FIFOs, sockets, sparse files")
def test_fifo_deep_nesting_sparse_file_and_socket_cannot_stop_a_batch(tmp_path, request):
    export = tmp_path / "export"
    copy_reference(export / "good")
    fifo = copy_reference(export / "fifo")
    os.mkfifo(fifo / "mytorch" / "pipe")
    deep = copy_reference(export / "deep")
    path = deep
    for _ in range(1100):  # by descriptors: no path is ever longer than one name
        path = path / "d"
    fd = os.open(deep, os.O_RDONLY)
    try:
        for _ in range(1100):
            os.mkdir("d", dir_fd=fd)
            new = os.open("d", os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = new
    finally:
        os.close(fd)
    request.addfinalizer(lambda: remove_tree(deep))  # too deep for pytest's own clean-up
    sparse = copy_reference(export / "sparse")
    with open(sparse / "mytorch" / "weights.bin", "wb") as fh:
        fh.truncate(100 * 2**30)                 # 100 GB apparent, no disk used
    sock_student = copy_reference(export / "sock")
    sock = socket.socket(socket.AF_UNIX)
    sock_path = sock_student / "mytorch" / "s"
    try:
        sock.bind(str(sock_path))
    except OSError as exc:  # a path too long for AF_UNIX
        pytest.skip(f"cannot make a socket file here: {exc}")
    os.mkfifo(export / "lonely.zip")            # a FIFO named like an archive, in the export
    out = tmp_path / "out"
    start = time.monotonic()
    try:
        proc = grade(export, "--out", out, "--jobs", "2", timeout=300)
    finally:
        sock.close()
    seconds = time.monotonic() - start
    rows = read_csv(out / "grades.csv")
    assert sorted(rows) == ["deep", "fifo", "good", "sock", "sparse"]
    assert float(rows["good"]["total"]) == 15
    expected = {"fifo": "pipe' is a FIFO", "deep": "nested more than", "sparse": "weights.bin",
                "sock": "s' is a socket"}
    for student, words in expected.items():
        assert rows[student]["status"] == "invalid submission", rows[student]
        assert words in rows[student]["message"], rows[student]["message"]
    assert "is 100.0 GB (its declared size, not read)" in rows["sparse"]["message"]
    assert "lonely.zip" in proc.stderr and "FIFO" in proc.stderr
    print(f"hostile filesystem batch (5 students, 1 graded): {seconds:.1f} s")
    assert seconds < 120


# -- interrupts and pipes ---------------------------------------------------------------------
@pytest.mark.skipif(not POSIX, reason="SIGINT to a process")
def test_ctrl_c_keeps_what_finished_and_lists_the_others(tmp_path):
    export = tmp_path / "export"
    copy_reference(export / "a_fast")
    for name in ("b_slow", "c_waiting"):
        slow = copy_reference(export / name)
        init = slow / "mytorch" / "__init__.py"
        init.write_text("import time\ntime.sleep(120)\n" + init.read_text())
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "autograder", "grade", str(export), "--out",
                             str(out), "-k", "linear", "--jobs", "1"], cwd=REPO, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []
    for line in proc.stderr:
        lines.append(line)
        if line.startswith("[1/3] a_fast"):
            break
    time.sleep(1.0)  # b_slow is being graded now
    proc.send_signal(signal.SIGINT)
    rest = proc.stderr.read()
    assert proc.wait(timeout=60) == 130, "".join(lines) + rest
    assert "interrupted" in rest
    rows = read_csv(out / "grades.csv")
    assert float(rows["a_fast"]["total"]) == 15 and rows["a_fast"]["status"] == "graded"
    for name in ("b_slow", "c_waiting"):
        assert rows[name]["status"] == "not graded (interrupted)" and rows[name]["total"] == ""
        assert not (out / "students" / name / ".meta.json").exists()
    summary = (out / "summary.txt").read_text(encoding="utf-8")
    assert "b_slow: not graded (interrupted)" in summary and "c_waiting" in summary
    assert "1 students (1 graded" in summary  # statistics leave them out
    report = (out / "report.html").read_text(encoding="utf-8")  # the class report says so too
    waiting = report.split('id="waiting"', 1)[1].split("</ul>", 1)[0]
    assert "<li>b_slow</li>" in waiting and "<li>c_waiting</li>" in waiting
    assert "1 students (1 graded)" in report and "a_fast" not in waiting
    # resuming grades the rest (b and c still sleep: stop them at a short cap)
    proc = grade(export, "--out", out, "--student-timeout", "3")
    assert "1 unchanged" in proc.stderr


def test_a_broken_pipe_never_stops_a_batch(tmp_path):
    export = tmp_path / "export"
    copy_reference(export / "alice")
    for name in ("bob", "carol", "dave"):
        (export / name).mkdir(parents=True)
        (export / name / "notes.py").write_text("# no mytorch/\n")
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "autograder", "grade", str(export), "--out",
                             str(out), "-k", "linear", "--jobs", "1"], cwd=REPO, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # `grade ... 2>&1 | head -0`: the reader is gone before anything is written
    proc.stderr.close()
    assert proc.wait(timeout=300) == 0
    rows = read_csv(out / "grades.csv")
    assert sorted(rows) == ["alice", "bob", "carol", "dave"]
    assert float(rows["alice"]["total"]) == 15
    assert (out / "summary.txt").is_file()


# -- the folder a batch writes ----------------------------------------------------------------
def test_grade_out_refuses_folders_it_did_not_make(tmp_path, reference_submission):
    thesis = tmp_path / "mine"
    thesis.mkdir()
    (thesis / "thesis.txt").write_text("years of work")
    for out, cwd in ((thesis, REPO), (".", tmp_path), ("..", thesis)):
        proc = subprocess.run([sys.executable, "-m", "autograder", "grade",
                               str(reference_submission), "--out", str(out)],
                              cwd=cwd, capture_output=True, text=True, timeout=120,
                              env=dict(ENV, PYTHONPATH=str(REPO)))
        assert proc.returncode == 2 and "refusing" in proc.stderr, proc.stderr
    assert (thesis / "thesis.txt").read_text() == "years of work"
    assert not (thesis / "grades.csv").exists() and not (tmp_path / "grades.csv").exists()
