"""A check that cannot be graded because another task's code is wrong costs nothing: its weight
goes to what of the same test (quantities) or task (tests) can be graded, the task's maximum stays
reachable, and nothing that could be graded is given away. Ids of hints are catalogue ids only."""
import pytest

from autograder.checking.checks import Mismatch, NotGradable, expect_close
from autograder.checking.quantities import Quantities
from autograder.grading import results
from autograder.grading.integrity import Settlement
from autograder.grading.report import TaskGrade


def test_a_quantity_not_graded_costs_nothing_and_gives_its_weight_to_the_others():
    q = Quantities()
    with q.check("right", weight=1):
        pass
    with q.check("wrong", weight=1):
        raise Mismatch("wrong", "differs")
    with q.check("other task", weight=2):
        raise NotGradable("other task: not graded", "Fix Task 1.1 first.")
    assert [o.name for o in q.failures()] == ["wrong"]
    assert [o.name for o in q.not_gradable()] == ["other task"]
    assert q.fraction() == pytest.approx(0.5)  # of the two gradable quantities, one is right


def test_every_quantity_not_graded_earns_nothing_by_itself():
    q = Quantities()
    with q.check("only", weight=1):
        raise NotGradable("x: not graded", "Fix Task 1.2 first.")
    assert q.fraction() == 0.0 and q.failures() == []


def _result(name, points, status, not_graded=False):
    return results.TestResult(name, "6.1", points, status=status, not_graded=not_graded)


def test_a_test_not_graded_gives_its_points_to_the_tasks_other_tests():
    task = TaskGrade("6.1", "MLP0", 12, "visible", [
        _result("a", 4, "passed"), _result("b", 4, "failed"),
        _result("c", 4, "not graded", not_graded=True)])
    assert task.max_score == 12
    assert task.score == pytest.approx(6)  # 4 of the 8 gradable points, scaled to 12
    assert task.status == "partial"


def test_the_maximum_stays_reachable_and_nothing_is_given_for_nothing():
    full = TaskGrade("5.2", "BN backward", 12, "visible", [
        _result("a", 8, "passed"), _result("b", 4, "not graded", not_graded=True)])
    assert full.score == pytest.approx(12) and full.status == "passed"
    starter = TaskGrade("5.2", "BN backward", 12, "visible", [
        _result("a", 8, "not implemented"), _result("b", 4, "not graded", not_graded=True)])
    assert starter.score == 0 and starter.status == "not implemented"
    nothing = TaskGrade("6.1", "MLP0", 12, "visible", [
        _result("a", 12, "not graded", not_graded=True)])
    assert nothing.score == 0 and nothing.status == "not graded"


def test_a_self_consistency_check_behind_gates_not_graded_is_not_graded_either():
    state = results.GradeState()
    gate = _result("suite/test_mlp.py::test_loops_five_dense[case0]", 2, "not graded",
                   not_graded=True)
    check = _result("suite/test_mlp.py::test_loops_random_inputs", 1, "passed")
    wrong_gate = _result("suite/test_x.py::test_forward[case0]", 2, "failed")
    gated = _result("suite/test_x.py::test_gradient_check", 1, "passed")
    for r in (gate, check, wrong_gate, gated):
        state.results[r.nodeid] = r
    Settlement(state, {"test_mlp.py::test_loops_random_inputs":
                       {"": [("test_mlp.py::test_loops_five_dense", "")]},
                       "test_x.py::test_gradient_check": {"": [("test_x.py::test_forward", "")]}},
               lambda key: False).settle()
    assert check.status == "not graded" and check.not_graded
    assert gated.status == "withheld" and not gated.not_graded  # its own task's gate: lost


def test_a_hint_without_a_catalogue_id_names_no_mistake():
    assert Mismatch("q", "differs", "a free hint").diagnosis is None
    with pytest.raises(Mismatch) as info:
        expect_close(2.0 * _ones(), _ones(), "q", alternatives={"a free alternative": 2 * _ones()})
    assert info.value.hint == "a free alternative" and info.value.diagnosis is None
    with pytest.raises(Mismatch) as info:
        expect_close(2.0 * _ones(), _ones(), "q",
                     alternatives={("q.doubled", "doubled"): 2 * _ones()})
    assert info.value.diagnosis == "q.doubled"


def _ones():
    import numpy as np
    return np.ones((2, 3))


def _settle(check, gate, gate_key, quantity=""):
    state = results.GradeState()
    state.results[gate.nodeid] = gate
    state.results[check.nodeid] = check
    key = check.nodeid.split("suite/", 1)[1].split("[")[0]
    Settlement(state, {key: {quantity: [(gate_key, "")]}}, lambda k: False).settle()


def test_a_withheld_quantity_is_not_listed_as_right():
    check = results.TestResult("suite/test_b.py::test_eval[case0]", "5.1", 4, status="partial",
                               earned=0.5, feedback="BZ: wrong\nright: NZ, self.running_M "
                               "(50% of this test's points)",
                               quantities=[{"name": "BZ", "weight": 1, "passed": False},
                                           {"name": "NZ", "weight": 1, "passed": True},
                                           {"name": "self.running_M", "weight": 2,
                                            "passed": True}])
    gate = results.TestResult("suite/test_b.py::test_forward[case0]", "5.1", 4, status="failed")
    _settle(check, gate, "test_b.py::test_forward", quantity="self.running_M")
    assert "right: NZ (25% of this test's points)" in check.feedback
    assert "self.running_M" not in check.feedback.split("right: ")[1]


def test_a_withheld_dtype_check_does_not_say_it_compares_code_with_itself():
    check = results.TestResult("suite/test_l.py::test_works_in_float64[case0]", "1.1", 1,
                               status="passed")
    gate = results.TestResult("suite/test_l.py::test_forward[case0]", "1.1", 3, status="failed")
    _settle(check, gate, "test_l.py::test_forward")
    assert check.status == "withheld" and "with itself" not in check.feedback
    assert "code that computes nothing can pass this check" in check.feedback
