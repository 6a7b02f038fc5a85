"""mytorch.nn.BatchNorm1d: values by hand, gradient checks (train and eval), running statistics."""
import math

import numpy as np
import pytest
from hypothesis import given

from autograder.checking.strategies import batch_shapes, positive, seeds, upstream, values
from mytorch.nn import BatchNorm1d
from tests.mytorch.helpers import assert_gradient

EPS = 1e-8


def make_bn(c, rng, eval_stats=False):
    bn = BatchNorm1d(c)
    bn.BW, bn.Bb = values(rng, (1, c)), values(rng, (1, c))
    if eval_stats:
        bn.running_M, bn.running_V = values(rng, (1, c)), positive(rng, (1, c))
    return bn


def copy_of(bn):
    probe = BatchNorm1d(bn.num_features, alpha=bn.alpha)
    for name in ("BW", "Bb", "running_M", "running_V"):
        setattr(probe, name, getattr(bn, name).copy())
    return probe


# ----------------------------------------------------------------------------- by hand

def test_two_row_batch_by_hand():
    bn = BatchNorm1d(2)
    bn.BW = np.array([[2.0, 3.0]])
    bn.Bb = np.array([[0.5, -1.0]])
    Z = np.array([[1.0, 2.0], [3.0, 6.0]])
    BZ = bn.forward(Z)
    # column means (2, 4), biased variances (1, 4): NZ = ±1 (up to eps)
    np.testing.assert_array_equal(bn.M, [[2.0, 4.0]])
    np.testing.assert_array_equal(bn.V, [[1.0, 4.0]])
    s0, s1 = 1 / math.sqrt(1 + EPS), 2 / math.sqrt(4 + EPS)
    np.testing.assert_allclose(bn.NZ, [[-s0, -s1], [s0, s1]], rtol=1e-15)
    np.testing.assert_allclose(BZ, [[0.5 - 2 * s0, -1 - 3 * s1], [0.5 + 2 * s0, -1 + 3 * s1]],
                               rtol=1e-15)
    # running stats: 0.9 * (0, 0) + 0.1 * M;  0.9 * (1, 1) + 0.1 * V * N / (N - 1) with N = 2
    np.testing.assert_allclose(bn.running_M, [[0.2, 0.4]], rtol=1e-15)
    np.testing.assert_allclose(bn.running_V, [[1.1, 1.7]], rtol=1e-15)


def test_two_row_batch_backward_by_hand():
    bn = BatchNorm1d(2)
    bn.BW = np.array([[2.0, 3.0]])
    bn.forward(np.array([[1.0, 2.0], [3.0, 6.0]]))
    dLdBZ = np.array([[1.0, 2.0], [0.0, 5.0]])
    dLdZ = bn.backward(dLdBZ)
    s0, s1 = 1 / math.sqrt(1 + EPS), 2 / math.sqrt(4 + EPS)
    np.testing.assert_allclose(bn.dLdBb, [[1.0, 7.0]], rtol=1e-15)
    np.testing.assert_allclose(bn.dLdBW, [[-s0, 3 * s1]], rtol=1e-15)
    # with two rows the outputs are ±BW whatever Z is, so the input gradient vanishes (up to eps)
    np.testing.assert_allclose(dLdZ, 0.0, atol=1e-7)


def test_eval_uses_running_statistics_and_updates_nothing():
    bn = BatchNorm1d(2)
    bn.running_M = np.array([[1.0, -2.0]])
    bn.running_V = np.array([[4.0, 0.25]])
    bn.BW = np.array([[1.0, 2.0]])
    bn.Bb = np.array([[0.0, 1.0]])
    BZ = bn.forward(np.array([[3.0, -1.0]]), eval=True)  # one row is fine in eval mode
    np.testing.assert_allclose(BZ, [[2 / math.sqrt(4 + EPS), 1 + 2 / math.sqrt(0.25 + EPS)]],
                               rtol=1e-15)
    np.testing.assert_array_equal(bn.running_M, [[1.0, -2.0]])
    np.testing.assert_array_equal(bn.running_V, [[4.0, 0.25]])
    dLdZ = bn.backward(np.array([[1.0, 1.0]]))
    np.testing.assert_allclose(dLdZ, [[1 / math.sqrt(4 + EPS), 2 / math.sqrt(0.25 + EPS)]],
                               rtol=1e-15)



@given(shape=batch_shapes(min_rows=2), seed=seeds())
def test_eval_mode_is_the_same_as_eval_true(shape, seed):
    """bn.eval() then forward(Z) gives what forward(Z, eval=True) gives, in both directions, and
    train() restores training; forward(Z, eval=True) itself leaves the mode alone."""
    rng = np.random.default_rng(seed)
    Z, dLdBZ = values(rng, shape), upstream(rng, shape)
    by_argument = make_bn(shape[1], rng, eval_stats=True)
    by_mode = copy_of(by_argument)
    BZ = by_argument.forward(Z, eval=True)
    assert by_argument.training and by_argument.evaluating
    assert by_mode.eval() is by_mode and not by_mode.training
    np.testing.assert_array_equal(by_mode.forward(Z), BZ)
    np.testing.assert_array_equal(by_mode.backward(dLdBZ), by_argument.backward(dLdBZ))
    np.testing.assert_array_equal(by_mode.running_M, by_argument.running_M)  # nothing updated
    by_mode.train()
    by_mode.forward(Z)
    assert not by_mode.evaluating
    assert not np.array_equal(by_mode.running_M, by_argument.running_M)


def test_defaults():
    bn = BatchNorm1d(3)
    assert bn.alpha == 0.9 and bn.eps == EPS
    np.testing.assert_array_equal(bn.BW, np.ones((1, 3)))
    np.testing.assert_array_equal(bn.Bb, np.zeros((1, 3)))
    np.testing.assert_array_equal(bn.running_M, np.zeros((1, 3)))
    np.testing.assert_array_equal(bn.running_V, np.ones((1, 3)))
    assert repr(bn) == "BatchNorm1d(3, eps=1e-08, alpha=0.9)"


# ----------------------------------------------------------------------------- gradient checks

@given(shape=batch_shapes(min_rows=2), seed=seeds())
def test_train_gradients_match_central_differences(shape, seed):
    rng = np.random.default_rng(seed)
    bn = make_bn(shape[1], rng)
    Z, dLdBZ = values(rng, shape), upstream(rng, shape)
    fresh = copy_of(bn)  # parameters before any forward (running stats don't matter in training)
    bn.forward(Z)
    dLdZ = bn.backward(dLdBZ)
    ctx = dict(seed=seed, shape=shape, mode="train")

    def forward_with(Z_=Z, BW=fresh.BW, Bb=fresh.Bb):
        probe = copy_of(fresh)
        probe.BW, probe.Bb = BW, Bb
        return probe.forward(Z_)

    assert_gradient(dLdZ, lambda Z_: forward_with(Z_=Z_), Z, dLdBZ, "dLdZ", **ctx)
    assert_gradient(bn.dLdBW, lambda BW: forward_with(BW=BW), fresh.BW, dLdBZ, "dLdBW", **ctx)
    assert_gradient(bn.dLdBb, lambda Bb: forward_with(Bb=Bb), fresh.Bb, dLdBZ, "dLdBb", **ctx)


@given(shape=batch_shapes(), seed=seeds())
def test_eval_gradients_match_central_differences(shape, seed):
    rng = np.random.default_rng(seed)
    bn = make_bn(shape[1], rng, eval_stats=True)
    Z, dLdBZ = values(rng, shape), upstream(rng, shape)
    fresh = copy_of(bn)
    bn.forward(Z, eval=True)
    dLdZ = bn.backward(dLdBZ)
    ctx = dict(seed=seed, shape=shape, mode="eval")

    def forward_with(Z_=Z, BW=fresh.BW, Bb=fresh.Bb):
        probe = copy_of(fresh)
        probe.BW, probe.Bb = BW, Bb
        return probe.forward(Z_, eval=True)

    assert_gradient(dLdZ, lambda Z_: forward_with(Z_=Z_), Z, dLdBZ, "dLdZ", **ctx)
    assert_gradient(bn.dLdBW, lambda BW: forward_with(BW=BW), fresh.BW, dLdBZ, "dLdBW", **ctx)
    assert_gradient(bn.dLdBb, lambda Bb: forward_with(Bb=Bb), fresh.Bb, dLdBZ, "dLdBb", **ctx)


# ----------------------------------------------------------------------------- properties

@given(shape=batch_shapes(min_rows=2), seed=seeds())
def test_training_output_is_normalised_per_feature(shape, seed):
    rng = np.random.default_rng(seed)
    Z = values(rng, shape, -5, 5) * positive(rng, (1, shape[1]), 0.1, 10.0)
    NZ = (BatchNorm1d(shape[1]).forward(Z))  # BW = 1, Bb = 0: BZ = NZ
    np.testing.assert_allclose(NZ.mean(axis=0), 0.0, atol=1e-12)
    var = Z.var(axis=0)
    np.testing.assert_allclose(NZ.var(axis=0), var / (var + EPS), rtol=1e-12)


@given(shape=batch_shapes(min_rows=2), seed=seeds())
def test_running_variance_tracks_the_unbiased_batch_variance(shape, seed):
    rng = np.random.default_rng(seed)
    bn = BatchNorm1d(shape[1], alpha=0.0)  # alpha = 0: running stats = the last batch's
    Z = values(rng, shape)
    bn.forward(Z)
    np.testing.assert_allclose(bn.running_M, Z.mean(axis=0, keepdims=True), rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(bn.running_V, Z.var(axis=0, ddof=1, keepdims=True), rtol=1e-13)


@pytest.mark.parametrize("eval", [False, True])
@given(shape=batch_shapes(min_rows=2), seed=seeds())
def test_zeros_repeated_backward_shapes_and_dtypes(eval, shape, seed):
    rng = np.random.default_rng(seed)
    bn = make_bn(shape[1], rng, eval_stats=True)
    bn.forward(values(rng, shape), eval=eval)
    assert not bn.backward(np.zeros(shape)).any()
    assert not bn.dLdBW.any() and not bn.dLdBb.any()
    g = upstream(rng, shape)
    first = bn.backward(g)
    dLdBW, dLdBb = bn.dLdBW.copy(), bn.dLdBb.copy()
    np.testing.assert_array_equal(bn.backward(g), first)
    np.testing.assert_array_equal(bn.dLdBW, dLdBW)  # overwritten, not accumulated
    np.testing.assert_array_equal(bn.dLdBb, dLdBb)
    pairs = bn.parameters()
    assert pairs[0][0] is bn.BW and pairs[0][1] is bn.dLdBW
    assert pairs[1][0] is bn.Bb and pairs[1][1] is bn.dLdBb
    for p, grad in pairs:
        assert grad.shape == p.shape == (1, shape[1]) and grad.dtype == p.dtype == np.float64
    assert first.shape == shape and first.dtype == np.float64


def test_running_statistics_after_several_steps_by_formula():
    rng = np.random.default_rng(3)
    bn = BatchNorm1d(3, alpha=0.8)
    M, V = np.zeros((1, 3)), np.ones((1, 3))
    for n in (2, 5, 4):
        Z = values(rng, (n, 3))
        bn.forward(Z)
        M = 0.8 * M + 0.2 * Z.mean(axis=0, keepdims=True)
        V = 0.8 * V + 0.2 * Z.var(axis=0, ddof=1, keepdims=True)
    np.testing.assert_allclose(bn.running_M, M, rtol=1e-14)
    np.testing.assert_allclose(bn.running_V, V, rtol=1e-14)


# ----------------------------------------------------------------------------- errors

@pytest.mark.parametrize("shape", [(4, 2), (4,), (4, 3, 1)])
def test_wrong_number_of_features(shape):
    with pytest.raises(ValueError) as info:
        BatchNorm1d(3).forward(np.ones(shape))
    message = str(info.value)
    assert "BatchNorm1d(3" in message and "(N, 3)" in message and str(shape) in message


def test_training_needs_two_rows():
    bn = BatchNorm1d(3)
    with pytest.raises(ValueError) as info:
        bn.forward(np.ones((1, 3)))
    assert "BatchNorm1d" in str(info.value) and "2 rows" in str(info.value)
    np.testing.assert_array_equal(bn.running_M, np.zeros((1, 3)))  # nothing updated
    assert bn.forward(np.ones((1, 3)), eval=True).shape == (1, 3)


def test_wrong_gradient_shape():
    bn = BatchNorm1d(3)
    bn.forward(np.arange(6.0).reshape(2, 3))
    with pytest.raises(ValueError, match="BatchNorm1d"):
        bn.backward(np.ones((2, 4)))
