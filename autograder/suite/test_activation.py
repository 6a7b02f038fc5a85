"""Tasks 2.1–2.5: activations (Sigmoid, Tanh, ReLU, GELU, Softmax): forward and backward.

Each ``test_<name>`` compares forward and backward with the reference's outputs; each
``test_<name>_gradient_check`` compares your backward with central differences of your own forward
(random upstream gradients, float64, inputs away from kinks; see docs/gradcheck.md).
"""
import math

import numpy as np
import pytest

from autograder import strategies as st
from autograder.checks import (Mismatch, expect_array, expect_close, expect_gradient,
                               property_check)
from autograder.gradcheck import perturbations, vjp_from

_erf = np.vectorize(math.erf, otypes=[np.float64])


def run(sub, cls, Z, dLdA):
    """(layer, A, dLdZ) for a fresh ``mytorch.nn.<cls>``: forward(Z), then backward(dLdA)."""
    layer = sub.new(f"mytorch.nn.{cls}")
    A = layer.forward(Z)
    return layer, A, layer.backward(dLdA)


def gradient_check(sub, cls, Z, dLdA, alternatives=None):
    """backward(dLdA) against central differences of the same layer's forward.

    Activations treat the rows of a batch independently, so all the perturbed copies of Z (and Z
    itself, first) are stacked into one tall batch and sent in a single forward call; that your
    forward gives Z's rows the same values in the tall batch as alone is checked on the way.
    ``alternatives(Z, A, dLdA)`` returns {hint: the gradient a known mistake gives}.
    """
    layer = sub.new(f"mytorch.nn.{cls}")
    forward = layer.forward.submit(Z)
    backward = layer.backward.submit(dLdA)  # before the numeric pass: it overwrites the cached A
    zs = perturbations(Z)
    n = Z.shape[0]
    tall = layer.forward(np.concatenate([Z] + zs))  # one round trip answers all three calls
    A = expect_array(forward.result(), f"A = {cls}.forward(Z)", shape=Z.shape)
    tall = expect_array(tall, f"{cls}.forward(Z) on a batch of {n * (len(zs) + 1)} rows",
                        shape=(n * (len(zs) + 1), Z.shape[1]))
    if not np.allclose(tall[:n], A, rtol=1e-12, atol=1e-14, equal_nan=True):
        raise Mismatch(f"{cls}.forward(Z)", "the rows of Z get different values when Z is "
                       "part of a larger batch: each row must be transformed on its own",
                       "Softmax normalises each row (sum over axis=1, keepdims=True)"
                       if cls == "Softmax" else "apply the function elementwise")
    numeric = vjp_from(np.split(tall[n:], len(zs)), Z, dLdA)
    expect_gradient(backward.result(), numeric, f"dLdZ = {cls}.backward(dLdA)",
                    alternatives=alternatives(Z, A, dLdA) if alternatives else None)


def _case_values(case):
    return case["Z"], case["dLdA"], case["A"], case["dLdZ"]


# ----------------------------------------------------------------------------- Sigmoid

@pytest.mark.cases("sigmoid")
def test_sigmoid(sub, case):
    Z, dLdA, A_ref, dLdZ_ref = _case_values(case)
    layer, A, dLdZ = run(sub, "Sigmoid", Z, dLdA)
    expect_close(A, A_ref, "A = Sigmoid.forward(Z)",
                 alternatives={"the sign inside exp is flipped: sigmoid(Z) = 1 / (1 + exp(-Z))":
                               1.0 - A_ref})
    s = A_ref * (1.0 - A_ref)
    expect_close(dLdZ, dLdZ_ref, "dLdZ = Sigmoid.backward(dLdA)",
                 alternatives={"dLdA is missing: dLdZ = dLdA * A * (1 - A)": s,
                               "used Z instead of A: dLdZ = dLdA * A * (1 - A) with A = sigmoid(Z)":
                               dLdA * Z * (1.0 - Z)})


@property_check(shape=st.batch_shapes(), seed=st.seeds())
def test_sigmoid_gradient_check(sub, shape, seed):
    """Sigmoid.backward agrees with central differences of your forward."""
    gradient_check(sub, "Sigmoid", st.values(seed, shape, -4, 4), st.upstream(seed + 1, shape),
                   alternatives=lambda Z, A, dLdA: {
                       "your backward uses A·(1 - A), but your forward is not the sigmoid "
                       "1 / (1 + exp(-Z)) (a sign inside exp?)": dLdA * A * (1.0 - A),
                       "dLdA is missing: dLdZ = dLdA * A * (1 - A)": A * (1.0 - A)})


# ----------------------------------------------------------------------------- Tanh

@pytest.mark.cases("tanh")
def test_tanh(sub, case):
    Z, dLdA, A_ref, dLdZ_ref = _case_values(case)
    layer, A, dLdZ = run(sub, "Tanh", Z, dLdA)
    expect_close(A, A_ref, "A = Tanh.forward(Z)")
    expect_close(dLdZ, dLdZ_ref, "dLdZ = Tanh.backward(dLdA)",
                 alternatives={"dLdA is missing: dLdZ = dLdA * (1 - A²)": 1.0 - A_ref ** 2,
                               "used Z instead of A: dLdZ = dLdA * (1 - A²) with A = tanh(Z)":
                               dLdA * (1.0 - Z ** 2),
                               "the derivative is 1 - A², not 1 - A": dLdA * (1.0 - A_ref)})


@property_check(shape=st.batch_shapes(), seed=st.seeds())
def test_tanh_gradient_check(sub, shape, seed):
    """Tanh.backward agrees with central differences of your forward."""
    gradient_check(sub, "Tanh", st.values(seed, shape, -3, 3), st.upstream(seed + 1, shape),
                   alternatives=lambda Z, A, dLdA: {
                       "used Z instead of A: dLdZ = dLdA * (1 - A²) with A = tanh(Z)":
                       dLdA * (1.0 - Z ** 2),
                       "dLdA is missing: dLdZ = dLdA * (1 - A²)": 1.0 - A ** 2})


# ----------------------------------------------------------------------------- ReLU

@pytest.mark.cases("relu")
def test_relu(sub, case):
    Z, dLdA, A_ref, dLdZ_ref = _case_values(case)
    layer, A, dLdZ = run(sub, "ReLU", Z, dLdA)
    expect_close(A, A_ref, "A = ReLU.forward(Z)",
                 alternatives={"kept the negative entries instead of the positive ones":
                               np.minimum(Z, 0.0)})
    expect_close(dLdZ, dLdZ_ref, "dLdZ = ReLU.backward(dLdA)",
                 alternatives={"dLdA is missing: dLdZ = dLdA where Z > 0, else 0":
                               (Z > 0).astype(float),
                               "multiplied dLdA by A instead of by the mask (A > 0)": dLdA * A_ref})


@property_check(shape=st.batch_shapes(), seed=st.seeds())
def test_relu_gradient_check(sub, shape, seed):
    """ReLU.backward agrees with central differences of your forward (inputs kept off the kink)."""
    gradient_check(sub, "ReLU", st.values(seed, shape, away_from_zero=1e-3),
                   st.upstream(seed + 1, shape), alternatives=lambda Z, A, dLdA: {
                       "dLdA is missing: dLdZ = dLdA where Z > 0, else 0": (Z > 0) * 1.0})


def test_relu_gradient_at_zero(sub):
    """relu(0) = 0 and relu'(0) = 0, as PyTorch (finite differences cannot tell: they give 0.5)."""
    Z = np.array([[0.0, -1.5, 2.0], [0.0, 0.0, -0.0], [3.0, 0.0, -2.0]])
    dLdA = np.array([[1.5, -2.0, 0.5], [-1.0, 2.5, 0.75], [1.0, 3.0, -4.0]])
    layer, A, dLdZ = run(sub, "ReLU", Z, dLdA)
    zero = Z == 0
    expect_close(A, np.maximum(Z, 0.0), "A = ReLU.forward(Z) for Z with exact zeros")
    expected = np.where(Z > 0, dLdA, 0.0)
    expect_close(dLdZ, expected, "dLdZ = ReLU.backward(dLdA) where Z = 0",
                 alternatives={"the gradient at Z = 0 must be 0 (as PyTorch): use the mask Z > 0 "
                               "(or A > 0), not Z >= 0": np.where(Z >= 0, dLdA, 0.0),
                               "at Z = 0 you used the subgradient 1/2; PyTorch uses 0":
                               np.where(zero, 0.5 * dLdA, expected)})


# ----------------------------------------------------------------------------- GELU

def _gelu_parts(Z):
    cdf = 0.5 + 0.5 * _erf(Z / np.sqrt(2.0))  # written unlike the reference on purpose (leak scan)
    pdf = np.exp(-(Z ** 2) / 2.0) / np.sqrt(2.0 * np.pi)
    return cdf, pdf


@pytest.mark.cases("gelu")
def test_gelu(sub, case):
    Z, dLdA, A_ref, dLdZ_ref = _case_values(case)
    layer, A, dLdZ = run(sub, "GELU", Z, dLdA)
    tanh_form = 0.5 * Z * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (Z + 0.044715 * Z ** 3)))
    cdf, pdf = _gelu_parts(Z)
    expect_close(A, A_ref, "A = GELU.forward(Z)",
                 alternatives={"this is the tanh approximation of GELU; the task asks for the "
                               "exact form Z·Φ(Z) = ½·Z·(1 + erf(Z/√2))": tanh_form,
                               "the factor Z is missing: GELU(Z) = Z·Φ(Z), not Φ(Z)": cdf,
                               "erf(Z) instead of erf(Z/√2)": 0.5 * Z * (1.0 + _erf(Z))})
    expect_close(dLdZ, dLdZ_ref, "dLdZ = GELU.backward(dLdA)",
                 alternatives={"the term Z·φ(Z) is missing: dA/dZ = Φ(Z) + Z·φ(Z)": dLdA * cdf,
                               "dLdA is missing: dLdZ = dLdA * (Φ(Z) + Z·φ(Z))": cdf + Z * pdf,
                               "φ(Z) without the factor Z: dA/dZ = Φ(Z) + Z·φ(Z)":
                               dLdA * (cdf + pdf)})


@property_check(shape=st.batch_shapes(), seed=st.seeds())
def test_gelu_gradient_check(sub, shape, seed):
    """GELU.backward agrees with central differences of your forward."""
    gradient_check(sub, "GELU", st.values(seed, shape, -4, 4), st.upstream(seed + 1, shape),
                   alternatives=gelu_alternatives)


def gelu_alternatives(Z, A, dLdA):
    cdf, pdf = _gelu_parts(Z)
    return {"your backward is the derivative of the exact GELU, but your forward computes another "
            "function (the tanh approximation?): use Z·Φ(Z) = ½·Z·(1 + erf(Z/√2)) in both":
            dLdA * (cdf + Z * pdf)}


# ----------------------------------------------------------------------------- Softmax

def _softmax_elementwise_backward(A, dLdA):
    return dLdA * A * (1.0 - A)


ELEMENTWISE_HINT = ("you used only the diagonal of the Jacobian (dLdA * A * (1 - A)); softmax "
                    "mixes each row: dLdZ = A * (dLdA - rowsum(dLdA * A))")


@pytest.mark.cases("softmax")
def test_softmax(sub, case):
    Z, dLdA, A_ref, dLdZ_ref = _case_values(case)
    layer, A, dLdZ = run(sub, "Softmax", Z, dLdA)
    E = np.exp(Z - Z.max())
    expect_close(A, A_ref, "A = Softmax.forward(Z)",
                 alternatives={"normalised over the wrong axis: each ROW must sum to 1 "
                               "(sum over axis=1)": E / E.sum(axis=0, keepdims=True),
                               "normalised over the whole array: each row must sum to 1 "
                               "(sum over axis=1, keepdims=True)": E / E.sum()})
    expect_close(dLdZ, dLdZ_ref, "dLdZ = Softmax.backward(dLdA)",
                 alternatives={ELEMENTWISE_HINT: _softmax_elementwise_backward(A_ref, dLdA),
                               "the Jacobian is applied transposed or with the wrong sum: "
                               "dLdZ = A * (dLdA - rowsum(dLdA * A))":
                               A_ref * (dLdA - (dLdA * A_ref).sum(axis=0, keepdims=True))})


@pytest.mark.cases("softmax_large")
def test_softmax_large_inputs(sub, case):
    """Inputs in the thousands: forward and backward must stay finite and correct."""
    Z, dLdA, A_ref, dLdZ_ref = _case_values(case)
    layer = sub.new("mytorch.nn.Softmax")
    A = expect_array(layer.forward(Z), "A = Softmax.forward(Z) for |Z| up to 3000", shape=Z.shape)
    hint = ("exp overflows for inputs in the thousands: subtract each row's max first, "
            "softmax(Z) = softmax(Z - Z.max(axis=1, keepdims=True)), which changes nothing else")
    if not np.all(np.isfinite(A)):
        where = tuple(int(i) for i in np.argwhere(~np.isfinite(A))[0])
        raise Mismatch("A = Softmax.forward(Z) for |Z| up to 3000",
                       f"contains {A[where]} at index {where} (Z there is {Z[where]:.6g})", hint)
    expect_close(A, A_ref, "A = Softmax.forward(Z) for |Z| up to 3000")
    expect_close(layer.backward(dLdA), dLdZ_ref, "dLdZ = Softmax.backward(dLdA) for |Z| up to 3000",
                 alternatives={ELEMENTWISE_HINT: _softmax_elementwise_backward(A_ref, dLdA)})


@property_check(shape=st.batch_shapes(min_cols=2), seed=st.seeds())
def test_softmax_gradient_check(sub, shape, seed):
    """Softmax.backward agrees with central differences of your forward (random upstream)."""
    gradient_check(sub, "Softmax", st.logits(seed, shape), st.upstream(seed + 1, shape),
                   alternatives=lambda Z, A, dLdA: {
                       ELEMENTWISE_HINT: _softmax_elementwise_backward(A, dLdA)})
