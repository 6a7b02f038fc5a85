"""Tasks 7.1–7.4: Conv1d and Conv2d, forward and backward.

The layer is built as the handout documents it, ``Conv1d(in_channels, out_channels, kernel_size,
stride=..., padding=...)``, and its ``W`` (C_out, C_in, K[, K]) and ``b`` (C_out,) are set. Each
quantity (Z, dLdA, dLdW, dLdb) earns its own share of a test's points, and one catalogue of
mistakes (``mistakes.conv``) explains it in every test. Backward is graded on the state the
student's own forward stored when that forward is right, else with ``self.A`` set by the grader, so
a forward bug costs the forward's task only.
"""
import numpy as np
import pytest
from hypothesis import settings

from autograder.channel.errors import StudentError
from autograder.checking import strategies as st
from autograder.checking.checks import (
    Diagnosis,
    Mismatch,
    close,
    expect_array,
    expect_close,
    expect_gradient,
    property_check,
    replaying_errors,
    tolerances,
)
from autograder.checking.gradcheck import perturbations, vjp_from

from .. import mistakes

CLASS = {1: "Conv1d", 2: "Conv2d"}


def make_conv(sub, W, b, stride, padding):
    dims = W.ndim - 2
    C_out, C_in, K = W.shape[:3]
    layer = sub.new(f"mytorch.nn.{CLASS[dims]}", C_in, C_out, K, stride=stride, padding=padding)
    layer.W, layer.b = W, b
    return layer


def geometry(case):
    return int(case["stride"]), int(case["padding"])


def run_forward(layer, A):
    """forward(A) to set up a later check; its output, or None if forward raised (that is the
    forward's own tests' charge)."""
    try:
        return layer.forward(A)
    except StudentError as exc:
        if not exc.action.endswith(".forward()"):
            raise
    return None


def forward_was_right(layer, A, Z, expected_Z):
    """True when forward returned ``expected_Z`` and stored ``A`` as the docstring says."""
    if not (isinstance(Z, np.ndarray) and Z.dtype.kind == "f"
            and close(Z.astype(np.float64), expected_Z, *tolerances(Z, expected_Z))):
        return False
    try:
        stored = layer.A
    except StudentError:
        return False
    return isinstance(stored, np.ndarray) and stored.shape == A.shape and bool(np.all(stored == A))


def prepare_backward(layer, A, expected_Z):
    """Backward is graded on the student's own forward state when that forward is right; after a
    wrong forward, on ``self.A`` set by the grader (the forward's mistake costs its task only)."""
    Z = run_forward(layer, A)
    if not forward_was_right(layer, A, Z, expected_Z):
        layer.A = A


def check_forward(sub, case, quantities, dims):
    stride, padding = geometry(case)
    found = mistakes.conv(case["A"], case["W"], case["b"], stride, padding)
    layer = make_conv(sub, case["W"], case["b"], stride, padding)
    name = f"Z = {CLASS[dims]}.forward(A)"
    with quantities.check("Z"), replaying_errors(name, found["Z"]):
        expect_close(layer.forward(case["A"]), case["Z"], name, key=f"conv{dims}d.Z",
                     diagnoses=found["Z"])
    with quantities.check("self.A"):
        expect_close(layer.A, case["A"], "self.A (the input stored by forward)",
                     key=f"conv{dims}d.A")


def check_backward(sub, case, quantities, dims):
    stride, padding = geometry(case)
    found = mistakes.conv(case["A"], case["W"], case["b"], stride, padding, case["dLdZ"])
    layer = make_conv(sub, case["W"], case["b"], stride, padding)
    prepare_backward(layer, case["A"], case["Z"])
    N = case["A"].shape[0]
    name = f"dLdA = {CLASS[dims]}.backward(dLdZ)"
    with quantities.check("dLdA"), replaying_errors(name, found["dLdA"]):
        expect_close(layer.backward(case["dLdZ"]), case["dLdA"], name, batch=N,
                     key=f"conv{dims}d.dLdA", diagnoses=found["dLdA"])
    raised = any(o.name == "dLdA" and (isinstance(o.error, StudentError)
                                       or isinstance(o.error.__cause__, StudentError))
                 for o in quantities.failures())
    for attr in ("dLdW", "dLdb"):
        label = f"self.{attr}"
        with quantities.check(label):
            try:
                expect_close(getattr(layer, attr), case[attr], label, batch=N,
                             key=f"conv{dims}d.{attr}", diagnoses=found[attr])
            except Mismatch as exc:
                if not raised:
                    raise
                raise Mismatch(label, "was not stored: backward raised before storing it (see "
                               "dLdA above)") from exc
    with quantities.check("self.dLdW and self.dLdb after a second backward"):
        if raised:
            raise Mismatch("backward", "raised (see dLdA above)")
        layer.backward(case["dLdZ"])
        for attr in ("dLdW", "dLdb"):
            twice = Diagnosis(f"conv{dims}d.{attr}.accumulated", "exactly twice the expected value "
                              "after two backward calls: accumulated (+=) instead of assigned",
                              value=2 * case[attr])
            expect_close(getattr(layer, attr), case[attr], f"self.{attr} after two backward calls",
                         batch=N, key=f"conv{dims}d.{attr}", diagnoses=[twice, *found[attr]])


def gradient_check(sub, quantities, dims, n, c_in, c_out, kernel, stride, padding, size, seed):
    """backward against central differences of the student's own forward (A, W and b perturbed
    entry by entry on a second layer); a backward equal to the reference passes whatever the
    forward does."""
    quantities.new_example()
    A = st.values(seed, (n, c_in) + (size,) * dims)
    W = st.values(seed + 1, (c_out, c_in) + (kernel,) * dims)
    b = st.values(seed + 2, (c_out,))
    expected = mistakes.conv_reference(A, W, b, stride, padding)
    dLdZ = st.upstream(seed + 3, expected["Z"].shape)
    expected = mistakes.conv_reference(A, W, b, stride, padding, dLdZ)
    layer = make_conv(sub, W, b, stride, padding)
    forward = run_forward(layer, A)
    if not forward_was_right(layer, A, forward, expected["Z"]):
        layer.A = A
    backward = layer.backward.submit(dLdZ)
    stored = sub.read(layer, "dLdW", "dLdb", wait=False)
    probe = make_conv(sub, W, b, stride, padding)
    As, Ws, bs = perturbations(A), perturbations(W), perturbations(b)
    outputs = sub.call_many(probe, "forward", [(x,) for x in As] + [(A,)] * (len(Ws) + len(bs)),
                            [{}] * len(As) + [{"W": w} for w in Ws]
                            + [{"W": W, "b": v} for v in bs], wait=False)
    found = mistakes.conv(A, W, b, stride, padding, dLdZ)
    try:
        outputs = outputs.result()
        Z = expect_array(forward, "Z = forward(A)", shape=expected["Z"].shape, dtype_kind="fiu")
    except (StudentError, Mismatch):  # the forward's own tests charge that
        outputs = Z = None
    numeric = dict.fromkeys(("dLdA", "dLdW", "dLdb"))
    if outputs is not None:
        numeric = {"dLdA": vjp_from(outputs[:len(As)], A, dLdZ),
                   "dLdW": vjp_from(outputs[len(As):len(As) + len(Ws)], W, dLdZ),
                   "dLdb": vjp_from(outputs[len(As) + len(Ws):], b, dLdZ)}
    pending = {"dLdA": backward, "dLdW": stored, "dLdb": stored}
    for index, name in enumerate(("dLdA", "dLdW", "dLdb")):
        label = name if name == "dLdA" else "self." + name
        with quantities.check(label), replaying_errors(label, found[name]):
            value = pending[name].result()
            value = value if name == "dLdA" else value[index - 1]
            expect_gradient(value, numeric[name], label, reference=expected[name],
                            forward=None if Z is None else (Z, expected["Z"]),
                            key=f"conv{dims}d.{name}", diagnoses=found[name])
    quantities.end_example()


GEOMETRY = dict(n=st.sizes(1, 2), c_in=st.sizes(1, 2), c_out=st.sizes(1, 2),
                kernel=st.sizes(1, 3), stride=st.sizes(1, 2), padding=st.sizes(0, 1),
                size=st.sizes(3, 5), seed=st.seeds())


@pytest.mark.cases("conv1d")
def test_conv1d_forward(sub, case, quantities):
    check_forward(sub, case, quantities, 1)


@pytest.mark.cases("conv1d")
def test_conv1d_backward(sub, case, quantities):
    check_backward(sub, case, quantities, 1)


@property_check(**GEOMETRY)
def test_conv1d_gradient_check(sub, quantities, n, c_in, c_out, kernel, stride, padding, size,
                               seed):
    """Conv1d.backward agrees with central differences of your forward."""
    gradient_check(sub, quantities, 1, n, c_in, c_out, kernel, stride, padding, size, seed)


@pytest.mark.cases("conv2d")
def test_conv2d_forward(sub, case, quantities):
    check_forward(sub, case, quantities, 2)


@pytest.mark.cases("conv2d")
def test_conv2d_backward(sub, case, quantities):
    check_backward(sub, case, quantities, 2)


@settings(max_examples=15)  # each example is one round trip of up to ~250 small forwards
@property_check(**GEOMETRY)
def test_conv2d_gradient_check(sub, quantities, n, c_in, c_out, kernel, stride, padding, size,
                               seed):
    """Conv2d.backward agrees with central differences of your forward."""
    gradient_check(sub, quantities, 2, n, c_in, c_out, kernel, stride, padding, size, seed)
