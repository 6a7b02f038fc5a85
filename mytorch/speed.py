"""Two switches that make training faster without changing what a layer computes.

The layers of ``mytorch.nn`` are written to be read, in float64. A long training run
(``train_mnist.py``) and the benchmarks apply these to a model once it is built; no task needs them.
"""
from .nn import Conv1d, Conv2d, Linear

#: the layers with weights W, b and their gradients dLdW, dLdb, and an ``input_grad`` switch
WEIGHTED = (Linear, Conv1d, Conv2d)


def skip_input_gradient(model):
    """Make ``model``'s first layer, a Linear or a convolution, skip dLdA in backward
    (``model.backward`` then returns None); return ``model``.

    The first layer's input is the data, whose gradient nobody uses, and the product that gives it
    is a third of a Linear's work (a convolution's col2im more; PyTorch skips it too: data does
    not require a gradient). Every parameter gradient stays the same.
    """
    first = model.layers[0]
    if not isinstance(first, WEIGHTED):
        raise TypeError(f"skip_input_gradient: the first layer must be a Linear, Conv1d or "
                        f"Conv2d, got {first!r}")
    first.input_grad = False
    return model


def cast(model, dtype):
    """Store the ``W``, ``b``, ``dLdW`` and ``dLdb`` of every Linear and convolution in ``model``
    (a model or one layer) as ``dtype``; return ``model``.

    With float32 parameters and float32 data the matrix products move half the bytes, so they run
    faster; the results then carry float32's rounding (about 7 significant digits).
    """
    for layer in getattr(model, "layers", [model]):
        if isinstance(layer, WEIGHTED):
            layer.W, layer.dLdW = layer.W.astype(dtype), layer.dLdW.astype(dtype)
            if layer.b is not None:
                layer.b, layer.dLdb = layer.b.astype(dtype), layer.dLdb.astype(dtype)
    return model
