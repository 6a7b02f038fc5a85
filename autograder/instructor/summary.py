"""What a batch writes for the whole class: ``grades.csv`` and ``summary.txt`` (+ ``summary.png``).

Names, messages and paths in them come from students (file names, metadata, error messages): every
cell and line goes through the one sanitiser (``autograder/grading/text.py``: made visible on one
line, and a CSV cell a spreadsheet would run as a formula gets a leading ``'``).
"""
import json
import statistics

from ..grading.text import csv_text, num, one_line
from ..intake.files import atomic_path, write_atomically

INTERRUPTED = "not graded (interrupted)"
AMBIGUOUS = "needs the instructor"  # several entries would be graded as one student id
# statuses without a grade: nothing the student did (a 0 would be a wrong grade to import)
NO_GRADE = (INTERRUPTED, AMBIGUOUS, "grader failed", "grader problem", "sandbox failed")


def is_a_grade(row):
    return row.get("status") not in NO_GRADE
# the columns of grades.csv around one column per task (docs/instructors.md lists them)
GRADES_COLUMNS = (["student", "name", "email", "sid", "lms_id", "assignment", "total",
                   "max_score"], ["status", "message", "submission"])


def grades_columns(tasks):
    before, after = GRADES_COLUMNS
    return before + [t.id for t in tasks] + after


def write_grades_csv(rows, tasks, path):
    columns = grades_columns(tasks)
    ordered = sorted(rows, key=lambda r: r["student"])
    write_atomically(path, csv_text(columns, ([r.get(k) for k in columns] for r in ordered)))


def failed_tests(results):
    """{test (without its case id): status} of the failing tests a results.json records.

    Read from the data each task carries in ``extra_data["tests"]`` (written by report.py), never
    from the text shown to people.
    """
    out = {}
    for task in results.get("tests", []) if isinstance(results, dict) else []:
        extra = task.get("extra_data") if isinstance(task, dict) else None
        for test in extra.get("tests", []) if isinstance(extra, dict) else []:
            if isinstance(test, dict) and test.get("status") not in ("passed", "skipped", None):
                out.setdefault(str(test.get("name", "")).split("[", 1)[0], str(test["status"]))
    return out


def summarize(rows, tasks, students_dir, out_dir, mistakes=()):
    """Write summary.txt (and summary.png with matplotlib) into ``out_dir``, reading each student's
    results.json under ``students_dir``; return the text. Students an interrupted batch did not
    reach are listed, and left out of every statistic. ``mistakes``: ``mistakes.Mistake`` list,
    shown per task."""
    waiting = [r for r in rows if r["status"] == INTERRUPTED]
    rows = [r for r in rows if r["status"] != INTERRUPTED]
    n = len(rows)
    max_total = sum(t.points for t in tasks) or 100.0
    totals = [float(r["total"]) for r in rows]
    graded = [r for r in rows if r["status"].startswith("graded")]
    lines = [f"Class summary: {n} students ({len(graded)} graded, {n - len(graded)} could not be "
             "graded; those count as 0)", ""]
    if waiting:
        lines[0:0] = [f"INTERRUPTED: {len(waiting)} students not graded yet; the numbers below "
                      f"leave them out (run the same command again to grade them)", ""]
    if totals:
        lines.append(f"Score (out of {num(max_total)}): mean {statistics.fmean(totals):.2f}, "
                     f"median {num(statistics.median(totals))}, min {num(min(totals))}, "
                     f"max {num(max(totals))}"
                     + (f", stdev {statistics.stdev(totals):.2f}" if n > 1 else ""))
        lines += ["", "Score histogram:"]
        bins = 10
        counts = [0] * bins
        for x in totals:
            counts[min(bins - 1, max(0, int(x / max_total * bins)))] += 1
        widest = max(counts) or 1
        for i, c in enumerate(counts):
            lo, hi = max_total * i / bins, max_total * (i + 1) / bins
            bracket = "]" if i == bins - 1 else ")"
            bar = "#" * round(40 * c / widest)
            lines.append(f"  [{num(lo):>5}, {num(hi):>5}{bracket} {bar:<40} {c}")
    lines += ["", "Tasks (mean score / points; share of students with full points):"]
    task_rates = []
    for t in tasks:
        scores = [float(r.get(t.id, 0) or 0) for r in rows]
        full = sum(1 for s in scores if t.points and s >= t.points - 1e-9)
        rate = full / n if n else 0.0
        task_rates.append((t, rate))
        mean = statistics.fmean(scores) if scores else 0.0
        lines.append(f"  {t.id:<5} {t.title[:40]:<40} {mean:6.2f} / {num(t.points):<4} "
                     f"{100 * rate:5.1f}% full")
    fails = {}
    for r in graded:
        try:
            results = json.loads((students_dir / r["student"] / "results.json").read_text("utf-8"))
        except (OSError, ValueError):
            continue
        for test in failed_tests(results):
            fails[test] = fails.get(test, 0) + 1
    if fails:
        lines += ["", f"Most failed tests (failed by k of the {len(graded)} graded students; pass "
                  "rate in parentheses):"]
        for test, k in sorted(fails.items(), key=lambda kv: (-kv[1], kv[0]))[:25]:
            lines.append(f"  {k:>4}  {one_line(test)}  "
                         f"({100 * (1 - k / max(len(graded), 1)):.0f}% pass)")
    lines += mistake_lines(mistakes, tasks, len(graded))
    bad = [r for r in rows if not r["status"].startswith("graded")]
    if bad:
        lines += ["", "Could not be graded:"]
        lines += [f"  {one_line(r['student'])}: {r['status']}: {one_line(r['message'], 500)}"
                  for r in bad]
    if waiting:
        lines += ["", f"{INTERRUPTED[0].upper() + INTERRUPTED[1:]}:"]
        lines += [f"  {one_line(r['student'])}: {INTERRUPTED}" for r in waiting]
    text = "\n".join(lines) + "\n"
    write_atomically(out_dir / "summary.txt", text)
    _plot(totals, max_total, task_rates, out_dir / "summary.png")
    return text


def mistake_lines(mistakes, tasks, graded):
    """Per task, the grader's diagnoses: how many students, what share of the graded ones, and
    one of them as an example."""
    if not mistakes:
        return []
    lines = ["", (f"Common mistakes (diagnosed by the grader; students, share of the {graded} "
                  "graded, an example student):")]
    order = {t.id: i for i, t in enumerate(tasks)}
    titles = {t.id: t.title for t in tasks}
    by_task = {}
    for m in mistakes:
        by_task.setdefault(m.task, []).append(m)
    for task in sorted(by_task, key=lambda t: (order.get(t, len(order)), t)):
        lines.append(f"  Task {one_line(task)} {one_line(titles.get(task, ''))}".rstrip())
        for m in by_task[task]:  # most frequent first, as common_mistakes orders them
            lines.append(f"    {len(m.students):>4}  {100 * m.share(graded):5.1f}%  "
                         f"{one_line(m.diagnosis)}  (e.g. {one_line(m.students[0])})")
    return lines


def _plot(totals, max_total, task_rates, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except Exception:  # no matplotlib (or a broken one): no figure
        return
    try:
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
        ax1.hist(totals, bins=10, range=(0, max_total), color="#4477aa", edgecolor="white")
        ax1.set_xlabel("total score")
        ax1.set_ylabel("students")
        ax1.set_title(f"Scores (n={len(totals)})")
        labels = [t.id for t, _ in task_rates]
        ax2.bar(labels, [100 * r for _, r in task_rates], color="#66aa55")
        ax2.set_ylim(0, 100)
        ax2.set_ylabel("% of students with full points")
        ax2.set_title("Tasks")
        fig.tight_layout()
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=100)
        plt.close(fig)
    except Exception:  # a figure is a nicety; never fail the batch over it
        return
