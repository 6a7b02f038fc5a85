"""Grades in the import formats of the LMS: written beside grades.csv by every batch and merge.

``canvas-grades.csv``: Canvas's gradebook import (Grades > Import): ``Student``, ``ID`` (Canvas's
user id, kept from the names of Canvas's submission download, ``ivan_123456_7891011_handin.zip``),
``SIS User ID``, ``SIS Login ID``, ``Section``, then one column named after the assignment, and a
``Points Possible`` row. ``gradescope-grades.csv``: the columns of Gradescope's own score export
(``Name``, ``SID``, ``Email``, ``Total Score``, ``Max Points``), which its score import matches by
email or SID. A student without a grade (not reached, an id several entries share, a grader
problem) has an empty score, never a 0, so an import changes nothing for them. Every cell goes
through the one sanitiser (``autograder/grading/text.py``).
"""
from ..grading.text import csv_text
from ..intake.files import write_atomically
from .summary import is_a_grade

CANVAS_NAME = "canvas-grades.csv"
GRADESCOPE_NAME = "gradescope-grades.csv"


def _score(row):
    return row.get("total") if is_a_grade(row) else None


def canvas_csv(rows, max_score, assignment):
    header = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", assignment or "grade"]
    lines = [["Points Possible", "", "", "", "", max_score]]
    lines += [[r.get("name") or r["student"], r.get("lms_id", ""), r.get("sid", ""), "", "",
               _score(r)] for r in rows]
    return csv_text(header, lines)


def gradescope_csv(rows, max_score):
    header = ["Name", "SID", "Email", "Total Score", "Max Points"]
    return csv_text(header, ([r.get("name") or r["student"], r.get("sid", ""),
                              r.get("email", ""), _score(r), max_score] for r in rows))


def write_lms_exports(out, rows, tasks):
    """Write both files into ``out`` for ``rows`` (the batch's, as in grades.csv)."""
    rows = sorted(rows, key=lambda r: r["student"])
    max_score = sum(t.points for t in tasks)
    assignment = next((r["assignment"] for r in rows if r.get("assignment")), "")
    write_atomically(out / CANVAS_NAME, canvas_csv(rows, max_score, assignment))
    write_atomically(out / GRADESCOPE_NAME, gradescope_csv(rows, max_score))
