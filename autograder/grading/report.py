"""Turn per-test results into a grade: the console table and Gradescope's results.json."""
import textwrap
from dataclasses import dataclass, field

from ..channel.errors import StudentError
from ..intake.imports import REFUSED, SYNTAX_ERRORS, describe_allowed
from .text import one_line, visible

# Caps on what one submission's text takes in a report (student output, messages, tracebacks).
TEST_FEEDBACK_CHARS = 8000     # feedback of one failing test
TEST_OUTPUT_CHARS = 4000       # what the student's code printed during one test
STUDENT_FEEDBACK_CHARS = 200_000  # all failures of one submission together


@dataclass
class TaskGrade:
    id: str
    title: str
    points: float
    visibility: str
    tests: list = field(default_factory=list)  # TestResult

    @property
    def score(self):
        """The tests' scores; a test that could not be graded (another task's code is wrong) gives
        its points to the tests that could, so the task's maximum stays reachable (none: 0)."""
        graded = [t for t in self.tests if not t.not_graded]
        graded_max = sum(t.max_score for t in graded)
        if not graded_max:
            return 0.0
        return round(sum(t.score for t in graded) * self.max_score / graded_max, 4)

    @property
    def max_score(self):
        return round(sum(t.max_score for t in self.tests), 4)

    @property
    def status(self):
        states = {t.status for t in self.tests if not t.not_graded} \
            or {t.status for t in self.tests}
        if not self.tests or states <= {"skipped"}:
            return "not run"
        if states <= {"passed", "skipped"}:
            return "passed"
        if states <= {"not implemented", "skipped"}:
            return "not implemented"
        if states & {"passed", "partial"}:
            return "partial"
        if states == {"not graded"}:
            return "not graded"
        return "crashed" if "crashed" in states else "failed"

    def failures(self):
        return [t for t in self.tests if t.status not in ("passed", "skipped")]

    def first_line(self):
        failures = self.failures()
        if not failures:
            return ""
        line = one_line(failures[0].feedback.strip().splitlines()[0]) if failures[0].feedback \
            else failures[0].status
        more = f" (+{len(failures) - 1} more)" if len(failures) > 1 else ""
        return line + more


@dataclass
class Grade:
    tasks: list
    submission: str
    seconds: float
    errors: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    hidden_errors: list = field(default_factory=list)  # grader problems once hidden items ran
    # what is wrong with the submission as a whole (it does not parse, imports what it may not,
    # a module fails to import, the time budget ran out): told once, above the table
    problems: list = field(default_factory=list)
    unimportable: list = field(default_factory=list)  # files/modules that could not be imported
    import_summary: list = field(default_factory=list)  # one line each, for the class's files
    assignment: str = ""  # the assignment's name

    @property
    def score(self):
        return round(sum(t.score for t in self.tasks), 2)

    @property
    def max_score(self):
        return round(sum(t.max_score for t in self.tasks), 2)

    def visible(self):
        """The rows a student sees before grades are published."""
        return [t for t in self.tasks if t.visibility == "visible"]

    @property
    def has_hidden(self):
        return any(t.visibility != "visible" for t in self.tasks)

    @property
    def visible_score(self):
        return round(sum(t.score for t in self.visible()), 2)

    @property
    def visible_max_score(self):
        return round(sum(t.max_score for t in self.visible()), 2)

    @property
    def graded(self):
        """False when the grader had a problem of its own: then there is no score to give."""
        return not self.errors


COULD_NOT_GRADE = ("Could not grade: the grader itself had a problem (not your code), so no score "
                   "was given. Please tell the course staff.")


def build_grade(tasks, state, submission, seconds):
    grades = []
    for task in tasks:
        for hidden in (False, True):
            tests = [r for r in state.results.values()
                     if r.task == task.id and r.hidden == hidden and not r.gate_only]
            if tests:
                title = task.title + (" (hidden cases)" if hidden else "")
                visibility = "hidden" if hidden else task.visibility
                grades.append(TaskGrade(task.id, title, task.points, visibility, tests))
    return Grade(grades, str(submission), seconds, list(state.errors),
                 hidden_errors=list(state.hidden_errors))


def submission_problems(scan, import_failures, allowed, budget_seconds=None, budget_hit=False):
    """The paragraphs shown once above the table: syntax errors and refused imports (read from
    the source, with file and line), imports that failed when the worker ran them (with the
    student's traceback; one paragraph per distinct failure, naming the modules it stopped), and
    the time budget when it ran out."""
    out = []
    if scan.syntax_errors:
        out.append("Your code does not parse, so the modules below cannot be imported and every "
                   "test that needs them fails:\n"
                   + "\n".join(_indent(p.render()) for p in scan.syntax_errors))
    if scan.refused_imports:
        out.append(f"Your code imports packages the course does not allow (allowed: "
                   f"{describe_allowed(allowed)}):\n"
                   + "\n".join(_indent(p.render()) for p in scan.refused_imports))
    stories = {}
    for module, failure in import_failures.items():
        cause = failure.cause
        if isinstance(cause, StudentError):
            if (cause.type in SYNTAX_ERRORS and scan.syntax_errors) or \
                    (REFUSED in cause.message and scan.refused_imports):
                continue  # told above, better, from the source
            key = (cause.type, cause.message, str(cause.frames))
        else:
            key = id(cause)
        stories.setdefault(key, (failure, []))[1].append(module)
    for failure, modules in stories.values():
        root = failure.via or failure.module
        others = [m for m in modules if m != root]
        head = "Importing your code failed" + (f" (so {', '.join(others)} cannot be imported "
                                               "either)" if others else "") + \
            "; every test that needs it fails:"
        out.append(head + "\n" + _indent(failure.details()))
    if budget_hit:
        out.append(f"Your code used up its time budget of {budget_seconds:g} s: the test "
                   "running then was stopped, and the tests after it failed without running. Look "
                   "for an endless or very slow loop (use NumPy operations), or try a larger "
                   "budget locally with --budget SECONDS.")
    return out


def _indent(text, prefix="  "):
    return textwrap.indent(text, prefix)


def _fmt(x):
    return f"{x:g}" if float(x).is_integer() else f"{x:.1f}"


def render_table(grade, verbose=False, width=100):
    """The student's view: one row per task; with ``verbose`` every failure in full."""
    lines = [f"mytorch autograder: {one_line(grade.submission, 500)}", ""]
    if not grade.graded:
        lines.append(COULD_NOT_GRADE)
        lines += [f"grader problem: {visible(err, TEST_FEEDBACK_CHARS)}" for err in grade.errors]
        lines += [f"note: {visible(note, TEST_FEEDBACK_CHARS)}" for note in grade.notes]
        lines.append(f"({grade.seconds:.1f} s)")
        return "\n".join(lines)
    for problem in grade.problems:
        lines += [visible(problem, TEST_FEEDBACK_CHARS), ""]
    title_width = max([38] + [len(t.title) for t in grade.tasks])  # a label is never cut
    header = f"{'Task':<5} {'Title':<{title_width}} {'Score':>11}  Status"
    lines += [header, "-" * len(header)]
    for t in grade.tasks:
        score = f"{_fmt(t.score)} / {_fmt(t.max_score)}"
        lines.append(f"{t.id:<5} {t.title:<{title_width}} {score:>11}  {t.status}")
        if t.status != "passed" and not verbose:
            detail = t.first_line()
            if detail:
                lines.append("      > " + textwrap.shorten(detail, width=width - 8,
                                                           placeholder=" ..."))
    lines.append("-" * len(header))
    label_width = title_width + 6
    lines.append(f"{'Total':<{label_width}} "
                 f"{_fmt(grade.score) + ' / ' + _fmt(grade.max_score):>11}")
    if grade.has_hidden:
        shown = f"{_fmt(grade.visible_score)} / {_fmt(grade.visible_max_score)}"
        lines.append(f"{'  of which visible rows':<{label_width}} {shown:>11}")
    if verbose:
        budget = _Budget()
        for t in grade.tasks:
            for r in t.failures():
                feedback, output = budget.take(r)
                if feedback is None:
                    break
                lines += ["", f"== {t.id} {t.title}: {r.nodeid.split('suite/')[-1]} [{r.status}]"]
                lines += ["   " + s for s in feedback.splitlines()]
                if output:
                    lines.append("   Your code printed:")
                    lines += ["     | " + s for s in output.splitlines()[:40]]
        if budget.cut:
            lines += ["", budget.cut]
    elif grade.score < grade.max_score:
        lines += ["", "Run with -v for every failure in full, or -k NAME to run some tests only."]
    for note in grade.notes:
        lines.append(f"note: {visible(note, TEST_FEEDBACK_CHARS)}")
    lines.append(f"({grade.seconds:.1f} s)")
    return "\n".join(lines)


def results_json(grade):
    """Gradescope's results.json: one entry per task, feedback of its failing tests as output.

    A grade the grader could not give has no ``score`` (nor tests), only its ``grader_problems``:
    whoever reads the file cannot mistake it for a zero.
    """
    if not grade.graded:
        output = "\n".join([COULD_NOT_GRADE, "Grader problems:",
                            *(visible(e, TEST_FEEDBACK_CHARS) for e in grade.errors),
                            *(f"note: {visible(n, TEST_FEEDBACK_CHARS)}" for n in grade.notes)])
        return {"execution_time": round(grade.seconds, 3), "output": output,
                "output_format": "text", "visibility": "visible", "stdout_visibility": "hidden",
                "grader_problems": list(grade.errors), "tests": []}
    tests = []
    budget = _Budget()
    for t in grade.tasks:
        parts = []
        for r in t.failures():
            feedback, output = budget.take(r)
            if feedback is None:
                parts.append(budget.cut)
                break
            name = r.nodeid.split("suite/")[-1]
            parts.append(f"{name} [{r.status}]\n{feedback}")
            if output:
                parts.append("Your code printed:\n" + output)
        row = {
            "name": f"{t.id} {t.title}", "number": t.id, "score": t.score,
            "max_score": t.max_score, "status": "passed" if t.status == "passed" else "failed",
            "output": "\n\n".join(parts) if parts else "All checks passed.",
            "visibility": "visible" if t.visibility == "visible" else "after_published",
            # the same facts as data, for tools (the class summary) that must not parse the text
            "extra_data": {"tests": [{"name": r.nodeid.split("suite/")[-1], "status": r.status,
                                      "score": r.score, "max_score": r.max_score,
                                      "quantities": r.quantities,
                                      "diagnoses": r.diagnoses}
                                     for r in t.tests]},
        }
        if grade.has_hidden and row["visibility"] == "visible" and not t.max_score:
            # public cases whose points the hidden row carries: feedback, not a "0 / 0" score
            del row["score"], row["max_score"]
        tests.append(row)
    if grade.hidden_errors:  # shown with the hidden rows, never in the top-level text
        tests.append({"name": "Grader problems (hidden cases)", "score": 0.0, "max_score": 0.0,
                      "status": "failed", "output": "\n".join(grade.hidden_errors),
                      "visibility": "after_published"})
    output = "".join(visible(problem, TEST_FEEDBACK_CHARS) + "\n\n" for problem in grade.problems)
    # The top-level text is visible at once: with hidden rows it gives the visible rows' sum only
    # (Gradescope shows the total when grades are published).
    output += hidden_rows_line(grade) if grade.has_hidden else \
        f"Score {_fmt(grade.score)} / {_fmt(grade.max_score)}"
    # The notes (sandbox layers, limits, which user ran the code) describe the grading machine:
    # they stay in extra_data for the instructor's tools, out of the text students see.
    return {"score": grade.score, "execution_time": round(grade.seconds, 3), "output": output,
            "output_format": "text", "visibility": "visible", "stdout_visibility": "hidden",
            "tests": tests,
            # the notes as data, for the class report's grading conditions
            "extra_data": {"notes": [visible(note, TEST_FEEDBACK_CHARS) for note in grade.notes],
                           "assignment": grade.assignment,
                           # the code that does not import, for the class's grades.csv
                           "does_not_import": [one_line(s, 300) for s in grade.import_summary]}}


class _Budget:
    """The per-test and per-submission caps on student-derived text,
    applied as failures are shown."""

    def __init__(self, chars=STUDENT_FEEDBACK_CHARS):
        self.left, self.cut = chars, ""

    def take(self, result):
        """(feedback, output) of one failing test, made visible and capped; (None, None) once the
        submission's budget is spent (``cut`` then says so)."""
        if self.left <= 0:
            self.cut = self.cut or (f"(further failures left out: the report keeps at most "
                                    f"{STUDENT_FEEDBACK_CHARS} characters of feedback per "
                                    f"submission, {TEST_FEEDBACK_CHARS} per test)")
            return None, None
        feedback = visible(result.feedback or result.status, TEST_FEEDBACK_CHARS)
        output = visible(result.output.rstrip(), TEST_OUTPUT_CHARS) if result.output.strip() else ""
        self.left -= len(feedback) + len(output)
        return feedback, output


NOT_GRADED = "Your submission could not be graded: "


def hidden_rows_line(grade):
    """The one line students read above rows that are partly graded after the deadline."""
    total, later = _fmt(grade.max_score), _fmt(round(grade.max_score - grade.visible_max_score, 2))
    now = (f"Graded now: {_fmt(grade.visible_score)} / {_fmt(grade.visible_max_score)} points "
           f"(the rows with a score). The other {later} of {total} points are"
           if grade.visible_max_score else f"Nothing is graded now: all {total} points are")
    return (f"{now} graded on hidden cases after the deadline and appear when grades are "
            f"published. Your local `python -m autograder` counts the public cases for all {total} "
            "points; the rows without a score show how those went here.")


def error_results(message, seconds=0.0):
    """results.json for a submission that could not be graded at all: score 0 and why. The
    sentence before the reason is added here, once (a ``message`` that starts with it already is
    not given it twice)."""
    reason = message[len(NOT_GRADED):] if message.startswith(NOT_GRADED) else message
    return {"score": 0.0, "execution_time": round(seconds, 3),
            "output": f"{NOT_GRADED}{visible(reason, TEST_FEEDBACK_CHARS)}\nScore: 0",
            "output_format": "text", "visibility": "visible", "stdout_visibility": "hidden",
            "tests": []}
