"""Convolutions over one and two spatial dimensions, computed as matrix products (im2col).

Shapes (CS231n style), with K the kernel size, s the stride and p the zero padding:

    Conv1d  A: (N, C_in, L)     W: (C_out, C_in, K)     b: (C_out,)  ->  Z: (N, C_out, L_out)
    Conv2d  A: (N, C_in, H, W)  W: (C_out, C_in, K, K)  b: (C_out,)  ->  Z: (N, C_out, H_out, W_out)

    L_out = (L + 2p - K) // s + 1          (H_out and W_out alike)

Like PyTorch's ``conv1d``/``conv2d``, this is a cross-correlation (the kernel is not flipped):

    Z[n, o, i, j] = b[o] + sum_{c, u, v} W[o, c, u, v] * A_pad[n, c, s*i + u, s*j + v]

**im2col.** ``numpy.lib.stride_tricks.sliding_window_view`` gives every K×K window of the padded
input as a view, without copying: an array of shape (N, C_in, H_out, W_out, K, K) after taking
every s-th window. One copy lays the windows out as columns, ``cols`` of shape
(N, C_in·K·K, H_out·W_out) (the rows of an image stay contiguous, so the copy is fast), and one
batched matrix product ``W.reshape(C_out, C_in·K·K) @ cols`` gives Z as (N, C_out, H_out·W_out),
already in Z's layout: BLAS does all the arithmetic, no Python loop visits a pixel.

**Backward.** With dLdZ of Z's shape:

    dLdb[o]          = sum_{n, i, j} dLdZ[n, o, i, j]
    dLdW[o, c, u, v] = sum_{n, i, j} dLdZ[n, o, i, j] * A_pad[n, c, s*i + u, s*j + v]
    dLdA_pad[n, c, s*i + u, s*j + v] += sum_o dLdZ[n, o, i, j] * W[o, c, u, v]

dLdW is another batched product with the same columns (rebuilt from the stored A), summed over
the batch. dLdA is col2im: windows overlap, so kernel offset (u, v) of every window receives
``W[:, :, u, v].T @ dLdZ``, added into a strided slice of dLdA_pad: K·K vectorised additions
(K for Conv1d), after which the padding is cut off. Entries that no window reaches (when
(L + 2p - K) is not a multiple of s) get gradient 0, as in PyTorch.

Initialisation: PyTorch's ``reset_parameters``, W and b uniform in ±1/sqrt(fan_in) with
fan_in = C_in·K (Conv2d: C_in·K·K), seeded by ``rng`` (an int or a ``numpy.random.Generator``).
"""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .module import Module, check_shape, check_size


class _ConvNd(Module):
    """What Conv1d and Conv2d share: arguments, parameters, initialisation, shape checks."""

    dims = 0  # number of spatial dimensions
    spatial = ()  # their names, for error messages
    # False makes backward skip dLdA (and return None) for a network's first layer: its input is
    # data, which needs no gradient (see mytorch.speed.skip_input_gradient).
    input_grad = True

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, rng=None):
        self.in_channels = check_size(self, "in_channels", in_channels)
        self.out_channels = check_size(self, "out_channels", out_channels)
        self.kernel_size = check_size(self, "kernel_size", kernel_size)
        self.stride = check_size(self, "stride", stride)
        self.padding = check_size(self, "padding", padding, minimum=0)
        rng = np.random.default_rng(rng)
        kernel = (self.kernel_size,) * self.dims
        fan_in = self.in_channels * self.kernel_size ** self.dims
        # PyTorch's kaiming_uniform_(a=sqrt(5)) reduces to this bound, as for Linear.
        bound = 1.0 / np.sqrt(fan_in)
        self.W = rng.uniform(-bound, bound, (self.out_channels, self.in_channels, *kernel))
        self.b = rng.uniform(-bound, bound, (self.out_channels,))
        self.dLdW = np.zeros_like(self.W)
        self.dLdb = np.zeros_like(self.b)

    def parameters(self):
        return [(self.W, self.dLdW), (self.b, self.dLdb)]

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}")

    def output_size(self, size):
        """The output length along one spatial axis of input length ``size``."""
        return (size + 2 * self.padding - self.kernel_size) // self.stride + 1

    def _check_input(self, A):
        check_shape(self, "input A", A, ("N", self.in_channels, *self.spatial))
        padded = [n + 2 * self.padding for n in A.shape[2:]]
        if min(padded) < self.kernel_size:
            raise ValueError(f"{self!r}: input A of shape {A.shape} is smaller than the kernel "
                             f"({self.kernel_size}) even with padding {self.padding}")

    def _check_grad(self, dLdZ):
        out = tuple(self.output_size(n) for n in self.A.shape[2:])
        check_shape(self, "gradient dLdZ", dLdZ, (self.A.shape[0], self.out_channels, *out))


class Conv1d(_ConvNd):
    """1-D convolution. A: (N, C_in, L) -> Z: (N, C_out, L_out).

    W: (C_out, C_in, K), b: (C_out,). ``forward`` stores the input ``A`` (N, C_in, L);
    ``backward(dLdZ)`` takes (N, C_out, L_out), stores ``dLdW`` (C_out, C_in, K) and
    ``dLdb`` (C_out,) and returns ``dLdA`` (N, C_in, L).
    """

    dims, spatial = 1, ("L",)

    def forward(self, A):
        """A: (N, C_in, L) -> Z: (N, C_out, L_out). Stores ``A``."""
        self._check_input(A)
        # BEGIN SOLUTION
        self.A = A
        p, s, K = self.padding, self.stride, self.kernel_size
        A_pad = np.pad(A, ((0, 0), (0, 0), (p, p))) if p else A  # np.pad copies even at p = 0
        windows = sliding_window_view(A_pad, K, axis=2)[:, :, ::s]  # (N, C_in, L_out, K), a view
        N, C_in, L_out, _ = windows.shape
        cols = windows.transpose(0, 1, 3, 2).reshape(N, C_in * K, L_out)  # im2col: one copy
        Z = self.W.reshape(self.out_channels, -1) @ cols  # (N, C_out, L_out)
        Z += self.b[:, None]
        # END SOLUTION
        return Z

    def backward(self, dLdZ):
        """dLdZ: (N, C_out, L_out) -> dLdA: (N, C_in, L). Stores ``dLdW`` and ``dLdb``."""
        self._check_grad(dLdZ)
        # BEGIN SOLUTION
        p, s, K = self.padding, self.stride, self.kernel_size
        A_pad = np.pad(self.A, ((0, 0), (0, 0), (p, p))) if p else self.A
        windows = sliding_window_view(A_pad, K, axis=2)[:, :, ::s]  # (N, C_in, L_out, K)
        N, C_in, L_out, _ = windows.shape
        cols = windows.transpose(0, 1, 3, 2).reshape(N, C_in * K, L_out)
        # one (C_out, L_out) @ (L_out, C_in·K) product per example, summed over the batch
        self.dLdW = (dLdZ @ cols.transpose(0, 2, 1)).sum(axis=0).reshape(self.W.shape)
        self.dLdb = dLdZ.sum(axis=(0, 2))
        if not self.input_grad:
            return None
        dLdA_pad = np.zeros(A_pad.shape, dtype=np.result_type(dLdZ, self.W))
        for u in range(K):  # col2im: offset u of every window receives W[:, :, u].T @ dLdZ
            dLdA_pad[:, :, u:u + s * L_out:s] += self.W[:, :, u].T @ dLdZ
        dLdA = dLdA_pad[:, :, p:p + self.A.shape[2]]
        # END SOLUTION
        return dLdA


class Conv2d(_ConvNd):
    """2-D convolution. A: (N, C_in, H, W) -> Z: (N, C_out, H_out, W_out).

    W: (C_out, C_in, K, K), b: (C_out,). ``forward`` stores the input ``A`` (N, C_in, H, W);
    ``backward(dLdZ)`` takes (N, C_out, H_out, W_out), stores ``dLdW`` (C_out, C_in, K, K) and
    ``dLdb`` (C_out,) and returns ``dLdA`` (N, C_in, H, W).
    """

    dims, spatial = 2, ("H", "W")

    def forward(self, A):
        """A: (N, C_in, H, W) -> Z: (N, C_out, H_out, W_out). Stores ``A``."""
        self._check_input(A)
        # BEGIN SOLUTION
        self.A = A
        p, s, K = self.padding, self.stride, self.kernel_size
        A_pad = np.pad(A, ((0, 0), (0, 0), (p, p), (p, p))) if p else A  # pad copies even at 0
        # (N, C_in, H_out, W_out, K, K): every s-th K×K window, a view of A_pad
        windows = sliding_window_view(A_pad, (K, K), axis=(2, 3))[:, :, ::s, ::s]
        N, C_in, H_out, W_out = windows.shape[:4]
        # im2col, one copy: (N, C_in·K·K, H_out·W_out); the rows of an image stay contiguous
        cols = windows.transpose(0, 1, 4, 5, 2, 3).reshape(N, C_in * K * K, H_out * W_out)
        Z = self.W.reshape(self.out_channels, -1) @ cols  # (N, C_out, H_out·W_out)
        Z = Z.reshape(N, self.out_channels, H_out, W_out)
        Z += self.b[:, None, None]
        # END SOLUTION
        return Z

    def backward(self, dLdZ):
        """dLdZ: (N, C_out, H_out, W_out) -> dLdA: (N, C_in, H, W). Stores ``dLdW``, ``dLdb``."""
        self._check_grad(dLdZ)
        # BEGIN SOLUTION
        p, s, K = self.padding, self.stride, self.kernel_size
        A_pad = np.pad(self.A, ((0, 0), (0, 0), (p, p), (p, p))) if p else self.A
        windows = sliding_window_view(A_pad, (K, K), axis=(2, 3))[:, :, ::s, ::s]
        N, C_in, H_out, W_out = windows.shape[:4]
        cols = windows.transpose(0, 1, 4, 5, 2, 3).reshape(N, C_in * K * K, H_out * W_out)
        dZ = dLdZ.reshape(N, self.out_channels, H_out * W_out)
        # one (C_out, H_out·W_out) @ (H_out·W_out, C_in·K·K) product per example, summed
        self.dLdW = (dZ @ cols.transpose(0, 2, 1)).sum(axis=0).reshape(self.W.shape)
        self.dLdb = dLdZ.sum(axis=(0, 2, 3))
        if not self.input_grad:
            return None
        dLdA_pad = np.zeros(A_pad.shape, dtype=np.result_type(dLdZ, self.W))
        for u in range(K):  # col2im: offset (u, v) of every window receives W[:, :, u, v].T @ dLdZ
            for v in range(K):
                share = (self.W[:, :, u, v].T @ dZ).reshape(N, C_in, H_out, W_out)
                dLdA_pad[:, :, u:u + s * H_out:s, v:v + s * W_out:s] += share
        H, W = self.A.shape[2:]
        dLdA = dLdA_pad[:, :, p:p + H, p:p + W]
        # END SOLUTION
        return dLdA
