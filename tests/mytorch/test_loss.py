"""mytorch.nn losses: values by hand, gradient checks, label formats, stability and errors."""
import math

import numpy as np
import pytest
from hypothesis import given

from autograder.checking.strategies import batch_shapes, labels, logits, one_hot, seeds, values
from mytorch.nn import CrossEntropyLoss, MSELoss
from tests.mytorch.helpers import assert_gradient, strict_floats

# ----------------------------------------------------------------------------- MSE by hand


def test_mse_by_hand():
    A = np.array([[1.0, 2.0], [3.0, 4.0]])
    Y = np.array([[0.0, 2.0], [3.0, 2.0]])
    loss = MSELoss()
    # squared errors 1, 0, 0, 4: sum 5 over N·C = 4 entries
    L = loss.forward(A, Y)
    assert isinstance(L, float) and L == 1.25
    np.testing.assert_array_equal(loss.backward(), [[0.5, 0.0], [0.0, 1.0]])  # 2 (A - Y) / 4


def test_mse_of_a_perfect_prediction_is_zero():
    A = values(0, (3, 2))
    loss = MSELoss()
    assert loss.forward(A, A.copy()) == 0.0
    assert not loss.backward().any()


# ----------------------------------------------------------------------------- CE by hand

def test_cross_entropy_by_hand():
    loss = CrossEntropyLoss()
    L = loss.forward(np.array([[0.0, math.log(3.0)]]), np.array([[0.0, 1.0]]))
    # softmax = (1/4, 3/4); L = -ln(3/4); dLdA = softmax - Y
    assert isinstance(L, float)
    assert L == pytest.approx(-math.log(0.75), rel=1e-15)
    np.testing.assert_allclose(loss.backward(), [[0.25, -0.25]], rtol=1e-15)


def test_cross_entropy_averages_over_rows():
    A = np.array([[0.0, math.log(3.0)], [0.0, 0.0]])
    Y = np.array([[0.0, 1.0], [1.0, 0.0]])
    loss = CrossEntropyLoss()
    L = loss.forward(A, Y)
    assert L == pytest.approx((-math.log(0.75) + math.log(2.0)) / 2, rel=1e-15)
    np.testing.assert_allclose(loss.backward(), [[0.125, -0.125], [-0.25, 0.25]], rtol=1e-15)


def test_cross_entropy_of_equal_logits_is_log_c():
    loss = CrossEntropyLoss()
    assert loss.forward(np.zeros((3, 5)), one_hot(0, 3, 5)) == pytest.approx(math.log(5), rel=1e-15)


def test_cross_entropy_of_a_perfect_prediction_is_zero():
    loss = CrossEntropyLoss()
    L = loss.forward(np.array([[100.0, 0.0], [0.0, 100.0]]), np.eye(2))
    assert 0.0 <= L < 1e-40  # ln(1 + e^-100) ≈ 3.7e-44
    assert np.abs(loss.backward()).max() < 1e-40


@given(shape=batch_shapes(max_cols=6), seed=seeds())
def test_cross_entropy_accepts_integer_labels_like_one_hot(shape, seed):
    rng = np.random.default_rng(seed)
    n, c = shape
    A, y = logits(rng, shape), labels(rng, n, c)
    Y = np.eye(c)[y]
    by_onehot, by_label = CrossEntropyLoss(), CrossEntropyLoss()
    assert by_label.forward(A, y) == by_onehot.forward(A, Y)
    np.testing.assert_array_equal(by_label.backward(), by_onehot.backward())
    for dtype in (np.int32, np.uint8):
        assert CrossEntropyLoss().forward(A, y.astype(dtype)) == by_onehot.forward(A, Y)


def test_cross_entropy_accepts_class_probabilities():
    # PyTorch-style soft targets (non-negative rows summing to 1) are accepted
    A = np.array([[1.0, 2.0, 3.0]])
    Y = np.array([[0.2, 0.3, 0.5]])
    loss = CrossEntropyLoss()
    log_p = A - np.log(np.exp(A).sum())
    assert loss.forward(A, Y) == pytest.approx(-(Y * log_p).sum(), rel=1e-14)
    np.testing.assert_allclose(loss.backward(), np.exp(log_p) - Y, rtol=1e-14)


def test_cross_entropy_is_stable_for_logits_in_the_thousands():
    A = np.array([[1000.0, -1000.0, 0.0], [-1000.0, -1000.0, -1000.0], [0.0, 0.0, 3000.0]])
    Y = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    loss = CrossEntropyLoss()
    with strict_floats():
        L = loss.forward(A, Y)
        dLdA = loss.backward()
    # row losses: 0, ln 3, 3000
    assert L == pytest.approx((math.log(3.0) + 3000.0) / 3, rel=1e-15)
    # row 0 is perfect, row 1 uniform, row 2 certain and wrong: dLdA = (softmax - Y) / 3
    expected = [[0.0, 0.0, 0.0], [1 / 9, -2 / 9, 1 / 9], [-1 / 3, 0.0, 1 / 3]]
    np.testing.assert_allclose(dLdA, expected, rtol=1e-15, atol=1e-300)


# ----------------------------------------------------------------------------- gradient checks

@given(shape=batch_shapes(), seed=seeds())
def test_mse_gradient_matches_central_differences(shape, seed):
    rng = np.random.default_rng(seed)
    A, Y = values(rng, shape), values(rng, shape)
    loss = MSELoss()
    loss.forward(A, Y)
    dLdA = loss.backward()
    assert_gradient(dLdA, lambda A_: MSELoss().forward(A_, Y), A, 1.0, "MSELoss dLdA",
                    seed=seed, shape=shape)


@given(shape=batch_shapes(), seed=seeds())
def test_cross_entropy_gradient_matches_central_differences(shape, seed):
    rng = np.random.default_rng(seed)
    A, Y = logits(rng, shape), one_hot(rng, *shape)
    loss = CrossEntropyLoss()
    loss.forward(A, Y)
    dLdA = loss.backward()
    assert_gradient(dLdA, lambda A_: CrossEntropyLoss().forward(A_, Y), A, 1.0,
                    "CrossEntropyLoss dLdA", seed=seed, shape=shape)


# ----------------------------------------------------------------------------- properties

@pytest.mark.parametrize("cls", [MSELoss, CrossEntropyLoss], ids=lambda c: c.__name__)
@given(shape=batch_shapes(), seed=seeds())
def test_loss_is_a_float_and_backward_is_repeatable(cls, shape, seed):
    rng = np.random.default_rng(seed)
    A = logits(rng, shape)
    Y = one_hot(rng, *shape)
    A0, Y0 = A.copy(), Y.copy()
    loss = cls()
    L = loss.forward(A, Y)
    assert type(L) is float and L >= 0.0
    first = loss.backward()
    assert first.shape == shape and first.dtype == np.float64
    np.testing.assert_array_equal(loss.backward(), first)
    np.testing.assert_array_equal(A, A0)  # inputs not modified
    np.testing.assert_array_equal(Y, Y0)


@given(shape=batch_shapes(), seed=seeds())
def test_cross_entropy_gradient_rows_sum_to_zero(shape, seed):
    rng = np.random.default_rng(seed)
    loss = CrossEntropyLoss()
    loss.forward(logits(rng, shape), one_hot(rng, *shape))
    np.testing.assert_allclose(loss.backward().sum(axis=1), 0.0, atol=1e-15)


# ----------------------------------------------------------------------------- errors

@pytest.mark.parametrize("cls", [MSELoss, CrossEntropyLoss], ids=lambda c: c.__name__)
@pytest.mark.parametrize("shape", [(3,), (2, 3, 1)])
def test_prediction_must_be_a_matrix(cls, shape):
    with pytest.raises(ValueError) as info:
        cls().forward(np.zeros(shape), np.zeros(shape))
    assert cls.__name__ in str(info.value) and "(N, C)" in str(info.value)


def test_mse_shape_mismatch():
    with pytest.raises(ValueError) as info:
        MSELoss().forward(np.zeros((2, 3)), np.zeros((3, 2)))
    message = str(info.value)
    assert "MSELoss" in message and "(2, 3)" in message and "(3, 2)" in message


@pytest.mark.parametrize("y", [[0, 3], [-1, 0]])
def test_cross_entropy_labels_out_of_range(y):
    with pytest.raises(ValueError) as info:
        CrossEntropyLoss().forward(np.zeros((2, 3)), np.array(y))
    message = str(info.value)
    assert "CrossEntropyLoss" in message and "[0, 3)" in message


def test_cross_entropy_wrong_number_of_labels():
    with pytest.raises(ValueError, match="CrossEntropyLoss: got 3 class labels for 2 predictions"):
        CrossEntropyLoss().forward(np.zeros((2, 3)), np.array([0, 1, 2]))


@pytest.mark.parametrize("Y", [np.array([0.0, 1.0]), np.array(["a", "b"]),
                               np.zeros((2, 3), dtype=complex)],
                         ids=["float-labels", "strings", "complex"])
def test_cross_entropy_rejects_targets_of_the_wrong_dtype(Y):
    with pytest.raises(ValueError) as info:
        CrossEntropyLoss().forward(np.zeros((2, 3)), Y)
    message = str(info.value)
    assert "CrossEntropyLoss" in message and str(Y.dtype) in message


@pytest.mark.parametrize("Y", [[[1.0, 1.0, 0.0], [0.0, 1.0, 0.0]],    # row sums to 2
                               [[0.0, 0.0, 0.0], [0.0, 1.0, 0.0]],    # row sums to 0
                               [[2.0, -1.0, 0.0], [0.0, 1.0, 0.0]]],  # negative entry
                         ids=["sum-2", "sum-0", "negative"])
def test_cross_entropy_rejects_rows_that_are_not_one_hot(Y):
    with pytest.raises(ValueError, match="one-hot"):
        CrossEntropyLoss().forward(np.zeros((2, 3)), np.array(Y))


def test_cross_entropy_rejects_one_hot_of_the_wrong_shape():
    with pytest.raises(ValueError) as info:
        CrossEntropyLoss().forward(np.zeros((2, 3)), np.eye(3))
    assert "(2, 3)" in str(info.value) and "(3, 3)" in str(info.value)
