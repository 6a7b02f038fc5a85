"""mytorch.nn.MaxPool2d / AvgPool2d / Flatten: values by hand, ties, overlapping windows, gradient
checks, errors."""
import numpy as np
import pytest
from hypothesis import given

from autograder.checking.strategies import seeds, sizes, upstream
from mytorch.nn import AvgPool2d, Flatten, MaxPool2d
from tests.mytorch.helpers import assert_gradient

POOLS = {"MaxPool2d": MaxPool2d, "AvgPool2d": AvgPool2d}


def distinct(rng, shape, gap=0.01):
    """Values without ties: a shuffled grid with steps of ``gap`` (far above a finite
    difference's step), so no max changes place when one entry moves by h."""
    size = int(np.prod(shape))
    return (rng.permutation(size) * gap - size * gap / 2).reshape(shape)


# ----------------------------------------------------------------------------- by hand

def test_max_pool_by_hand():
    A = np.array([[[[1.0, 5.0, 2.0, 0.0],
                    [3.0, 4.0, 7.0, 1.0],
                    [0.0, 0.0, 1.0, 2.0],
                    [6.0, 0.0, 3.0, 9.0]]]])
    pool = MaxPool2d(2)
    np.testing.assert_array_equal(pool.forward(A), [[[[5.0, 7.0], [6.0, 9.0]]]])
    np.testing.assert_array_equal(pool.index, [[[[1, 2], [2, 3]]]])  # u·K + v in each window
    dLdA = pool.backward(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]))
    np.testing.assert_array_equal(dLdA[0, 0], [[0, 1, 0, 0], [0, 0, 2, 0], [0, 0, 0, 0],
                                               [3, 0, 0, 4]])


def test_max_pool_ties_send_the_gradient_to_the_first_maximum():
    """Row-major first, as PyTorch's CPU kernel: the top-left 3 of each window wins."""
    A = np.array([[[[3.0, 3.0, 0.0, 2.0],
                    [3.0, 1.0, 2.0, 2.0]]]])
    pool = MaxPool2d(2)
    np.testing.assert_array_equal(pool.forward(A), [[[[3.0, 2.0]]]])
    dLdA = pool.backward(np.array([[[[1.0, 1.0]]]]))
    np.testing.assert_array_equal(dLdA[0, 0], [[1, 0, 0, 1], [0, 0, 0, 0]])


def test_max_pool_propagates_nan_and_routes_its_gradient_to_the_first_nan():
    A = np.array([[[[1.0, np.nan, 0.0, 2.0],
                    [np.nan, 5.0, 1.0, 2.0]]]])
    pool = MaxPool2d(2)
    Z = pool.forward(A)
    assert np.isnan(Z[0, 0, 0, 0]) and Z[0, 0, 0, 1] == 2.0
    np.testing.assert_array_equal(pool.index, [[[[1, 1]]]])
    dLdA = pool.backward(np.array([[[[3.0, 4.0]]]]))
    np.testing.assert_array_equal(dLdA[0, 0], [[0, 3, 0, 4], [0, 0, 0, 0]])


def test_overlapping_windows_add_their_gradients():
    A = np.array([[[[0.0, 0.0, 0.0],
                    [0.0, 9.0, 0.0],
                    [0.0, 0.0, 0.0]]]])
    pool = MaxPool2d(2, stride=1)  # the centre is the max of all four windows
    np.testing.assert_array_equal(pool.forward(A), np.full((1, 1, 2, 2), 9.0))
    dLdA = pool.backward(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]))
    assert dLdA[0, 0, 1, 1] == 10.0 and dLdA.sum() == 10.0
    avg = AvgPool2d(2, stride=1)
    np.testing.assert_array_equal(avg.forward(A), np.full((1, 1, 2, 2), 9.0 / 4))
    dLdA = avg.backward(np.array([[[[4.0, 0.0], [0.0, 8.0]]]]))
    np.testing.assert_array_equal(dLdA[0, 0], [[1, 1, 0], [1, 3, 2], [0, 2, 2]])


def test_avg_pool_by_hand():
    A = np.arange(16.0).reshape(1, 1, 4, 4)
    pool = AvgPool2d(2)
    np.testing.assert_array_equal(pool.forward(A), [[[[2.5, 4.5], [10.5, 12.5]]]])
    dLdA = pool.backward(np.array([[[[4.0, 8.0], [0.0, -4.0]]]]))
    np.testing.assert_array_equal(dLdA[0, 0], [[1, 1, 2, 2], [1, 1, 2, 2], [0, 0, -1, -1],
                                               [0, 0, -1, -1]])


@pytest.mark.parametrize("name", POOLS)
def test_leftover_rows_and_columns_get_zero_gradient(name):
    pool = POOLS[name](2)  # 5×5: the last row and column belong to no window
    Z = pool.forward(np.arange(50.0).reshape(1, 2, 5, 5))
    assert Z.shape == (1, 2, 2, 2)
    dLdA = pool.backward(np.ones(Z.shape))
    assert not dLdA[..., 4, :].any() and not dLdA[..., :, 4].any()
    assert dLdA.sum() == pytest.approx(8.0)  # every window passes on its whole gradient


@pytest.mark.parametrize("name", POOLS)
@pytest.mark.parametrize("k, stride, n, expected", [(2, None, 28, 14), (2, None, 13, 6),
                                                    (3, 2, 7, 3), (3, 1, 5, 3), (1, 1, 4, 4)])
def test_output_shape_and_default_stride(name, k, stride, n, expected):
    pool = POOLS[name](k, stride)
    assert pool.stride == (k if stride is None else stride)
    assert pool.forward(np.ones((3, 2, n, n + 1))).shape[:3] == (3, 2, expected)


# ----------------------------------------------------------------------------- gradient checks

@pytest.mark.parametrize("name", POOLS)
@given(n=sizes(1, 2), c=sizes(1, 2), k=sizes(1, 3), stride=sizes(1, 3), extra=sizes(0, 3),
       seed=seeds())
def test_gradients_match_central_differences(name, n, c, k, stride, extra, seed):
    rng = np.random.default_rng(seed)
    pool = POOLS[name](k, stride)
    A = distinct(rng, (n, c, k + extra, k + extra // 2))
    Z = pool.forward(A)
    dLdZ = upstream(rng, Z.shape)
    dLdA = pool.backward(dLdZ)
    assert_gradient(dLdA, lambda A_: POOLS[name](k, stride).forward(A_), A, dLdZ, "dLdA",
                    seed=seed, shape=A.shape, k=k, stride=stride)


@pytest.mark.parametrize("name", POOLS)
def test_backward_is_repeatable_and_keeps_the_dtype(name):
    rng = np.random.default_rng(0)
    pool = POOLS[name](2)
    Z = pool.forward(distinct(rng, (2, 3, 4, 4)))
    g = upstream(rng, Z.shape)
    first = pool.backward(g)
    np.testing.assert_array_equal(pool.backward(g), first)
    assert first.dtype == Z.dtype == np.float64


# ----------------------------------------------------------------------------- Flatten

def test_flatten_forward_and_backward():
    layer = Flatten()
    A = np.arange(24.0).reshape(2, 3, 2, 2)
    Z = layer.forward(A)
    np.testing.assert_array_equal(Z, A.reshape(2, 12))  # row-major, as torch.flatten
    assert layer.input_shape == (2, 3, 2, 2)
    np.testing.assert_array_equal(layer.backward(Z * 2), A * 2)
    assert Flatten().forward(np.ones((0, 3, 4))).shape == (0, 12)  # an empty batch
    assert repr(layer) == "Flatten()" and layer.parameters() == []


def test_flatten_errors_name_the_shapes():
    with pytest.raises(ValueError, match=r"Flatten\(\): expected input A of shape \(N, \.\.\.\) "
                                         r"with at least 2 axes, got \(5,\)"):
        Flatten().forward(np.ones(5))
    layer = Flatten()
    layer.forward(np.ones((2, 3, 4)))
    with pytest.raises(ValueError, match=r"gradient dLdZ of shape \(2, 12\), got \(2, 3, 4\)"):
        layer.backward(np.ones((2, 3, 4)))


# ----------------------------------------------------------------------------- errors

@pytest.mark.parametrize("name", POOLS)
def test_errors_name_the_layer_and_the_shapes(name):
    pool = POOLS[name](3, 2)
    with pytest.raises(ValueError, match=rf"{name}\(kernel_size=3, stride=2\): expected input A "
                                         r"of shape \(N, C, H, W\), got \(4, 4\)"):
        pool.forward(np.ones((4, 4)))
    with pytest.raises(ValueError, match=r"input A of shape \(1, 1, 2, 9\) is smaller than the "
                                         r"kernel \(3\)"):
        pool.forward(np.ones((1, 1, 2, 9)))
    pool.forward(np.ones((2, 1, 7, 8)))
    with pytest.raises(ValueError, match=r"gradient dLdZ of shape \(2, 1, 3, 3\), got "
                                         r"\(2, 1, 3, 4\)"):
        pool.backward(np.ones((2, 1, 3, 4)))
    with pytest.raises(ValueError, match=rf"{name}: kernel_size must be an integer >= 1, got 0"):
        POOLS[name](0)
    with pytest.raises(ValueError, match=rf"{name}: stride must be an integer >= 1, got 1.5"):
        POOLS[name](2, 1.5)
