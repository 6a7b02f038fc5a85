"""mytorch.nn.Linear: values by hand, gradient checks, properties, initialisation, errors."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from autograder.checking.strategies import seeds, sizes, upstream, values
from mytorch.nn import Linear
from tests.mytorch.helpers import assert_gradient


def make_linear(c_in, c_out, rng, bias=True):
    layer = Linear.zeros(c_in, c_out, bias=bias)
    layer.W = values(rng, (c_out, c_in))
    if bias:
        layer.b = values(rng, (c_out, 1))
    return layer


# ----------------------------------------------------------------------------- by hand

def test_two_by_two_forward_and_backward_by_hand():
    layer = Linear.zeros(2, 2)
    layer.W = np.array([[1.0, 2.0], [3.0, 4.0]])
    layer.b = np.array([[1.0], [-1.0]])
    A = np.array([[1.0, 0.0], [2.0, 1.0]])
    # Z[i, j] = sum_k A[i, k] W[j, k] + b[j]
    np.testing.assert_array_equal(layer.forward(A), [[2.0, 2.0], [5.0, 9.0]])
    dLdZ = np.array([[1.0, 0.0], [0.0, 2.0]])
    np.testing.assert_array_equal(layer.backward(dLdZ), [[1.0, 2.0], [6.0, 8.0]])  # dLdZ @ W
    np.testing.assert_array_equal(layer.dLdW, [[1.0, 0.0], [4.0, 2.0]])  # dLdZ.T @ A
    np.testing.assert_array_equal(layer.dLdb, [[1.0], [2.0]])  # column sums of dLdZ, (C_out, 1)


def test_forward_stores_input_and_batch_size():
    layer = Linear(3, 2, rng=0)
    A = np.arange(12.0).reshape(4, 3)
    layer.forward(A)
    assert layer.N == 4
    np.testing.assert_array_equal(layer.A, A)


def test_without_bias_by_hand():
    layer = Linear.zeros(2, 1, bias=False)
    layer.W = np.array([[2.0, -1.0]])
    A = np.array([[1.0, 1.0], [3.0, 0.0]])
    np.testing.assert_array_equal(layer.forward(A), [[1.0], [6.0]])
    np.testing.assert_array_equal(layer.backward(np.array([[1.0], [1.0]])),
                                  [[2.0, -1.0], [2.0, -1.0]])
    np.testing.assert_array_equal(layer.dLdW, [[4.0, 1.0]])
    assert layer.b is None and layer.dLdb is None
    assert len(layer.parameters()) == 1


# ----------------------------------------------------------------------------- gradient checks

@given(n=sizes(), c_in=sizes(), c_out=sizes(), seed=seeds(), bias=st.booleans())
def test_gradients_match_central_differences(n, c_in, c_out, seed, bias):
    rng = np.random.default_rng(seed)
    layer = make_linear(c_in, c_out, rng, bias)
    A, dLdZ = values(rng, (n, c_in)), upstream(rng, (n, c_out))
    layer.forward(A)
    dLdA = layer.backward(dLdZ)
    W, b = layer.W.copy(), None if layer.b is None else layer.b.copy()
    ctx = dict(seed=seed, n=n, c_in=c_in, c_out=c_out, bias=bias)

    def forward_with(W_=W, b_=b, A_=A):
        probe = Linear.zeros(c_in, c_out, bias=bias)
        probe.W, probe.b = W_, b_
        return probe.forward(A_)

    assert_gradient(dLdA, lambda A_: forward_with(A_=A_), A, dLdZ, "dLdA", **ctx)
    assert_gradient(layer.dLdW, lambda W_: forward_with(W_=W_), W, dLdZ, "dLdW", **ctx)
    if bias:
        assert_gradient(layer.dLdb, lambda b_: forward_with(b_=b_), b, dLdZ, "dLdb", **ctx)


# ----------------------------------------------------------------------------- properties

@given(n=sizes(), c_in=sizes(), c_out=sizes(), seed=seeds())
def test_backward_of_zeros_is_zero(n, c_in, c_out, seed):
    rng = np.random.default_rng(seed)
    layer = make_linear(c_in, c_out, rng)
    layer.forward(values(rng, (n, c_in)))
    dLdA = layer.backward(np.zeros((n, c_out)))
    assert not dLdA.any() and not layer.dLdW.any() and not layer.dLdb.any()


@given(n=sizes(), c_in=sizes(), c_out=sizes(), seed=seeds())
def test_backward_overwrites_instead_of_accumulating(n, c_in, c_out, seed):
    rng = np.random.default_rng(seed)
    layer = make_linear(c_in, c_out, rng)
    layer.forward(values(rng, (n, c_in)))
    g1, g2 = upstream(rng, (n, c_out)), upstream(rng, (n, c_out))
    first = layer.backward(g1)
    dLdW, dLdb = layer.dLdW.copy(), layer.dLdb.copy()
    np.testing.assert_array_equal(layer.backward(g1), first)
    np.testing.assert_array_equal(layer.dLdW, dLdW)  # not 2 * dLdW
    np.testing.assert_array_equal(layer.dLdb, dLdb)
    layer.backward(g2)
    np.testing.assert_allclose(layer.dLdW, g2.T @ layer.A, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("bias", [True, False])
def test_gradients_have_parameter_shapes_and_dtypes(bias):
    layer = Linear(3, 5, bias=bias, rng=1)
    layer.forward(np.ones((4, 3)))
    layer.backward(np.ones((4, 5)))
    pairs = layer.parameters()
    assert len(pairs) == (2 if bias else 1)
    assert pairs[0][0] is layer.W and pairs[0][1] is layer.dLdW
    if bias:
        assert pairs[1][0] is layer.b and pairs[1][1] is layer.dLdb
        assert layer.b.shape == (5, 1)
    assert layer.W.shape == (5, 3)
    for param, grad in pairs:
        assert grad.shape == param.shape and grad.dtype == param.dtype == np.float64


def test_output_is_float64():
    layer = Linear(2, 3, rng=0)
    assert layer.forward(np.ones((1, 2))).dtype == np.float64
    assert layer.backward(np.ones((1, 3))).dtype == np.float64


def test_forward_does_not_modify_its_input_or_parameters():
    layer = Linear(3, 2, rng=0)
    A = np.arange(6.0).reshape(2, 3)
    A0, W0, b0 = A.copy(), layer.W.copy(), layer.b.copy()
    layer.forward(A)
    layer.backward(np.ones((2, 2)))
    np.testing.assert_array_equal(A, A0)
    np.testing.assert_array_equal(layer.W, W0)
    np.testing.assert_array_equal(layer.b, b0)


def test_repr():
    assert repr(Linear(3, 5)) == "Linear(in_features=3, out_features=5, bias=True)"
    assert repr(Linear(4, 1, bias=False)) == "Linear(in_features=4, out_features=1, bias=False)"


# ----------------------------------------------------------------------------- initialisation

@pytest.mark.parametrize("c_in", [1, 4, 100])
def test_torch_style_init_is_uniform_within_one_over_sqrt_fan_in(c_in):
    layer = Linear(c_in, 300, rng=0)
    bound = 1.0 / np.sqrt(c_in)
    for p in (layer.W, layer.b):
        assert p.dtype == np.float64
        assert np.abs(p).max() <= bound
    # 300 * c_in samples of U(-bound, bound): they fill the interval, mean 0, variance bound²/3
    W = layer.W / bound
    assert W.min() < -0.95 and W.max() > 0.95
    assert abs(W.mean()) < 0.1
    assert abs(W.var() - 1.0 / 3.0) < 0.05
    b = layer.b / bound
    assert b.min() < -0.9 and b.max() > 0.9


def test_init_is_reproducible_from_a_seed_or_a_generator():
    a, b, c = Linear(4, 3, rng=7), Linear(4, 3, rng=7), Linear(4, 3, rng=8)
    np.testing.assert_array_equal(a.W, b.W)
    np.testing.assert_array_equal(a.b, b.b)
    assert not np.array_equal(a.W, c.W)
    g1, g2 = np.random.default_rng(7), np.random.default_rng(7)
    np.testing.assert_array_equal(Linear(4, 3, rng=g1).W, Linear(4, 3, rng=g2).W)
    # a shared generator advances: two layers from one generator differ
    assert not np.array_equal(Linear(4, 3, rng=g1).W, a.W)


def test_zeros_init():
    layer = Linear.zeros(3, 2)
    assert type(layer) is Linear
    assert layer.W.shape == (2, 3) and layer.b.shape == (2, 1)
    assert not layer.W.any() and not layer.b.any()
    assert layer.W.dtype == layer.b.dtype == np.float64
    assert layer.parameters()[0][0] is layer.W and layer.parameters()[1][0] is layer.b


def test_zeros_init_without_bias():
    layer = Linear.zeros(3, 2, bias=False)
    assert not layer.W.any() and layer.b is None and layer.dLdb is None


# ----------------------------------------------------------------------------- errors

@pytest.mark.parametrize("shape", [(2, 4), (4,), (2, 3, 1), (3, 2)])
def test_wrong_input_shape_names_the_layer_and_both_shapes(shape):
    layer = Linear(3, 5)
    with pytest.raises(ValueError) as info:
        layer.forward(np.ones(shape))
    message = str(info.value)
    assert "Linear(in_features=3, out_features=5, bias=True)" in message
    assert "(N, 3)" in message
    assert str(shape) in message


def test_input_without_shape_raises_value_error():
    with pytest.raises(ValueError, match="Linear"):
        Linear(3, 5).forward([[1.0, 2.0, 3.0]])


def test_wrong_upstream_shape_raises():
    layer = Linear(3, 5)
    layer.forward(np.ones((2, 3)))
    with pytest.raises(ValueError) as info:
        layer.backward(np.ones((2, 3)))
    assert "Linear(in_features=3, out_features=5, bias=True)" in str(info.value)
    assert "(N, 5)" in str(info.value) and "(2, 3)" in str(info.value)


@given(n=sizes(1, 5), c_in=sizes(), c_out=sizes(), seed=seeds())
def test_input_grad_false_skips_only_dLdA(n, c_in, c_out, seed):
    full, skip = make_linear(c_in, c_out, seed), make_linear(c_in, c_out, seed)
    skip.input_grad = False
    A, dLdZ = values(seed + 1, (n, c_in)), upstream(seed + 2, (n, c_out))
    full.forward(A), skip.forward(A)
    assert full.backward(dLdZ).shape == (n, c_in)
    assert skip.backward(dLdZ) is None
    np.testing.assert_array_equal(skip.dLdW, full.dLdW)
    np.testing.assert_array_equal(skip.dLdb, full.dLdb)
