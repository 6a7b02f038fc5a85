"""The tools the gradient checks rely on: autograder.checking.gradcheck and .strategies, and the
hypothesis profiles. A check that cannot fail, or fails correct code, is worse than none."""
import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autograder.checking import gradcheck, strategies
from autograder.checking.gradcheck import (
    ATOL,
    RTOL,
    GradcheckResult,
    H,
    compare_gradients,
    numeric_vjp,
)
from autograder.checking.strategies import (
    batch_shapes,
    labels,
    logits,
    one_hot,
    positive,
    seeds,
    upstream,
    values,
)
from autograder.grading import hypothesis_profile
from mytorch.nn import Softmax


def test_constants():
    assert (H, RTOL, ATOL) == (1e-6, 1e-4, 1e-6)


# ----------------------------------------------------------------------------- numeric_vjp

def test_numeric_vjp_of_a_linear_map_is_its_transpose_product():
    rng = np.random.default_rng(0)
    M, x, u = rng.standard_normal((4, 3)), rng.standard_normal(3), rng.standard_normal(4)
    np.testing.assert_allclose(numeric_vjp(lambda v: M @ v, x, u), M.T @ u, rtol=1e-9)


def test_numeric_vjp_never_mutates_x_and_accepts_array_likes():
    x = np.array([[1.0, -2.0]])
    seen = []

    def f(v):
        seen.append(v)
        return (v ** 2).tolist()  # a plain list, as a proxy might return

    grad = numeric_vjp(f, x, np.array([[1.0, 3.0]]))
    np.testing.assert_array_equal(x, [[1.0, -2.0]])
    assert all(v is not x for v in seen) and len(seen) == 4
    np.testing.assert_allclose(grad, [[2.0, -12.0]], rtol=1e-8)
    assert grad.dtype == np.float64


def test_numeric_vjp_works_in_float64_even_for_integer_inputs():
    grad = numeric_vjp(lambda v: v ** 3, np.array([2]), np.array([1.0]))
    np.testing.assert_allclose(grad, [12.0], rtol=1e-8)


def test_numeric_vjp_rejects_an_upstream_of_another_shape():
    with pytest.raises(ValueError, match="shape"):
        numeric_vjp(lambda v: v, np.ones(3), np.ones(2))


def test_numeric_vjp_of_a_scalar_function():
    grad = numeric_vjp(lambda v: float(np.sum(v ** 2)), np.array([1.0, 2.0]), 1.0)
    np.testing.assert_allclose(grad, [2.0, 4.0], rtol=1e-8)


# ----------------------------------------------------------------------------- compare_gradients

def test_result_is_a_frozen_dataclass():
    result = compare_gradients(np.ones(2), np.ones(2))
    assert isinstance(result, GradcheckResult) and result.ok and bool(result)
    assert result.max_abs_error == 0.0 and result.max_rel_error == 0.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.ok = False


def test_tolerance_is_atol_plus_rtol_times_numeric():
    numeric = np.array([0.0, 100.0])
    assert compare_gradients(numeric + [0.9e-6, 0.0], numeric).ok
    assert not compare_gradients(numeric + [1.1e-6, 0.0], numeric).ok
    assert compare_gradients(numeric + [0.0, 100 * RTOL], numeric).ok  # atol + rtol * 100
    bad = compare_gradients(numeric + [0.0, 100 * RTOL + 2e-6], numeric)
    assert not bad.ok and bad.worst_index == (1,)
    assert bad.analytic_value == pytest.approx(100.010002, rel=1e-12) and bad.numeric_value == 100.0


def test_reports_the_worst_entry():
    numeric = np.zeros((2, 3))
    analytic = numeric.copy()
    analytic[1, 2] = 0.5
    analytic[0, 0] = 0.1
    result = compare_gradients(analytic, numeric)
    assert not result.ok
    assert result.worst_index == (1, 2)
    assert result.max_abs_error == 0.5 and result.max_rel_error == 1.0
    assert "(1, 2)" in result.message and "mismatch" in result.message


@pytest.mark.parametrize("analytic_shape", [(3,), (1, 3), (3, 1, 1)])
def test_shape_mismatch_is_not_ok_and_says_so(analytic_shape):
    result = compare_gradients(np.zeros(analytic_shape), np.zeros((3, 1)))
    assert not result.ok
    assert "shape mismatch" in result.message and str(analytic_shape) in result.message


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("side", ["analytic", "numeric"])
def test_non_finite_values_are_not_ok(bad, side):
    a, n = np.zeros(3), np.zeros(3)
    (a if side == "analytic" else n)[1] = bad
    result = compare_gradients(a, n)
    assert not result.ok and result.worst_index == (1,)
    assert side in result.message and "not finite" in result.message


def test_values_that_are_not_numbers_are_not_ok():
    result = compare_gradients(np.array(["a", "b"]), np.zeros(2))
    assert not result.ok and "float64" in result.message


# ----------------------------------------------------------------------------- the numerics

def softmax_zero_backward(Z, dLdA):
    """A wrong softmax backward that passes every check with an all-ones upstream gradient."""
    return np.zeros_like(Z)


def softmax_forward(Z):
    return Softmax().forward(Z)


def test_all_ones_upstream_is_vacuous_for_softmax_and_random_upstream_is_not():
    Z = logits(0, (3, 4))
    ones = np.ones((3, 4))
    assert compare_gradients(softmax_zero_backward(Z, ones),
                             numeric_vjp(softmax_forward, Z, ones)).ok  # the trap
    g = upstream(1, (3, 4))
    assert not compare_gradients(softmax_zero_backward(Z, g),
                                 numeric_vjp(softmax_forward, Z, g)).ok


def test_float32_forwards_fail_a_correct_gradient():
    # docs/gradcheck.md: central differences in float32 cannot reach the tolerance
    x = values(2, (3, 3))
    u = upstream(3, (3, 3))
    analytic = u * np.cos(x)
    assert compare_gradients(analytic, numeric_vjp(np.sin, x, u)).ok
    f32 = lambda v: np.sin(v.astype(np.float32))  # noqa: E731
    assert not compare_gradients(analytic, numeric_vjp(f32, x, u)).ok


def test_relu_straddling_its_kink_gives_one_half():
    relu = lambda v: np.maximum(v, 0.0)  # noqa: E731
    np.testing.assert_allclose(numeric_vjp(relu, np.array([0.0]), np.array([1.0])), [0.5])


# ----------------------------------------------------------------------------- strategies

@given(shape=batch_shapes(), seed=seeds(), gap=st.sampled_from([0.0, 1e-3, 0.5, 2.9]))
def test_values_are_float64_in_range_and_away_from_zero(shape, seed, gap):
    x = values(seed, shape, away_from_zero=gap)
    assert x.shape == shape and x.dtype == np.float64
    assert (np.abs(x) >= gap).all() and (x >= -3).all() and (x <= 3).all()
    np.testing.assert_array_equal(values(seed, shape, away_from_zero=gap), x)  # deterministic


def test_values_fill_both_sides_of_the_gap():
    x = values(0, (2000,), -1, 4, away_from_zero=0.5)
    assert x.min() < -0.9 and x.max() > 3.9
    assert ((x < 0) & (x > -0.5)).sum() == 0 and ((x >= 0) & (x < 0.5)).sum() == 0
    assert 0.1 < (x < 0).mean() < 0.2  # the negative piece is 0.5 long out of 4


def test_values_one_sided_and_invalid_ranges():
    assert (values(0, (100,), 1.0, 2.0, away_from_zero=1.5) >= 1.5).all()
    with pytest.raises(ValueError):
        values(0, (2,), -1.0, 1.0, away_from_zero=2.0)
    with pytest.raises(ValueError):
        values(0, (2,), 1.0, 1.0)
    with pytest.raises(ValueError):
        positive(0, (2,), -1.0, 1.0)


def test_a_generator_gives_successive_independent_arrays():
    rng = np.random.default_rng(5)
    assert not np.array_equal(values(rng, (3,)), values(rng, (3,)))
    assert not np.array_equal(upstream(6, (2, 2)), np.ones((2, 2)))


@given(shape=batch_shapes(), seed=seeds())
def test_logits_labels_and_one_hot(shape, seed):
    n, c = shape
    assert np.abs(logits(seed, shape)).max() <= 10.0
    y = labels(seed, n, c)
    assert y.dtype == np.int64 and y.shape == (n,) and ((0 <= y) & (y < c)).all()
    Y = one_hot(seed, n, c)
    assert Y.shape == shape and Y.dtype == np.float64
    np.testing.assert_array_equal(Y.sum(axis=1), 1.0)
    np.testing.assert_array_equal(Y.argmax(axis=1), y)


def test_strategies_module_registers_no_profile():
    source = open(strategies.__file__, encoding="utf-8").read()
    assert "register_profile" not in source and "load_profile" not in source


def test_gradcheck_uses_only_numpy_and_the_standard_library():
    source = open(gradcheck.__file__, encoding="utf-8").read()
    imports = {line.split()[1].split(".")[0] for line in source.splitlines()
               if line.startswith(("import ", "from "))}
    assert imports <= {"dataclasses", "typing", "numpy"}, imports


# ----------------------------------------------------------------------------- profiles

def test_profiles_are_registered_idempotently_and_loaded_by_the_conftest():
    hypothesis_profile.register_profiles()
    hypothesis_profile.register_profiles()
    default = settings.get_profile("mytorch")
    assert default.derandomize and default.database is None and default.deadline is None
    assert default.print_blob and default.max_examples == 30
    assert settings.get_profile("mytorch-thorough").max_examples == 200
    assert settings.default.derandomize  # tests/conftest.py loaded a mytorch profile
