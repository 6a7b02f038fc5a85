"""The one base class every layer and model shares, and the argument checks layers share."""
import numbers


class Module:
    """Base class of layers and models.

    A layer with trainable parameters lists them in ``parameters()`` as ``(param, grad)`` pairs of
    live arrays of equal shape. This is the single way an optimiser finds what to update, so
    ``Linear``'s ``W``/``b`` and ``BatchNorm1d``'s ``BW``/``Bb`` are treated alike. Models that hold
    a ``layers`` list inherit a ``parameters()`` that chains those of their layers.

    ``training`` is True until ``eval()`` and again after ``train()``, as in PyTorch. Only
    ``BatchNorm1d`` behaves differently in evaluation; a model switches all its layers at once.
    """

    training = True

    def parameters(self):
        """Return ``[(param, grad), ...]``; the arrays themselves, so updates can be in place."""
        pairs = []
        for layer in getattr(self, "layers", ()):
            pairs.extend(layer.parameters())
        return pairs

    def train(self, mode=True):
        """Put this module and its layers in training mode (``mode=False``: evaluation).

        Returns the module, so that ``model.eval().forward(X)`` reads as one step."""
        self.training = mode
        for layer in getattr(self, "layers", ()):
            layer.train(mode)
        return self

    def eval(self):
        """Put this module and its layers in evaluation mode; return it."""
        return self.train(False)

    def extra_repr(self):
        """The text shown between the parentheses of ``repr(self)``."""
        return ""

    def __repr__(self):
        layers = getattr(self, "layers", None)
        if layers is None:
            return f"{type(self).__name__}({self.extra_repr()})"
        inner = "".join(f"\n  ({i}): {layer!r}" for i, layer in enumerate(layers))
        return f"{type(self).__name__}({inner}\n)"


def check_shape(layer, what, array, expected):
    """Raise ``ValueError`` naming ``layer`` unless ``array`` has shape ``expected``.

    ``expected`` is a tuple of sizes; a string entry (``"N"``, ``"C"``) names a size that may be
    anything, such as the batch size. The message shows the layer's repr, so a student sees which
    of a model's layers got the wrong input.
    """
    shape = getattr(array, "shape", None)
    ok = (
        shape is not None
        and len(shape) == len(expected)
        and all(isinstance(e, str) or s == e for s, e in zip(shape, expected))
    )
    if not ok:
        want = "(" + ", ".join(map(str, expected)) + ("," if len(expected) == 1 else "") + ")"
        got = "no shape" if shape is None else str(tuple(shape))
        raise ValueError(f"{layer!r}: expected {what} of shape {want}, got {got}")


def check_size(layer, name, value, minimum=1):
    """Return ``value`` (a constructor argument such as ``kernel_size``) as an int, or raise
    ``ValueError`` naming the layer's class and the argument unless it is an integer >= ``minimum``.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{type(layer).__name__}: {name} must be an integer >= {minimum}, "
                         f"got {value!r}")
    return int(value)
