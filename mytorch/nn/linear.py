"""Task 1: the fully connected (affine) layer."""
import numpy as np

from .module import Module, check_shape


class Linear(Module):
    """Affine layer ``Z = A @ W.T + 1_N @ b.T``.

    Parameters: ``W`` of shape (C_out, C_in) and, unless ``bias=False``, ``b`` of shape (C_out, 1).
    They start as in PyTorch's ``nn.Linear``: uniform in [-1/sqrt(C_in), 1/sqrt(C_in)], so that
    the size of Z does not grow with the number of inputs C_in. ``rng`` (an int seed or a
    ``numpy.random.Generator``) makes that draw reproducible. ``Linear.zeros(...)`` starts from
    zeros instead, as the classic handout does.
    """

    # False makes backward skip dLdA, a third of the layer's work, for a network's first layer:
    # its input is data, which needs no gradient (see mytorch.speed.skip_input_gradient).
    input_grad = True

    def __init__(self, in_features, out_features, bias=True, rng=None):
        self.in_features, self.out_features = int(in_features), int(out_features)
        rng = np.random.default_rng(rng)
        # PyTorch's kaiming_uniform_(a=sqrt(5)) reduces to this bound (0 for an empty input).
        bound = 1.0 / np.sqrt(self.in_features) if self.in_features > 0 else 0.0
        self.W = rng.uniform(-bound, bound, (self.out_features, self.in_features))
        self.b = rng.uniform(-bound, bound, (self.out_features, 1)) if bias else None
        self.dLdW = np.zeros_like(self.W)
        self.dLdb = np.zeros_like(self.b) if bias else None

    @classmethod
    def zeros(cls, in_features, out_features, bias=True):
        """A layer whose ``W`` and ``b`` start at zero."""
        layer = cls(in_features, out_features, bias)
        for param, _ in layer.parameters():
            param[...] = 0.0
        return layer

    def parameters(self):
        if self.b is None:
            return [(self.W, self.dLdW)]
        return [(self.W, self.dLdW), (self.b, self.dLdb)]

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.b is not None}")

    def forward(self, A):
        """A: (N, C_in) -> Z: (N, C_out). Stores ``A`` and ``N`` for backward."""
        check_shape(self, "input A", A, ("N", self.in_features))
        # BEGIN SOLUTION
        self.A = A
        self.N = A.shape[0]
        Z = A @ self.W.T
        if self.b is not None:
            Z += self.b.T  # broadcasting b.T over the rows is 1_N @ b.T without building 1_N
        # END SOLUTION
        return Z

    def backward(self, dLdZ):
        """dLdZ: (N, C_out) -> dLdA: (N, C_in). Stores ``dLdW`` (C_out, C_in), ``dLdb`` (C_out, 1).

        (Optional, not graded: when ``self.input_grad`` is False, skip dLdA and return None.)"""
        check_shape(self, "gradient dLdZ", dLdZ, ("N", self.out_features))
        # BEGIN SOLUTION
        dLdA = dLdZ @ self.W if self.input_grad else None
        self.dLdW = dLdZ.T @ self.A
        if self.b is not None:
            self.dLdb = dLdZ.sum(axis=0).reshape(-1, 1)  # dLdZ.T @ 1_N, without building 1_N
        # END SOLUTION
        return dLdA
