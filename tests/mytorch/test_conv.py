"""mytorch.nn.Conv1d / Conv2d: values by hand, gradient checks with stride and padding, properties,
initialisation, errors."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from autograder.checking.strategies import seeds, sizes, upstream, values
from mytorch.nn import Conv1d, Conv2d
from tests.mytorch.helpers import assert_gradient, conv_geometries

CONVS = {"Conv1d": (Conv1d, 1), "Conv2d": (Conv2d, 2)}


def make_conv(cls, c_in, c_out, k, stride, padding, rng):
    layer = cls(c_in, c_out, k, stride=stride, padding=padding)
    layer.W = values(rng, layer.W.shape)
    layer.b = values(rng, layer.b.shape)
    return layer


def out_size(n, k, stride, padding):
    return (n + 2 * padding - k) // stride + 1


# ----------------------------------------------------------------------------- by hand

def test_conv1d_by_hand():
    layer = Conv1d(1, 1, 2)
    layer.W = np.array([[[1.0, -1.0]]])
    layer.b = np.array([0.5])
    A = np.array([[[1.0, 3.0, 2.0, 5.0]]])
    # Z[i] = A[i] - A[i+1] + 0.5: a cross-correlation, the kernel is not flipped
    np.testing.assert_array_equal(layer.forward(A), [[[-1.5, 1.5, -2.5]]])
    dLdA = layer.backward(np.array([[[1.0, 2.0, 3.0]]]))
    np.testing.assert_array_equal(dLdA, [[[1.0, 1.0, 1.0, -3.0]]])  # g[i] - g[i-1]
    np.testing.assert_array_equal(layer.dLdW, [[[1 + 6 + 6.0, 3 + 4 + 15.0]]])  # sum_i g[i] A[i+u]
    np.testing.assert_array_equal(layer.dLdb, [6.0])


def test_conv1d_stride_and_padding_by_hand():
    layer = Conv1d(1, 1, 3, stride=2, padding=1)
    layer.W = np.array([[[1.0, 2.0, 3.0]]])
    layer.b = np.zeros(1)
    A = np.array([[[1.0, 1.0, 1.0, 1.0]]])  # padded: 0 1 1 1 1 0, windows start at 0 and 2
    np.testing.assert_array_equal(layer.forward(A), [[[5.0, 6.0]]])
    dLdA = layer.backward(np.array([[[1.0, 10.0]]]))
    # window 0 covers A[0..1] with weights 2, 3; window 1 covers A[1..3] with weights 1, 2, 3
    np.testing.assert_array_equal(dLdA, [[[2.0, 3.0 + 10.0, 20.0, 30.0]]])


def test_conv2d_by_hand():
    layer = Conv2d(1, 2, 2)
    layer.W = np.array([[[[1.0, 0.0], [0.0, 0.0]]],      # picks the window's top-left entry
                        [[[1.0, 1.0], [1.0, 1.0]]]])     # sums the window
    layer.b = np.array([0.0, -1.0])
    A = np.arange(9.0).reshape(1, 1, 3, 3)
    Z = layer.forward(A)
    np.testing.assert_array_equal(Z[0, 0], [[0.0, 1.0], [3.0, 4.0]])
    np.testing.assert_array_equal(Z[0, 1], [[7.0, 11.0], [19.0, 23.0]])
    dLdZ = np.zeros((1, 2, 2, 2))
    dLdZ[0, 1, 1, 1] = 1.0  # only the bottom-right sum: its window is A[1:3, 1:3]
    dLdA = layer.backward(dLdZ)
    np.testing.assert_array_equal(dLdA[0, 0], [[0, 0, 0], [0, 1, 1], [0, 1, 1]])
    np.testing.assert_array_equal(layer.dLdW[1, 0], [[4.0, 5.0], [7.0, 8.0]])
    np.testing.assert_array_equal(layer.dLdW[0], 0.0)
    np.testing.assert_array_equal(layer.dLdb, [0.0, 1.0])


def test_forward_stores_the_input():
    layer = Conv2d(2, 3, 3, rng=0)
    A = np.ones((1, 2, 5, 5))
    layer.forward(A)
    assert layer.A is A


@pytest.mark.parametrize("name", CONVS)
@pytest.mark.parametrize("n, k, stride, padding", [(7, 3, 1, 0), (7, 3, 2, 0), (8, 3, 2, 1),
                                                   (5, 5, 1, 2), (6, 2, 3, 0), (4, 1, 1, 0)])
def test_output_shape(name, n, k, stride, padding):
    cls, dims = CONVS[name]
    layer = cls(3, 4, k, stride=stride, padding=padding, rng=0)
    spatial = (n, n + 1)[:dims]
    Z = layer.forward(np.ones((2, 3, *spatial)))
    assert Z.shape == (2, 4, *(out_size(m, k, stride, padding) for m in spatial))
    assert layer.backward(np.ones(Z.shape)).shape == (2, 3, *spatial)


# ----------------------------------------------------------------------------- gradient checks

@pytest.mark.parametrize("name", CONVS)
@given(data=st.data(), n=sizes(1, 3), c_in=sizes(1, 3), c_out=sizes(1, 3), seed=seeds())
def test_gradients_match_central_differences(name, data, n, c_in, c_out, seed):
    cls, dims = CONVS[name]
    k, stride, padding, spatial = data.draw(conv_geometries(dims))
    rng = np.random.default_rng(seed)
    layer = make_conv(cls, c_in, c_out, k, stride, padding, rng)
    A = values(rng, (n, c_in, *spatial))
    Z = layer.forward(A)
    dLdZ = upstream(rng, Z.shape)
    dLdA = layer.backward(dLdZ)
    W, b = layer.W.copy(), layer.b.copy()
    ctx = dict(seed=seed, n=n, c_in=c_in, c_out=c_out, k=k, stride=stride, padding=padding,
               spatial=spatial)

    def forward_with(W_=W, b_=b, A_=A):
        probe = cls(c_in, c_out, k, stride=stride, padding=padding)
        probe.W, probe.b = W_, b_
        return probe.forward(A_)

    assert_gradient(dLdA, lambda A_: forward_with(A_=A_), A, dLdZ, "dLdA", **ctx)
    assert_gradient(layer.dLdW, lambda W_: forward_with(W_=W_), W, dLdZ, "dLdW", **ctx)
    assert_gradient(layer.dLdb, lambda b_: forward_with(b_=b_), b, dLdZ, "dLdb", **ctx)


def test_entries_no_window_reaches_get_zero_gradient():
    layer = Conv2d(1, 1, 2, stride=2)  # on 5×5, the last row and column are never read
    layer.W = np.ones((1, 1, 2, 2))
    layer.forward(np.ones((1, 1, 5, 5)))
    dLdA = layer.backward(np.ones((1, 1, 2, 2)))
    expected = np.zeros((5, 5))
    expected[:4, :4] = 1.0  # each of those in exactly one window
    np.testing.assert_array_equal(dLdA[0, 0], expected)


# ----------------------------------------------------------------------------- properties

@pytest.mark.parametrize("name", CONVS)
def test_backward_overwrites_instead_of_accumulating(name):
    cls, dims = CONVS[name]
    rng = np.random.default_rng(3)
    layer = make_conv(cls, 2, 3, 3, 2, 1, rng)
    Z = layer.forward(values(rng, (2, 2, *(6,) * dims)))
    g1, g2 = upstream(rng, Z.shape), upstream(rng, Z.shape)
    first = layer.backward(g1)
    dLdW, dLdb = layer.dLdW.copy(), layer.dLdb.copy()
    np.testing.assert_array_equal(layer.backward(g1), first)
    np.testing.assert_array_equal(layer.dLdW, dLdW)  # not 2 * dLdW
    np.testing.assert_array_equal(layer.dLdb, dLdb)
    layer.backward(g2)
    np.testing.assert_allclose(layer.dLdb, g2.sum(axis=(0, *range(2, 2 + dims))), rtol=1e-12)
    layer.backward(np.zeros(Z.shape))
    assert not layer.dLdW.any() and not layer.dLdb.any()


@pytest.mark.parametrize("name", CONVS)
def test_gradients_have_parameter_shapes_and_dtypes(name):
    cls, dims = CONVS[name]
    layer = cls(3, 5, 2, rng=1)
    assert layer.W.shape == (5, 3, *(2,) * dims) and layer.b.shape == (5,)
    Z = layer.forward(np.ones((4, 3, *(4,) * dims)))
    assert Z.dtype == np.float64
    assert layer.backward(np.ones(Z.shape)).dtype == np.float64
    pairs = layer.parameters()
    assert [p is q for (p, _), q in zip(pairs, (layer.W, layer.b))] == [True, True]
    assert [g is q for (_, g), q in zip(pairs, (layer.dLdW, layer.dLdb))] == [True, True]
    for param, grad in pairs:
        assert grad.shape == param.shape and grad.dtype == param.dtype == np.float64


@pytest.mark.parametrize("name", CONVS)
def test_input_grad_false_skips_only_dLdA(name):
    cls, dims = CONVS[name]
    full, skip = cls(2, 3, 3, padding=1, rng=0), cls(2, 3, 3, padding=1, rng=0)
    skip.input_grad = False
    A = values(1, (2, 2, *(5,) * dims))
    dLdZ = upstream(2, full.forward(A).shape)
    skip.forward(A)
    assert full.backward(dLdZ).shape == A.shape
    assert skip.backward(dLdZ) is None
    np.testing.assert_array_equal(skip.dLdW, full.dLdW)
    np.testing.assert_array_equal(skip.dLdb, full.dLdb)


def test_forward_does_not_modify_its_input_or_parameters():
    layer = Conv2d(2, 2, 3, stride=2, padding=1, rng=0)
    A = values(0, (2, 2, 5, 5))
    A0, W0, b0 = A.copy(), layer.W.copy(), layer.b.copy()
    layer.backward(upstream(1, layer.forward(A).shape))
    np.testing.assert_array_equal(A, A0)
    np.testing.assert_array_equal(layer.W, W0)
    np.testing.assert_array_equal(layer.b, b0)


def test_repr():
    assert repr(Conv2d(1, 8, 3)) == "Conv2d(1, 8, kernel_size=3, stride=1, padding=0)"
    assert repr(Conv1d(4, 2, 5, stride=2, padding=1)) == \
        "Conv1d(4, 2, kernel_size=5, stride=2, padding=1)"


# ----------------------------------------------------------------------------- initialisation

@pytest.mark.parametrize("name", CONVS)
@pytest.mark.parametrize("c_in, k", [(1, 1), (1, 3), (8, 3)])
def test_torch_style_init_is_uniform_within_one_over_sqrt_fan_in(name, c_in, k):
    cls, dims = CONVS[name]
    layer = cls(c_in, 300, k, rng=0)
    bound = 1.0 / np.sqrt(c_in * k ** dims)
    for p in (layer.W, layer.b):
        assert p.dtype == np.float64 and np.abs(p).max() <= bound
        assert p.min() < -0.9 * bound and p.max() > 0.9 * bound
    assert abs((layer.W / bound).var() - 1.0 / 3.0) < 0.05


def test_init_is_reproducible_from_a_seed_or_a_generator():
    a, b, c = Conv2d(2, 3, 3, rng=7), Conv2d(2, 3, 3, rng=7), Conv2d(2, 3, 3, rng=8)
    np.testing.assert_array_equal(a.W, b.W)
    np.testing.assert_array_equal(a.b, b.b)
    assert not np.array_equal(a.W, c.W)
    g = np.random.default_rng(7)
    np.testing.assert_array_equal(Conv2d(2, 3, 3, rng=g).W, a.W)
    assert not np.array_equal(Conv2d(2, 3, 3, rng=g).W, a.W)  # a shared generator advances


# ----------------------------------------------------------------------------- errors

@pytest.mark.parametrize("shape, expected", [((2, 4, 5, 5), "(N, 3, H, W)"),
                                             ((3, 5, 5), "(N, 3, H, W)"),
                                             ((2, 3, 5), "(N, 3, H, W)")])
def test_wrong_input_shape_names_the_layer_and_both_shapes(shape, expected):
    layer = Conv2d(3, 2, 3)
    with pytest.raises(ValueError) as info:
        layer.forward(np.ones(shape))
    message = str(info.value)
    assert "Conv2d(3, 2, kernel_size=3, stride=1, padding=0)" in message
    assert expected in message and str(shape) in message


def test_conv1d_wants_three_axes():
    with pytest.raises(ValueError, match=r"expected input A of shape \(N, 2, L\), got \(2, 8\)"):
        Conv1d(2, 2, 3).forward(np.ones((2, 8)))


def test_input_smaller_than_the_kernel_is_named():
    with pytest.raises(ValueError, match=r"input A of shape \(1, 1, 2, 6\) is smaller than the "
                                         r"kernel \(3\) even with padding 0"):
        Conv2d(1, 1, 3).forward(np.ones((1, 1, 2, 6)))
    Conv2d(1, 1, 3, padding=1).forward(np.ones((1, 1, 1, 1)))  # padding makes room: no error


def test_wrong_upstream_shape_names_the_expected_one():
    layer = Conv2d(1, 2, 3, stride=2)
    layer.forward(np.ones((4, 1, 7, 7)))
    with pytest.raises(ValueError, match=r"gradient dLdZ of shape \(4, 2, 3, 3\), got "
                                         r"\(4, 2, 5, 5\)"):
        layer.backward(np.ones((4, 2, 5, 5)))


@pytest.mark.parametrize("kwargs, message", [
    (dict(kernel_size=0), "kernel_size must be an integer >= 1, got 0"),
    (dict(kernel_size=2.5), "kernel_size must be an integer >= 1, got 2.5"),
    (dict(stride=0), "stride must be an integer >= 1, got 0"),
    (dict(padding=-1), "padding must be an integer >= 0, got -1"),
    (dict(in_channels=True), "in_channels must be an integer >= 1, got True"),
    (dict(out_channels="8"), "out_channels must be an integer >= 1, got '8'"),
])
def test_bad_arguments_are_named(kwargs, message):
    args = dict(in_channels=1, out_channels=2, kernel_size=3) | kwargs
    with pytest.raises(ValueError, match="Conv2d: " + message.replace(".", r"\.")):
        Conv2d(**args)
    assert Conv2d(np.int64(2), 3, np.int32(3)).kernel_size == 3  # NumPy integers are fine
