"""Task 5: batch normalisation over the batch dimension of (N, C) inputs."""
import numpy as np

from .module import Module, check_shape


class BatchNorm1d(Module):
    """BZ = BW * (Z - M) / sqrt(V + eps) + Bb, statistics per feature (column).

    Parameters ``BW`` (ones) and ``Bb`` (zeros), running statistics ``running_M`` (zeros) and
    ``running_V`` (ones); all of shape (1, C). ``eps = 1e-8``.

    Training: M and V are the batch mean and (biased) variance over the N rows, used to normalise.
    Then, once per training forward,
        running_M = alpha * running_M + (1 - alpha) * M
        running_V = alpha * running_V + (1 - alpha) * V * N / (N - 1)
    i.e. the running variance tracks the *unbiased* batch variance. This is exactly PyTorch's
    ``nn.BatchNorm1d(C, eps=1e-8, momentum=1 - alpha)``: same normalisation, same running mean, same
    running variance (the classic handout used the biased V there, which differs from PyTorch by the
    factor N/(N-1)). Training needs N ≥ 2, as in PyTorch.
    Evaluation: normalise with running_M and running_V; nothing is updated. A forward evaluates when
    called with ``eval=True`` (the classic handout's switch) or when the layer is in evaluation mode
    (``eval()``, usually called on the whole model, as in PyTorch).
    """

    def __init__(self, num_features, alpha=0.9):
        self.num_features = int(num_features)
        self.alpha = alpha
        self.eps = 1e-8
        C = self.num_features
        self.BW = np.ones((1, C))
        self.Bb = np.zeros((1, C))
        self.dLdBW = np.zeros((1, C))
        self.dLdBb = np.zeros((1, C))
        self.running_M = np.zeros((1, C))
        self.running_V = np.ones((1, C))

    def parameters(self):
        return [(self.BW, self.dLdBW), (self.Bb, self.dLdBb)]

    def extra_repr(self):
        return f"{self.num_features}, eps={self.eps}, alpha={self.alpha}"

    def forward(self, Z, eval=False):
        """Z: (N, C) -> BZ: (N, C). Stores Z, N, M, V, NZ (normalised Z) and BZ.

        ``self.evaluating`` (given) tells this forward, and the backward after it, which mode runs.
        """
        check_shape(self, "input Z", Z, ("N", self.num_features))
        evaluating = eval or not self.training
        if not evaluating and Z.shape[0] < 2:
            raise ValueError(f"{self!r}: training needs at least 2 rows per batch to estimate a "
                             f"variance, got input of shape {Z.shape}")
        self.evaluating = evaluating
        # BEGIN SOLUTION
        self.Z = Z
        self.N = Z.shape[0]
        if self.evaluating:
            self.M, self.V = self.running_M, self.running_V
        else:
            self.M = Z.mean(axis=0, keepdims=True)
            self.V = Z.var(axis=0, keepdims=True)
            a = self.alpha
            self.running_M = a * self.running_M + (1 - a) * self.M
            self.running_V = a * self.running_V + (1 - a) * self.V * (self.N / (self.N - 1))
        self.NZ = (Z - self.M) / np.sqrt(self.V + self.eps)
        self.BZ = self.BW * self.NZ + self.Bb
        # END SOLUTION
        return self.BZ

    def backward(self, dLdBZ):
        """dLdBZ: (N, C) -> dLdZ: (N, C). Stores dLdBW and dLdBb, both (1, C)."""
        check_shape(self, "gradient dLdBZ", dLdBZ, ("N", self.num_features))
        # BEGIN SOLUTION
        self.dLdBW = np.sum(dLdBZ * self.NZ, axis=0, keepdims=True)
        self.dLdBb = np.sum(dLdBZ, axis=0, keepdims=True)
        dLdNZ = dLdBZ * self.BW
        inv_std = 1.0 / np.sqrt(self.V + self.eps)
        if self.evaluating:  # running statistics are constants: normalisation is just affine
            return dLdNZ * inv_std
        # Chain rule through M and V collapses to this (each term is a column mean):
        dLdZ = inv_std * (dLdNZ - dLdNZ.mean(axis=0, keepdims=True)
                          - self.NZ * (dLdNZ * self.NZ).mean(axis=0, keepdims=True))
        # END SOLUTION
        return dLdZ
