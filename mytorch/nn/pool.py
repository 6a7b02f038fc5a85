"""Pooling over K×K windows of every channel, without parameters.

Shapes (CS231n style), with K the kernel size and s the stride (default K: windows that tile the
image without overlap, as in PyTorch):

    A: (N, C, H, W)  ->  Z: (N, C, H_out, W_out),   H_out = (H - K) // s + 1  (W_out alike)

Rows and columns left over when (H - K) is not a multiple of s belong to no window: they do not
affect Z and get gradient 0 (PyTorch's default ``ceil_mode=False``).

Both layers view the windows with ``numpy.lib.stride_tricks.sliding_window_view`` (an array of
shape (N, C, H_out, W_out, K, K) that copies nothing) and reduce its last two axes; backward adds
each window's gradient back, one kernel offset (u, v) at a time: K·K vectorised additions into a
strided slice of dLdA, which also sums the shares of overlapping windows (s < K).
"""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .module import Module, check_shape, check_size


class _Pool2d(Module):
    """Arguments and shape checks shared by MaxPool2d and AvgPool2d."""

    def __init__(self, kernel_size, stride=None):
        self.kernel_size = check_size(self, "kernel_size", kernel_size)
        self.stride = self.kernel_size if stride is None else check_size(self, "stride", stride)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}"

    def _windows(self, A):
        """Check A: (N, C, H, W) and return its windows, (N, C, H_out, W_out, K, K), a view."""
        check_shape(self, "input A", A, ("N", "C", "H", "W"))
        if min(A.shape[2:]) < self.kernel_size:
            raise ValueError(f"{self!r}: input A of shape {A.shape} is smaller than the kernel "
                             f"({self.kernel_size})")
        K, s = self.kernel_size, self.stride
        return sliding_window_view(A, (K, K), axis=(2, 3))[:, :, ::s, ::s]

    def _check_grad(self, dLdZ):
        N, C, H, W = self.input_shape
        out = tuple((n - self.kernel_size) // self.stride + 1 for n in (H, W))
        check_shape(self, "gradient dLdZ", dLdZ, (N, C, *out))


class MaxPool2d(_Pool2d):
    """Z[n, c, i, j] = max over the window of A[n, c, s*i + u, s*j + v], 0 <= u, v < K.

    ``forward`` stores ``input_shape`` (A's shape) and ``index`` (N, C, H_out, W_out): the position
    u·K + v of each window's maximum. The gradient of an output goes to that one entry of A
    (``backward(dLdZ)``: (N, C, H_out, W_out) -> dLdA: (N, C, H, W)).

    Ties: when a window holds its maximum more than once, the gradient goes to the first one in
    row-major order (smallest u, then smallest v), as PyTorch's CPU kernel does: ``np.argmax``
    returns the first occurrence. A NaN in a window makes its output NaN, as in PyTorch (which
    sends that gradient to the window's last NaN, this layer to its first).
    """

    def forward(self, A):
        """A: (N, C, H, W) -> Z: (N, C, H_out, W_out). Stores ``input_shape`` and ``index``."""
        windows = self._windows(A)
        # BEGIN SOLUTION
        self.input_shape = A.shape
        K = self.kernel_size
        # one copy, kernel offsets first: (K·K, N, C, H_out, W_out); reductions over the first
        # axis of a contiguous array are fast, np.argmax along the last one of size 4 is not
        offsets = np.moveaxis(windows, (4, 5), (0, 1)).reshape(K * K, *windows.shape[:4])
        Z = offsets.max(axis=0)
        # index: u·K + v of each window's first maximum (or first NaN), (N, C, H_out, W_out):
        # the number of offsets passed before one equals Z
        self.index = np.zeros(Z.shape, dtype=np.intp)
        found = np.zeros(Z.shape, dtype=bool)
        for k in range(K * K):
            found |= (offsets[k] == Z) | np.isnan(offsets[k])
            if k < K * K - 1:
                self.index += ~found
        # END SOLUTION
        return Z

    def backward(self, dLdZ):
        """dLdZ: (N, C, H_out, W_out) -> dLdA: (N, C, H, W)."""
        self._check_grad(dLdZ)
        # BEGIN SOLUTION
        K, s = self.kernel_size, self.stride
        H_out, W_out = dLdZ.shape[2:]
        dLdA = np.zeros(self.input_shape, dtype=dLdZ.dtype)
        for u in range(K):  # offset (u, v) receives the gradient of the windows whose max it is
            for v in range(K):
                share = np.where(self.index == u * K + v, dLdZ, 0.0)
                dLdA[:, :, u:u + s * H_out:s, v:v + s * W_out:s] += share
        # END SOLUTION
        return dLdA


class AvgPool2d(_Pool2d):
    """Z[n, c, i, j] = mean over the window of A[n, c, s*i + u, s*j + v], 0 <= u, v < K.

    ``forward`` stores ``input_shape``; every entry of a window receives 1/K² of the window's
    gradient (``backward(dLdZ)``: (N, C, H_out, W_out) -> dLdA: (N, C, H, W)).
    """

    def forward(self, A):
        """A: (N, C, H, W) -> Z: (N, C, H_out, W_out). Stores ``input_shape``."""
        windows = self._windows(A)
        # BEGIN SOLUTION
        self.input_shape = A.shape
        Z = windows.mean(axis=(4, 5))
        # END SOLUTION
        return Z

    def backward(self, dLdZ):
        """dLdZ: (N, C, H_out, W_out) -> dLdA: (N, C, H, W)."""
        self._check_grad(dLdZ)
        # BEGIN SOLUTION
        K, s = self.kernel_size, self.stride
        H_out, W_out = dLdZ.shape[2:]
        dLdA = np.zeros(self.input_shape, dtype=dLdZ.dtype)
        share = dLdZ / (K * K)
        for u in range(K):  # every offset of a window receives the same share
            for v in range(K):
                dLdA[:, :, u:u + s * H_out:s, v:v + s * W_out:s] += share
        # END SOLUTION
        return dLdA
