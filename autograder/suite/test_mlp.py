"""Tasks 6.1 MLP0 · 6.2 MLP1 · 6.3 MLP4: forward through all layers, backward in reverse order.

The models' layers are given; what is graded is the shared ``forward``/``backward`` (and, through
them, your layers working together). Every Linear layer's dLdW and dLdb is checked, not just one.
"""
import numpy as np
import pytest

from autograder import strategies as st
from autograder.checks import Mismatch, expect_array, expect_close, expect_gradient, property_check
from autograder.errors import NotImplementedYet, StudentError
from autograder.gradcheck import perturbations, vjp_from

DIMS = {"MLP0": [2, 3], "MLP1": [2, 3, 2], "MLP4": [2, 4, 8, 8, 4, 2]}


def linear_layers(model, name):
    """(index in model.layers, Remote) of every Linear layer of a remote model, in order."""
    layers = model.layers
    if not isinstance(layers, list):
        raise Mismatch(f"{name}.layers", f"expected a list of layers, got {type(layers).__name__}")
    found = [(i, layer) for i, layer in enumerate(layers)
             if getattr(layer, "_ref", None) is not None and layer._ref.type.endswith(".Linear")]
    expected = len(DIMS[name]) - 1
    if len(found) != expected:
        raise Mismatch(f"{name}.layers", f"expected {expected} Linear layers, found {len(found)}",
                       "the models' layer lists are given: do not change them")
    return found


def build(sub, name, Ws, bs):
    model = sub.new(f"mytorch.models.{name}")
    linears = linear_layers(model, name)
    for (_, layer), W, b in zip(linears, Ws, bs):
        layer.W, layer.b = W, b  # (attribute writes are not waited for: no round trip)
    return model, linears


def simulate(Ws, bs, A0):
    """Pre-activations Z of every Linear (each followed by ReLU) and the output."""
    A, Zs = A0, []
    for W, b in zip(Ws, bs):
        Z = A @ W.T + b.T
        Zs.append(Z)
        A = np.maximum(Z, 0.0)
    return Zs, A


def backward_without_masks(Ws, dLdout):
    for W in reversed(Ws):
        dLdout = dLdout @ W
    return dLdout


def call(action, hints, fn, *args):
    """``fn(*args)``; a crash in the student's code becomes feedback, with a hint when the error
    looks like a known mistake (``hints`` maps an exception type to a hint)."""
    try:
        return fn(*args)
    except NotImplementedYet:
        raise
    except StudentError as exc:
        raise Mismatch(action, "raised an error\n" + exc.feedback(), hints.get(exc.type)) from None


BACKWARD_HINTS = {
    "ValueError": "a shape error inside backward usually means the layers ran in the wrong order: "
                  "backward visits the layers from last to first (reversed(self.layers)), "
                  "passing each one's result to the next",
    "AttributeError": "a layer's backward needs what its forward stored: did forward run every "
                      "layer of self.layers?",
}
FORWARD_HINTS = {
    "ValueError": "forward passes the output of each layer to the next, first to last: "
                  "A = layer.forward(A) for layer in self.layers",
}


def expect_input_shape(dLdA0, shape, name):
    """The model's backward returns the gradient of its input, of the input's shape."""
    if isinstance(dLdA0, np.ndarray) and dLdA0.shape != tuple(shape):
        raise Mismatch(name, f"expected the input's shape {tuple(shape)}, got {dLdA0.shape}",
                       "backward must go through every layer down to the first one, and return "
                       "the first layer's result (the gradient of A0)")


def check_model(sub, case, name):
    n = len(DIMS[name]) - 1
    Ws, bs = [case[f"W{i}"] for i in range(n)], [case[f"b{i}"] for i in range(n)]
    A0, dLdout = case["A0"], case["dLdout"]
    model, linears = build(sub, name, Ws, bs)
    Zs, _ = simulate(Ws, bs, A0)

    out = call(f"{name}.forward(A0)", FORWARD_HINTS, model.forward, A0)
    alternatives = {"the last ReLU was not applied: forward runs every layer in self.layers":
                    Zs[-1]}
    if n > 1 and Zs[0].shape == case["out"].shape:
        alternatives["only the first layer ran: forward must chain all layers, "
                     "A = layer.forward(A)"] = Zs[0]
    expect_close(out, case["out"], f"{name}.forward(A0)", alternatives=alternatives)
    dLdA0 = call(f"{name}.backward(dLdout)", BACKWARD_HINTS, model.backward, dLdout)
    expect_input_shape(dLdA0, A0.shape, f"{name}.backward(dLdout)")
    expect_close(dLdA0, case["dLdA0"], f"{name}.backward(dLdout) (the gradient of the input A0)",
                 alternatives={"the ReLU layers' backward was skipped": backward_without_masks(
                     Ws, dLdout)})
    transposed = "the gradient is transposed: dLdW has W's shape (C_out, C_in) = {}"
    for k, (index, layer) in enumerate(linears):
        where = f"{name}.layers[{index}] (Linear {k + 1} of {n})"
        dLdW, expected = layer.dLdW, case[f"dLdW{k}"]
        if isinstance(dLdW, np.ndarray) and dLdW.shape != expected.shape \
                and dLdW.shape == expected.T.shape:
            raise Mismatch(f"{where}.dLdW", f"expected shape {expected.shape}, got {dLdW.shape}",
                           transposed.format(expected.shape))
        expect_close(dLdW, expected, f"{where}.dLdW",
                     alternatives={transposed.format(expected.shape): expected.T})
        expect_close(layer.dLdb, case[f"dLdb{k}"], f"{where}.dLdb")


@pytest.mark.cases("mlp0")
def test_mlp0(sub, case):
    """MLP0 = Linear(2, 3) -> ReLU: output, dLdA0, dLdW and dLdb."""
    check_model(sub, case, "MLP0")


@pytest.mark.cases("mlp1")
def test_mlp1(sub, case):
    """MLP1 = Linear(2, 3) -> ReLU -> Linear(3, 2) -> ReLU: output, dLdA0, every dLdW and dLdb."""
    check_model(sub, case, "MLP1")


@pytest.mark.cases("mlp4")
def test_mlp4(sub, case):
    """MLP4 (2 -> 4 -> 8 -> 8 -> 4 -> 2 with ReLUs): output, dLdA0, all five dLdW and dLdb."""
    check_model(sub, case, "MLP4")


def mlp4_parameters(seed, N):
    """Weights, biases and an input whose pre-activations all keep |Z| >= 1e-3 (off the ReLU kink),
    drawn deterministically from ``seed`` (redrawn from seed + k until they do)."""
    dims = DIMS["MLP4"]
    for attempt in range(100):
        s = [seed, attempt]
        rng = np.random.default_rng(s)
        Ws = [rng.normal(0, 1 / np.sqrt(c_in), (c_out, c_in)) for c_in, c_out in
              zip(dims[:-1], dims[1:])]
        bs = [rng.normal(0.3, 0.5, (c_out, 1)) for c_out in dims[1:]]
        A0 = st.values(rng, (N, 2))
        Zs, _ = simulate(Ws, bs, A0)
        if min(float(np.abs(Z).min()) for Z in Zs) >= 1e-3:
            return Ws, bs, A0
    raise RuntimeError("could not draw MLP4 parameters away from the ReLU kinks")


@property_check(N=st.sizes(1, 4), seed=st.seeds())
def test_mlp4_gradient_check(sub, N, seed):
    """MLP4.backward's input gradient agrees with central differences of your MLP4.forward."""
    Ws, bs, A0 = mlp4_parameters(seed, N)
    dLdout = st.upstream([seed, 1000], (N, 2))
    model, _ = build(sub, "MLP4", Ws, bs)
    forward = model.forward.submit(A0)
    backward = model.backward.submit(dLdout)
    outputs = sub.call_many(model, "forward", [(x,) for x in perturbations(A0)], wait=False)
    expect_array(call("MLP4.forward(A0)", FORWARD_HINTS, forward.result), "MLP4.forward(A0)",
                 shape=(N, 2))  # (one round trip answered all three)
    analytic = call("MLP4.backward(dLdout)", BACKWARD_HINTS, backward.result)
    expect_input_shape(analytic, A0.shape, "MLP4.backward(dLdout)")
    numeric = vjp_from(outputs.result(), A0, dLdout)
    expect_gradient(analytic, numeric, "MLP4.backward(dLdout) (the gradient of the input A0)")
