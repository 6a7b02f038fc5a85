"""Tasks 2.1–2.5: activations (Sigmoid, Tanh, ReLU, GELU, Softmax): forward and backward.

Each ``test_<name>`` compares forward (A) and backward (dLdZ) with the reference's outputs, each
quantity for its own share of the points; each ``test_<name>_gradient_check`` compares your
backward with central differences of your own forward (random upstream gradients, float64, inputs
away from kinks; see docs/gradcheck.md) — a backward equal to the reference passes it whatever the
forward does. The hints come from one catalogue of mistakes per activation (``mistakes.py``),
the same in every test.
"""
import numpy as np
import pytest

from autograder.checking import strategies as st
from autograder.checking.checks import (
    Mismatch,
    expect_array,
    expect_close,
    expect_gradient,
    property_check,
)
from autograder.checking.gradcheck import perturbations, vjp_from

from .. import mistakes

CATALOGUE = {"Sigmoid": mistakes.sigmoid, "Tanh": mistakes.tanh, "ReLU": mistakes.relu,
             "GELU": mistakes.gelu, "Softmax": mistakes.softmax}


def reference(cls, Z, dLdA):
    """(A, dLdZ) of a correct ``cls`` (written unlike the reference solution)."""
    if cls == "Sigmoid":
        A = 0.5 * (1.0 + np.tanh(0.5 * Z))
        return A, dLdA * (A - A * A)
    if cls == "Tanh":
        A = np.tanh(Z)
        return A, dLdA - dLdA * A ** 2
    if cls == "ReLU":
        return np.where(Z > 0, Z, 0.0), np.where(Z > 0, dLdA, 0.0)
    if cls == "GELU":
        cdf, pdf = mistakes._gelu_parts(Z)
        return Z * cdf, dLdA * (cdf + Z * pdf)
    A = mistakes._softmax(Z)
    return A, A * dLdA - A * np.einsum("ij,ij->i", dLdA, A)[:, None]


def check_values(sub, quantities, cls, Z, dLdA, A_ref, dLdZ_ref, suffix=""):
    """forward(Z) then backward(dLdA) on a fresh layer: A and dLdZ, each a quantity."""
    found = CATALOGUE[cls](Z, dLdA)
    key = cls.lower()
    layer = sub.new(f"mytorch.nn.{cls}")
    A = None
    with quantities.check("A"):
        A = layer.forward(Z)
        expect_close(A, A_ref, f"A = {cls}.forward(Z){suffix}", key=f"{key}.A",
                     diagnoses=found["A"])
    with quantities.check("dLdZ"):
        expect_close(layer.backward(dLdA), dLdZ_ref, f"dLdZ = {cls}.backward(dLdA){suffix}",
                     key=f"{key}.dLdZ", diagnoses=found["dLdZ"],
                     computed_in=getattr(A, "dtype", None))
    return layer


def gradient_check(sub, quantities, cls, Z, dLdA):
    """backward(dLdA) against central differences of the same layer's forward.

    Activations treat the rows of a batch independently, so all the perturbed copies of Z (and Z
    itself, first) are stacked into one tall batch and sent in a single forward call; that your
    forward gives Z's rows the same values in the tall batch as alone is checked on the way.
    """
    quantities.new_example()
    layer = sub.new(f"mytorch.nn.{cls}")
    forward = layer.forward.submit(Z)
    backward = layer.backward.submit(dLdA)  # before the numeric pass: it overwrites the cached A
    zs = perturbations(Z)
    n = Z.shape[0]
    tall = layer.forward(np.concatenate([Z] + zs))  # one round trip answers all three calls
    A = expect_array(forward.result(), f"A = {cls}.forward(Z)", shape=Z.shape,
                     key=f"{cls.lower()}.A")
    tall = expect_array(tall, f"{cls}.forward(Z) on a batch of {n * (len(zs) + 1)} rows",
                        shape=(n * (len(zs) + 1), Z.shape[1]), key=f"{cls.lower()}.A")
    if not np.allclose(tall[:n], A, rtol=1e-12, atol=1e-14, equal_nan=True):
        raise Mismatch(f"{cls}.forward(Z)", "the rows of Z get different values when Z is "
                       "part of a larger batch: each row must be transformed on its own",
                       "Softmax normalises each row (sum over axis=1, keepdims=True)"
                       if cls == "Softmax" else "apply the function elementwise",
                       f"{cls.lower()}.rows_not_independent")
    numeric = vjp_from(np.split(tall[n:], len(zs)), Z, dLdA)
    A_ref, dLdZ_ref = reference(cls, Z, dLdA)
    with quantities.check("dLdZ"):
        expect_gradient(backward.result(), numeric, f"dLdZ = {cls}.backward(dLdA)",
                        reference=dLdZ_ref, forward=(A, A_ref), key=f"{cls.lower()}.dLdZ",
                        diagnoses=CATALOGUE[cls](Z, dLdA)["dLdZ"])
    quantities.end_example()


def _case_values(case):
    return case["Z"], case["dLdA"], case["A"], case["dLdZ"]


@pytest.mark.cases("sigmoid")
def test_sigmoid(sub, case, quantities):
    check_values(sub, quantities, "Sigmoid", *_case_values(case))


@property_check(shape=st.batch_shapes(), seed=st.seeds())
def test_sigmoid_gradient_check(sub, quantities, shape, seed):
    """Sigmoid.backward agrees with central differences of your forward."""
    gradient_check(sub, quantities, "Sigmoid", st.values(seed, shape, -4, 4),
                   st.upstream(seed + 1, shape))


@pytest.mark.cases("tanh")
def test_tanh(sub, case, quantities):
    check_values(sub, quantities, "Tanh", *_case_values(case))


@property_check(shape=st.batch_shapes(), seed=st.seeds())
def test_tanh_gradient_check(sub, quantities, shape, seed):
    """Tanh.backward agrees with central differences of your forward."""
    gradient_check(sub, quantities, "Tanh", st.values(seed, shape, -3, 3),
                   st.upstream(seed + 1, shape))


@pytest.mark.cases("relu")
def test_relu(sub, case, quantities):
    check_values(sub, quantities, "ReLU", *_case_values(case))


@property_check(shape=st.batch_shapes(), seed=st.seeds())
def test_relu_gradient_check(sub, quantities, shape, seed):
    """ReLU.backward agrees with central differences of your forward (inputs kept off the kink)."""
    gradient_check(sub, quantities, "ReLU", st.values(seed, shape, away_from_zero=1e-3),
                   st.upstream(seed + 1, shape))


def test_relu_gradient_at_zero(sub, quantities):
    """relu(0) = 0 and relu'(0) = 0, as PyTorch (finite differences cannot tell: they give 0.5)."""
    Z = np.array([[0.0, -1.5, 2.0], [0.0, 0.0, -0.0], [3.0, 0.0, -2.0]])
    dLdA = np.array([[1.5, -2.0, 0.5], [-1.0, 2.5, 0.75], [1.0, 3.0, -4.0]])
    check_values(sub, quantities, "ReLU", Z, dLdA, np.maximum(Z, 0.0),
                 np.where(Z > 0, dLdA, 0.0), " where Z has exact zeros")


@pytest.mark.cases("gelu")
def test_gelu(sub, case, quantities):
    check_values(sub, quantities, "GELU", *_case_values(case))


@property_check(shape=st.batch_shapes(), seed=st.seeds())
def test_gelu_gradient_check(sub, quantities, shape, seed):
    """GELU.backward agrees with central differences of your forward."""
    gradient_check(sub, quantities, "GELU", st.values(seed, shape, -4, 4),
                   st.upstream(seed + 1, shape))


@pytest.mark.cases("softmax")
def test_softmax(sub, case, quantities):
    check_values(sub, quantities, "Softmax", *_case_values(case))


@pytest.mark.cases("softmax_large")
def test_softmax_large_inputs(sub, case, quantities):
    """Inputs in the thousands: forward and backward must stay finite and correct."""
    Z, dLdA, A_ref, dLdZ_ref = _case_values(case)
    found = mistakes.softmax(Z, dLdA)
    layer = sub.new("mytorch.nn.Softmax")
    name = "A = Softmax.forward(Z) for |Z| up to 3000"
    A = None
    with quantities.check("A"):
        A = layer.forward(Z)
        expect_close(A, A_ref, name, key="softmax.A", diagnoses=found["A"])
    with quantities.check("dLdZ"):  # a float32 forward's A makes dLdZ float32-precise
        expect_close(layer.backward(dLdA), dLdZ_ref,
                     "dLdZ = Softmax.backward(dLdA) for |Z| up to 3000", key="softmax.dLdZ",
                     diagnoses=found["dLdZ"], computed_in=getattr(A, "dtype", None))


@property_check(shape=st.batch_shapes(min_cols=2), seed=st.seeds())
def test_softmax_gradient_check(sub, quantities, shape, seed):
    """Softmax.backward agrees with central differences of your forward (random upstream)."""
    gradient_check(sub, quantities, "Softmax", st.logits(seed, shape),
                   st.upstream(seed + 1, shape))
