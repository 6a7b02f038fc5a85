"""Task 1: the fully connected (affine) layer."""
import numpy as np

from .module import Module, check_shape


class Linear(Module):
    """Affine layer ``Z = A @ W.T + 1_N @ b.T``.

    Parameters: ``W`` of shape (C_out, C_in) and, unless ``bias=False``, ``b`` of shape (C_out, 1).

    Initialisation (``init``):
      * ``"torch"`` (default): PyTorch's ``nn.Linear.reset_parameters`` — W and b drawn uniformly
        from [-1/sqrt(C_in), 1/sqrt(C_in)] (``kaiming_uniform_(a=sqrt(5))`` reduces to that bound);
        ``rng`` (a ``numpy.random.Generator`` or an int seed) makes it reproducible.
      * ``"zeros"``: W and b are zero, as in the classic handout (the grader sets them itself).

    ``input_grad=False`` makes ``backward`` skip dLdA (and return None): for the first layer of a
    network being trained, whose input is data, that product is a third of the layer's work and
    nobody uses it (PyTorch skips it too, as the data does not require a gradient).
    """

    def __init__(self, in_features, out_features, bias=True, init="torch", rng=None,
                 dtype=np.float64, debug=False, input_grad=True):
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.input_grad = input_grad
        if init == "torch":
            rng = np.random.default_rng(rng)
            bound = 1.0 / np.sqrt(self.in_features) if self.in_features > 0 else 0.0
            self.W = rng.uniform(-bound, bound, (self.out_features, self.in_features)).astype(dtype)
            self.b = rng.uniform(-bound, bound, (self.out_features, 1)).astype(dtype) if bias else None
        elif init == "zeros":
            self.W = np.zeros((self.out_features, self.in_features), dtype=dtype)
            self.b = np.zeros((self.out_features, 1), dtype=dtype) if bias else None
        else:
            raise ValueError(f"Linear: init must be 'torch' or 'zeros', got {init!r}")
        self.dLdW = np.zeros_like(self.W)
        self.dLdb = np.zeros_like(self.b) if bias else None
        self.debug = debug

    def parameters(self):
        if self.b is None:
            return [(self.W, self.dLdW)]
        return [(self.W, self.dLdW), (self.b, self.dLdb)]

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.b is not None}")

    def forward(self, A):
        """A: (N, C_in) -> Z: (N, C_out). Stores ``A`` and ``N`` for backward."""
        check_shape(self, "input A", A, (None, self.in_features))
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

        (Optional, not graded: with ``input_grad=False``, skip dLdA and return None.)"""
        check_shape(self, "gradient dLdZ", dLdZ, (None, self.out_features))
        # BEGIN SOLUTION
        dLdA = dLdZ @ self.W if self.input_grad else None
        self.dLdW = dLdZ.T @ self.A
        if self.b is not None:
            self.dLdb = dLdZ.sum(axis=0).reshape(-1, 1)  # dLdZ.T @ 1_N, without building 1_N
        # END SOLUTION
        return dLdA
