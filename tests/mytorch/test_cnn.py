"""mytorch.models.CNN: structure and shapes, a gradient check of the whole model, training."""
import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from autograder.checking.strategies import labels, upstream, values
from mytorch.models import CNN
from mytorch.nn import Conv2d, CrossEntropyLoss, Flatten, Linear, MaxPool2d, ReLU
from mytorch.optim import SGD
from mytorch.speed import skip_input_gradient
from tests.mytorch.helpers import assert_gradient


def kink_margin(model, X):
    """How far ``X`` is from a kink of the model: the smallest |input| of a ReLU, and the smallest
    gap between the largest and second largest entry of a max-pool window whose max is positive
    (windows of ReLU's zeros tie harmlessly: their pre-activations stay negative when probed)."""
    margin, A = np.inf, X
    for layer in model.layers:
        if isinstance(layer, ReLU):
            margin = min(margin, np.abs(A).min())
        if isinstance(layer, MaxPool2d):
            k = layer.kernel_size
            windows = sliding_window_view(A, (k, k), axis=(2, 3))[:, :, ::k, ::k]
            top = np.sort(windows.reshape(*windows.shape[:4], -1), axis=-1)[..., -2:]
            live = top[..., 1] > 0
            margin = min(margin, (top[..., 1] - top[..., 0])[live].min(initial=np.inf))
        A = layer.forward(A)
    return margin


def test_default_structure_and_shapes():
    model = CNN(rng=0)
    assert [type(layer) for layer in model.layers] == [Conv2d, ReLU, MaxPool2d] * 2 + [Flatten,
                                                                                        Linear]
    convs = [layer for layer in model.layers if isinstance(layer, Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size) for c in convs] == [(1, 8, 3),
                                                                               (8, 16, 3)]
    assert (model.layers[-1].in_features, model.layers[-1].out_features) == (400, 10)
    shapes, A = [], np.zeros((2, 1, 28, 28))
    for layer in model.layers:
        A = layer.forward(A)
        shapes.append(A.shape[1:])
    assert shapes == [(8, 26, 26), (8, 26, 26), (8, 13, 13), (16, 11, 11), (16, 11, 11),
                      (16, 5, 5), (400,), (10,)]
    assert len(model.parameters()) == 6
    assert "(0): Conv2d(1, 8, kernel_size=3, stride=1, padding=0)" in repr(model)


def test_sizes_follow_the_arguments():
    model = CNN(in_channels=3, image_size=12, channels=(4,), kernel_size=5, num_classes=7, rng=0)
    assert model.layers[0].W.shape == (4, 3, 5, 5)
    assert model.layers[-1].W.shape == (7, 4 * 4 * 4)  # (12 - 5 + 1) // 2 = 4
    assert model.forward(np.ones((2, 3, 12, 12))).shape == (2, 7)
    with pytest.raises(ValueError, match="CNN: a 8×8 image is too small for 2 blocks"):
        CNN(image_size=8, channels=(2, 2), kernel_size=3)


def test_models_are_reproducible_from_a_seed():
    a, b, c = CNN(rng=5), CNN(rng=5), CNN(rng=6)
    for (p, _), (q, _) in zip(a.parameters(), b.parameters(), strict=True):
        np.testing.assert_array_equal(p, q)
    assert not np.array_equal(a.layers[0].W, c.layers[0].W)


@pytest.mark.parametrize("seed", [0, 1])
def test_model_gradients_match_central_differences(seed):
    """Whole model, small sizes; inputs whose pre-activations stay off ReLU's kink and whose pool
    windows have no near-ties (checked, not assumed)."""
    rng = np.random.default_rng(seed)
    model = CNN(in_channels=2, image_size=8, channels=(3, 2), kernel_size=2, num_classes=3,
                rng=rng)
    X = values(rng, (2, 2, 8, 8))
    assert kink_margin(model, X) > 1e-4  # a finite difference (h = 1e-6) crosses no kink
    Y = model.forward(X)
    dLdY = upstream(rng, Y.shape)
    dLdX = model.backward(dLdY)
    params = [p.copy() for p, _ in model.parameters()]
    grads = [g.copy() for _, g in model.parameters()]

    def output(X_=X, which=None, value=None):
        probe = CNN(in_channels=2, image_size=8, channels=(3, 2), kernel_size=2, num_classes=3)
        for i, ((p, _), q) in enumerate(zip(probe.parameters(), params, strict=True)):
            p[...] = value if i == which else q
        return probe.forward(X_)

    assert_gradient(dLdX, output, X, dLdY, "dLdX", seed=seed)
    for i, (p, g) in enumerate(zip(params, grads, strict=True)):
        assert_gradient(g, lambda v, i=i: output(which=i, value=v), p, dLdY, f"parameter {i}",
                        seed=seed)


def test_backward_returns_what_the_layers_return_in_reverse():
    model = CNN(image_size=10, channels=(2,), rng=0)
    X = values(0, (3, 1, 10, 10))
    Y = model.forward(X)
    g = upstream(1, Y.shape)
    dLdX = model.backward(g)
    for layer in reversed(model.layers):
        g = layer.backward(g)
    np.testing.assert_array_equal(dLdX, g)
    assert skip_input_gradient(model).backward(upstream(1, Y.shape)) is None


def test_it_learns_a_toy_task():
    """Bright bars at a class-dependent row: a few SGD steps take the loss well below chance."""
    rng = np.random.default_rng(0)
    y = labels(rng, 64, 4)
    X = rng.uniform(0.0, 0.2, (64, 1, 12, 12))
    for i, k in enumerate(y):
        X[i, 0, 2 * k + 2: 2 * k + 4, 2:10] = 1.0
    model = skip_input_gradient(CNN(image_size=12, channels=(4,), num_classes=4, rng=1))
    loss, optimizer = CrossEntropyLoss(), SGD(model, lr=0.1, momentum=0.9)
    losses = []
    for _ in range(30):
        losses.append(loss.forward(model.forward(X), y))
        model.backward(loss.backward())
        optimizer.step()
    assert losses[0] > 0.9 * np.log(4)
    assert losses[-1] < 0.2 * losses[0]
    assert np.mean(model.forward(X).argmax(axis=1) == y) == 1.0
