"""The pytest plugin that turns the graded suite into a grade.

It provides the ``sub`` fixture (the proxy of the submission, reset before each test), parametrizes
tests marked ``@pytest.mark.cases("component")`` with the public (and, in instructor mode, hidden)
cases, maps every collected test to its rubric task, and records each test's outcome and feedback.
"""
from dataclasses import dataclass, field

import pytest

from . import case_store
from .checks import Mismatch
from .errors import NotImplementedYet, StudentError, WorkerCrashed
from .proxy import Submission
from .quantities import ExampleFailed
from .rubric import test_key


@dataclass
class TestResult:
    nodeid: str
    task: str
    max_score: float
    hidden: bool = False
    status: str = "not run"  # passed | partial | failed | not implemented | crashed | error | skipped
    feedback: str = ""
    output: str = ""
    seconds: float = 0.0
    earned: float = 0.0      # share of max_score its quantities earned when not passed
    quantities: list = field(default_factory=list)  # [{"name", "weight", "passed"}] (quantities.py)
    diagnoses: list = field(default_factory=list)   # ids of the mistakes its hints named (checks.py)

    @property
    def score(self):
        return self.max_score if self.status == "passed" else self.max_score * self.earned


@dataclass
class GradeState:
    results: dict = field(default_factory=dict)
    errors: list = field(default_factory=list)  # problems with the grader or the rubric itself
    worker_info: dict = field(default_factory=dict)


class GraderPlugin:
    def __init__(self, submission, tasks, limits=None, hidden_cases=None, user=None,
                 submission_factory=Submission):
        self.submission_path, self.tasks, self.limits = submission, tasks, limits
        # benchmarks/proxy_overhead.py swaps in an in-process stand-in to time the proxy's cost
        self.submission_factory = submission_factory
        self.hidden_cases = hidden_cases  # component -> list of cases, or None
        self.user = user
        self.submission = None
        self.state = GradeState()
        self.test_to_task = {}  # test -> (task, weight, hidden)
        for task in tasks:
            graded = task.graded_tests(hidden_cases is not None)
            total = sum(w for w, _ in graded.values())
            for name, (weight, hidden) in graded.items():
                self.test_to_task[name] = (task, task.points * weight / total, hidden)

    # -- fixtures -----------------------------------------------------------------------------
    def start(self):
        """Create the submission's proxy and boot its worker (~0.1 s) while pytest starts up and
        collects the suite; ``close`` ends it (also called at the end of the pytest session)."""
        self.submission = self.submission_factory(self.submission_path, self.limits, user=self.user)
        if hasattr(self.submission, "start"):
            self.submission.start()

    def close(self):
        if self.submission is None:
            return
        if self.submission.worker is not None:
            self.state.worker_info = dict(self.submission.worker.info or {})
        self.submission.close()
        self.submission = None

    def pytest_sessionfinish(self, session):
        self.close()

    @pytest.fixture(scope="session")
    def _submission(self):
        if self.submission is None:  # not started early (a plugin used on its own): start now
            self.start()
        return self.submission

    @pytest.fixture
    def sub(self, _submission, request):
        """The submission, with a clean object table and reseeded global generators."""
        _submission.reset()
        _submission.take_output()
        yield _submission
        try:
            _submission.sync()  # requests the test did not wait for: their errors are its own
        finally:
            result = self.state.results.get(request.node.nodeid)
            if result is not None:
                result.output = _submission.take_output()

    # -- collection ---------------------------------------------------------------------------
    def pytest_configure(self, config):
        config.addinivalue_line("markers", "cases(component): parametrize `case` with graded cases")

    def pytest_generate_tests(self, metafunc):
        marker = metafunc.definition.get_closest_marker("cases")
        if marker is None or "case" not in metafunc.fixturenames:
            return
        component = marker.args[0]
        if metafunc.definition.nodeid.startswith("hidden/"):
            if self.hidden_cases is None:
                raise RuntimeError("hidden tests need instructor mode (--hidden with a secret)")
            cases = self.hidden_cases[component]
        else:
            cases = case_store.load_cases(component)
        metafunc.parametrize("case", cases, ids=[f"case{i}" for i in range(len(cases))])

    @pytest.hookimpl(tryfirst=True)  # before -k deselects anything: the rubric check sees all
    def pytest_collection_modifyitems(self, session, config, items):
        by_test = {}
        for item in items:
            by_test.setdefault(test_key(_relative(item)), []).append(item)
        for key, group in by_test.items():
            if key not in self.test_to_task:
                self.state.errors.append(f"test {key} is not in the rubric; it earns no points")
                continue
            task, share, hidden = self.test_to_task[key]
            for item in group:
                item.extra_keyword_matches.add(task_keyword(task.id))
                self.state.results[item.nodeid] = TestResult(item.nodeid, task.id,
                                                             share / len(group), hidden)
        for key, (task, _, _) in self.test_to_task.items():
            if key not in by_test:
                self.state.errors.append(f"task {task.id} names test {key}, which the suite "
                                         "does not have")

    def pytest_deselected(self, items):
        for item in items:
            self.state.results.pop(item.nodeid, None)

    def pytest_collectreport(self, report):
        if report.failed:
            self.state.errors.append(f"could not collect {report.nodeid}: {report.longreprtext}")

    # -- outcomes -----------------------------------------------------------------------------
    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        outcome = yield
        report = outcome.get_result()
        result = self.state.results.get(item.nodeid)
        if result is None:
            return
        if call.when == "call":
            result.seconds = call.duration
        quantities = getattr(item, "funcargs", {}).get("quantities")
        if call.when == "call" and quantities is not None and quantities.outcomes:
            self._grade_quantities(result, report, quantities, call)
        elif report.skipped and call.when in ("setup", "call"):
            result.status, result.feedback = "skipped", str(getattr(call.excinfo, "value", ""))
        elif report.passed and call.when == "call":
            result.status = "passed"
        elif report.failed and result.status in ("not run", "passed"):
            result.status, result.feedback = describe_failure(call.excinfo, call.when)
            result.diagnoses = _diagnoses([call.excinfo.value])

    @staticmethod
    def _grade_quantities(result, report, quantities, call):
        """Score a test by its quantities; a failing one fails the test (for pytest too)."""
        result.quantities = [{"name": o.name, "weight": o.weight, "passed": o.passed}
                             for o in quantities.outcomes]
        failures = quantities.failures()
        if report.passed and not failures:
            result.status = "passed"
            return
        result.earned = quantities.fraction()
        result.diagnoses = _diagnoses([o.error for o in failures])
        blocks, statuses = [], []
        for outcome in failures:
            status, text = describe_exception(outcome.error, "call")
            statuses.append(status)
            blocks.append(text)
        if report.failed and isinstance(call.excinfo.value, ExampleFailed):
            _, text = describe_failure(call.excinfo, call.when)  # only hypothesis' example
            if text.strip():
                blocks.append(text.strip())
        elif report.failed:  # the test stopped outside any quantity: that is said too
            status, text = describe_failure(call.excinfo, call.when)
            statuses.append(status)
            blocks.append(text)
            result.diagnoses += _diagnoses([call.excinfo.value])
        right = [o.name for o in quantities.outcomes if o.passed]
        if right:
            blocks.append(f"right: {', '.join(right)} ({result.earned:.0%} of this test's points)")
        if result.earned > 0:
            result.status = "partial"
        elif set(statuses) == {"not implemented"}:
            result.status = "not implemented"
        else:
            result.status = "crashed" if "crashed" in statuses else "failed"
        result.feedback = "\n".join(blocks)
        report.outcome, report.longrepr = "failed", result.feedback


def _diagnoses(errors):
    """The diagnosis ids (``Mismatch.diagnosis``) of these failures, in order, once each."""
    ids = [getattr(e, "diagnosis", None) for e in errors]
    return list(dict.fromkeys(i for i in ids if i))


def task_keyword(task_id):
    """The -k keyword that selects a task's tests: "1.2" -> "task1_2"."""
    return "task" + task_id.replace(".", "_")


def _relative(item):
    """Node id relative to the suite folder: 'test_linear.py::test_forward[case0]'."""
    nodeid = item.nodeid
    marker = "suite/"
    return nodeid.split(marker, 1)[1] if marker in nodeid else nodeid


def describe_failure(excinfo, when):
    """(status, feedback) for a failed test phase."""
    return describe_exception(excinfo.value, when)


def describe_exception(exc, when):
    """(status, feedback) for an exception raised while checking the student's code."""
    example = _falsifying_example(getattr(exc, "__notes__", []))
    if isinstance(exc, NotImplementedYet):
        status, text = "not implemented", exc.feedback()
    elif isinstance(exc, StudentError):
        status, text = "failed", exc.feedback()
    elif isinstance(exc, WorkerCrashed):
        status, text = "crashed", exc.feedback()
    elif isinstance(exc, Mismatch):
        status, text = "failed", exc.feedback()
    elif isinstance(exc, ExampleFailed):  # the failing quantities' own feedback says what
        status, text = "failed", ""
    elif isinstance(exc, AssertionError):
        status, text = "failed", str(exc) or "an expected property does not hold"
    else:
        status = "error"
        text = f"grader error while checking your code ({when}): {type(exc).__name__}: {exc}"
    if example:
        text += f"\n  Failing example (hypothesis): {example}"
    return status, text


def _falsifying_example(notes):
    """'shape=(2, 3), seed=7' from hypothesis' notes, without the proxy argument or blobs."""
    for note in notes:
        if note.startswith("Falsifying example"):
            inner = note.split("(", 1)[1].rsplit(")", 1)[0] if "(" in note else ""
            args = [a.strip().rstrip(",") for a in inner.splitlines() if a.strip()]
            fixtures = ("sub=", "_submission=", "quantities=")
            args = [a for a in args if a and not a.startswith(fixtures)]
            return ", ".join(args)
    return ""
