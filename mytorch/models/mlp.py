"""Task 6: multilayer perceptrons built from the layers of ``mytorch.nn``.

Each model keeps its layers in order in ``self.layers`` (Tasks 6.1-6.3: declare them in
``__init__``, each Linear given ``rng``); ``forward(A0)`` runs them first to last and
``backward(dLdA)`` runs their backwards last to first, returning the gradient for the input.
``model.eval()`` / ``model.train()`` switch every layer's mode at once (see ``Module``).
"""
import numpy as np

from ..nn import BatchNorm1d, Identity, Linear, Module, ReLU, Sigmoid, Tanh


class Sequential(Module):
    """Shared forward/backward over ``self.layers``."""

    def forward(self, A):
        """A: (N, C_in of the first layer) -> (N, C_out of the last layer)."""
        # BEGIN SOLUTION
        for layer in self.layers:
            A = layer.forward(A)
        # END SOLUTION
        return A

    def backward(self, dLdA):
        """dLdA: gradient of the model's output -> gradient of the model's input."""
        # BEGIN SOLUTION
        for layer in reversed(self.layers):
            dLdA = layer.backward(dLdA)
        # END SOLUTION
        return dLdA


class MLP0(Sequential):
    """Linear(2, 3) -> ReLU."""

    def __init__(self, rng=None):
        rng = np.random.default_rng(rng)  # hand it to each Linear (its rng argument)
        # BEGIN SOLUTION
        self.layers = [Linear(2, 3, rng=rng), ReLU()]
        # END SOLUTION


class MLP1(Sequential):
    """Linear(2, 3) -> ReLU -> Linear(3, 2) -> ReLU."""

    def __init__(self, rng=None):
        rng = np.random.default_rng(rng)  # hand it to each Linear (its rng argument)
        # BEGIN SOLUTION
        self.layers = [Linear(2, 3, rng=rng), ReLU(), Linear(3, 2, rng=rng), ReLU()]
        # END SOLUTION


class MLP4(Sequential):
    """2 -> 4 -> 8 -> 8 -> 4 -> 2, each Linear followed by ReLU."""

    def __init__(self, rng=None):
        rng = np.random.default_rng(rng)  # hand it to each Linear (its rng argument)
        # BEGIN SOLUTION
        dims = [2, 4, 8, 8, 4, 2]
        self.layers = []
        for c_in, c_out in zip(dims[:-1], dims[1:]):
            self.layers += [Linear(c_in, c_out, rng=rng), ReLU()]
        # END SOLUTION


ACTIVATIONS = {"relu": ReLU, "tanh": Tanh, "sigmoid": Sigmoid, "identity": Identity}


class MLP(Sequential):
    """Linear(dims[0], dims[1]) -> [BatchNorm1d] -> activation -> ... -> Linear(.., dims[-1]).

    The last Linear has no activation: the output is logits, ready for ``CrossEntropyLoss``.
    ``activation`` is one of "relu", "tanh", "sigmoid", "identity"; ``batchnorm=True`` inserts a
    BatchNorm1d before each hidden activation; ``rng`` seeds the PyTorch-style initialisation.
    Evaluate with ``model.eval()`` first (BatchNorm1d then uses its running statistics) and switch
    back with ``model.train()``.
    """

    def __init__(self, dims, activation="relu", batchnorm=False, rng=None):
        if len(dims) < 2:
            raise ValueError(f"MLP: dims needs at least an input and an output size, got {dims!r}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"MLP: activation must be one of {sorted(ACTIVATIONS)}, "
                             f"got {activation!r}")
        rng = np.random.default_rng(rng)
        self.dims = list(dims)
        self.layers = []
        for i, (c_in, c_out) in enumerate(zip(dims[:-1], dims[1:])):
            self.layers.append(Linear(c_in, c_out, rng=rng))
            if i < len(dims) - 2:
                if batchnorm:
                    self.layers.append(BatchNorm1d(c_out))
                self.layers.append(ACTIVATIONS[activation]())
