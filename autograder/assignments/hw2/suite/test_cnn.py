"""Task 9.1 CNN: the model's layers, and forward/backward through them.

What is graded is the architecture the constructor builds — which layers, in which order, with
which sizes — and that forward and backward run through it, not the layers themselves (Tasks 7–8
and HW1 grade those). So the model is compared with your OWN layer classes, built by the grader in
the documented order and called one by one (``A = layer.forward(A)``, then ``layer.backward``
last to first): a bug inside Conv2d or MaxPool2d gives the same numbers both ways and costs points
in its own task only. A comparison that could not fail with your layers (a constant or non-finite
result) is withheld, naming the layers to fix; so is one whose layers raise when called alone.
"""
import numpy as np
import pytest

from autograder.channel.errors import NotImplementedYet, StudentError
from autograder.checking.checks import Mismatch, expect_close

LAYER_TASKS = {("Conv2d", "forward"): "7.3", ("Conv2d", "backward"): "7.4",
               ("MaxPool2d", "forward"): "8.1", ("MaxPool2d", "backward"): "8.1",
               ("Flatten", "forward"): "8.3", ("Flatten", "backward"): "8.3",
               ("ReLU", "forward"): "2.3 (HW1)", ("ReLU", "backward"): "2.3 (HW1)",
               ("Linear", "forward"): "1.1 (HW1)", ("Linear", "backward"): "1.2 (HW1)"}


class Withheld(Mismatch):
    """A check that could not have failed with these layers: it earns nothing, and says why."""


def settings_of(case):
    """CNN(in_channels, image_size, channels, kernel_size, num_classes) of the case."""
    return (int(case["in_channels"]), int(case["image_size"]),
            tuple(int(c) for c in case["channels"]), int(case["kernel"]),
            int(case["num_classes"]))


def architecture(case):
    """[(class, constructor arguments)] of the documented CNN."""
    c_in, size, channels, kernel, classes = settings_of(case)
    layers = []
    for c_out in channels:  # (each block)
        layers += [("Conv2d", (c_in, c_out, kernel)), ("ReLU", ()), ("MaxPool2d", (2,))]
        size, c_in = (size - kernel + 1) // 2, c_out
    return layers + [("Flatten", ()), ("Linear", (c_in * size * size, classes))]


def kind(layer):
    ref = getattr(layer, "_ref", None)
    return ref.type.rsplit(".", 1)[-1] if ref is not None else type(layer).__name__


def new_model(sub, case):
    return sub.new("mytorch.models.CNN", *settings_of(case))


def check_layers(model, case):
    """The model's ``layers`` are the documented ones, in order; returns them."""
    expected = architecture(case)
    layers = model.layers
    if not isinstance(layers, list):
        raise Mismatch("CNN.layers", f"expected a list of layers, got {type(layers).__name__}")
    kinds = [kind(layer) for layer in layers]
    want = [cls for cls, _ in expected]
    if kinds != want:
        raise Mismatch("CNN.layers", f"expected the layers {want}, got {kinds}", "two blocks "
                       "Conv2d -> ReLU -> MaxPool2d(2), then Flatten -> Linear, in this order")
    return layers, expected


def weighted(layers):
    return [layer for layer in layers if kind(layer) in ("Conv2d", "Linear")]


@pytest.mark.cases("cnn")
def test_cnn_layers(sub, case, quantities):
    """The constructor builds the documented layers, with the documented sizes."""
    model = new_model(sub, case)
    with quantities.check("layers"):
        layers, expected = check_layers(model, case)
    with quantities.check("sizes"):
        layers, expected = check_layers(model, case)
        for index, (layer, (cls, args)) in enumerate(zip(layers, expected)):
            where = f"CNN.layers[{index}] ({cls})"
            if cls == "Conv2d":
                shape, want = layer.W.shape, (args[1], args[0], args[2], args[2])
            elif cls == "Linear":
                shape, want = layer.W.shape, (args[1], args[0])
            elif cls == "MaxPool2d":
                shape, want = (layer.kernel_size, layer.stride), (2, 2)
            else:
                continue
            if tuple(shape) != want:  # (each layer's sizes)
                raise Mismatch(where, f"expected {want}, got {tuple(shape)}", "each block halves "
                               "the image after a Conv2d without padding: size = (size - K + 1) "
                               "// 2, and the Linear takes channels × size × size inputs")


def tasks_of(layers, method):
    """'Task 7.3, Task 8.1, ...': the tasks whose code ``method`` of ``layers`` runs (a backward
    also reads what its forward stored)."""
    methods = ("forward", "backward") if method == "backward" else ("forward",)
    found = sorted({LAYER_TASKS[(kind(layer), m)] for layer in layers for m in methods})
    return ", ".join(f"Task {task}" for task in found)


def one_by_one(layers, method, value, shapes):
    """``value`` through ``layers``' ``method``, the grader calling each: every intermediate. A
    layer that raises or returns no float array of the shape due (``shapes``) makes the model
    ungradable here: that is its own task's problem, named in the feedback."""
    values = [value]
    for layer, shape in zip(layers, shapes):
        where = f"your {kind(layer)}.{method}"
        try:
            out = getattr(layer, method)(values[-1])
        except NotImplementedYet:
            raise
        except StudentError as exc:
            raise Withheld("CNN: not graded", f"{where} raised an error when the grader called "
                           f"your layers one by one, so the model cannot be compared with them. "
                           f"Fix {tasks_of([layer], method)} first.\n" + exc.feedback()) from None
        if not isinstance(out, np.ndarray) or out.dtype.kind != "f" or out.shape != shape:
            got = getattr(out, "shape", type(out).__name__)
            raise Withheld("CNN: not graded", f"{where} returned {got} where a float array of "
                           f"shape {shape} was due, when the grader called your layers one by "
                           f"one. Fix {tasks_of([layer], method)} first.")
        values.append(out)
    return values


def expect_same(actual, right, name, layers, method):
    """``actual`` must equal ``right`` (your layers one by one), unless ``right`` cannot tell a
    right model from a wrong one."""
    if not np.all(np.isfinite(right)) or not np.any(right) or np.ptp(right) == 0:
        raise Withheld(f"{name}: not graded on this case", "your layers called one by one give "
                       "a constant or non-finite result here, so the model cannot be compared "
                       "with them", f"fix the layers first ({tasks_of(layers, method)})")
    expect_close(actual, right, name)


def call(action, fn, *args):
    try:
        return fn(*args)
    except NotImplementedYet:
        raise
    except StudentError as exc:
        raise Mismatch(action, "raised an error\n" + exc.feedback(), "forward runs "
                       "self.layers first to last and backward last to first: check that the "
                       "layers built by the constructor fit together") from None


@pytest.mark.cases("cnn")
def test_cnn_rejects_an_image_too_small(sub, case):
    """An image that the blocks would shrink below one pixel is a ValueError naming the CNN."""
    c_in, _, channels, kernel, classes = settings_of(case)
    size = kernel + 1  # the first block leaves 1 pixel, the second none
    try:
        built = sub.new("mytorch.models.CNN", c_in, size, channels, kernel, classes)
        built.layers  # noqa: B018 - the constructor's error surfaces at the first read
    except StudentError as exc:
        if exc.type == "ValueError":
            return
        raise
    raise Mismatch(f"CNN(image_size={size})", f"built a model, but a {size}×{size} image leaves "
                   f"no pixel after {len(channels)} blocks", "raise a ValueError when a block "
                   "would leave less than one pixel: size = (size - kernel_size + 1) // 2 < 1")


@pytest.mark.cases("cnn")
def test_cnn(sub, case, quantities):
    """forward, backward and every parameter gradient of the model, against your own layers
    built in the documented order and called one by one by the grader."""
    A0, dLdout = case["A0"], case["dLdout"]
    expected = architecture(case)
    twin = [sub.new(f"mytorch.nn.{cls}", *args) for cls, args in expected]
    for k, layer in enumerate(weighted(twin)):
        layer.W, layer.b = case[f"W{k}"], case[f"b{k}"]
    shapes = [case[f"act{k}"].shape for k in range(len(twin))]
    acts = one_by_one(twin, "forward", A0, shapes)
    grads = one_by_one(twin[::-1], "backward", dLdout, shapes[:-1][::-1] + [A0.shape])
    twin_grads = [(layer.dLdW, layer.dLdb) for layer in weighted(twin)]
    model = new_model(sub, case)
    layers, _ = check_layers(model, case)
    for k, layer in enumerate(weighted(layers)):
        layer.W, layer.b = case[f"W{k}"], case[f"b{k}"]
    with quantities.check("forward: output"):
        expect_same(call("CNN.forward(A0)", model.forward, A0), acts[-1], "CNN.forward(A0)", twin,
                    "forward")
    with quantities.check("backward: gradient of the input A0"):
        expect_same(call("CNN.backward(dLdout)", model.backward, dLdout), grads[-1],
                    "CNN.backward(dLdout)", twin, "backward")
    with quantities.check("backward: every Conv2d's and the Linear's dLdW and dLdb"):
        for k, (layer, (dLdW, dLdb)) in enumerate(zip(weighted(layers), twin_grads)):
            for name, actual, right in (("dLdW", layer.dLdW, dLdW), ("dLdb", layer.dLdb, dLdb)):
                if not isinstance(right, np.ndarray) or not np.any(right):
                    raise Withheld("CNN: not graded on this case", f"your {kind(layer)}.backward "
                                   f"stores {name} = 0 (or no array) when the grader calls your "
                                   f"layers one by one, so a model that never runs it would pass",
                                   f"fix the layers first ({tasks_of(twin, 'backward')})")
                expect_close(actual, right, f"CNN weighted layer {k} ({kind(layer)}).{name}")
