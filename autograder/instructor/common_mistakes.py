"""What a class got wrong: the grader's diagnoses, counted per task.

Every hint the grader gives carries a stable id (``linear.dLdW.transposed``); each test's ids are
recorded as data in the student's results.json (``tests[].extra_data.tests[].diagnoses``). This
module reads them back — never the feedback text — and counts, per task, how many students got
each one.
"""
from collections import defaultdict
from dataclasses import dataclass


@dataclass
class Mistake:
    task: str
    diagnosis: str
    students: list  # ids of the students whose results carry it, sorted

    def share(self, class_size):
        return len(self.students) / class_size if class_size else 0.0


def diagnoses_by_task(results):
    """{task id: set of diagnosis ids} found in one student's results.json data."""
    out = defaultdict(set)
    for task in results.get("tests", []) if isinstance(results, dict) else []:
        if not isinstance(task, dict):
            continue
        extra = task.get("extra_data")
        for test in extra.get("tests", []) if isinstance(extra, dict) else []:
            ids = test.get("diagnoses", []) if isinstance(test, dict) else []
            for diagnosis in ids if isinstance(ids, list) else []:
                if isinstance(diagnosis, str) and diagnosis:
                    out[str(task.get("number", ""))].add(diagnosis)
    return out


def common_mistakes(results_by_student):
    """[Mistake] over a class, most frequent first (then by task and id, for a stable order).

    ``results_by_student``: {student id: parsed results.json}.
    """
    seen = defaultdict(set)
    for student, results in results_by_student.items():
        for task, ids in diagnoses_by_task(results).items():
            for diagnosis in ids:
                seen[task, diagnosis].add(student)
    mistakes = [Mistake(task, diagnosis, sorted(students))
                for (task, diagnosis), students in seen.items()]
    return sorted(mistakes, key=lambda m: (-len(m.students), _task_key(m.task), m.diagnosis))


def _task_key(task_id):
    return tuple(int(p) if p.isdigit() else 0 for p in task_id.split("."))
