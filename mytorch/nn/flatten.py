"""Flatten: the bridge from convolutional feature maps to fully connected layers."""
import math

from .module import Module


class Flatten(Module):
    """A: (N, d_1, ..., d_k) -> Z: (N, d_1·...·d_k), row-major (C order, as ``torch.flatten``).

    ``forward`` stores ``input_shape``; ``backward(dLdZ)`` takes (N, d_1·...·d_k) and returns dLdA,
    dLdZ reshaped back to (N, d_1, ..., d_k). No parameters.
    """

    def forward(self, A):
        """A: (N, ...) -> Z: (N, prod of the other sizes). Stores ``input_shape``."""
        shape = getattr(A, "shape", None)
        if shape is None or len(shape) < 2:
            got = "no shape" if shape is None else str(tuple(shape))
            raise ValueError(f"{self!r}: expected input A of shape (N, ...) with at least 2 "
                             f"axes, got {got}")
        # BEGIN SOLUTION
        self.input_shape = A.shape
        Z = A.reshape(A.shape[0], math.prod(A.shape[1:]))
        # END SOLUTION
        return Z

    def backward(self, dLdZ):
        """dLdZ: (N, prod of the other sizes) -> dLdA: (N, ...), the input's shape."""
        N, rest = self.input_shape[0], math.prod(self.input_shape[1:])
        shape = getattr(dLdZ, "shape", None)
        if shape != (N, rest):
            raise ValueError(f"{self!r}: expected gradient dLdZ of shape ({N}, {rest}), "
                             f"got {'no shape' if shape is None else tuple(shape)}")
        # BEGIN SOLUTION
        dLdA = dLdZ.reshape(self.input_shape)
        # END SOLUTION
        return dLdA
