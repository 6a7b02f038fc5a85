"""mytorch.nn activations: values by hand, gradient checks, stability and invariants."""
import math

import numpy as np
import pytest
from hypothesis import example, given

from autograder.checking.strategies import batch_shapes, logits, seeds, upstream, values
from mytorch.nn import GELU, Identity, ReLU, Sigmoid, Softmax, Tanh
from tests.mytorch.helpers import assert_gradient, strict_floats

ACTIVATIONS = [Identity, Sigmoid, Tanh, ReLU, GELU, Softmax]


def inputs_for(cls, rng, shape):
    """Values suited to a central-difference check of ``cls``."""
    if cls is ReLU:
        return values(rng, shape, away_from_zero=1e-3)  # off the kink
    if cls is Softmax:
        return logits(rng, shape)
    return values(rng, shape)


# ----------------------------------------------------------------------------- by hand

def test_identity():
    Z = np.array([[-1.5, 0.0, 2.0]])
    layer = Identity()
    np.testing.assert_array_equal(layer.forward(Z), Z)
    np.testing.assert_array_equal(layer.backward(np.array([[1.0, 2.0, 3.0]])), [[1.0, 2.0, 3.0]])


def test_sigmoid_by_hand():
    layer = Sigmoid()
    A = layer.forward(np.array([[0.0, math.log(3.0)]]))
    np.testing.assert_allclose(A, [[0.5, 0.75]], rtol=1e-15)
    # dA/dZ = A (1 - A): 1/4 and 3/16
    np.testing.assert_allclose(layer.backward(np.array([[1.0, 2.0]])), [[0.25, 0.375]], rtol=1e-15)


def test_tanh_by_hand():
    layer = Tanh()
    A = layer.forward(np.array([[0.0, math.log(2.0)]]))  # tanh(ln 2) = (2 - 1/2) / (2 + 1/2) = 3/5
    np.testing.assert_allclose(A, [[0.0, 0.6]], rtol=1e-15, atol=0)
    np.testing.assert_allclose(layer.backward(np.array([[1.0, 1.0]])), [[1.0, 0.64]], rtol=1e-15)


def test_relu_by_hand_with_zero_gradient_at_the_kink():
    layer = ReLU()
    np.testing.assert_array_equal(layer.forward(np.array([[-1.0, 0.0, 2.0], [3.0, -0.0, -4.0]])),
                                  [[0.0, 0.0, 2.0], [3.0, 0.0, 0.0]])
    dLdZ = layer.backward(np.array([[5.0, 6.0, 7.0], [8.0, 9.0, 10.0]]))
    # relu'(0) = 0, as in PyTorch (a finite difference would give 0.5 there)
    np.testing.assert_array_equal(dLdZ, [[0.0, 0.0, 7.0], [8.0, 0.0, 0.0]])


def test_gelu_by_hand():
    layer = GELU()
    Phi1 = 0.5 * (1.0 + math.erf(1.0 / math.sqrt(2.0)))  # Φ(1) ≈ 0.8413447460685429
    A = layer.forward(np.array([[0.0, 1.0, -1.0]]))
    np.testing.assert_allclose(A, [[0.0, Phi1, -(1.0 - Phi1)]], rtol=1e-15, atol=1e-300)
    # GELU'(z) = Φ(z) + z φ(z): 1/2 at 0, Φ(1) + φ(1) at 1
    phi1 = math.exp(-0.5) / math.sqrt(2.0 * math.pi)
    dLdZ = layer.backward(np.ones((1, 3)))
    np.testing.assert_allclose(dLdZ, [[0.5, Phi1 + phi1, 1.0 - Phi1 - phi1]], rtol=1e-14)


def test_softmax_of_equal_logits_is_uniform():
    A = Softmax().forward(np.full((2, 4), 3.7))
    np.testing.assert_allclose(A, np.full((2, 4), 0.25), rtol=1e-15)


def test_softmax_by_hand():
    layer = Softmax()
    A = layer.forward(np.array([[0.0, math.log(3.0)]]))
    np.testing.assert_allclose(A, [[0.25, 0.75]], rtol=1e-15)
    # dLdZ = A * (g - <g, A>) with g = (1, 0): <g, A> = 1/4 -> (3/16, -3/16)
    np.testing.assert_allclose(layer.backward(np.array([[1.0, 0.0]])), [[0.1875, -0.1875]],
                               rtol=1e-14)


# ----------------------------------------------------------------------------- gradient checks

@pytest.mark.parametrize("cls", ACTIVATIONS, ids=lambda c: c.__name__)
@given(shape=batch_shapes(), seed=seeds())
def test_gradient_matches_central_differences(cls, shape, seed):
    rng = np.random.default_rng(seed)
    Z, dLdA = inputs_for(cls, rng, shape), upstream(rng, shape)
    layer = cls()
    layer.forward(Z)
    dLdZ = layer.backward(dLdA)
    assert_gradient(dLdZ, lambda Z_: cls().forward(Z_), Z, dLdA, f"{cls.__name__} dLdZ",
                    seed=seed, shape=shape)


# ----------------------------------------------------------------------------- properties

@pytest.mark.parametrize("cls", ACTIVATIONS, ids=lambda c: c.__name__)
@given(shape=batch_shapes(), seed=seeds())
def test_shape_dtype_zeros_and_repeated_backward(cls, shape, seed):
    rng = np.random.default_rng(seed)
    Z = inputs_for(cls, rng, shape)
    layer = cls()
    A = layer.forward(Z)
    assert A.shape == shape and A.dtype == np.float64
    assert not layer.backward(np.zeros(shape)).any()
    g = upstream(rng, shape)
    first = layer.backward(g)
    assert first.shape == shape and first.dtype == np.float64
    np.testing.assert_array_equal(layer.backward(g), first)
    assert layer.parameters() == []


@given(shape=batch_shapes(), seed=seeds())
def test_softmax_rows_are_distributions_and_shift_invariant(shape, seed):
    rng = np.random.default_rng(seed)
    Z = logits(rng, shape)
    A = Softmax().forward(Z)
    assert (A > 0).all()
    np.testing.assert_allclose(A.sum(axis=1), 1.0, rtol=0, atol=1e-14)
    shift = values(rng, (shape[0], 1), -50, 50)
    np.testing.assert_allclose(Softmax().forward(Z + shift), A, rtol=1e-12, atol=1e-15)


@given(shape=batch_shapes(), seed=seeds())
@example(shape=(1, 1), seed=0)
def test_softmax_backward_of_constant_rows_is_zero(shape, seed):
    # Adding a constant to a row of dLdA changes nothing: the rows of A sum to 1.
    rng = np.random.default_rng(seed)
    layer = Softmax()
    layer.forward(logits(rng, shape))
    dLdZ = layer.backward(np.repeat(values(rng, (shape[0], 1)), shape[1], axis=1))
    np.testing.assert_allclose(dLdZ, 0.0, atol=1e-14)


def test_softmax_is_stable_for_inputs_in_the_thousands():
    Z = np.array([[1000.0, 999.0, -1000.0], [-1000.0, -1000.0, -1000.0], [1e4, -1e4, 0.0]])
    layer = Softmax()
    with strict_floats():
        A = layer.forward(Z)
        dLdZ = layer.backward(np.array([[1.0, -2.0, 0.5]] * 3))
    assert np.isfinite(A).all() and np.isfinite(dLdZ).all()
    np.testing.assert_allclose(A.sum(axis=1), 1.0, rtol=0, atol=1e-15)
    e = math.exp(-1.0)
    np.testing.assert_allclose(A[0], [1.0 / (1.0 + e), e / (1.0 + e), 0.0], rtol=1e-15, atol=0)
    np.testing.assert_allclose(A[1], [1.0 / 3.0] * 3, rtol=1e-15)
    np.testing.assert_array_equal(A[2], [1.0, 0.0, 0.0])


def test_sigmoid_is_stable_and_symmetric_for_large_inputs():
    Z = np.array([[-1000.0, -40.0, 0.0, 40.0, 1000.0]])
    with strict_floats():
        A = Sigmoid().forward(Z)
        B = Sigmoid().forward(-Z)
    assert np.isfinite(A).all()
    np.testing.assert_allclose(A + B, 1.0, rtol=1e-15)
    assert A[0, 0] == 0.0 and A[0, -1] == 1.0
    np.testing.assert_allclose(A[0, 1], math.exp(-40.0), rtol=1e-14)  # no cancellation 1 - (1 - x)


@pytest.mark.parametrize("cls", [Sigmoid, Tanh, ReLU, GELU], ids=lambda c: c.__name__)
def test_elementwise_activations_keep_any_shape(cls):
    Z = values(0, (2, 3, 4))
    A = cls().forward(Z)
    assert A.shape == Z.shape


def test_softmax_rejects_non_matrix_input():
    with pytest.raises(ValueError, match="Softmax"):
        Softmax().forward(np.ones(3))


@pytest.mark.parametrize("cls", ACTIVATIONS, ids=lambda c: c.__name__)
def test_backward_rejects_gradient_of_another_shape(cls):
    layer = cls()
    layer.forward(values(0, (2, 3)))
    with pytest.raises(ValueError) as info:
        layer.backward(np.ones((3, 2)))
    assert cls.__name__ in str(info.value) and "(3, 2)" in str(info.value)
