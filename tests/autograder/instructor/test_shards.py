"""Classes bigger than one machine: ``grade --shard K/N`` and ``merge``
(autograder/instructor/shards.py).

The class is small (the reference, a few corpus variants from tests/submissions/buggy.py and a
folder without mytorch/) and graded with ``-k linear`` to stay fast. Three shards merged must give
the same files as one run over the whole class: grades.csv, summary.txt and report.html byte for
byte, and every student's files apart from what differs between any two runs (timings, and the
temporary copy each check grades, named in its feedback's first lines).
"""
import csv
import json
import re
import shutil
from pathlib import Path

import pytest

from autograder.instructor.class_outputs import (
    RECORD_NAME,
    batch_record,
    write_class_outputs,
)
from autograder.instructor.shards import ShardError, parse_shard, select, shard_of
from tests.autograder.instructor.helpers import REPO, chromium_dom, run_grader
from tests.submissions.buggy import BUGS, CORRECT, apply_variant

pytestmark = pytest.mark.slow  # the grader end to end: see pyproject's markers

VARIANTS = {v.name: v for v in BUGS + CORRECT}
# id -> corpus variant (None: the reference); the ids fill all three shards (checked below)
CLASS = {"ada": None, "ben": "linear_dLdW_transposed", "cy": "linear_bias_missing",
         "dot": "correct_but_different", "zoë": "linear_dLdW_transposed"}
INVALID = "eve"  # a folder without mytorch/
CLASS_FILES = ("grades.csv", "summary.txt", "report.html", "summary.png")


def _student(i):
    return type("S", (), {"id": i})()


def make_class(folder):
    for student, variant in CLASS.items():
        if variant is None:
            apply_variant(type("V", (), {"edits": ()})(), REPO, folder / student)
        else:
            apply_variant(VARIANTS[variant], REPO, folder / student)
    (folder / INVALID).mkdir()
    (folder / INVALID / "notes.txt").write_text("forgot the code\n")
    return folder


def grade(*args):
    proc = run_grader("grade", *args, "-k", "linear", "--jobs", "2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def without_run_noise(path):
    """A student's file with what differs between any two runs of the same grade taken out."""
    text = path.read_text(encoding="utf-8")
    if path.name == "results.json":
        data = json.loads(text)
        data.pop("execution_time")
        return data
    if path.name == ".meta.json":
        data = json.loads(text)
        assert data.pop("graded_at") and data.pop("seconds") >= 0
        return data
    text = re.sub(r"^\(\d+\.\d s\)$", "(time)", text, flags=re.M)
    return re.sub(r"mytorch-batch-[\w]+", "mytorch-batch-TMP", text)


def files_under(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


# -- which student is in which shard ------------------------------------------------------------
def test_shard_specs_and_clear_errors():
    assert parse_shard("0/4") == (0, 4) and parse_shard(" 3 / 4 ") == (3, 4)
    assert parse_shard(None) is None
    for bad, words in (("4/4", "0 to N-1"), ("1/0", "0 to N-1"), ("two/4", "expected K/N"),
                       ("1", "expected K/N"), ("-1/4", "expected K/N")):
        with pytest.raises(ShardError, match=words):
            parse_shard(bad)


def test_shards_split_a_class_evenly_and_stay_put_when_students_are_added():
    ids = [f"student{i:04d}" for i in range(2000)]
    shards = [select([_student(i) for i in ids], (k, 4)) for k in range(4)]
    assert sorted(s.id for shard in shards for s in shard) == sorted(ids)  # each exactly once
    assert all(400 <= len(shard) <= 600 for shard in shards), [len(s) for s in shards]
    before = {i: shard_of(i, 4) for i in ids}
    late = [f"late{i}" for i in range(300)]
    after = {s.id: k for k in range(4) for s in select([_student(i) for i in ids + late], (k, 4))}
    assert all(after[i] == before[i] for i in ids)


# -- three shards merged equal one run ----------------------------------------------------------
@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("shards")
    export = make_class(tmp / "export")
    assert {shard_of(s, 3) for s in [*CLASS, INVALID]} == {0, 1, 2}  # no shard is empty
    grade(export, "--out", tmp / "whole")
    outs = []
    for k in range(3):
        proc = grade(export, "--out", tmp / f"shard{k}", "--shard", f"{k}/3")
        assert f"shard {k}/3:" in proc.stderr
        outs.append(tmp / f"shard{k}")
    return tmp, export, outs


def test_three_shards_merged_equal_one_run(graded):
    tmp, export, outs = graded
    proc = run_grader("merge", outs[2], outs[0], outs[1], "--out", tmp / "merged")
    assert proc.returncode == 0, proc.stderr
    whole, merged = tmp / "whole", tmp / "merged"
    for name in CLASS_FILES:
        if (whole / name).exists():
            assert (merged / name).read_bytes() == (whole / name).read_bytes(), name
    assert files_under(merged) == files_under(whole)
    students = [p for p in files_under(whole) if p.startswith("students/")]
    assert len(students) == 3 * (len(CLASS) + 1)  # results.json, feedback.txt, .meta.json each
    for rel in students:
        assert without_run_noise(merged / rel) == without_run_noise(whole / rel), rel
    whole_record = json.loads((whole / RECORD_NAME).read_text(encoding="utf-8"))
    merged_record = json.loads((merged / RECORD_NAME).read_text(encoding="utf-8"))
    assert [m["shard"] for m in merged_record.pop("merged_from")] == ["0/3", "1/3", "2/3"]
    assert merged_record == whole_record
    # each shard graded only its own students
    for k, out in enumerate(outs):
        with open(out / "grades.csv", newline="", encoding="utf-8") as fh:
            ids = sorted(row["student"] for row in csv.DictReader(fh))
        assert ids == sorted(s for s in [*CLASS, INVALID] if shard_of(s, 3) == k)
    # and the merged folder resumes like one run's: nothing is regraded
    proc = grade(export, "--out", merged)
    assert f"{len(CLASS) + 1} students; {len(CLASS) + 1} unchanged" in proc.stderr
    for name in ("grades.csv", "summary.txt", "report.html"):
        assert (merged / name).read_bytes() == (whole / name).read_bytes(), name


def test_merge_refuses_what_is_not_one_class_graded_one_way(graded, tmp_path):
    tmp, export, outs = graded

    def refused(*folders, out=None):
        proc = run_grader("merge", *folders, "--out", out or tmp_path / "m")
        assert proc.returncode == 2 and proc.stderr.startswith("error: "), proc.stderr
        assert "Traceback" not in proc.stderr
        return proc.stderr

    assert "shard 1/3 missing" in refused(outs[0], outs[2])
    assert "named twice" in refused(outs[0], outs[0].parent / "." / outs[0].name)
    shutil.copytree(outs[0], tmp_path / "copy0")
    assert "both shard 0/3" in refused(outs[0], tmp_path / "copy0", outs[1], outs[2])
    assert "not a shard" in refused(tmp / "whole", outs[0])
    assert "no readable batch.json" in refused(export, outs[0])
    assert "apart from the shards" in refused(*outs, out=outs[1])
    assert "holds a grading run" in refused(*outs, out=tmp / "whole")

    def tampered(name, change):
        copy = tmp_path / name
        copy.mkdir()
        record = json.loads((outs[1] / RECORD_NAME).read_text(encoding="utf-8"))
        change(record)
        (copy / RECORD_NAME).write_text(json.dumps(record), encoding="utf-8")
        return copy

    hidden = tampered("hidden", lambda r: r.update(hidden=True))
    assert "hidden tests off versus on" in refused(outs[0], hidden, outs[2])
    version = tampered("version", lambda r: r.update(grader_version="0" * 64))
    message = refused(outs[0], version, outs[2])
    assert "grader version" in message and "000000000000" in message
    tasks = tampered("tasks", lambda r: r.update(tasks=r["tasks"][:-1]))
    assert "tasks" in refused(outs[0], tasks, outs[2])
    split = tampered("split", lambda r: r.update(shard="1/4"))
    assert "different splits" in refused(outs[0], split, outs[2])
    other_class = tampered("class", lambda r: r.update(class_size=7))
    assert "different copies of the submissions" in refused(outs[0], other_class, outs[2])
    twice = tampered("twice", lambda r: r["rows"].append({**r["rows"][0], "student": "cy"}))
    assert "student cy is in both" in refused(outs[0], twice, outs[2])
    assert shard_of("ivy", 3) == 2
    stray = tampered("stray", lambda r: r["rows"].append({**r["rows"][0], "student": "ivy"}))
    assert "holds student ivy, who belongs to shard 2/3" in refused(outs[0], stray, outs[2])


def test_grade_refuses_mixing_shards_in_one_folder(graded):
    tmp, export, outs = graded
    proc = run_grader("grade", export, "--out", outs[0], "--shard", "1/3", "-k", "linear")
    assert proc.returncode == 2 and "holds the grades of 0/3" in proc.stderr
    proc = run_grader("grade", export, "--out", outs[0], "-k", "linear")
    assert proc.returncode == 2 and "a folder of its own" in proc.stderr
    proc = run_grader("grade", export, "--out", tmp / "x", "--shard", "3/3")
    assert proc.returncode == 2 and "0 to N-1" in proc.stderr
    proc = run_grader("grade", export, "--out", tmp / "x", "--shard", "0/3", "--similarity")
    assert proc.returncode == 2 and "whole class" in proc.stderr


# -- the report and the common mistakes of a run ------------------------------------------------
def test_the_run_writes_a_report_linking_every_student(graded):
    from html.parser import HTMLParser
    from urllib.parse import unquote

    tmp, export, outs = graded
    whole = tmp / "whole"
    hrefs = []

    class Links(HTMLParser):
        def handle_starttag(self, tag, attrs):
            if tag == "a":
                hrefs.append(dict(attrs)["href"])

    report = (whole / "report.html").read_text(encoding="utf-8")
    Links().feed(report)
    assert len(hrefs) == len(CLASS) + 1
    for href in hrefs:
        assert (whole / unquote(href)).is_file(), href
    assert "students/zo%C3%AB/feedback.txt" in hrefs
    conditions = report.split('id="conditions"', 1)[1]
    for what in ("hidden tests", "off: public tests only", "Python", "NumPy", "pytest",
                 "hypothesis", "grader version", "student code runs as", "-k linear"):
        assert what in conditions, what
    assert not (whole / "report-anonymized.html").exists()


def test_the_report_of_a_real_run_renders_in_a_browser(graded, tmp_path):
    tmp, export, outs = graded
    dom = chromium_dom(tmp_path, (tmp / "whole" / "report.html").as_uri() + "#sort=total-desc")
    body = re.search(r"<body[^>]*>", dom).group(0)
    assert 'data-ready="1"' in body and "data-errors" not in body  # its script ran, no errors
    assert 'aria-sort="descending"' in dom


def test_anonymized_report_is_written_when_asked(graded):
    tmp, export, outs = graded
    proc = run_grader("merge", *outs, "--out", tmp / "anon", "--anonymize")
    assert proc.returncode == 0, proc.stderr
    text = (tmp / "anon" / "report-anonymized.html").read_text(encoding="utf-8")
    assert "<a href" not in text and text.count("student-") >= len(CLASS) + 1
    for student in [*CLASS, INVALID]:
        assert f">{student}<" not in text and f'"{student}"' not in text
    key = tmp / "anon" / ".pseudonym-key"
    assert key.stat().st_mode & 0o077 == 0  # the key undoes the pseudonyms: its owner's only
    # a second merge into the same folder keeps the key, so the pseudonyms stay the same
    proc = run_grader("merge", *outs, "--out", tmp / "anon", "--anonymize")
    assert proc.returncode == 0, proc.stderr
    assert (tmp / "anon" / "report-anonymized.html").read_text(encoding="utf-8") == text
    # without --anonymize the now stale anonymized report goes
    proc = run_grader("merge", *outs, "--out", tmp / "anon")
    assert proc.returncode == 0 and not (tmp / "anon" / "report-anonymized.html").exists()


def _results(diagnoses):
    """results.json of a graded student whose task 1.2 records these diagnosis ids."""
    return {"score": 10.0, "tests": [{"number": "1.2", "score": 5.0, "extra_data": {"tests": [
        {"name": "test_linear.py::test_backward[case0]", "status": "failed",
         "diagnoses": diagnoses}]}}]}


def test_common_mistakes_reach_summary_and_report(tmp_path):
    """From the students' results.json data to summary.txt and report.html (no grading)."""
    from types import SimpleNamespace
    tasks = [SimpleNamespace(id="1.1", title="Linear: forward", points=5.0),
             SimpleNamespace(id="1.2", title="Linear: backward", points=10.0)]
    diagnosed = {"ann": ["linear.dLdW.transposed"], "bo": ["linear.dLdW.transposed",
                                                           "linear.dLdb.averaged"],
                 "cal": [], "dee\x1b[31m": ["linear.dLdb.averaged"]}
    rows = []
    for student, ids in diagnosed.items():
        folder = tmp_path / "students" / student
        folder.mkdir(parents=True)
        (folder / "results.json").write_text(json.dumps(_results(ids)), encoding="utf-8")
        rows.append({"student": student, "total": 10.0, "1.1": 5.0, "1.2": 5.0, "status": "graded",
                     "max_score": 15.0, "message": ""})
    rows.append({"student": "eli", "total": 0.0, "1.1": 0.0, "1.2": 0.0, "max_score": 15.0,
                 "status": "invalid submission", "message": "no mytorch/"})  # no diagnoses
    opts = SimpleNamespace(version="f" * 64, hidden=False, keyword=None, tasks=tasks, shard=None,
                           timeout=None, student_timeout=600.0, python="python")
    summary = write_class_outputs(tmp_path, batch_record(opts, rows, [r["student"] for r in rows],
                                                         "student code runs as test"))
    section = summary.split("Common mistakes", 1)[1]
    assert "of the 4 graded" in section
    assert re.search(r"Task 1\.2 Linear: backward\n +2 +50\.0% +linear\.dLdW\.transposed +"
                     r"\(e\.g\. ann\)\n +2 +50\.0% +linear\.dLdb\.averaged +\(e\.g\. bo\)", section)
    assert "\x1b" not in summary
    report = (tmp_path / "report.html").read_text(encoding="utf-8")
    table = report.split('id="mistakes"', 1)[1].split("</table>", 1)[0]
    assert table.count("<tr>") == 3 and "linear.dLdW.transposed" in table and "50%" in table
    assert "\x1b" not in report and "dee\\x1b[31m" in report


def test_a_class_of_known_bugs_yields_the_expected_counts(graded):
    """Graded for real: the diagnosis ids the grader records, counted over the class."""
    tmp, export, outs = graded
    whole = tmp / "whole"
    results = json.loads((whole / "students" / "ada" / "results.json").read_text(encoding="utf-8"))
    records = [t for task in results["tests"] for t in task["extra_data"]["tests"]]
    if not all("diagnoses" in t for t in records):
        pytest.skip("this grader does not record diagnosis ids in results.json yet")
    from autograder.instructor.class_outputs import class_results
    from autograder.instructor.common_mistakes import common_mistakes
    rows = json.loads((whole / RECORD_NAME).read_text(encoding="utf-8"))["rows"]
    found = {(m.task, m.diagnosis): m.students
             for m in common_mistakes(class_results(whole / "students", rows))}
    assert found[("1.2", "linear.dLdW.transposed")] == ["ben", "zoë"]
    assert found[("1.1", "linear.Z.bias_missing")] == ["cy"]
    buggy = {s for s, v in CLASS.items() if v in {v.name for v in BUGS}}
    assert all(set(students) <= buggy for students in found.values()), found
    summary = (whole / "summary.txt").read_text(encoding="utf-8")
    assert re.search(r"2 +40\.0% +linear\.dLdW\.transposed +\(e\.g\. ben\)", summary)


def test_shard_output_is_a_folder_of_its_own(graded):
    tmp, export, outs = graded
    record = json.loads((outs[0] / RECORD_NAME).read_text(encoding="utf-8"))
    assert record["shard"] == "0/3" and record["class_size"] == len(CLASS) + 1
    assert Path(outs[0] / "report.html").is_file()
