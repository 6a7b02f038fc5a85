"""Tasks 6.1 MLP0 · 6.2 MLP1 · 6.3 MLP4: forward through all layers, backward in reverse order.

What is graded here is the wiring — which layers run, in which order, what each passes to the next,
that backward uses what forward cached — not the layers themselves (Tasks 1–5 grade those). So
every check compares your model with your OWN layers called one by one by the grader: a second
model built alike, whose layers the grader runs in order (``A = layer.forward(A)``, then
``layer.backward`` last to first). A bug inside Linear or
ReLU gives the same numbers both ways and costs points only in its own task.

A check earns its points only when it could have failed. When, with your layers, a wrong wiring
(the last layer skipped, the input or the upstream gradient returned unchanged)
would give the same numbers as the right one — all zeros, or a layer that returns its input — the
check is withheld (no points) and the feedback names the layer to fix first. When your layers raise
an error even when called one by one, the wiring cannot be graded and the feedback names the task of
that layer.
"""
import numpy as np
import pytest
from hypothesis import settings

from autograder.channel.errors import NotImplementedYet, StudentError
from autograder.checking import strategies as st
from autograder.checking.checks import Mismatch, close, expect_close, property_check

DIMS = {"MLP0": [2, 3], "MLP1": [2, 3, 2], "MLP4": [2, 4, 8, 8, 4, 2]}
LAYER_TASKS = {("Linear", "forward"): "1.1", ("Linear", "backward"): "1.2",
               ("Sigmoid", "forward"): "2.1", ("Sigmoid", "backward"): "2.1",
               ("Tanh", "forward"): "2.2", ("Tanh", "backward"): "2.2",
               ("ReLU", "forward"): "2.3", ("ReLU", "backward"): "2.3",
               ("BatchNorm1d", "forward"): "5.1", ("BatchNorm1d", "backward"): "5.2"}


class Withheld(Mismatch):
    """A check that could not have failed with these layers: it earns nothing, and says why."""


def kind(layer):
    """'Linear' for a Remote of mytorch.nn.Linear (its class name, from the handle)."""
    ref = getattr(layer, "_ref", None)
    return ref.type.rsplit(".", 1)[-1] if ref is not None else type(layer).__name__


def task_of(layer, method):
    task = LAYER_TASKS.get((kind(layer), method))
    return f"Task {task}" if task else "its own task"


def upstream(layer, method):
    """The task(s) to fix when ``layer.method`` fails: backward reads what forward stored."""
    if method == "backward" and LAYER_TASKS.get((kind(layer), "forward")) \
            != LAYER_TASKS.get((kind(layer), "backward")):
        return f"{task_of(layer, 'forward')} (what forward stores) or {task_of(layer, method)}"
    return task_of(layer, method)


def model_layers(model, name):
    layers = model.layers
    if not isinstance(layers, list):
        raise Mismatch(f"{name}.layers", f"expected a list of layers, got {type(layers).__name__}",
                       "the models' layer lists are given: do not change them")
    return layers


def linear_layers(layers, name, expected):
    """(index in layers, Remote) of every Linear layer, in order."""
    found = [(i, layer) for i, layer in enumerate(layers) if kind(layer) == "Linear"]
    if len(found) != expected:
        raise Mismatch(f"{name}.layers", f"expected {expected} Linear layers, found {len(found)}",
                       "the models' layer lists are given: do not change them")
    return found


def build(sub, path, name, params, args=(), kwargs=None):
    """A model of class ``path`` with the case's Linear (and BatchNorm) parameters set."""
    model = sub.new(path, *args, **(kwargs or {}))
    layers = model_layers(model, name)
    linears = linear_layers(layers, name, sum(k.startswith("W") for k in params))
    for k, (_, layer) in enumerate(linears):
        layer.W, layer.b = params[f"W{k}"], params[f"b{k}"]  # (writes are not waited for)
    for layer in layers:
        if kind(layer) == "BatchNorm1d":
            for q in ("BW", "Bb", "running_M", "running_V"):
                setattr(layer, q, params[q])
    return model, layers, linears


def one_by_one(layers, method, value, name, eval=None, shapes=None):
    """``value`` through ``layers``' ``method`` in the given order, the grader calling each layer:
    [value, after layer 1, after layer 2, ...]. A layer that raises, returns no array, or returns
    the wrong number of rows (or, given ``shapes``, not the shape of that layer's input in forward)
    makes the wiring ungradable: that is that layer's own task's problem, and the feedback says so
    (the first layer to go wrong is the one named, not a later one it confused)."""
    values = [value]
    for k, layer in enumerate(layers):
        args = (values[-1],)
        kwargs = {"eval": eval} if eval is not None and kind(layer) == "BatchNorm1d" else {}
        where = f"your {kind(layer)}.{method}"
        try:
            out = getattr(layer, method)(*args, **kwargs)
        except NotImplementedYet:
            raise
        except StudentError as exc:
            raise Mismatch(f"{name}: not graded", f"{where} raised an error when the grader "
                           f"called your layers one by one, so the model's wiring cannot be "
                           f"compared with them. Fix {upstream(layer, method)} first.\n"
                           + exc.feedback()) from None
        if not isinstance(out, np.ndarray) or out.dtype.kind != "f":
            raise Mismatch(f"{name}: not graded", f"{where} returned {type(out).__name__}, not "
                           f"a float array, when the grader called your layers one by one. Fix "
                           f"{upstream(layer, method)} first.")
        want = shapes[k] if shapes else (values[-1].shape[0], None)
        if len(out.shape) != 2 or any(w is not None and g != w for g, w in zip(out.shape, want)):
            due = (f"{tuple(want)}, the shape of that layer's input" if shapes else
                   f"one row per input row ({want[0]})")
            raise Mismatch(f"{name}: not graded", f"{where} returned shape {out.shape} where "
                           f"{due} was due, when the grader called your layers one by one. "
                           f"Fix {upstream(layer, method)} first.")
        values.append(out)
    return values


def call(action, hints, fn, *args, **kwargs):
    """``fn(*args)``; a crash in the student's code becomes feedback, with a hint when the error
    looks like a known mistake (``hints`` maps an exception type to a hint)."""
    try:
        return fn(*args, **kwargs)
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


def _same(a, b):
    return a.shape == b.shape and close(a, b)


def expect_wired(actual, right, name, wrong, layers, method, withhold=True):
    """``actual`` (the model's) must equal ``right`` (the layers called one by one). ``wrong``
    maps a hint to what a wrong wiring gives with these layers; if one of them equals ``right``
    too, the check could not have failed: ``Withheld`` (or, with ``withhold=False``, for one
    example of a property among many, that wrong wiring is just not looked for on this example).
    """
    layer_tasks = ", ".join(sorted({task_of(layer, method) for layer in layers}))
    if not np.all(np.isfinite(right)):
        raise Withheld(f"{name}: not graded on this case", "your layers called one by one give "
                       "NaN or inf here, so the model's wiring cannot be compared with them",
                       f"fix the layers first ({layer_tasks})")
    if not withhold:
        wrong = {hint: value for hint, value in wrong.items() if not _same(value, right)}
    elif not np.any(right) or (right.size > 1 and np.ptp(right) == 0):
        raise Withheld(f"{name}: not graded on this case",
                       f"your layers called one by one give a constant result ({right.flat[0]:g} "
                       f"everywhere), so this check cannot tell right wiring from wrong",
                       "fix the layers first (" + ", ".join(sorted(
                           {task_of(layer, method) for layer in layers})) + ")")
    for hint, value in wrong.items():
        if _same(value, right):
            raise Withheld(f"{name}: not graded on this case",
                           f"with your layers, a model that {hint.split(':')[0]} gives the same "
                           f"numbers as the right wiring, so this check cannot fail",
                           "a layer returns what it is given or a constant: fix the layers first ("
                           + ", ".join(sorted({task_of(layer, method) for layer in layers})) + ")")
    expect_close(actual, right, name, alternatives={h: v for h, v in wrong.items()
                                                    if v.shape == right.shape})


def check_model(sub, case, name, quantities, withhold=True):
    params = {k: v for k, v in case.items() if k[0] in "Wb" and k[1:].isdigit()}
    path = f"mytorch.models.{name}"
    A0, dLdout = case["A0"], case["dLdout"]
    model, _, linears = build(sub, path, name, params)
    twin, twin_layers, twin_linears = build(sub, path, name, params)
    acts = one_by_one(twin_layers, "forward", A0, name)
    grads = one_by_one(twin_layers[::-1], "backward", dLdout, name,
                       shapes=[a.shape for a in acts[-2::-1]])
    twin_grads = [sub.read(layer, "dLdW", "dLdb", wait=False) for _, layer in twin_linears]

    out = call(f"{name}.forward(A0)", FORWARD_HINTS, model.forward, A0)
    with quantities.check("forward: output"):
        expect_wired(out, acts[-1], f"{name}.forward(A0)", {
            "skipped the last layer: forward runs every layer in self.layers": acts[-2],
            "returned the first layer's output: forward chains all layers, "
            "A = layer.forward(A)": acts[1],
            "returned its input: A = layer.forward(A) keeps each layer's output": A0},
            twin_layers, "forward", withhold)
    with quantities.check("backward: gradient of the input A0"):
        dLdA0 = call(f"{name}.backward(dLdout)", BACKWARD_HINTS, model.backward, dLdout)
        if isinstance(dLdA0, np.ndarray) and dLdA0.shape != A0.shape:
            raise Mismatch(f"{name}.backward(dLdout)", f"expected the input's shape {A0.shape}, "
                           f"got {dLdA0.shape}", "backward must go through every layer down to "
                           "the first one, and return the first layer's result (the gradient of "
                           "A0)")
        expect_wired(dLdA0, grads[-1], f"{name}.backward(dLdout) (the gradient of the input A0)", {
            "skipped the first layer's backward: backward runs every layer, last to first":
            grads[-2],
            "returned the last layer's gradient only: dLdA = layer.backward(dLdA) keeps each "
            "layer's result": grads[1],
            "returned the upstream gradient: dLdA = layer.backward(dLdA) keeps each layer's "
            "result": dLdout}, twin_layers, "backward", withhold)
    with quantities.check("backward: every Linear's dLdW and dLdb"):
        stored = [sub.read(layer, "dLdW", "dLdb", wait=False) for _, layer in linears]
        for k, ((index, _), mine, right) in enumerate(zip(linears, stored, twin_grads)):
            where = f"{name}.layers[{index}] (Linear {k + 1} of {len(linears)})"
            hint = ("backward must call every layer's backward, with the gradient of that layer's "
                    "output, after a forward that cached each layer's input")
            for q, actual, expected in zip(("dLdW", "dLdb"), mine.result(), right.result()):
                if not isinstance(expected, np.ndarray):
                    raise Mismatch(f"{name}: not graded", f"your Linear.backward stored "
                                   f"{type(expected).__name__} as {q} when the grader called "
                                   f"your layers one by one. Fix Task 1.2 first.")
                if not isinstance(actual, np.ndarray) or actual.shape != expected.shape:
                    raise Mismatch(f"{where}.{q}", "differs from what your Linear layer stores "
                                   "when the grader runs the layers one by one", hint)
                if withhold and not np.any(expected):
                    # Linear.__init__ stores zeros: a model that never ran this layer's backward
                    # would pass too
                    raise Withheld(f"{name}: not graded on this case", f"your Linear.backward "
                                   f"stores {q} = 0 everywhere when the grader calls your layers "
                                   f"one by one, so this check cannot tell a model that runs it "
                                   f"from one that never does", "fix the layers first ("
                                   f"{upstream(twin_linears[k][1], 'backward')})")
                expect_close(actual, expected, f"{where}.{q}",
                             alternatives={hint: np.zeros_like(expected)})


@pytest.mark.cases("mlp0")
def test_mlp0(sub, case, quantities):
    """MLP0 = Linear(2, 3) -> ReLU: output, dLdA0, dLdW and dLdb, against your layers one by one."""
    check_model(sub, case, "MLP0", quantities)


@pytest.mark.cases("mlp1")
def test_mlp1(sub, case, quantities):
    """MLP1 = Linear(2, 3) -> ReLU -> Linear(3, 2) -> ReLU, against your layers one by one."""
    check_model(sub, case, "MLP1", quantities)


@pytest.mark.cases("mlp4")
def test_mlp4(sub, case, quantities):
    """MLP4 (2 -> 4 -> 8 -> 8 -> 4 -> 2 with ReLUs), against your layers one by one."""
    check_model(sub, case, "MLP4", quantities)


class _EveryCheckCounts:
    """``quantities`` for a hypothesis test: any failing check fails the example (so that hypothesis
    sees it), instead of earning partial credit."""

    @staticmethod
    def check(name, weight=1.0):
        import contextlib
        return contextlib.nullcontext()


def mlp4_case(seed, N):
    """Weights, biases, an input and an upstream gradient for MLP4, drawn from ``seed`` (redrawn
    further along the same stream until, with correct layers, every ReLU both passes and clips
    something: no dead layer, no layer a skipped call would hide)."""
    dims = DIMS["MLP4"]
    rng = np.random.default_rng([seed, 4])
    for _ in range(1000):
        case = {"A0": rng.uniform(-3, 3, (N, 2)), "dLdout": rng.standard_normal((N, 2))}
        A = case["A0"]
        alive = True
        for k, (c_in, c_out) in enumerate(zip(dims[:-1], dims[1:])):
            case[f"W{k}"] = rng.normal(0, 1 / np.sqrt(c_in), (c_out, c_in))
            case[f"b{k}"] = rng.normal(0.3, 0.5, (c_out, 1))
            Z = A @ case[f"W{k}"].T + case[f"b{k}"].T
            alive &= bool(np.any(Z > 0) and np.any(Z < 0))
            A = np.maximum(Z, 0)
        if alive:
            return case
    raise RuntimeError(f"no live MLP4 parameters drawn from seed {seed}")


@settings(max_examples=6)  # each example is ~25 round trips (the layers one by one)
@property_check(N=st.sizes(1, 4), seed=st.seeds())
def test_mlp4_random_inputs(sub, N, seed):
    """MLP4 on drawn weights and inputs, against your layers one by one (as test_mlp4)."""
    check_model(sub, mlp4_case(seed, N), "MLP4", _EveryCheckCounts, withhold=False)
