"""What a batch writes about the whole class, all from one record of the run.

``batch.json`` holds that record: the grader version, the options that change a grade, the tasks,
which shard of which class was graded, the conditions of the machine and every student's row.
``write_class_outputs`` turns a record (and the students' results.json files) into ``grades.csv``
(and the LMS's import files beside it, ``lms_export.py``),
``summary.txt`` (+ ``summary.png``), ``report.html`` and, when asked, ``report-anonymized.html``.
A whole run and ``merge`` of its shards go through this one function with the same data, so their
files are byte-identical: none of them holds a timing or a date (those stay in each student's
results.json, feedback.txt and .meta.json).
"""
import hashlib
import importlib.metadata
import json
import platform
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from ..grading.text import one_line
from ..intake.files import write_atomically, write_json_atomically
from .class_report import write_class_report
from .common_mistakes import common_mistakes
from .lms_export import write_lms_exports
from .summary import INTERRUPTED, summarize, write_grades_csv

RECORD_NAME = "batch.json"
RECORD_FORMAT = 1
REPORT_NAME = "report.html"
ANONYMIZED_REPORT_NAME = "report-anonymized.html"
PSEUDONYM_KEY_NAME = ".pseudonym-key"   # never shared: with it, pseudonyms can be undone
RESULTS_BYTES = 32 * 2**20       # a results.json larger than this is not read back
STUDENTS_DIR = "students"   # OUT/students/<id>/: nothing a student is named can clash with
NOTE_CHARS = 500


@dataclass(frozen=True)
class TaskInfo:
    """What the class outputs need of a rubric task (kept in the record, so a merge needs no
    rubric)."""
    id: str
    title: str
    points: float
    visibility: str = "visible"


def class_fingerprint(student_ids):
    """sha256 of the sorted ids of a whole class: shards of one class all hold the same."""
    return hashlib.sha256("\n".join(sorted(student_ids)).encode("utf-8")).hexdigest()


def _version(package):
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def machine_conditions(opts, privilege):
    """{what: value}: the conditions of this batch that the record keeps (no timings)."""
    from ..channel.transport import Limits
    call = opts.timeout if opts.timeout is not None else Limits().call_seconds
    return {
        "grader version": opts.version[:12],
        "hidden tests": ("on: public and hidden cases" if opts.hidden
                         else "off: public tests only (they carry the full points)"),
        "tests selected": f"-k {opts.keyword}" if opts.keyword else "all",
        "time limits": f"{call:g} s per call into student code, {opts.student_timeout:g} s per "
                       "student",
        "student code runs as": privilege,
        "Python": platform.python_version() + (f" ({opts.python})" if opts.python != sys.executable
                                               else ""),
        "NumPy": _version("numpy"),
        "pytest": _version("pytest"),
        "hypothesis": _version("hypothesis"),
        "platform": f"{platform.system()} {platform.release()} {platform.machine()}",
    }


def batch_record(opts, rows, class_ids, privilege):
    """The record of one run of ``grade`` (one shard of a class, or all of it)."""
    return {
        "format": RECORD_FORMAT,
        "grader_version": opts.version,
        "hidden": opts.hidden,
        "keyword": opts.keyword,
        "tasks": [{"id": t.id, "title": t.title, "points": t.points,
                   "visibility": getattr(t, "visibility", "visible")} for t in opts.tasks],
        "shard": format_shard(opts.shard),
        "class_size": len(class_ids),
        "class_sha256": class_fingerprint(class_ids),
        "conditions": machine_conditions(opts, privilege),
        "rows": sorted(rows, key=lambda r: r["student"]),
    }


def format_shard(shard):
    return None if shard is None else f"{shard[0]}/{shard[1]}"


def read_record(out):
    """The record in ``out``, or None when there is none (or it cannot be read)."""
    try:
        record = json.loads((Path(out) / RECORD_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def tasks_of(record):
    return [TaskInfo(str(t["id"]), str(t["title"]), float(t["points"]),
                     str(t.get("visibility", "visible"))) for t in record["tasks"]]


def class_results(students_dir, rows):
    """{student: results.json} of the graded students (the only ones with diagnoses)."""
    found = {}
    for row in rows:
        if str(row.get("status", "")).startswith("graded"):
            results = read_results(Path(students_dir) / row["student"] / "results.json")
            if results is not None:
                found[row["student"]] = results
    return found


def notes_condition(results_by_student):
    """The notes the grades carry as data (sandbox, limits, the user student code ran as), each
    with how many students' grades carry it."""
    counts = {}
    for results in results_by_student.values():
        extra = results.get("extra_data")
        notes = extra.get("notes") if isinstance(extra, dict) else None
        for note in set(notes) if isinstance(notes, list) else ():
            if isinstance(note, str):
                counts[note] = counts.get(note, 0) + 1
    if not results_by_student:
        return "no graded students"
    if not counts:
        return ("none: no grade reported a missing sandbox, a limit not enforced or a "
                "privilege-drop problem")
    n = len(results_by_student)
    return "\n".join(f"{one_line(note, NOTE_CHARS)} ({k} of {n} graded students)"
                     for note, k in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def pseudonym_key(out):
    """This output folder's random pseudonym key, made on first use (readable by its owner only)."""
    path = Path(out) / PSEUDONYM_KEY_NAME
    try:
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        key = secrets.token_bytes(32)
        write_atomically(path, key.hex() + "\n", mode=0o600)
        return key


def feedback_href(student_id):
    return f"{STUDENTS_DIR}/{quote(student_id, safe='')}/feedback.txt"


def write_class_outputs(out, record, anonymize=False):
    """Write grades.csv, summary.txt (+ .png), report.html (and report-anonymized.html with
    ``anonymize``) and batch.json into ``out`` from ``record``; return summary.txt's text."""
    out = Path(out)
    rows, tasks = record["rows"], tasks_of(record)
    write_grades_csv(rows, tasks, out / "grades.csv")
    write_lms_exports(out, rows, tasks)
    results = class_results(out / STUDENTS_DIR, rows)
    mistakes = common_mistakes(results)
    summary = summarize(list(rows), tasks, out / STUDENTS_DIR, out, mistakes=mistakes)
    conditions = dict(record["conditions"])
    conditions["sandbox, limits, user (as the grades report them)"] = notes_condition(results)
    write_class_report(out / REPORT_NAME, rows, tasks, mistakes=mistakes, conditions=conditions,
                       feedback_href=feedback_href)
    if anonymize:
        write_class_report(out / ANONYMIZED_REPORT_NAME, rows, tasks, mistakes=mistakes,
                           conditions=conditions, anonymize=True,
                           pseudonym_key=pseudonym_key(out), title="Class report (anonymized)")
    else:  # one from an earlier run would show earlier grades
        (out / ANONYMIZED_REPORT_NAME).unlink(missing_ok=True)
    write_json_atomically(record, out / RECORD_NAME)
    return summary


def waiting_students(record):
    return [r["student"] for r in record["rows"] if r.get("status") == INTERRUPTED]


def read_results(path):
    """The check's results.json, or None when it is missing, oversized or not a grade."""
    try:
        if path.stat().st_size > RESULTS_BYTES:
            return None
        results = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return results if isinstance(results, dict) and "score" in results else None
