"""The principles of the grader's verdicts, tested in-process (the corpus in tests/submissions
grades whole submissions; these tests pin the rules each comparison follows).

1. each graded quantity of the Linear, activation and loss tests earns its own credit;
3. a backward equal to the reference never fails a gradient check, and a failing one says which
   side is inconsistent;
5. a hint is named only when the mistake, applied to the reference inputs, reproduces the
   student's value (or exception); generic guesses are never made of scalars or 1×1 arrays;
6. the suite uses only the documented constructor arguments;
8. float32 results are compared at float32 precision.
"""
import ast
import math
import re
from pathlib import Path

import numpy as np
import pytest

from autograder.assignments.hw1 import mistakes
from autograder.channel.errors import NotImplementedYet, StudentError
from autograder.checking.checks import (
    Diagnosis,
    Mismatch,
    diagnose,
    expect_close,
    expect_gradient,
    expect_scalar,
    replaying_errors,
)
from autograder.checking.gradcheck import numeric_vjp

SUITE = Path(mistakes.__file__).parent / "suite"
GRADED_FILES = ("test_linear.py", "test_activation.py", "test_loss.py")
RNG = np.random.default_rng(20261201)


def mismatch(actual, expected, **kwargs):
    with pytest.raises(Mismatch) as info:
        expect_close(actual, expected, "q", **kwargs)
    return info.value


# ----------------------------------------------------------------------------- principle 5

@pytest.mark.parametrize("expected, actual", [
    (np.array(2.0), np.array(3.0)),                  # a scalar
    (np.array([[2.0]]), np.array([[3.0]])),           # a 1×1 array
    (np.array([[1.0, 0.0, 2.0]]), np.array([[0.0, 5.0, 0.0]])),  # 0 where expected is not
    (np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([[0.0, 0.0], [0.0, 0.0]])),
])
def test_no_constant_factor_guess_where_a_ratio_says_nothing(expected, actual):
    error = mismatch(actual, expected)
    assert "constant factor" not in str(error) and "×" not in str(error)


def test_constant_factor_only_when_it_holds_everywhere():
    expected = np.array([[1.0, 0.0, 2.0], [-3.0, 4.0, 0.0]])
    assert mismatch(3.5 * expected, expected).diagnosis == "q.constant_factor"
    almost = 3.5 * expected
    almost[0, 1] = 0.1  # nonzero where the expected value is 0: no factor explains it
    assert mismatch(almost, expected).diagnosis is None


def test_an_unrecognised_value_gets_no_hint():
    expected = RNG.normal(size=(3, 4))
    error = mismatch(expected + RNG.normal(size=(3, 4)), expected, batch=3)
    assert error.hint is None and error.diagnosis is None and "Hint" not in str(error)


def test_a_shape_guess_is_verified_by_the_values():
    expected = RNG.normal(size=(1, 4))
    # (4,) with the right values: reshape; with other values: only the fact about the shape
    assert "values are right" in mismatch(expected.ravel(), expected).hint
    assert "values are right" not in (mismatch(-expected.ravel() + 1, expected).hint or "")
    # (3, 4) rows whose sum is the answer: "sum over the batch"; other rows: no such guess
    rows = np.vstack([expected / 3] * 3)
    assert mismatch(rows, expected).diagnosis == "q.not_summed_over_batch"
    assert "sum over the batch" not in (mismatch(rows + 1, expected).hint or "")


@pytest.mark.parametrize("N", [1, 3, 4])
def test_bias_added_as_a_column_is_named_as_such_in_every_shape(N):
    """Z + b with b (C_out, 1): a wrong shape (N = 1), wrong values (N = C_out) or NumPy's
    broadcast error (other N) all get the one hint, never "sum over the batch axis"."""
    C_in, C_out = 2, 4
    A, W, b = (RNG.normal(size=(N, C_in)), RNG.normal(size=(C_out, C_in)),
               RNG.normal(size=(C_out, 1)))
    found = mistakes.linear(A, W, b)["Z"]
    right = A @ W.T + b.T
    try:
        student = A @ W.T + b
    except ValueError as exc:
        error = student_error(exc, "Linear.forward()")
        with pytest.raises(Mismatch) as info, replaying_errors("Z", found):
            raise error from exc
        assert info.value.diagnosis == "linear.Z.bias_as_column"
        return
    error = mismatch(student, right, diagnoses=found)
    assert error.diagnosis == "linear.Z.bias_as_column"
    assert "batch" not in error.hint


def student_error(exc, action):
    return StudentError({"kind": "exception", "type": type(exc).__name__, "message": str(exc)},
                        action)


def test_a_matmul_error_is_named_only_when_the_mistake_raises_it():
    A, W, b = RNG.normal(size=(3, 2)), RNG.normal(size=(5, 2)), RNG.normal(size=(5, 1))
    found = mistakes.linear(A, W, b)["Z"]
    with pytest.raises(ValueError) as raised:
        A @ W
    with pytest.raises(Mismatch) as info, replaying_errors("Z", found):
        raise student_error(raised.value, "Linear.forward()")
    assert info.value.diagnosis == "linear.Z.W_not_transposed" and "A @ W.T" in info.value.hint
    # another error (even another matmul error) passes through unnamed
    with pytest.raises(ValueError) as other:
        A @ RNG.normal(size=(4, 4))
    with pytest.raises(StudentError), replaying_errors("Z", found):
        raise student_error(other.value, "Linear.forward()")
    with pytest.raises(NotImplementedYet), replaying_errors("Z", found):
        raise NotImplementedYet({"kind": "not_implemented"}, "Linear.forward()")


def test_the_same_bug_gets_the_same_id_whatever_the_test():
    """The averaged dLdb: in test_backward (batch given), after two calls, in a gradient check."""
    for N in (2, 3, 5):
        A, W, b = RNG.normal(size=(N, 3)), RNG.normal(size=(2, 3)), RNG.normal(size=(2, 1))
        dLdZ = RNG.normal(size=(N, 2))
        found = mistakes.linear(A, W, b, dLdZ)["dLdb"]
        right = dLdZ.sum(axis=0).reshape(-1, 1)
        averaged = right / N
        for batch in (N, None):
            assert mismatch(averaged, right, batch=batch, diagnoses=found).diagnosis == \
                "linear.dLdb.averaged"
        with pytest.raises(Mismatch) as info:
            expect_gradient(averaged, right, "self.dLdb", reference=right, diagnoses=found,
                            key="linear.dLdb")
        assert info.value.diagnosis == "linear.dLdb.averaged"


def catalogue_cases():
    Z, dLdA = RNG.uniform(-3, 3, (4, 3)), RNG.normal(size=(4, 3))
    A, Y = RNG.uniform(-3, 3, (4, 3)), np.eye(3)[[0, 2, 1, 2]]
    BZ = RNG.normal(size=(4, 3))
    return [("linear", mistakes.linear(RNG.normal(size=(4, 3)), RNG.normal(size=(2, 3)),
                                       RNG.normal(size=(2, 1)), RNG.normal(size=(4, 2)))),
            *[(f.__name__, f(Z, dLdA)) for f in (mistakes.sigmoid, mistakes.tanh, mistakes.relu,
                                                  mistakes.gelu, mistakes.softmax)],
            ("mse", mistakes.mse(A, Y)), ("ce", mistakes.cross_entropy(A, Y)),
            ("bn", mistakes.batchnorm(Z, RNG.uniform(0.5, 2, (1, 3)), RNG.normal(size=(1, 3)),
                                      BZ))]


@pytest.mark.parametrize("layer, found", catalogue_cases(), ids=lambda x: x if isinstance(x, str)
                         else "")
def test_catalogue_ids_are_stable_names(layer, found):
    for diagnoses in found.values():
        for d in diagnoses:
            assert re.fullmatch(r"[a-z]+(\.[A-Za-z0-9_\-]+)+", d.id), d.id
            assert d.id.split(".")[0] == layer
            assert d.hint.strip(), d.id


def test_batchnorm_diagnoses():
    """For test_batchnorm: swapped or scalar dLdBW/dLdBb, PyTorch's eps and eps outside the root."""
    N, C = 5, 3
    Z, BW, Bb = RNG.normal(size=(N, C)), RNG.uniform(0.5, 2, (1, C)), RNG.normal(size=(1, C))
    dLdBZ = RNG.normal(size=(N, C))
    found = mistakes.batchnorm(Z, BW, Bb, dLdBZ)
    M, V = Z.mean(axis=0, keepdims=True), Z.var(axis=0, keepdims=True)
    NZ = (Z - M) / np.sqrt(V + 1e-8)
    dLdBW, dLdBb = (dLdBZ * NZ).sum(axis=0, keepdims=True), dLdBZ.sum(axis=0, keepdims=True)
    assert mismatch(dLdBb, dLdBW, diagnoses=found["dLdBW"]).diagnosis == "bn.dLdBW_dLdBb_swapped"
    assert mismatch(dLdBW, dLdBb, diagnoses=found["dLdBb"]).diagnosis == "bn.dLdBW_dLdBb_swapped"
    assert mismatch(float(dLdBW.sum()), dLdBW, diagnoses=found["dLdBW"]).diagnosis == \
        "bn.dLdBW.scalar"
    Z[:, 0] = 0.25 + 1e-4 * RNG.normal(size=N)  # a near-constant feature: eps matters
    found = mistakes.batchnorm(Z, BW, Bb, dLdBZ)
    M, V = Z.mean(axis=0, keepdims=True), Z.var(axis=0, keepdims=True)
    right = BW * (Z - M) / np.sqrt(V + 1e-8) + Bb
    for eps_id, scale in (("bn.eps_1e-5", np.sqrt(V + 1e-5)),
                          ("bn.eps_outside_sqrt", np.sqrt(V) + 1e-8)):
        wrong = BW * (Z - M) / scale + Bb
        assert mismatch(wrong, right, diagnoses=found["BZ"]).diagnosis == eps_id


def test_a_mistake_equal_to_the_answer_is_never_named():
    """A diagnosis only runs on a failed comparison: a right value never gets a hint, even where
    a mistake happens to give the same numbers (N = 1: a mean over one row is the sum)."""
    A, W, b, dLdZ = (RNG.normal(size=(1, 3)), RNG.normal(size=(2, 3)), RNG.normal(size=(2, 1)),
                     RNG.normal(size=(1, 2)))
    right = dLdZ.T @ np.ones((1, 1))
    expect_close(right, right, "self.dLdb", diagnoses=mistakes.linear(A, W, b, dLdZ)["dLdb"])


# ----------------------------------------------------------------------------- principle 3

def cross_entropy_with_eps(A, Y):
    E = np.exp(A - A.max(axis=1, keepdims=True))
    P = E / E.sum(axis=1, keepdims=True)
    return float(-np.sum(Y * np.log(P + 1e-12))) / A.shape[0], (P - Y) / A.shape[0]


def test_a_backward_equal_to_the_reference_passes_the_gradient_check():
    """log(softmax + 1e-12) on logits ±10: its central differences are off the exact gradient by
    more than the gradient check's tolerance, but its backward is PyTorch's: it passes."""
    A = np.array([[10.0, -10.0, 9.5], [-9.8, 9.9, -10.0]])
    Y = np.eye(3)[[1, 0]]
    numeric = numeric_vjp(lambda a: cross_entropy_with_eps(a, Y)[0], A, 1.0)
    _, backward = cross_entropy_with_eps(A, Y)
    shifted = A - A.max(axis=1, keepdims=True)
    reference = (np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True) - Y) / 2
    with pytest.raises(Mismatch):  # central differences alone would blame this backward
        expect_gradient(backward, numeric, "dLdA")
    expect_gradient(backward, numeric, "dLdA", reference=reference)


def test_a_failing_gradient_check_says_which_side_is_inconsistent():
    Z = RNG.uniform(-2, 2, (2, 3))
    right = 1 - np.tanh(Z) ** 2
    wrong_backward = 2 * right + 0.5
    forward_ok = (np.tanh(Z), np.tanh(Z))
    with pytest.raises(Mismatch) as info:
        expect_gradient(wrong_backward, right, "dLdZ", reference=right, forward=forward_ok)
    assert "inconsistent with your forward" in str(info.value)
    assert "(which matches the reference)" in str(info.value)
    forward_wrong = (np.tanh(Z) + 1, np.tanh(Z))
    with pytest.raises(Mismatch) as info:
        expect_gradient(wrong_backward, right + 0.1, "dLdZ", reference=right,
                        forward=forward_wrong)
    assert "your forward itself differs from the reference" in str(info.value)
    # a backward consistent with a wrong forward passes: the forward's own test charges it
    expect_gradient(right + 0.1, right + 0.1, "dLdZ", reference=right, forward=forward_wrong)


# ----------------------------------------------------------------------------- principle 8

def test_float32_results_are_compared_at_float32_precision():
    expected = RNG.normal(size=(4, 5)) * 10
    expect_close(expected.astype(np.float32), expected, "Z")
    expect_close(expected * (1 + 2e-7), expected, "Z", computed_in=np.float32)
    with pytest.raises(Mismatch):
        expect_close(expected * (1 + 2e-5), expected, "Z")  # float64 stays strict
    with pytest.raises(Mismatch):
        expect_close((expected * 1.01).astype(np.float32), expected, "Z")  # a bug stays a bug
    expect_scalar(np.float32(math.pi), math.pi, "L")


# ----------------------------------------------------------------------------- principles 1, 6

def _with_quantity(stack):
    for node in stack:
        if isinstance(node, ast.With):
            for item in node.items:
                call = item.context_expr
                if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) \
                        and call.func.attr == "check":
                    return True
    return False


@pytest.mark.parametrize("name", GRADED_FILES)
def test_every_comparison_is_a_quantity_of_its_own(name):
    """Each expect_close / expect_scalar / expect_gradient of these files sits inside a
    ``with quantities.check(...)`` block: a failing quantity costs its own share only."""
    tree = ast.parse((SUITE / name).read_text())
    found = []

    def visit(node, stack):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") in (
                "expect_close", "expect_scalar", "expect_gradient"):
            found.append((node.lineno, _with_quantity(stack)))
        for child in ast.iter_child_nodes(node):
            visit(child, stack + [node])

    visit(tree, [])
    assert found and all(inside for _, inside in found), [line for line, ok in found if not ok]


def test_the_suite_constructs_layers_by_the_documented_contract():
    """``Linear(in, out)``; ``bias=False`` only where bias=False is graded; never input_grad,
    dtype, rng or init."""
    for path in sorted(SUITE.rglob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "new":
                keywords = {k.arg: k.value for k in node.keywords}
                assert not set(keywords) & {"input_grad", "dtype", "rng", "init", "debug"}, \
                    (path.name, node.lineno)
                if "bias" in keywords:
                    assert isinstance(keywords["bias"], ast.Constant) and \
                        keywords["bias"].value is False, (path.name, node.lineno)


def test_diagnosis_needs_exactly_one_way_to_compute_the_mistake():
    with pytest.raises(ValueError):
        Diagnosis("x.y", "hint")
    assert diagnose(np.array([[1.0, 2.0]]), np.array([[-1.0, -2.0]])).id == "value.sign_flipped"
