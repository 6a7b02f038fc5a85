"""mytorch.speed: skipping the data's gradient changes no parameter gradient; float32 casting;
both for MLPs and CNNs."""
import numpy as np
import pytest

from mytorch.models import CNN, MLP
from mytorch.nn import BatchNorm1d, CrossEntropyLoss, Linear, ReLU
from mytorch.speed import cast, skip_input_gradient


def one_step(model, X, y):
    """(returned input gradient, parameter gradients) of one forward/backward."""
    loss = CrossEntropyLoss()
    loss.forward(model.forward(X), y)
    returned = model.backward(loss.backward())
    return returned, [grad for _, grad in model.parameters()]


def test_skipping_the_input_gradient_changes_nothing_else():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((8, 5)), rng.integers(0, 3, 8)
    full = MLP([5, 4, 3], batchnorm=True, rng=1)
    skipping = MLP([5, 4, 3], batchnorm=True, rng=1)
    assert skip_input_gradient(skipping) is skipping
    dLdX, full_grads = one_step(full, X, y)
    skipped, skipping_grads = one_step(skipping, X, y)
    assert dLdX.shape == X.shape and skipped is None
    assert [layer.input_grad for layer in skipping.layers if isinstance(layer, Linear)] == \
        [False, True]
    for g_skip, g_full in zip(skipping_grads, full_grads, strict=True):
        np.testing.assert_array_equal(g_skip, g_full)


def test_skipping_needs_a_linear_first_layer():
    model = MLP([3, 2])
    model.layers.insert(0, BatchNorm1d(3))
    with pytest.raises(TypeError, match="skip_input_gradient: the first layer must be a Linear"):
        skip_input_gradient(model)


def test_cast_to_float32_keeps_the_initial_values_and_trains_in_float32():
    rng = np.random.default_rng(2)
    X, y = rng.standard_normal((6, 4)).astype(np.float32), rng.integers(0, 3, 6)
    wide, narrow = MLP([4, 5, 3], rng=3), MLP([4, 5, 3], rng=3)
    assert cast(narrow, np.float32) is narrow
    for (p64, _), (p32, g32) in zip(wide.parameters(), narrow.parameters(), strict=True):
        assert p32.dtype == g32.dtype == np.float32
        np.testing.assert_array_equal(p32, p64.astype(np.float32))
    _, grads = one_step(narrow, X, y)
    assert all(g.dtype == np.float32 for g in grads)
    np.testing.assert_allclose(narrow.forward(X), wide.forward(X.astype(np.float64)), rtol=1e-5,
                               atol=1e-6)


def test_cast_of_one_layer_and_of_layers_without_parameters():
    layer = cast(Linear(3, 2, bias=False, rng=0), np.float32)
    assert layer.W.dtype == layer.dLdW.dtype == np.float32 and layer.b is None
    assert cast(ReLU(), np.float32).forward(np.ones((1, 2), np.float32)).dtype == np.float32


def test_skip_and_cast_reach_the_convolutions_of_a_cnn():
    rng = np.random.default_rng(4)
    X, y = rng.uniform(0, 1, (3, 1, 10, 10)), rng.integers(0, 10, 3)
    full, skipping = CNN(image_size=10, channels=(2,), rng=5), CNN(image_size=10, channels=(2,),
                                                                     rng=5)
    dLdX, full_grads = one_step(full, X, y)
    skipped, skipping_grads = one_step(skip_input_gradient(skipping), X, y)
    assert dLdX.shape == X.shape and skipped is None
    for g_skip, g_full in zip(skipping_grads, full_grads, strict=True):
        np.testing.assert_array_equal(g_skip, g_full)
    narrow = cast(CNN(image_size=10, channels=(2,), rng=5), np.float32)
    _, grads = one_step(narrow, X.astype(np.float32), y)
    assert all(p.dtype == g.dtype == np.float32 for p, g in narrow.parameters())
    assert all(g.dtype == np.float32 for g in grads)
    np.testing.assert_allclose(narrow.forward(X.astype(np.float32)), full.forward(X), rtol=1e-4,
                               atol=1e-5)
