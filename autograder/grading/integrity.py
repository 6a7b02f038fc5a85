"""The score's integrity rules, applied once the suite has run.

* Instructor mode adds the cases drawn from the secret to every reference-output test, as
  ``[hidden-case<i>]``. They carry the test's share of the points; its public cases carry none (a
  table of the handout's cases earns nothing). Hidden items run after every visible one, in a worker
  started for them, so nothing a submission saw of them can reach a visible result (``plugin.py``).
* A self-consistency test (rubric ``self_consistency``: a gradient check compares backward with the
  student's own forward) earns its points only when its gates, reference-output tests, pass
  (``Settlement.settle``). In instructor mode its points move to the task's hidden row, gated by the
  gates' hidden cases, so a visible row never depends on a hidden outcome.
"""
from .outcomes import NOT_GRADED
from .results import PASSING, TestResult, case_id, relative_id
from .rubric import test_key


class Settlement:
    """The gates of one grade: ``state`` (a ``GradeState``), ``gates`` ({test: {quantity or "":
    [(gate test, its quantity or "")]}}) and ``deferred(test)``, whether instructor mode gives the
    test's points in the hidden row."""

    def __init__(self, state, gates, deferred):
        self.state, self.gates, self._deferred = state, gates, deferred

    def settle(self, late_errors=()):
        """Apply the self-consistency gates; in instructor mode, add a deferred test's entry to its
        task's hidden row. ``late_errors``: the grader problems recorded once hidden items had
        run. Call once, after the run."""
        self._seal_hidden_errors(late_errors)
        for result in list(self.state.results.values()):
            key = test_key(relative_id(result.nodeid))
            if result.gate_only or key not in self.gates:
                continue
            if self._deferred(key) and not result.hidden:
                self._settle_deferred(result, self.gates[key])
            else:
                self._apply_gates(result, self.gates[key], hidden=result.hidden)

    def _apply_gates(self, result, gates_by_quantity, hidden):
        """Withhold what of ``result`` (the whole test, or single quantities) has failing gates."""
        whys = []
        for quantity, gates in gates_by_quantity.items():
            ok, why = self._gates_pass(gates, hidden=hidden)
            if not ok and self._gates_not_graded(gates, hidden):
                _not_graded(result, why, quantity)
            elif not ok:
                _withhold(result, why, quantity)
                whys.append(why)
        return whys

    def _gates_not_graded(self, gates, hidden):
        """True when every failing gate could not be graded (another task's code is wrong): then
        the check behind them is not graded either, and costs nothing."""
        failing = []
        for gate, quantity in gates:
            for r in self.state.results.values():
                if r.hidden == hidden and test_key(relative_id(r.nodeid)) == gate \
                        and not self._gate_item_passed(r, quantity):
                    failing.append(r.not_graded or any(
                        q.get("not_graded") for q in r.quantities if q["name"] == quantity))
        return bool(failing) and all(failing)

    def _seal_hidden_errors(self, late):
        """Grader problems recorded once hidden items had run may quote them (a traceback, the
        student's text, pytest's log): they go with the hidden rows, and the visible ones only say
        that there were some."""
        late = list(late)
        if late:
            del self.state.errors[len(self.state.errors) - len(late):]
            self.state.hidden_errors.extend(late)
            self.state.errors.append(f"{len(late)} grader problem(s) while the hidden cases ran "
                                     "(described with the hidden rows)")

    def _settle_deferred(self, result, gates_by_quantity):
        """The check's points go to a hidden-row entry that the gates' public and hidden cases
        decide; its visible row shows the public gates' verdict only."""
        status, earned = result.status, result.earned  # the check's own outcome
        quantities = [dict(q) for q in result.quantities]
        self._apply_gates(result, gates_by_quantity, hidden=False)
        entry = TestResult(f"{result.nodeid}[counted-with-hidden-cases]", result.task,
                           result.deferred, hidden=True, status=status, earned=earned,
                           quantities=quantities)
        if status not in PASSING:
            entry.feedback = f"the check itself did not pass ({status}): see its visible row"
        else:
            self._apply_gates(entry, gates_by_quantity, hidden=False)
            self._apply_gates(entry, gates_by_quantity, hidden=True)
        self.state.results[entry.nodeid] = entry

    def _gates_pass(self, gates, hidden):
        """(all pass, why not) for the gates' public (or hidden) cases."""
        problems = []
        for gate, quantity in gates:
            results = [r for r in self.state.results.values()
                       if r.hidden == hidden and test_key(relative_id(r.nodeid)) == gate]
            what = f"{gate} ({quantity})" if quantity else gate
            if not results:
                problems.append(f"{what} did not run")
                continue
            failing = [case_id(r.nodeid) for r in results
                       if not self._gate_item_passed(r, quantity)]
            if failing:
                problems.append(f"{what} does not pass on {', '.join(failing)}")
        return not problems, "; ".join(problems)

    def _gate_item_passed(self, result, quantity):
        if not quantity:
            return result.status == "passed"
        names = {q["name"]: q["passed"] for q in result.quantities}
        if result.status == "passed" and quantity not in names:
            problem = (f"the rubric gates on quantity {quantity!r} "
                       f"of {relative_id(result.nodeid)}, which that test does not check")
            if problem not in self.state.errors:
                self.state.errors.append(problem)
            return False
        return names.get(quantity, False)


def _earned(quantities):
    """The share of a test's points its quantity records earn (those not graded left out)."""
    graded = [q for q in quantities if not q.get("not_graded")]
    total = sum(q["weight"] for q in graded)
    return sum(q["weight"] * q.get("credit", 1.0) for q in graded if q["passed"]) / total \
        if total else 0.0


def _not_graded(result, why, quantity=""):
    """A self-consistency result (or one quantity of it) whose gates could not be graded: it costs
    nothing, its weight going to what can be graded (``report.TaskGrade.score``)."""
    if result.status not in PASSING:
        return
    text = f"not graded: the checks this one depends on could not be graded ({why})"
    if not quantity:
        result.status, result.earned, result.not_graded = NOT_GRADED, 0.0, True
    else:
        record = next((q for q in result.quantities if q["name"] == quantity), None)
        if record is None or not record["passed"]:
            return
        record["passed"], record["not_graded"] = False, True
        result.earned = _earned(result.quantities)
        if all(q.get("not_graded") for q in result.quantities):
            result.status, result.not_graded = NOT_GRADED, True
        elif result.earned < 1:
            result.status = "partial" if result.earned > 0 else "failed"
    _restate_right(result)
    result.feedback = text + (f"\n{result.feedback}" if result.feedback else "")


def _what_it_compares(nodeid):
    """Why a self-consistency test can pass without computing anything, in its own terms."""
    if "gradient_check" in nodeid:
        return ("this check compares your backward with central differences of your own forward "
                "(zeros agree with zeros)")
    if "random_inputs" in nodeid:
        return ("this check compares your model with your own layers called one by one (layers "
                "giving zeros agree with any wiring)")
    return "code that computes nothing can pass this check (zeros have the right dtype and shape)"


def _restate_right(result):
    """The feedback's "right: ..." line, redone from the records once a gate took some away (a
    quantity is never both withheld, or not graded, and listed as right)."""
    lines = [line for line in result.feedback.splitlines() if not line.startswith("right: ")]
    if len(lines) == len(result.feedback.splitlines()):
        return
    right = [q["name"] for q in result.quantities if q["passed"]]
    if right:
        lines.append(f"right: {', '.join(right)} ({result.earned:.0%} of this test's points)")
    result.feedback = "\n".join(lines)


def _withhold(result, why, quantity=""):
    """No points for a self-consistency result (or one quantity of it) whose gates failed,
    and why."""
    if result.status not in PASSING:
        return
    if not quantity:
        result.status, result.earned = "withheld", 0.0
        for record in result.quantities:  # the data agrees with the score: none of them counts
            if record["passed"]:
                record["passed"], record["withheld"] = False, True
        text = (f"withheld: {_what_it_compares(result.nodeid)}, so it counts only when your "
                f"code matches the reference on the tests it depends on, and {why}")
    else:
        record = next((q for q in result.quantities if q["name"] == quantity), None)
        if record is None or not record["passed"]:
            return
        record["passed"], record["withheld"] = False, True
        result.earned = _earned(result.quantities)
        judged_wrong = any(not q["passed"] and not q.get("withheld") for q in result.quantities)
        result.status = ("partial" if result.earned > 0 else "failed" if judged_wrong
                         else "withheld")
        text = (f"withheld: {quantity} is right even for code that does nothing, so it counts only "
                f"when the rest matches the reference, and {why}")
        _restate_right(result)
    result.feedback = text + (f"\n{result.feedback}" if result.feedback else "")
