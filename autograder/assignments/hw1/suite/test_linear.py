"""Task 1.1 Linear: forward · Task 1.2 Linear: backward.

The layer is built as the handout documents it, ``Linear(in_features, out_features)``; only the
tests that grade ``bias=False`` pass that keyword. Each quantity (Z, the stored A and N, dLdA, dLdW,
dLdb) earns its own share of a test's points, and the same catalogue of mistakes
(``mistakes.linear``) explains it in every test.
"""
import numpy as np
import pytest

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


def make_linear(sub, W, b=None):
    C_out, C_in = W.shape
    if b is None:
        layer = sub.new("mytorch.nn.Linear", C_in, C_out, bias=False)
    else:
        layer = sub.new("mytorch.nn.Linear", C_in, C_out)
        layer.b = b
    layer.W = W
    return layer


def run_forward(layer, A):
    """forward(A), to set up what a later check reads; its output, or None if it raised. If it
    raises, the forward's own tests charge that, and the check grades what forward stored."""
    try:
        return layer.forward(A)
    except StudentError as exc:
        if not exc.action.endswith(".forward()"):  # e.g. the constructor's error, surfacing here
            raise
    return None


def forward_was_right(layer, A, Z, expected_Z):
    """True when forward returned ``expected_Z`` and stored ``A`` and ``N`` as documented."""
    if not (isinstance(Z, np.ndarray) and Z.dtype.kind == "f"
            and close(Z.astype(np.float64), expected_Z, *tolerances(Z, expected_Z))):
        return False
    try:
        stored, N = layer.A, layer.N
    except StudentError:
        return False
    return (isinstance(stored, np.ndarray) and stored.shape == A.shape
            and bool(np.all(stored == A)) and isinstance(N, (int, np.integer))
            and N == A.shape[0])


def run_forward_before_backward(layer, A, expected_Z):
    """``run_forward``; backward is then graded on the state the student's forward stored when
    that forward was right (its output and the documented ``A`` and ``N``), so code that is right
    is graded as written. Only a wrong forward gets ``A`` and ``N`` set right by the grader: then
    backward is graded on its own, and the forward's mistake costs Task 1.1 only."""
    Z = run_forward(layer, A)
    if not forward_was_right(layer, A, Z, expected_Z):
        layer.A, layer.N = A, A.shape[0]


def reference(A, W, b, dLdZ):
    """What a correct Linear gives: {quantity: value} (b None: bias=False)."""
    Z = A @ W.T if b is None else A @ W.T + np.ones((A.shape[0], 1)) @ b.T
    return {"Z": Z, "dLdA": dLdZ @ W, "dLdW": dLdZ.T @ A,
            "dLdb": None if b is None else dLdZ.T @ np.ones((A.shape[0], 1))}


@pytest.mark.cases("linear")
def test_forward(sub, case, quantities):
    found = mistakes.linear(case["A"], case["W"], case["b"])
    layer = make_linear(sub, case["W"], case["b"])
    with quantities.check("Z"), replaying_errors("Z = forward(A)", found["Z"]):
        expect_close(layer.forward(case["A"]), case["Z"], "Z = forward(A)", key="linear.Z",
                     diagnoses=found["Z"])


@pytest.mark.cases("linear_nobias")
def test_forward_without_bias(sub, case, quantities):
    found = mistakes.linear(case["A"], case["W"], None)
    layer = make_linear(sub, case["W"])
    name = "Z = forward(A) with bias=False"
    with quantities.check("Z"), replaying_errors(name, found["Z"]):
        expect_close(layer.forward(case["A"]), case["Z"], name, key="linear.Z",
                     diagnoses=found["Z"])


@pytest.mark.cases("linear")
def test_forward_stores_A_and_N(sub, case, quantities):
    layer = make_linear(sub, case["W"], case["b"])
    run_forward(layer, case["A"])
    with quantities.check("self.A"):
        expect_close(layer.A, case["A"], "self.A (the input stored by forward)", key="linear.A")
    with quantities.check("self.N"):
        N = layer.N
        if N != case["A"].shape[0]:
            raise Mismatch("self.N", f"expected the batch size {case['A'].shape[0]}, got {N!r}")


def _check_backward(layer, case, quantities, suffix=""):
    b = case.get("b")
    found = mistakes.linear(case["A"], case["W"], b, case["dLdZ"])
    N = case["A"].shape[0]
    name = f"dLdA = backward(dLdZ){suffix}"
    with quantities.check("dLdA"), replaying_errors(name, found["dLdA"]):
        expect_close(layer.backward(case["dLdZ"]), case["dLdA"], name, batch=N,
                     key="linear.dLdA", diagnoses=found["dLdA"])
    raised = next((o.error for o in quantities.failures() if o.name == "dLdA" and (
        isinstance(o.error, StudentError) or isinstance(o.error.__cause__, StudentError))), None)
    stored = [("self.dLdW", "dLdW")] + ([("self.dLdb", "dLdb")] if b is not None else [])
    for label, attr in stored:
        with quantities.check(label):
            try:
                expect_close(getattr(layer, attr), case[attr], f"{label}{suffix}", batch=N,
                             key=f"linear.{attr}", diagnoses=found[attr])
            except Mismatch as exc:
                if raised is None:
                    raise
                raise Mismatch(f"{label}{suffix}", "was not stored: backward raised before "
                               "storing it (see dLdA above)", getattr(raised, "hint", None),
                               getattr(raised, "diagnosis", None)) from exc


@pytest.mark.cases("linear")
def test_backward(sub, case, quantities):
    layer = make_linear(sub, case["W"], case["b"])
    run_forward_before_backward(layer, case["A"], case["Z"])
    _check_backward(layer, case, quantities)


@pytest.mark.cases("linear_nobias")
def test_backward_without_bias(sub, case, quantities):
    layer = make_linear(sub, case["W"])
    run_forward_before_backward(layer, case["A"], case["Z"])
    _check_backward(layer, case, quantities, " with bias=False")


@property_check(shape=st.batch_shapes(), c_out=st.sizes(), seed=st.seeds())
def test_gradient_check(sub, quantities, shape, c_out, seed):
    """backward agrees with central differences of your own forward (dLdA, dLdW, dLdb); a backward
    equal to the reference passes whatever your forward does."""
    quantities.new_example()
    N, C_in = shape
    A, W = st.values(seed, shape), st.values(seed + 1, (c_out, C_in))
    b, dLdZ = st.values(seed + 2, (c_out, 1)), st.upstream(seed + 3, (N, c_out))
    layer = make_linear(sub, W, b)
    expected = reference(A, W, b, dLdZ)
    # as the backward tests do: the student's own state when its forward is right, else A and N
    # set by the grader (a forward bug is Task 1.1's)
    forward = run_forward(layer, A)
    if not forward_was_right(layer, A, forward, expected["Z"]):
        layer.A, layer.N = A, A.shape[0]
    backward = layer.backward.submit(dLdZ)
    stored = sub.read(layer, "dLdW", "dLdb", wait=False)
    # the perturbed forwards, on a second layer: A, then W, then b perturbed entry by entry
    probe = make_linear(sub, W, b)
    As, Ws, bs = perturbations(A), perturbations(W), perturbations(b)
    outputs = sub.call_many(probe, "forward", [(x,) for x in As] + [(A,)] * (len(Ws) + len(bs)),
                            [{}] * len(As) + [{"W": w} for w in Ws]
                            + [{"W": W, "b": v} for v in bs],
                            wait=False)
    found = mistakes.linear(A, W, b, dLdZ)
    try:  # (one round trip answers every request above)
        outputs = outputs.result()
        Z = expect_array(forward, "Z = forward(A)", shape=(N, c_out), dtype_kind="fiu")
    except (StudentError, Mismatch):  # the forward's own tests charge that; the backward is
        outputs = Z = None            # then judged against the reference gradient alone
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
                            key=f"linear.{name}", diagnoses=found[name])
    quantities.end_example()


@pytest.mark.cases("linear")
def test_backward_overwrites_gradients(sub, case, quantities):
    """Calling backward twice stores the same dLdW/dLdb (assigned, not accumulated)."""
    found = mistakes.linear(case["A"], case["W"], case["b"], case["dLdZ"])
    layer = make_linear(sub, case["W"], case["b"])
    run_forward_before_backward(layer, case["A"], case["Z"])
    try:
        layer.backward(case["dLdZ"])
    except StudentError as exc:  # test_backward charges a backward that raises
        if not exc.action.endswith(".backward()"):
            raise
    try:
        layer.backward(case["dLdZ"])
        raised = None
    except StudentError as exc:
        raised = exc
    N = case["A"].shape[0]
    for attr in ("dLdW", "dLdb"):
        label = f"self.{attr}"
        with quantities.check(label), replaying_errors(label, found["dLdA"]):
            if raised is not None:
                raise raised
            accumulated = Diagnosis(f"linear.{attr}.accumulated", "exactly twice the expected "
                                    "value after two backward calls: accumulated (+=) instead "
                                    "of assigned", value=2 * case[attr])
            expect_close(getattr(layer, attr), case[attr], f"{label} after two backward calls",
                         batch=N, key=f"linear.{attr}", diagnoses=[accumulated, *found[attr]])


@pytest.mark.cases("linear")
def test_works_in_float64(sub, case):
    """Given float64 inputs and parameters, forward returns float64: the one test a float32
    implementation loses (every other check compares a float32 result at float32 precision)."""
    layer = make_linear(sub, case["W"], case["b"])
    name = "Z = forward(A)"
    with replaying_errors(name, mistakes.linear(case["A"], case["W"], case["b"])["Z"]):
        Z = expect_array(layer.forward(case["A"]), name)
    if Z.dtype != np.float64:
        raise Mismatch(name, f"has dtype {Z.dtype}; with float64 inputs the layer must compute in "
                       "float64", "no .astype(np.float32) and no float32 parameters: keep the "
                       "dtype of the inputs", "linear.not_float64")
