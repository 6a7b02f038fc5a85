"""Tasks 8.1 MaxPool2d · 8.2 AvgPool2d · 8.3 Flatten: forward and backward.

Each reference-output test runs forward (Z) then backward (dLdA) on one fresh layer, each quantity
for its own share of the points (backward reads what the same task's forward stored). The gradient
checks compare backward with central differences of your own forward on drawn inputs (continuous
values: no ties for the max). Hints come from ``mistakes.pool`` and ``mistakes.flatten``.
"""
import pytest

from autograder.channel.errors import StudentError
from autograder.checking import strategies as st
from autograder.checking.checks import (
    Mismatch,
    expect_array,
    expect_close,
    expect_gradient,
    property_check,
    replaying_errors,
)
from autograder.checking.gradcheck import perturbations, vjp_from

from .. import mistakes

POOLS = {"max": "MaxPool2d", "avg": "AvgPool2d"}


def check_values(sub, quantities, cls, layer, found, A, dLdZ, Z_ref, dLdA_ref, key):
    """forward(A) then backward(dLdZ) on ``layer``: Z and dLdA, each a quantity."""
    with quantities.check("Z"), replaying_errors(f"Z = {cls}.forward(A)", found["Z"]):
        expect_close(layer.forward(A), Z_ref, f"Z = {cls}.forward(A)", key=f"{key}.Z",
                     diagnoses=found["Z"])
    name = f"dLdA = {cls}.backward(dLdZ)"
    with quantities.check("dLdA"), replaying_errors(name, found["dLdA"]):
        expect_close(layer.backward(dLdZ), dLdA_ref, name, key=f"{key}.dLdA",
                     diagnoses=found["dLdA"])


def gradient_check(sub, quantities, cls, make, A, dLdZ, reference, found, key):
    """backward(dLdZ) against central differences of forward, each perturbed input on a fresh
    forward of a second layer (one round trip)."""
    quantities.new_example()
    layer = make()
    forward = layer.forward.submit(A)
    backward = layer.backward.submit(dLdZ)
    As = perturbations(A)
    outputs = sub.call_many(make(), "forward", [(x,) for x in As], [{}] * len(As), wait=False)
    try:
        outputs = outputs.result()
        Z = expect_array(forward.result(), f"Z = {cls}.forward(A)", shape=reference["Z"].shape)
        numeric = vjp_from(outputs, A, dLdZ)
    except (StudentError, Mismatch, ValueError):  # the reference-output test charges the forward
        Z, numeric = None, None
    with quantities.check("dLdA"), replaying_errors("dLdA", found["dLdA"]):
        expect_gradient(backward.result(), numeric, f"dLdA = {cls}.backward(dLdZ)",
                        reference=reference["dLdA"],
                        forward=None if Z is None else (Z, reference["Z"]), key=f"{key}.dLdA",
                        diagnoses=found["dLdA"])
    quantities.end_example()


def pool_case_test(sub, case, quantities, kind):
    kernel, stride = int(case["kernel"]), int(case["stride"])
    found = mistakes.pool(kind, case["A"], kernel, stride, case["dLdZ"])
    layer = sub.new(f"mytorch.nn.{POOLS[kind]}", kernel, stride=stride)
    check_values(sub, quantities, POOLS[kind], layer, found, case["A"], case["dLdZ"], case["Z"],
                 case["dLdA"], f"{kind}pool")


def pool_gradient_check(sub, quantities, kind, n, c, kernel, stride, size, seed):
    A = st.values(seed, (n, c, size + kernel, size + kernel + 1))
    reference = mistakes.pool_reference(kind, A, kernel, stride)
    dLdZ = st.upstream(seed + 1, reference["Z"].shape)
    reference = mistakes.pool_reference(kind, A, kernel, stride, dLdZ)
    gradient_check(sub, quantities, POOLS[kind],
                   lambda: sub.new(f"mytorch.nn.{POOLS[kind]}", kernel, stride=stride), A, dLdZ,
                   reference, mistakes.pool(kind, A, kernel, stride, dLdZ), f"{kind}pool")


POOL_SHAPES = dict(n=st.sizes(1, 2), c=st.sizes(1, 2), kernel=st.sizes(1, 3),
                   stride=st.sizes(1, 3), size=st.sizes(0, 3), seed=st.seeds())


@pytest.mark.cases("maxpool")
def test_maxpool(sub, case, quantities):
    pool_case_test(sub, case, quantities, "max")


@property_check(**POOL_SHAPES)
def test_maxpool_gradient_check(sub, quantities, n, c, kernel, stride, size, seed):
    """MaxPool2d.backward agrees with central differences of your forward."""
    pool_gradient_check(sub, quantities, "max", n, c, kernel, stride, size, seed)


@pytest.mark.cases("avgpool")
def test_avgpool(sub, case, quantities):
    pool_case_test(sub, case, quantities, "avg")


@property_check(**POOL_SHAPES)
def test_avgpool_gradient_check(sub, quantities, n, c, kernel, stride, size, seed):
    """AvgPool2d.backward agrees with central differences of your forward."""
    pool_gradient_check(sub, quantities, "avg", n, c, kernel, stride, size, seed)


@pytest.mark.cases("flatten")
def test_flatten(sub, case, quantities):
    found = mistakes.flatten(case["A"], case["dLdZ"])
    check_values(sub, quantities, "Flatten", sub.new("mytorch.nn.Flatten"), found, case["A"],
                 case["dLdZ"], case["Z"], case["dLdA"], "flatten")
