"""Tasks 3.1 MSELoss · 3.2 CrossEntropyLoss: forward (the scalar loss) and backward (dLdA)."""
import numpy as np
import pytest

from autograder import strategies as st
from autograder.checks import (Mismatch, expect_close, expect_gradient, expect_scalar,
                               property_check)
from autograder.gradcheck import perturbations, vjp_from


def run(sub, cls, A, Y):
    """(loss, L, dLdA) for a fresh ``mytorch.nn.<cls>``: forward(A, Y), then backward()."""
    loss = sub.new(f"mytorch.nn.{cls}")
    L = loss.forward(A, Y)
    return loss, L, loss.backward()


def as_number(value, name):
    """``value`` (a number or a size-1 array from the worker) as a float, or raise Mismatch."""
    if isinstance(value, np.ndarray) and value.size == 1 and value.dtype.kind in "biuf":
        value = value.reshape(())[()]
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        kind = "None" if value is None else type(value).__name__
        raise Mismatch(name, f"expected a number (the scalar loss), got {kind}",
                       "return the loss as a float, e.g. float(np.sum(...)) / N")
    return float(value)


def loss_gradient_check(sub, cls, A, Y, alternatives=None):
    """backward() against central differences of the scalar forward(A, Y), in one request.

    ``alternatives(numeric)`` returns {hint: the gradient a known mistake gives}."""
    loss = sub.new(f"mytorch.nn.{cls}")
    name = f"L = {cls}.forward(A, Y)"
    forward = loss.forward.submit(A, Y)
    backward = loss.backward.submit()
    Ls = sub.call_many(loss, "forward", [(a, Y) for a in perturbations(A)])  # one round trip
    as_number(forward.result(), name)
    numeric = vjp_from([as_number(v, name) for v in Ls], A, 1.0)
    expect_gradient(backward.result(), numeric, f"dLdA = {cls}.backward()",
                    alternatives=alternatives(numeric) if alternatives else None)


# ----------------------------------------------------------------------------- MSE

@pytest.mark.cases("mse")
def test_mse(sub, case):
    A, Y, L_ref, dLdA_ref = case["A"], case["Y"], float(case["L"]), case["dLdA"]
    N, C = A.shape
    loss, L, dLdA = run(sub, "MSELoss", A, Y)
    expect_scalar(L, L_ref, "L = MSELoss.forward(A, Y)",
                  alternatives={f"summed instead of averaged: divide the sum of squares by N·C = "
                                f"{N * C}": L_ref * N * C,
                                f"divided by N = {N} only: the mean is over all N·C = {N * C} "
                                "entries": L_ref * C,
                                f"divided by C = {C} only: the mean is over all N·C = {N * C} "
                                "entries": L_ref * N,
                                "took a square root (RMSE): MSE has no square root":
                                np.sqrt(L_ref)})
    expect_close(dLdA, dLdA_ref, "dLdA = MSELoss.backward()",
                 alternatives={"the factor 2 from the derivative of the square is missing: "
                               "dLdA = 2 (A - Y) / (N·C)": dLdA_ref / 2,
                               f"not divided by N·C = {N * C} (the loss is a mean)":
                               dLdA_ref * N * C,
                               "not divided by N·C and the factor 2 is missing":
                               dLdA_ref * N * C / 2,
                               f"divided by N = {N} only: dLdA = 2 (A - Y) / (N·C)": dLdA_ref * C,
                               f"divided by C = {C} only: dLdA = 2 (A - Y) / (N·C)": dLdA_ref * N,
                               "the sign is flipped: dLdA = 2 (A - Y) / (N·C), not (Y - A)":
                               -dLdA_ref})


@property_check(shape=st.batch_shapes(), seed=st.seeds())
def test_mse_gradient_check(sub, shape, seed):
    """MSELoss.backward agrees with central differences of your forward."""
    N, C = shape
    loss_gradient_check(sub, "MSELoss", st.values(seed, shape), st.values(seed + 1, shape),
                        alternatives=lambda g: {
                            "the factor 2 from the derivative of the square is missing": g / 2,
                            f"backward is not divided by N·C = {N * C} but forward is": g * N * C,
                            f"backward is divided by N·C = {N * C} but forward is not":
                            g / (N * C),
                        })


# ----------------------------------------------------------------------------- cross-entropy

def stable_cross_entropy(A, Y):
    """(L, dLdA) in float64 via log-sum-exp: finite for any finite logits."""
    shifted = A - A.max(axis=1, keepdims=True)
    log_softmax = shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))
    N = A.shape[0]
    return float(-np.sum(Y * log_softmax)) / N, (np.exp(log_softmax) - Y) / N


def ce_alternatives(A, Y, L_ref, dLdA_ref):
    N = A.shape[0]
    shifted = A - A.max(axis=1, keepdims=True)
    softmax = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    L_alt = {f"not divided by N = {N}: the loss is the mean over the batch": L_ref * N,
             "divided by N·C: average over the batch only (sum over the classes)":
             L_ref / A.shape[1],
             "the sign is flipped: L = -mean(sum(Y * log softmax(A)))": -L_ref}
    dLdA_alt = {f"not divided by N = {N}: dLdA = (softmax(A) - Y) / N": dLdA_ref * N,
                "the sign is flipped: dLdA = (softmax(A) - Y) / N, not (Y - softmax(A)) / N":
                -dLdA_ref,
                "Y is not subtracted: dLdA = (softmax(A) - Y) / N": softmax / N,
                "the gradient is for the logits A, so it is (softmax(A) - Y) / N, not "
                "(A - Y) / N": (A - Y) / N}
    return L_alt, dLdA_alt


@pytest.mark.cases("cross_entropy")
def test_cross_entropy(sub, case):
    A, Y, L_ref, dLdA_ref = case["A"], case["Y"], float(case["L"]), case["dLdA"]
    loss, L, dLdA = run(sub, "CrossEntropyLoss", A, Y)
    L_alt, dLdA_alt = ce_alternatives(A, Y, L_ref, dLdA_ref)
    expect_scalar(L, L_ref, "L = CrossEntropyLoss.forward(A, Y)", alternatives=L_alt)
    expect_close(dLdA, dLdA_ref, "dLdA = CrossEntropyLoss.backward()", alternatives=dLdA_alt)


def large_logit_cases():
    """Logits around ±1000; in some rows the true class is ~800 below the row max, so
    log(softmax) of it underflows to log(0) = -inf unless computed as a log-sum-exp."""
    out = []
    for seed, (N, C) in enumerate([(3, 4), (5, 3), (2, 6)]):
        rng = np.random.default_rng([20261123, 7, seed])
        A = rng.uniform(-1000.0, 1000.0, (N, C))
        labels = rng.integers(0, C, N)
        top = A.argmax(axis=1)
        for i in range(N):
            if i % 2 == 0:  # the true class far below the row max
                labels[i] = (top[i] + 1) % C
                A[i, labels[i]] = A[i, top[i]] - 800.0
        Y = np.eye(C)[labels]
        out.append((A, Y))
    return out


@pytest.mark.parametrize("A, Y", large_logit_cases(), ids=["case0", "case1", "case2"])
def test_cross_entropy_large_logits(sub, A, Y):
    """Logits of size ~1000 must give a finite, correct loss and gradient."""
    L_ref, dLdA_ref = stable_cross_entropy(A, Y)
    loss, L, dLdA = run(sub, "CrossEntropyLoss", A, Y)
    name = "L = CrossEntropyLoss.forward(A, Y) for logits of size ~1000"
    hint = ("exp overflows (or softmax underflows to 0, and log(0) = -inf) for large logits: "
            "subtract each row's max and compute log softmax(A) = (A - max) - "
            "log(sum(exp(A - max))) directly, instead of log(softmax(A))")
    value = as_number(L, name)
    if not np.isfinite(value):
        raise Mismatch(name, f"is {value}, expected the finite value {L_ref:.6g}", hint)
    L_alt, dLdA_alt = ce_alternatives(A, Y, L_ref, dLdA_ref)
    expect_scalar(L, L_ref, name, alternatives=L_alt)
    expect_close(dLdA, dLdA_ref, "dLdA = CrossEntropyLoss.backward() for logits of size ~1000",
                 alternatives=dLdA_alt)


@property_check(shape=st.batch_shapes(min_cols=2), seed=st.seeds())
def test_cross_entropy_gradient_check(sub, shape, seed):
    """CrossEntropyLoss.backward agrees with central differences of your forward."""
    N, C = shape
    loss_gradient_check(sub, "CrossEntropyLoss", st.logits(seed, shape),
                        st.one_hot(seed + 1, N, C), alternatives=lambda g: {
                            f"backward is not divided by N = {N} but forward is": g * N,
                            f"backward is divided by N = {N} but forward is not": g / N})
