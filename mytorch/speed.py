"""Two switches that make training faster without changing what a layer computes.

The layers of ``mytorch.nn`` are written to be read, in float64. A long training run
(``train_mnist.py``) and the benchmarks apply these to a model once it is built; no task needs them.
"""
from .nn import Linear


def skip_input_gradient(model):
    """Make ``model``'s first layer, a Linear, skip dLdA in backward (``model.backward`` then
    returns None); return ``model``.

    The first layer's input is the data, whose gradient nobody uses, and the product dLdZ @ W that
    gives it is a third of that layer's work (PyTorch skips it too: data does not require a
    gradient). Every parameter gradient stays the same.
    """
    first = model.layers[0]
    if not isinstance(first, Linear):
        raise TypeError(f"skip_input_gradient: the first layer must be a Linear, got {first!r}")
    first.input_grad = False
    return model


def cast(model, dtype):
    """Store the ``W``, ``b``, ``dLdW`` and ``dLdb`` of every Linear in ``model`` (a model or one
    layer) as ``dtype``; return ``model``.

    With float32 parameters and float32 data the matrix products move half the bytes, so they run
    faster; the results then carry float32's rounding (about 7 significant digits).
    """
    for layer in getattr(model, "layers", [model]):
        if isinstance(layer, Linear):
            layer.W, layer.dLdW = layer.W.astype(dtype), layer.dLdW.astype(dtype)
            if layer.b is not None:
                layer.b, layer.dLdb = layer.b.astype(dtype), layer.dLdb.astype(dtype)
    return model
