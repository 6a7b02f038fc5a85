"""Tasks 6.1 MLP0 and the shared forward/backward · 6.2 MLP1 · 6.3 MLP4.

Each task grades the code it asks for, once. Task 6.1 grades the loops of ``Sequential.forward``
and ``Sequential.backward`` — which layers run, in which order, what each passes to the next, that
backward uses what forward cached — and MLP0's layer list; Tasks 6.2 and 6.3 grade the layer lists
of MLP1 and MLP4 (which layers, in which order, of which sizes), never the loops again.

The loops are graded on a ``Sequential`` the grader fills with your own Linear and ReLU layers, and
compared with those same layers called one by one by the grader (a second set, run first to last,
then backward last to first). A bug inside Linear or ReLU gives the same numbers both ways, so it
costs points only in its own task. When your layers make the wiring impossible to tell (they raise,
return all zeros or their input), the check is not graded: it costs nothing, the checks of Task 6.1
that can be graded carry its points, and the feedback names the layer's task to fix first.
"""
import numpy as np
import pytest
from hypothesis import settings

from autograder.channel.errors import NotImplementedYet, StudentError
from autograder.checking import strategies as st
from autograder.checking.checks import (
    Diagnosis,
    Mismatch,
    NotGradable,
    close,
    expect_close,
    property_check,
)

DIMS = {"MLP0": [2, 3], "MLP1": [2, 3, 2], "MLP4": [2, 4, 8, 8, 4, 2]}
LAYER_TASKS = {("Linear", "forward"): "1.1", ("Linear", "backward"): "1.2",
               ("Sigmoid", "forward"): "2.1", ("Sigmoid", "backward"): "2.1",
               ("Tanh", "forward"): "2.2", ("Tanh", "backward"): "2.2",
               ("ReLU", "forward"): "2.3", ("ReLU", "backward"): "2.3",
               ("BatchNorm1d", "forward"): "5.1", ("BatchNorm1d", "backward"): "5.2"}
OWN_TASK = "6.1"  # the loops' task: its starter stub names it


class Withheld(NotGradable):
    """A check that could not have failed with these layers: it is not graded, and says why."""


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
                       "keep the layers in a list, self.layers, first to last",
                       "mlp.layers.not_a_list")
    return layers


def sequential(sub, dims, params=None):
    """A ``Sequential`` the grader fills with your own layers, Linear(dims[k], dims[k + 1]) each
    followed by a ReLU, with the Linear parameters ``params`` (W0, b0, W1, ...) when given: the
    loops (and SGD) graded whatever MLP0, MLP1 and MLP4 declare.
    Returns (model, layers, [(index, Linear)])."""
    model = sub.new("mytorch.models.mlp.Sequential")
    layers, linears = [], []
    for k, (c_in, c_out) in enumerate(zip(dims[:-1], dims[1:])):
        linear = sub.new("mytorch.nn.Linear", c_in, c_out)
        if params is not None:
            linear.W, linear.b = params[f"W{k}"], params[f"b{k}"]  # (writes are not waited for)
        linears.append((len(layers), linear))
        layers += [linear, sub.new("mytorch.nn.ReLU")]
    model.layers = layers
    return model, layers, linears


def one_by_one(layers, method, value, name, shapes=None):
    """``value`` through ``layers``' ``method`` in the given order, the grader calling each layer:
    [value, after layer 1, after layer 2, ...]. A layer that raises, returns no array, or returns
    the wrong number of rows (or, given ``shapes``, not the shape of that layer's input in forward)
    makes the wiring ungradable: that is that layer's own task's problem, not graded here, and the
    feedback says so (the first layer to go wrong is the one named, not a later one it confused)."""
    values = [value]
    for k, layer in enumerate(layers):
        where = f"your {kind(layer)}.{method}"
        try:
            out = getattr(layer, method)(values[-1])
        except StudentError as exc:  # a stub of a layer's task too: that task is not done yet
            raise NotGradable(f"{name}: not graded", f"{where} raised an error when the grader "
                              f"called your layers one by one, so the model's wiring cannot be "
                              f"compared with them. Fix {upstream(layer, method)} first.\n"
                              + exc.feedback()) from None
        if not isinstance(out, np.ndarray) or out.dtype.kind != "f":
            raise NotGradable(f"{name}: not graded", f"{where} returned {type(out).__name__}, "
                              f"not a float array, when the grader called your layers one by one. "
                              f"Fix {upstream(layer, method)} first.")
        want = shapes[k] if shapes else (values[-1].shape[0], None)
        if len(out.shape) != 2 or any(w is not None and g != w for g, w in zip(out.shape, want)):
            due = (f"{tuple(want)}, the shape of that layer's input" if shapes else
                   f"one row per input row ({want[0]})")
            raise NotGradable(f"{name}: not graded", f"{where} returned shape {out.shape} where "
                              f"{due} was due, when the grader called your layers one by one. "
                              f"Fix {upstream(layer, method)} first.")
        values.append(out)
    return values


def call(action, hints, fn, *args, **kwargs):
    """``fn(*args)``; a crash in the student's code becomes feedback, with a hint when the error
    looks like a known mistake (``hints`` maps an exception type to (id, hint))."""
    try:
        return fn(*args, **kwargs)
    except NotImplementedYet:
        raise
    except StudentError as exc:
        known = hints.get(exc.type)
        raise Mismatch(action, "raised an error\n" + exc.feedback(),
                       *(known[::-1] if known else ())) from None


BACKWARD_HINTS = {
    "ValueError": ("mlp.backward.order", "a shape error inside backward usually means the layers "
                   "ran in the wrong order: backward visits them from the last to the first, "
                   "giving each the gradient the layer after it returned"),
    "AttributeError": ("mlp.backward.forward_not_run", "a layer's backward needs what its forward "
                       "stored: did forward run every layer of self.layers?"),
}
FORWARD_HINTS = {
    "ValueError": ("mlp.forward.order", "a shape error inside forward usually means a layer was "
                   "given the wrong array: forward visits the layers first to last, giving each "
                   "the previous layer's output"),
}


def _same(a, b):
    return a.shape == b.shape and close(a, b)


def expect_wired(actual, right, name, wrong, layers, method, values, withhold=True):
    """``actual`` (the model's) must equal ``right`` (the layers called one by one). ``wrong`` lists
    (id, what the wrong model does, hint, its value with these layers); if one of them equals
    ``right`` too, the check could not have failed: ``Withheld``, not graded (or, with
    ``withhold=False``, for one example of a property among many, that wrong wiring is just not
    looked for on this example). ``values``: what the layers gave one by one, to name only a layer
    that returns its input or a constant."""
    layer_tasks = ", ".join(sorted({task_of(layer, method) for layer in layers}))
    if not np.all(np.isfinite(right)):
        raise Withheld(f"{name}: not graded on this case", "your layers called one by one give "
                       "NaN or inf here, so the model's wiring cannot be compared with them. Fix "
                       f"the layers first ({layer_tasks}).")
    if not withhold:
        wrong = [w for w in wrong if not _same(w[3], right)]
    elif not np.any(right) or (right.size > 1 and np.ptp(right) == 0):
        raise Withheld(f"{name}: not graded on this case",
                       f"your layers called one by one give a constant result ({right.flat[0]:g} "
                       f"everywhere), so this check cannot tell right wiring from wrong. Fix the "
                       f"layers first ({layer_tasks}).")
    for _, what, _, value in wrong:
        if _same(value, right):
            degenerate = sorted({task_of(layer, method) for layer, before, after
                                 in zip(layers, values, values[1:])
                                 if _same(after, before) or not np.ptp(after)})
            why = (f"a layer returns what it is given or a constant. Fix the layers first "
                   f"({', '.join(degenerate)})." if degenerate else
                   "this case cannot tell them apart (your layers are not at fault).")
            raise Withheld(f"{name}: not graded on this case",
                           f"with your layers, a model that {what} gives the same numbers as the "
                           f"right wiring, so this check cannot fail: {why}")
    expect_close(actual, right, name, diagnoses=[Diagnosis(i, hint, value=value)
                                                 for i, _, hint, value in wrong
                                                 if value.shape == right.shape])


def check_wiring(sub, case, dims, quantities, withhold=True):
    """Your Sequential's forward and backward with your layers (Linear(dims[k], dims[k + 1]) and
    ReLU) against those layers called one by one: output, dLdA0, every Linear's dLdW and dLdb."""
    name = "Sequential(" + ", ".join(f"Linear({i}, {o}), ReLU" for i, o in
                                     zip(dims[:-1], dims[1:])) + ")"
    params = {k: v for k, v in case.items() if k[0] in "Wb" and k[1:].isdigit()}
    A0, dLdout = case["A0"], case["dLdout"]
    model, _, linears = sequential(sub, dims, params)
    _, twin_layers, twin_linears = sequential(sub, dims, params)
    acts = one_by_one(twin_layers, "forward", A0, name)
    grads = one_by_one(twin_layers[::-1], "backward", dLdout, name,
                       shapes=[a.shape for a in acts[-2::-1]])
    twin_grads = [sub.read(layer, "dLdW", "dLdb", wait=False) for _, layer in twin_linears]

    out = call(f"{name}.forward(A0)", FORWARD_HINTS, model.forward, A0)
    with quantities.check("forward: output"):
        expect_wired(out, acts[-1], f"{name}.forward(A0)", [
            ("mlp.forward.last_layer_skipped", "skips the last layer",
             "forward runs every layer of self.layers, the last one included", acts[-2]),
            ("mlp.forward.not_chained", "returns the first layer's output",
             "each layer is given the previous layer's output, and forward returns what the "
             "last layer gives", acts[1]),
            ("mlp.forward.returns_input", "returns its input", "forward returns what the last "
             "layer gives, not its own input: keep each layer's result", A0)],
            twin_layers, "forward", acts, withhold)
    with quantities.check("backward: gradient of the input A0"):
        dLdA0 = call(f"{name}.backward(dLdout)", BACKWARD_HINTS, model.backward, dLdout)
        if isinstance(dLdA0, np.ndarray) and dLdA0.shape != A0.shape:
            raise Mismatch(f"{name}.backward(dLdout)", f"expected the input's shape {A0.shape}, "
                           f"got {dLdA0.shape}", "backward goes through every layer down to the "
                           "first one, and returns the first layer's result (the gradient of A0)",
                           "mlp.backward.not_down_to_the_input")
        expect_wired(dLdA0, grads[-1], f"{name}.backward(dLdout) (the gradient of the input A0)", [
            ("mlp.backward.first_layer_skipped", "skips the first layer's backward",
             "backward runs every layer's backward, last to first, down to the first layer",
             grads[-2]),
            ("mlp.backward.not_chained", "returns the last layer's gradient only",
             "each layer's backward is given the gradient the layer after it returned, and "
             "backward returns what the first layer gives", grads[1]),
            ("mlp.backward.returns_upstream", "returns the upstream gradient", "backward returns "
             "what the first layer's backward gives, not the gradient it was handed", dLdout)],
            twin_layers[::-1], "backward", grads, withhold)
    with quantities.check("backward: every Linear's dLdW and dLdb"):
        stored = [sub.read(layer, "dLdW", "dLdb", wait=False) for _, layer in linears]
        hint = ("backward calls every layer's backward, with the gradient of that layer's output, "
                "after a forward that cached each layer's input")
        for k, ((index, _), mine, right) in enumerate(zip(linears, stored, twin_grads)):
            where = f"{name}.layers[{index}] (Linear {k + 1} of {len(linears)})"
            for q, actual, expected in zip(("dLdW", "dLdb"), mine.result(), right.result()):
                if not isinstance(expected, np.ndarray):
                    raise NotGradable(f"{name}: not graded", f"your Linear.backward stored "
                                      f"{type(expected).__name__} as {q} when the grader called "
                                      f"your layers one by one. Fix Task 1.2 first.")
                if not isinstance(actual, np.ndarray) or actual.shape != expected.shape:
                    raise Mismatch(f"{where}.{q}", "differs from what your Linear layer stores "
                                   "when the grader runs the layers one by one", hint,
                                   "mlp.backward.layer_not_reached")
                if withhold and not np.any(expected):
                    # Linear.__init__ stores zeros: a model that never ran this layer's backward
                    # would pass too
                    raise Withheld(f"{name}: not graded on this case", f"your Linear.backward "
                                   f"stores {q} = 0 everywhere when the grader calls your layers "
                                   f"one by one, so this check cannot tell a model that runs it "
                                   f"from one that never does. Fix the layers first ("
                                   f"{upstream(twin_linears[k][1], 'backward')}).")
                expect_close(actual, expected, f"{where}.{q}", diagnoses=[Diagnosis(
                    "mlp.backward.layer_not_reached", hint, value=np.zeros_like(expected))])


# ------------------------------------------------------------------------ Task 6.1: the loops
@pytest.mark.cases("mlp0")
def test_loops_one_dense(sub, case, quantities):
    """Your loops over Linear(2, 3) -> ReLU (your own layers), against the layers one by one."""
    check_wiring(sub, case, DIMS["MLP0"], quantities)


@pytest.mark.cases("mlp1")
def test_loops_two_dense(sub, case, quantities):
    """Your loops over Linear(2, 3) -> ReLU -> Linear(3, 2) -> ReLU, against the layers one by
    one: both Linear layers' gradients, the first one reached only through a right chain."""
    check_wiring(sub, case, DIMS["MLP1"], quantities)


@pytest.mark.cases("mlp4")
def test_loops_five_dense(sub, case, quantities):
    """Your loops over five Linear layers (2 -> 4 -> 8 -> 8 -> 4 -> 2) with ReLUs."""
    check_wiring(sub, case, DIMS["MLP4"], quantities)


class _EveryCheckCounts:
    """``quantities`` for a hypothesis test: any failing check fails the example (so that hypothesis
    sees it), instead of earning partial credit."""

    @staticmethod
    def check(name, weight=1.0):
        import contextlib
        return contextlib.nullcontext()


def mlp4_case(seed, N):
    """Weights, biases, an input and an upstream gradient for five Linear layers, drawn from
    ``seed`` (redrawn further along the same stream until, with correct layers, every ReLU both
    passes and clips something: no dead layer, no layer a skipped call would hide)."""
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
    raise RuntimeError(f"no live parameters drawn from seed {seed}")


@settings(max_examples=6)  # each example is ~25 round trips (the layers one by one)
@property_check(N=st.sizes(1, 4), seed=st.seeds())
def test_loops_random_inputs(sub, N, seed):
    """Your loops over five Linear layers on drawn weights and inputs (as the test above)."""
    check_wiring(sub, mlp4_case(seed, N), DIMS["MLP4"], _EveryCheckCounts, withhold=False)


# ------------------------------------------------------------- Tasks 6.1-6.3: the layer lists
def expected_layers(dims):
    return [layer for c_in, c_out in zip(dims, dims[1:])
            for layer in (f"Linear({c_in}, {c_out})", "ReLU")]


def layer_list_hint(name, got, want):
    """(hint, id) naming the mistake that turns the layer list ``want`` into ``got``."""
    widths = " → ".join(map(str, DIMS[name]))
    linears = [g for g in got if g.startswith("Linear")]
    if got == want[:-1]:
        return (f"{name} ends with a ReLU too: every Linear layer, the last one included, is "
                "followed by a ReLU", "mlp.layers.last_activation_missing")
    if linears == [w for w in want if w.startswith("Linear")]:
        if got.count("ReLU") < want.count("ReLU") and len(got) < len(want):
            return "a ReLU follows every Linear layer", "mlp.layers.activation_missing"
        if len(got) == len(want) and "ReLU" not in got[1::2]:
            return ("the activation after each Linear layer is a ReLU",
                    "mlp.layers.wrong_activation")
        return ("each Linear layer is followed by its ReLU, then the next Linear layer",
                "mlp.layers.order")
    if linears == [w for w in want if w.startswith("Linear")][::-1]:
        return (f"the layers go from the input to the output: widths {widths}, first to last",
                "mlp.layers.reversed")
    if len(linears) != len(DIMS[name]) - 1:
        return (f"{name} has {len(DIMS[name]) - 1} Linear layers, widths {widths}",
                "mlp.layers.depth")
    return (f"widths {widths}: each Linear layer's in_features is the previous one's "
            "out_features", "mlp.layers.sizes")


def check_layers(sub, name, quantities):
    """``name``'s layer list: which layers, in which order, each Linear's sizes (from its W)."""
    with quantities.check("the layers, in order"):
        layers = model_layers(sub.new(f"mytorch.models.{name}"), name)
        weights = [sub.read(layer, "W", wait=False) if kind(layer) == "Linear" else None
                   for layer in layers]
        got = []
        for layer, W in zip(layers, weights):
            W = W.result()[0] if W is not None else None
            if isinstance(W, np.ndarray) and W.ndim == 2:
                got.append(f"Linear({W.shape[1]}, {W.shape[0]})")
            else:
                got.append(kind(layer))
        want = expected_layers(DIMS[name])
        if got != want:
            raise Mismatch(f"{name}.layers", f"expected {' -> '.join(want)}, got "
                           f"{' -> '.join(got) or 'no layers'}", *layer_list_hint(name, got, want))


def test_mlp0_layers(sub, quantities):
    """MLP0's layers: Linear(2, 3) -> ReLU."""
    check_layers(sub, "MLP0", quantities)


def test_mlp1_layers(sub, quantities):
    """MLP1's layers: Linear(2, 3) -> ReLU -> Linear(3, 2) -> ReLU."""
    check_layers(sub, "MLP1", quantities)


def test_mlp4_layers(sub, quantities):
    """MLP4's layers: widths 2 -> 4 -> 8 -> 8 -> 4 -> 2, a ReLU after each Linear."""
    check_layers(sub, "MLP4", quantities)
