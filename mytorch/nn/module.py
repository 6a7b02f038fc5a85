"""The one base class every layer and model shares."""


class Module:
    """Base class of layers and models.

    A layer with trainable parameters lists them in ``parameters()`` as ``(param, grad)`` pairs of
    live arrays of equal shape. This is the single way an optimiser finds what to update, so
    ``Linear``'s ``W``/``b`` and ``BatchNorm1d``'s ``BW``/``Bb`` are treated alike. Models that hold a
    ``layers`` list inherit a ``parameters()`` that chains those of their layers.
    """

    def parameters(self):
        """Return ``[(param, grad), ...]``; the arrays themselves, so updates can be in place."""
        pairs = []
        for layer in getattr(self, "layers", ()):
            if isinstance(layer, Module):
                pairs.extend(layer.parameters())
        return pairs

    def extra_repr(self):
        """The text shown between the parentheses of ``repr(self)``."""
        return ""

    def __repr__(self):
        layers = getattr(self, "layers", None)
        if layers is None:
            return f"{type(self).__name__}({self.extra_repr()})"
        inner = "".join(f"\n  ({i}): {layer!r}" for i, layer in enumerate(layers))
        return f"{type(self).__name__}({inner}\n)"


def check_shape(owner, what, array, expected):
    """Raise ``ValueError`` naming ``owner`` unless ``array`` has shape ``expected``.

    ``owner`` is a name or the layer itself (its repr is built only for the error: building it on
    every call cost a tenth of a small training step). ``expected`` is a tuple whose ``None``
    entries match any size (usually the batch size).
    """
    shape = getattr(array, "shape", None)
    ok = (
        shape is not None
        and len(shape) == len(expected)
        and all(e is None or s == e for s, e in zip(shape, expected))
    )
    if not ok:
        sizes = ["N" if e is None else str(e) for e in expected]
        want = "(" + ", ".join(sizes) + ("," if len(sizes) == 1 else "") + ")"
        got = "no shape" if shape is None else str(tuple(shape))
        name = owner if isinstance(owner, str) else repr(owner)
        raise ValueError(f"{name}: expected {what} of shape {want}, got {got}")
