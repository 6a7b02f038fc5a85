"""The pytest plugin that turns the graded suite into a grade.

It provides the ``sub`` fixture (the proxy of the submission, reset before each test), parametrizes
tests marked ``@pytest.mark.cases("component")`` with the public (and, in instructor mode, hidden)
cases, maps every collected test to its rubric task, and records each test's outcome and feedback.

A failure of the grader's own code is never the student's: an exception the suite does not turn
into feedback, a warning of the grader's own code (``grader_warning``), a fixture file that cannot
be read or a test that cannot be collected is recorded in ``GradeState.errors``, and a grade with
errors is reported as "could not grade", without a score.

The score's integrity rules (hidden cases, self-consistency gates) are ``integrity.py``'s.
"""
import numpy as np
import pytest

from ..channel.proxy import Submission
from . import case_store, fixtures
from .integrity import Settlement
from .outcomes import (
    NOT_GRADED,
    describe_exception,
    describe_failure,
    diagnoses_of,
    grader_warning,
    not_gradable,
    root_cause,
)
from .results import HIDDEN_ID_PREFIX, GradeState, TestResult, relative_id
from .rubric import test_key


class GraderPlugin:
    def __init__(self, submission, tasks, limits=None, hidden_cases=None, user=None,
                 submission_factory=Submission, allowed_imports=None, cases_dir=None,
                 assignment=None, source_scan=None):
        self.submission_path, self.tasks, self.limits = submission, tasks, limits
        self.allowed_imports = allowed_imports  # what the worker lets the submission import
        self.source_scan = source_scan  # imports.scan of the submission, made before it ran
        # benchmarks/proxy_overhead.py swaps in an in-process stand-in to time the proxy's cost
        self.submission_factory = submission_factory
        self.hidden_cases = hidden_cases  # component -> list of cases, or None
        if cases_dir is None:  # the course's default assignment
            from .assignment import find
            cases_dir = find().cases_dir
        self.cases_dir = cases_dir  # the assignment's public cases
        self.assignment = assignment  # its name: a -k keyword of every test
        self.user = user
        self.submission = None
        self.state = GradeState()
        self.uncollectable = set()  # node ids whose collection error is already in state.errors
        self.hidden_phase = False  # set when the first hidden item starts (in a fresh worker)
        self.errors_before_hidden = 0
        self.test_to_task = {}  # test -> (task, share of the task's points)
        self.gates = {}         # test -> {quantity or "" -> [(gate test, its quantity or "")]}
        self.reference_output = set()  # tests marked @pytest.mark.cases
        for task in tasks:
            total = sum(task.tests.values())
            for name, weight in task.tests.items():
                self.test_to_task[name] = (task, task.points * weight / total)
            self.gates.update(task.self_consistency)

    # -- fixtures -----------------------------------------------------------------------------
    def start(self):
        """Create the submission's proxy and boot its worker (~0.1 s) while pytest starts up and
        collects the suite; ``close`` ends it (also called at the end of the pytest session)."""
        self.submission = self.submission_factory(self.submission_path, self.limits, user=self.user)
        if hasattr(self.submission, "allowed_imports"):
            self.submission.allowed_imports = self.allowed_imports
        if self.source_scan is not None and hasattr(self.submission, "source_scan"):
            self.submission.source_scan = self.source_scan
        if hasattr(self.submission, "start"):
            self.submission.start()

    def close(self):
        if self.submission is None:
            return
        if self.submission.worker is not None and not self.hidden_phase:
            self.state.worker_info = dict(self.submission.worker.info or {})
        # What is told above the table is visible at once: only what happened before hidden cases
        # ran (an import failure of the hidden phase may quote them; it is told in its rows).
        self.state.import_failures = {
            module: failure for module, failure
            in getattr(self.submission, "import_failures", {}).items()
            if getattr(failure, "at_top", True)}
        if not self.hidden_phase:
            self.state.budget_hit = getattr(self.submission, "budget_hit", False)
        self.submission.close()
        self.submission = None

    def pytest_sessionfinish(self, session):
        self.close()

    def pytest_keyboard_interrupt(self, excinfo):
        self.state.interrupted = True

    def started_submission(self):
        if self.submission is None:  # not started early (a plugin used on its own): start now
            self.start()
        return self.submission

    # -- collection ---------------------------------------------------------------------------
    def pytest_configure(self, config):
        config.addinivalue_line("markers", "cases(component): parametrize `case` with graded cases")
        # The fixtures live in fixtures.py (not on this object: see there) and find the plugin here.
        config.stash[fixtures.PLUGIN_KEY] = self
        config.pluginmanager.register(fixtures, fixtures.PLUGIN_NAME)

    def pytest_generate_tests(self, metafunc):
        marker = metafunc.definition.get_closest_marker("cases")
        if marker is None or "case" not in metafunc.fixturenames:
            return
        component = marker.args[0]
        try:
            cases = case_store.load_cases(component, self.cases_dir)
        except Exception as exc:  # any unreadable file is the grader's problem
            self.state.errors.append(f"the case file of {component!r} cannot be read "
                                     f"({describe_exception(exc)}); its tests were not run")
            cases = []  # pytest then collects the test once, skipped
        ids = [f"case{i}" for i in range(len(cases))]
        if self.hidden_cases is not None:
            hidden = self.hidden_cases.get(component)
            if not hidden:
                raise RuntimeError(f"instructor mode has no hidden cases for {component!r}")
            cases = cases + list(hidden)
            ids += [f"{HIDDEN_ID_PREFIX}case{i}" for i in range(len(hidden))]
        metafunc.parametrize("case", cases, ids=ids)

    # The part before ``yield`` runs before -k deselects anything (the rubric check sees all); the
    # part after it sees the selection.
    @pytest.hookimpl(hookwrapper=True)
    def pytest_collection_modifyitems(self, session, config, items):
        by_test = {}
        for item in items:
            by_test.setdefault(test_key(_relative(item)), []).append(item)
        for key, group in by_test.items():
            if key not in self.test_to_task:
                self.state.errors.append(f"test {key} is not in the rubric; it earns no points")
                continue
            task, share = self.test_to_task[key]
            if all(item.get_closest_marker("cases") for item in group):
                self.reference_output.add(key)
            hidden = [item for item in group if _is_hidden_case(item)]
            for item in group:
                item.extra_keyword_matches.add(task_keyword(task.id))
                item.extra_keyword_matches.add(f"task{task.id}")  # as the table shows it
                if self.assignment:
                    item.extra_keyword_matches.add(self.assignment)
                result = TestResult(item.nodeid, task.id, 0.0,
                                    task.visibility == "hidden" or item in hidden)
                if hidden:  # instructor mode: the hidden cases carry the share, the public none
                    result.max_score = share / len(hidden) if item in hidden else 0.0
                elif self._deferred(key) and task.visibility == "visible":
                    result.deferred = share / len(group)
                else:
                    result.max_score = share / len(group)
                self.state.results[item.nodeid] = result
        for key, (task, _) in self.test_to_task.items():
            if key not in by_test:
                self.state.errors.append(f"task {task.id} names test {key}, which the suite "
                                         "does not have")
        for key, gates in self.gates.items():
            for gate, _ in (g for listed in gates.values() for g in listed):
                group = by_test.get(gate, [])
                if not group or not all(item.get_closest_marker("cases") for item in group):
                    self.state.errors.append(f"the gate {gate} of {key} is not a reference-output "
                                             "test of the suite (@pytest.mark.cases)")
        everything = list(items)
        yield
        # The gates of the selected self-consistency tests run too, unreported (-k may have left
        # them out); hidden items run last.
        selected = {test_key(_relative(item)) for item in items}
        wanted = {gate for key in selected & set(self.gates)
                  for listed in self.gates[key].values() for gate, _ in listed}
        chosen = set(items)
        for item in everything:
            key = test_key(_relative(item))
            if item not in chosen and key in wanted and key in self.test_to_task:
                task, _ = self.test_to_task[key]
                self.state.results[item.nodeid] = TestResult(
                    item.nodeid, task.id, 0.0, _is_hidden_case(item), gate_only=True)
                items.append(item)
        items.sort(key=self._runs_hidden)  # stable: the suite's order otherwise

    def _deferred(self, key):
        """Instructor mode gives a self-consistency test's points in the hidden row (the gates'
        hidden cases decide them, and a visible row must not depend on those)."""
        return (self.hidden_cases is not None and bool(self.gates.get(key))
                and key not in self.reference_output)

    def _runs_hidden(self, item):
        result = self.state.results.get(item.nodeid)
        return result is not None and result.hidden

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item):
        if not self.hidden_phase and self._runs_hidden(item):
            self.begin_hidden_phase()

    def begin_hidden_phase(self):
        """Hidden items get a worker of their own: nothing the visible ones' worker kept (objects,
        module state, output) is there,
        and nothing the hidden ones see goes back to a visible one."""
        if self.submission is not None and self.submission.worker is not None:
            self.state.worker_info = dict(self.submission.worker.info or {})
        self.hidden_phase = True
        self.errors_before_hidden = len(self.state.errors)
        if self.submission is not None:
            self.state.budget_hit = getattr(self.submission, "budget_hit", False)
            if hasattr(self.submission, "hidden_phase"):
                self.submission.hidden_phase = True
            self.submission.close()
            if hasattr(self.submission, "start"):
                self.submission.start()

    def pytest_deselected(self, items):
        for item in items:
            self.state.results.pop(item.nodeid, None)

    def pytest_exception_interact(self, node, call, report):
        if call.when == "collect":
            self.uncollectable.add(report.nodeid)
            self.state.errors.append(f"could not collect {report.nodeid}: "
                                     f"{describe_exception(root_cause(call.excinfo.value))}")

    def pytest_collectreport(self, report):
        if report.failed and report.nodeid not in self.uncollectable:
            self.state.errors.append(f"could not collect {report.nodeid} (run pytest on the "
                                     "assignment's suite/ folder to see why)")

    def pytest_warning_recorded(self, warning_message, when, nodeid, location):
        where = f" in {relative_id(nodeid)}" if nodeid else f" ({when})" if when else ""
        problem = grader_warning(warning_message, where)
        if problem:
            self.state.errors.append(problem)

    # -- self-consistency gates (after the run) -------------------------------------------------
    def settle(self):
        """Apply the integrity rules (``integrity.py``) once the run is over."""
        late = self.state.errors[self.errors_before_hidden:] if self.hidden_phase else []
        Settlement(self.state, self.gates, self._deferred).settle(late)

    # -- outcomes -----------------------------------------------------------------------------
    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_call(self, item):
        # The checks compare values the student's code sent, which may hold inf, NaN or 1e308 on
        # purpose; they test for that and say so. NumPy's floating-point warnings on such values
        # are no problem of the grader's.
        with np.errstate(all="ignore"):
            yield

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
            self._grade_quantities(result, report, quantities, call, _relative(item))
        elif report.skipped and call.when in ("setup", "call"):
            result.status, result.feedback = "skipped", str(getattr(call.excinfo, "value", ""))
        elif report.passed and call.when == "call":
            result.status = "passed"
        elif report.failed and result.status in ("not run", "passed"):
            result.status, result.feedback = describe_failure(call.excinfo.value, _relative(item))
            result.diagnoses = diagnoses_of([call.excinfo.value])
            if not_gradable(call.excinfo.value):
                result.status, result.not_graded, result.diagnoses = NOT_GRADED, True, []
        if result.status == "error":
            self.state.errors.append(f"{_relative(item)} ({call.when}): {result.feedback}")

    @staticmethod
    def _grade_quantities(result, report, quantities, call, test):
        """Score a test by its quantities; a failing one fails the test (for pytest too)."""
        result.quantities = [{"name": o.name, "weight": o.weight, "passed": o.passed,
                              **({"credit": o.credit} if o.credit < 1 else {}),
                              **({"not_graded": True} if not o.gradable else {})}
                             for o in quantities.outcomes]  # credit < 1 with passed: a shape
        failures = quantities.failures()
        ungraded = quantities.not_gradable()
        stopped = None if report.passed else call.excinfo.value
        if not failures and (stopped is None or not_gradable(stopped)):
            if len(ungraded) == len(quantities.outcomes) or stopped is not None:
                result.status, result.not_graded = NOT_GRADED, True
            else:
                result.status = "passed"
            result.feedback = "\n".join(dict.fromkeys(
                str(o.error) for o in ungraded if o.error is not None))
            if stopped is not None:
                result.feedback = "\n".join(filter(None, [result.feedback, str(stopped)]))
            if result.status == "passed" and ungraded:
                result.feedback += ("\n(these checks cost nothing: the test's other checks "
                                    "carry its points)")
            report.outcome, report.longrepr = ("passed", None) if result.status == "passed" \
                else ("failed", result.feedback)
            return
        result.earned = quantities.fraction()
        result.diagnoses = diagnoses_of([o.error for o in failures])
        described = [describe_failure(outcome.error, test) for outcome in failures]
        if report.failed:  # the test stopped outside any quantity (or an example failed): said too
            described.append(describe_failure(call.excinfo.value, test))
            result.diagnoses += [d for d in diagnoses_of([call.excinfo.value])
                                 if d not in result.diagnoses]
        statuses = {status for status, _ in described}
        # one cause failing several quantities (an import error, a crash) is told once
        blocks = list(dict.fromkeys(text.strip("\n") for _, text in described if text.strip()))
        right = [o.name for o in quantities.outcomes if not o.charged]
        if right:
            blocks.append(f"right: {', '.join(right)} ({result.earned:.0%} of this test's points)")
        if "error" in statuses:
            result.status = "error"
        elif result.earned > 0:
            result.status = "partial"
        elif statuses == {"not implemented"}:
            result.status = "not implemented"
        else:
            result.status = "crashed" if "crashed" in statuses else "failed"
        result.feedback = "\n".join(blocks)
        report.outcome, report.longrepr = "failed", result.feedback


def _is_hidden_case(item):
    callspec = getattr(item, "callspec", None)
    return callspec is not None and callspec.id.startswith(HIDDEN_ID_PREFIX)


def task_keyword(task_id):
    """The -k keyword that selects a task's tests: "1.2" -> "task1_2" (``task1.2``, the number
    the table shows, selects them too)."""
    return "task" + task_id.replace(".", "_")


def _relative(item):
    """Node id relative to the suite folder: 'test_linear.py::test_forward[case0]'."""
    return relative_id(item.nodeid)
