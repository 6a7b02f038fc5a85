"""Task 2: activation functions.

Every activation maps Z to A elementwise (Softmax: row by row) and keeps the shape, (N, C) in an
MLP.
``forward(Z)`` stores and returns ``A``; ``backward(dLdA)`` returns ``dLdZ`` of the same shape.
"""
import math

import numpy as np

from .module import Module, check_shape

# NumPy has no erf, and mytorch uses NumPy and the standard library only: math.erf applied entry
# by entry is as accurate as PyTorch's float64 GELU (to an ulp), only slower than a NumPy ufunc.
_erf = np.vectorize(math.erf, otypes=[np.float64])


class Activation(Module):
    """Shared input checks; subclasses implement the math."""

    def _check_grad(self, dLdA):
        check_shape(self, "gradient dLdA", dLdA, self.A.shape)


class Identity(Activation):
    """A = Z; dLdZ = dLdA. Given as an example."""

    def forward(self, Z):
        self.A = Z
        return self.A

    def backward(self, dLdA):
        self._check_grad(dLdA)
        return dLdA


class Sigmoid(Activation):
    """A = 1 / (1 + exp(-Z)); dA/dZ = A (1 - A)."""

    def forward(self, Z):
        # BEGIN SOLUTION
        # exp(-|Z|) never overflows; the two branches are the same function written stably.
        E = np.exp(-np.abs(Z))
        self.A = np.where(Z >= 0, 1.0 / (1.0 + E), E / (1.0 + E))
        # END SOLUTION
        return self.A

    def backward(self, dLdA):
        self._check_grad(dLdA)
        # BEGIN SOLUTION
        dLdZ = dLdA * self.A * (1.0 - self.A)
        # END SOLUTION
        return dLdZ


class Tanh(Activation):
    """A = tanh(Z); dA/dZ = 1 - A²."""

    def forward(self, Z):
        # BEGIN SOLUTION
        self.A = np.tanh(Z)
        # END SOLUTION
        return self.A

    def backward(self, dLdA):
        self._check_grad(dLdA)
        # BEGIN SOLUTION
        dLdZ = dLdA * (1.0 - self.A * self.A)
        # END SOLUTION
        return dLdZ


class ReLU(Activation):
    """A = max(Z, 0); dA/dZ = 1 where Z > 0, else 0 (0 at Z = 0, as PyTorch)."""

    def forward(self, Z):
        # BEGIN SOLUTION
        self.A = np.maximum(Z, 0)
        # END SOLUTION
        return self.A

    def backward(self, dLdA):
        self._check_grad(dLdA)
        # BEGIN SOLUTION
        dLdZ = dLdA * (self.A > 0)  # A > 0 exactly where Z > 0: A serves as the mask
        # END SOLUTION
        return dLdZ


class GELU(Activation):
    """A = Z·Φ(Z) with Φ(z) = ½(1 + erf(z/√2)) (PyTorch's default, exact form).

    dA/dZ = Φ(Z) + Z·φ(Z) with φ(z) = exp(-z²/2)/√(2π). Use the given ``_erf`` helper.
    """

    def forward(self, Z):
        # BEGIN SOLUTION
        self.Z = Z
        self.A = 0.5 * Z * (1.0 + _erf(Z / math.sqrt(2.0)))
        # END SOLUTION
        return self.A

    def backward(self, dLdA):
        self._check_grad(dLdA)
        # BEGIN SOLUTION
        Z = self.Z
        cdf = 0.5 * (1.0 + _erf(Z / math.sqrt(2.0)))
        pdf = np.exp(-0.5 * Z * Z) / math.sqrt(2.0 * math.pi)
        dLdZ = dLdA * (cdf + Z * pdf)
        # END SOLUTION
        return dLdZ


class Softmax(Activation):
    """Row-wise softmax: A[i] = exp(Z[i]) / sum(exp(Z[i])), Z of shape (N, C).

    Backward applies each row's Jacobian diag(a) - a aᵀ without building it:
    dLdZ = A * (dLdA - rowsum(dLdA * A)).
    """

    def forward(self, Z):
        check_shape(self, "input Z", Z, ("N", "C"))
        # BEGIN SOLUTION
        E = np.exp(Z - Z.max(axis=1, keepdims=True))  # shifting by the row max keeps exp finite
        self.A = E / E.sum(axis=1, keepdims=True)
        # END SOLUTION
        return self.A

    def backward(self, dLdA):
        self._check_grad(dLdA)
        # BEGIN SOLUTION
        dLdZ = self.A * (dLdA - (dLdA * self.A).sum(axis=1, keepdims=True))
        # END SOLUTION
        return dLdZ
