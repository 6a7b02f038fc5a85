"""mytorch.models: structure of MLP0/MLP1/MLP4/MLP, gradient checks of whole models, errors."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from autograder.checking.strategies import seeds, sizes, upstream, values
from mytorch.models import MLP, MLP0, MLP1, MLP4
from mytorch.nn import BatchNorm1d, Identity, Linear, ReLU, Sigmoid, Tanh
from tests.mytorch.helpers import assert_gradient


def linear_dims(model):
    return [(layer.in_features, layer.out_features) for layer in model.layers
            if isinstance(layer, Linear)]


def preactivations(model, X):
    """Inputs of every ReLU for input X (run on the model itself; it only caches)."""
    out, A = [], X
    for layer in model.layers:
        if isinstance(layer, ReLU):
            out.append(A)
        A = layer.forward(A)
    return out


def inputs_off_the_kinks(model, rng, n, margin=1e-4, tries=50):
    """Draw inputs until every ReLU input is at least ``margin`` away from 0 (deterministic in the
    generator; central differences straddling a kink measure the average slope)."""
    for _ in range(tries):
        X = values(rng, (n, model.layers[0].in_features))
        if all(np.abs(Z).min() >= margin for Z in preactivations(model, X)):
            return X
    raise AssertionError("could not draw inputs away from the ReLU kinks")


# ----------------------------------------------------------------------------- structure

@pytest.mark.parametrize("cls, dims", [(MLP0, [(2, 3)]), (MLP1, [(2, 3), (3, 2)]),
                                       (MLP4, [(2, 4), (4, 8), (8, 8), (8, 4), (4, 2)])],
                         ids=["MLP0", "MLP1", "MLP4"])
def test_fixed_models_alternate_linear_and_relu(cls, dims):
    model = cls(rng=0)
    assert linear_dims(model) == dims
    assert [type(layer) for layer in model.layers] == [Linear, ReLU] * len(dims)
    assert len(model.parameters()) == 2 * len(dims)


def test_mlp0_forward_by_hand():
    model = MLP0()
    model.layers[0].W = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, -1.0]])
    model.layers[0].b = np.array([[0.0], [-1.0], [0.5]])
    A = model.forward(np.array([[2.0, 3.0]]))
    np.testing.assert_array_equal(A, [[2.0, 2.0, 0.0]])  # relu(2, 2, -0.5)
    dLdA0 = model.backward(np.array([[1.0, 1.0, 1.0]]))
    np.testing.assert_array_equal(dLdA0, [[1.0, 1.0]])  # third unit is off
    np.testing.assert_array_equal(model.layers[0].dLdW, [[2.0, 3.0], [2.0, 3.0], [0.0, 0.0]])


def test_models_are_reproducible_from_a_seed():
    a, b, c = MLP4(rng=5), MLP4(rng=5), MLP4(rng=6)
    for (p, _), (q, _) in zip(a.parameters(), b.parameters()):
        np.testing.assert_array_equal(p, q)
    assert not np.array_equal(a.layers[0].W, c.layers[0].W)
    # the layers draw from one generator in turn: they are not copies of each other
    assert not np.array_equal(a.layers[2].W[:4, :4], a.layers[4].W[:4, :4])


@pytest.mark.parametrize("activation, cls", [("relu", ReLU), ("tanh", Tanh),
                                             ("sigmoid", Sigmoid), ("identity", Identity)])
def test_general_mlp_structure(activation, cls):
    model = MLP([5, 7, 6, 3], activation=activation, rng=0)
    assert linear_dims(model) == [(5, 7), (7, 6), (6, 3)]
    # logits last
    assert [type(layer) for layer in model.layers] == [Linear, cls, Linear, cls, Linear]
    model_bn = MLP([5, 7, 6, 3], activation=activation, batchnorm=True, rng=0)
    assert [type(layer) for layer in model_bn.layers] == [Linear, BatchNorm1d, cls, Linear,
                                                          BatchNorm1d, cls, Linear]
    assert [layer.num_features for layer in model_bn.layers
            if isinstance(layer, BatchNorm1d)] == [7, 6]
    assert MLP([4, 2]).layers[0].out_features == 2 and len(MLP([4, 2]).layers) == 1


def test_repr_lists_the_layers():
    text = repr(MLP1(rng=0))
    assert text.startswith("MLP1(")
    assert "(0): Linear(in_features=2, out_features=3, bias=True)" in text
    assert "(3): ReLU()" in text


def test_eval_mode_reaches_batchnorm():
    model = MLP([3, 4, 2], batchnorm=True, rng=0)
    bn = model.layers[1]
    X = values(0, (5, 3))
    model.forward(X)  # training: running stats move
    stats = bn.running_M.copy(), bn.running_V.copy()
    assert model.eval() is model
    assert not any(layer.training for layer in model.layers)
    single = model.forward(X[:1])  # one row is fine in eval mode
    assert single.shape == (1, 2)
    np.testing.assert_array_equal(bn.running_M, stats[0])
    np.testing.assert_array_equal(bn.running_V, stats[1])
    # in eval mode rows are independent: a batch gives the same rows as one at a time
    batch = model.forward(X)
    np.testing.assert_allclose(batch[:1], single, rtol=1e-14)
    model.train()
    assert model.training and all(layer.training for layer in model.layers)
    model.forward(X)
    assert not np.array_equal(bn.running_M, stats[0])


# ----------------------------------------------------------------------------- gradient checks

@given(n=sizes(), seed=seeds())
def test_mlp4_gradients_match_central_differences(n, seed):
    rng = np.random.default_rng(seed)
    model = MLP4(rng=rng)
    X = inputs_off_the_kinks(model, rng, n)
    dLdY = upstream(rng, (n, 2))
    model.forward(X)
    dLdX = model.backward(dLdY)
    ctx = dict(seed=seed, n=n)
    assert_gradient(dLdX, model.forward, X, dLdY, "MLP4 dLdA0", **ctx)
    for i, layer in enumerate(model.layers):
        if not isinstance(layer, Linear):
            continue
        for name in ("W", "b"):
            original = getattr(layer, name).copy()
            analytic = getattr(layer, "dLd" + name).copy()

            def f(value, layer=layer, name=name):
                setattr(layer, name, value)
                return model.forward(X)

            try:
                assert_gradient(analytic, f, original, dLdY, f"MLP4 layers[{i}].dLd{name}", **ctx)
            finally:
                setattr(layer, name, original)


@given(n=st.integers(2, 5), seed=seeds(), activation=st.sampled_from(["tanh", "sigmoid"]))
def test_mlp_with_batchnorm_gradients_match_central_differences(n, seed, activation):
    rng = np.random.default_rng(seed)
    model = MLP([3, 4, 3, 2], activation=activation, batchnorm=True, rng=rng)
    for layer in model.layers:
        if isinstance(layer, BatchNorm1d):
            layer.BW, layer.Bb = values(rng, layer.BW.shape), values(rng, layer.Bb.shape)
    X, dLdY = values(rng, (n, 3)), upstream(rng, (n, 2))
    model.forward(X)
    dLdX = model.backward(dLdY)
    ctx = dict(seed=seed, n=n, activation=activation)
    assert_gradient(dLdX, model.forward, X, dLdY, "MLP dLdA0", **ctx)
    for (param, grad), index in zip(model.parameters(), range(len(model.parameters()))):
        original, analytic = param.copy(), grad.copy()

        def f(value, param=param):
            param[...] = value
            return model.forward(X)

        try:
            assert_gradient(analytic, f, original, dLdY, f"MLP parameter {index}", **ctx)
        finally:
            param[...] = original


@given(n=sizes(), seed=seeds())
def test_backward_of_zeros_is_zero_and_repeatable(n, seed):
    rng = np.random.default_rng(seed)
    model = MLP4(rng=rng)
    model.forward(values(rng, (n, 2)))
    assert not model.backward(np.zeros((n, 2))).any()
    assert all(not g.any() for _, g in model.parameters())
    g = upstream(rng, (n, 2))
    first = model.backward(g)
    grads = [grad.copy() for _, grad in model.parameters()]
    np.testing.assert_array_equal(model.backward(g), first)
    for (p, grad), g0 in zip(model.parameters(), grads):
        np.testing.assert_array_equal(grad, g0)
        assert grad.shape == p.shape and grad.dtype == np.float64


# ----------------------------------------------------------------------------- errors

@pytest.mark.parametrize("dims", [[], [3]])
def test_mlp_needs_two_dims(dims):
    with pytest.raises(ValueError, match=r"MLP: dims needs at least an input and an output size"):
        MLP(dims)


def test_mlp_rejects_unknown_activation():
    with pytest.raises(ValueError) as info:
        MLP([2, 3, 2], activation="softplus")
    message = str(info.value)
    assert "MLP" in message and "'softplus'" in message
    for name in ("identity", "relu", "sigmoid", "tanh"):
        assert name in message


def test_wrong_input_width_is_reported_by_the_first_layer():
    with pytest.raises(ValueError) as info:
        MLP4(rng=0).forward(np.ones((3, 5)))
    assert "Linear(in_features=2, out_features=4, bias=True)" in str(info.value)
    assert "(3, 5)" in str(info.value)
