"""mytorch.optim.SGD: steps by hand, momentum, in-place updates of every parameter."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from autograder.checking.strategies import seeds, upstream, values
from mytorch.models import MLP
from mytorch.nn import BatchNorm1d, CrossEntropyLoss, Linear
from mytorch.optim import SGD


def scalar_layer(w, grad):
    layer = Linear.zeros(1, 1, bias=False)
    layer.W = np.array([[w]])
    layer.dLdW = np.array([[grad]])
    return layer


def test_plain_step_by_hand():
    layer = Linear.zeros(2, 1)
    layer.W = np.array([[1.0, 2.0]])
    layer.b = np.array([[3.0]])
    layer.dLdW = np.array([[10.0, -10.0]])
    layer.dLdb = np.array([[5.0]])
    SGD(layer, lr=0.1).step()
    np.testing.assert_allclose(layer.W, [[0.0, 3.0]], rtol=0, atol=1e-15)
    np.testing.assert_allclose(layer.b, [[2.5]], rtol=1e-15)


def test_two_momentum_steps_by_hand():
    layer = scalar_layer(1.0, 1.0)
    opt = SGD(layer, lr=0.1, momentum=0.9)
    opt.step()  # v = 1;             W = 1 - 0.1 * 1 = 0.9
    assert layer.W[0, 0] == pytest.approx(0.9, rel=1e-15)
    layer.dLdW = np.array([[2.0]])
    opt.step()  # v = 0.9 * 1 + 2 = 2.9; W = 0.9 - 0.29 = 0.61
    assert layer.W[0, 0] == pytest.approx(0.61, rel=1e-15)
    np.testing.assert_allclose(opt.velocities[0], [[2.9]], rtol=1e-15)


@given(steps=st.integers(1, 8), mu=st.sampled_from([0.0, 0.5, 0.9]), seed=seeds())
def test_momentum_with_a_constant_gradient_follows_the_closed_form(steps, mu, seed):
    rng = np.random.default_rng(seed)
    layer = Linear.zeros(3, 2)
    W0, b0 = values(rng, (2, 3)), values(rng, (2, 1))
    layer.W, layer.b = W0.copy(), b0.copy()
    layer.dLdW, layer.dLdb = upstream(rng, (2, 3)), upstream(rng, (2, 1))
    opt = SGD(layer, lr=0.05, momentum=mu)
    for _ in range(steps):
        opt.step()
    # v_k = (1 + mu + ... + mu^(k-1)) g;  W_K = W_0 - lr * sum_k v_k
    total = sum(sum(mu**i for i in range(k)) for k in range(1, steps + 1))
    np.testing.assert_allclose(layer.W, W0 - 0.05 * total * layer.dLdW, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(layer.b, b0 - 0.05 * total * layer.dLdb, rtol=1e-12, atol=1e-14)


def test_updates_are_in_place():
    layer = Linear(3, 2, rng=0)
    W, b = layer.W, layer.b
    W0 = W.copy()
    layer.forward(np.ones((2, 3)))
    layer.backward(np.ones((2, 2)))
    SGD(layer, lr=0.1, momentum=0.9).step()
    assert layer.W is W and layer.b is b  # the same arrays, changed
    assert not np.array_equal(W, W0)


def test_zero_gradient_changes_nothing():
    layer = Linear(3, 2, rng=0)
    W0, b0 = layer.W.copy(), layer.b.copy()
    opt = SGD(layer, lr=0.1, momentum=0.9)
    opt.step()
    np.testing.assert_array_equal(layer.W, W0)
    np.testing.assert_array_equal(layer.b, b0)


def test_updates_batchnorm_parameters_like_linear_ones():
    bn = BatchNorm1d(3)
    bn.forward(values(0, (4, 3)))
    g = upstream(1, (4, 3))
    bn.backward(g)
    dLdBW, dLdBb = bn.dLdBW.copy(), bn.dLdBb.copy()
    SGD(bn, lr=0.5).step()
    np.testing.assert_allclose(bn.BW, 1.0 - 0.5 * dLdBW, rtol=1e-15)
    np.testing.assert_allclose(bn.Bb, -0.5 * dLdBb, rtol=1e-15)


def test_updates_every_parameter_of_a_model():
    model = MLP([3, 4, 4, 2], batchnorm=True, rng=0)
    before = [p.copy() for p, _ in model.parameters()]
    assert len(before) == 3 * 2 + 2 * 2  # three Linear (W, b), two BatchNorm (BW, Bb)
    X, y = values(0, (6, 3)), np.array([0, 1, 0, 1, 1, 0])
    loss = CrossEntropyLoss()
    loss.forward(model.forward(X), y)
    model.backward(loss.backward())
    grads = [g.copy() for _, g in model.parameters()]
    SGD(model, lr=0.1).step()
    for (p, _), p0, g in zip(model.parameters(), before, grads):
        assert g.any()
        np.testing.assert_allclose(p, p0 - 0.1 * g, rtol=1e-14, atol=1e-16)


def test_velocity_is_kept_per_parameter():
    model = MLP([2, 3, 2], rng=0)
    opt = SGD(model, lr=0.1, momentum=0.9)
    assert [v.shape for v in opt.velocities] == [p.shape for p, _ in model.parameters()]
    assert all(not v.any() for v in opt.velocities)


def test_repr():
    assert repr(SGD(Linear(2, 2), lr=0.01, momentum=0.9)) == "SGD(lr=0.01, momentum=0.9)"
