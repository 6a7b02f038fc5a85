"""Task 3: loss functions. ``forward(A, Y)`` returns a float; ``backward()`` returns dLdA (N, C)."""
import numpy as np

from .module import Module, check_shape


class MSELoss(Module):
    """L = sum((A - Y)²) / (N·C);  dLdA = 2 (A - Y) / (N·C). A and Y: (N, C)."""

    def forward(self, A, Y):
        check_shape(self, "predictions A", A, ("N", "C"))
        check_shape(self, "targets Y", Y, A.shape)
        # BEGIN SOLUTION
        self.A, self.Y = A, Y
        self.N, self.C = A.shape
        diff = A - Y
        L = float(np.sum(diff * diff)) / (self.N * self.C)
        # END SOLUTION
        return L

    def backward(self):
        # BEGIN SOLUTION
        dLdA = 2.0 * (self.A - self.Y) / (self.N * self.C)
        # END SOLUTION
        return dLdA


def as_target_distribution(Y, A):
    """Return Y as an (N, C) float array of target probabilities.

    Accepts one-hot rows (or any rows of non-negative numbers summing to 1, as PyTorch's
    class-probability targets) of A's shape, or integer class labels of shape (N,) in [0, C).
    """
    N, C = A.shape
    Y = np.asarray(Y)
    if Y.ndim == 1 and Y.dtype.kind in "iu":
        if Y.shape[0] != N:
            raise ValueError(f"CrossEntropyLoss: got {Y.shape[0]} class labels for {N} predictions")
        if Y.size and (Y.min() < 0 or Y.max() >= C):
            raise ValueError(f"CrossEntropyLoss: class labels must lie in [0, {C}), "
                             f"got values from {Y.min()} to {Y.max()}")
        onehot = np.zeros((N, C), dtype=A.dtype if A.dtype.kind == "f" else np.float64)
        onehot[np.arange(N), Y] = 1.0
        return onehot
    if Y.shape == (N, C) and Y.dtype.kind in "biuf":
        rows = Y.sum(axis=1)
        if np.all(Y >= 0) and np.allclose(rows, 1.0, rtol=0, atol=1e-6):
            return Y
        raise ValueError("CrossEntropyLoss: each row of Y must be one-hot (non-negative, summing "
                         f"to 1); row sums range from {rows.min():g} to {rows.max():g}")
    raise ValueError(f"CrossEntropyLoss: Y must be one-hot of shape {(N, C)} or integer class "
                     f"labels of shape ({N},); got shape {Y.shape} and dtype {Y.dtype}")


class CrossEntropyLoss(Module):
    """L = -mean over rows of sum(Y * log softmax(A));  dLdA = (softmax(A) - Y) / N.

    A: (N, C) logits. Y: (N, C) one-hot, or (N,) integer class labels.
    """

    def forward(self, A, Y):
        check_shape(self, "predictions A", A, ("N", "C"))
        Y = as_target_distribution(Y, A)
        # BEGIN SOLUTION
        self.Y = Y
        self.N = A.shape[0]
        shifted = A - A.max(axis=1, keepdims=True)  # log-sum-exp trick: no overflow in exp
        log_softmax = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        self.softmax = np.exp(log_softmax)
        L = float(-np.sum(Y * log_softmax)) / self.N
        # END SOLUTION
        return L

    def backward(self):
        # BEGIN SOLUTION
        dLdA = (self.softmax - self.Y) / self.N
        # END SOLUTION
        return dLdA
