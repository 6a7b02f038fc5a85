"""Task 1.1 Linear: forward · Task 1.2 Linear: backward."""
import pytest

from autograder import strategies as st
from autograder.checks import Mismatch, expect_array, expect_close, property_check
from autograder.gradcheck import compare_gradients, perturbations, vjp_from


def make_linear(sub, W, b=None):
    C_out, C_in = W.shape
    layer = sub.new("mytorch.nn.Linear", C_in, C_out, bias=b is not None)
    layer.W = W
    if b is not None:
        layer.b = b
    return layer


@pytest.mark.cases("linear")
def test_forward(sub, case):
    layer = make_linear(sub, case["W"], case["b"])
    Z = layer.forward(case["A"])
    expect_close(Z, case["Z"], "Z = forward(A)",
                 alternatives={"the bias b is missing: Z = A @ W.T + 1_N @ b.T":
                               case["A"] @ case["W"].T,
                               "the bias was subtracted instead of added":
                               case["A"] @ case["W"].T - case["b"].T})


@pytest.mark.cases("linear_nobias")
def test_forward_without_bias(sub, case):
    layer = make_linear(sub, case["W"])
    expect_close(layer.forward(case["A"]), case["Z"], "Z = forward(A) with bias=False")


@pytest.mark.cases("linear")
def test_forward_stores_A_and_N(sub, case):
    layer = make_linear(sub, case["W"], case["b"])
    layer.forward(case["A"])
    expect_close(layer.A, case["A"], "self.A (the input stored by forward)")
    N = layer.N
    if N != case["A"].shape[0]:
        raise Mismatch("self.N", f"expected the batch size {case['A'].shape[0]}, got {N!r}")


@pytest.mark.cases("linear")
def test_backward(sub, case, quantities):
    layer = make_linear(sub, case["W"], case["b"])
    layer.forward(case["A"])
    dLdA = layer.backward(case["dLdZ"])
    N = case["A"].shape[0]
    with quantities.check("dLdA"):
        expect_close(dLdA, case["dLdA"], "dLdA = backward(dLdZ)", batch=N)
    with quantities.check("self.dLdW"):
        expect_close(layer.dLdW, case["dLdW"], "self.dLdW", batch=N,
                     alternatives={"dLdW is transposed: dLdW = dLdZ.T @ A has shape "
                                   "(C_out, C_in)": case["dLdW"].T})
    with quantities.check("self.dLdb"):
        expect_close(layer.dLdb, case["dLdb"], "self.dLdb", batch=N)


@pytest.mark.cases("linear_nobias")
def test_backward_without_bias(sub, case):
    layer = make_linear(sub, case["W"])
    layer.forward(case["A"])
    expect_close(layer.backward(case["dLdZ"]), case["dLdA"], "dLdA with bias=False")
    expect_close(layer.dLdW, case["dLdW"], "self.dLdW with bias=False")


@property_check(shape=st.batch_shapes(), c_out=st.sizes(), seed=st.seeds())
def test_gradient_check(sub, shape, c_out, seed):
    """backward agrees with central differences of your own forward (dLdA, dLdW, dLdb)."""
    N, C_in = shape
    A, W = st.values(seed, shape), st.values(seed + 1, (c_out, C_in))
    b, dLdZ = st.values(seed + 2, (c_out, 1)), st.upstream(seed + 3, (N, c_out))
    layer = make_linear(sub, W, b)
    layer.forward.submit(A)
    dLdA = layer.backward.submit(dLdZ)
    stored = sub.read(layer, "dLdW", "dLdb", wait=False)
    # the perturbed forwards, on a second layer: A, then W, then b perturbed entry by entry
    probe = make_linear(sub, W, b)
    As, Ws, bs = perturbations(A), perturbations(W), perturbations(b)
    outputs = sub.call_many(probe, "forward", [(x,) for x in As] + [(A,)] * (len(Ws) + len(bs)),
                            [{}] * len(As) + [{"W": w} for w in Ws] + [{"W": W, "b": v} for v in bs])
    # (one round trip has answered every request above)
    analytic = dict(zip(("dLdA", "dLdW", "dLdb"), (dLdA.result(), *stored.result())))
    numeric = {"dLdA": vjp_from(outputs[:len(As)], A, dLdZ),
               "dLdW": vjp_from(outputs[len(As):len(As) + len(Ws)], W, dLdZ),
               "dLdb": vjp_from(outputs[len(As) + len(Ws):], b, dLdZ)}
    for name, value in analytic.items():
        value = expect_array(value, name)
        result = compare_gradients(value, numeric[name])
        if not result.ok:
            raise Mismatch(name, f"disagrees with the central-difference gradient of your forward: "
                           f"{result.message}")


@pytest.mark.cases("linear")
def test_backward_overwrites_gradients(sub, case):
    """Calling backward twice stores the same dLdW/dLdb (assigned, not accumulated)."""
    layer = make_linear(sub, case["W"], case["b"])
    layer.forward(case["A"])
    layer.backward(case["dLdZ"])
    layer.backward(case["dLdZ"])
    expect_close(layer.dLdW, case["dLdW"], "self.dLdW after two backward calls")
    expect_close(layer.dLdb, case["dLdb"], "self.dLdb after two backward calls")
