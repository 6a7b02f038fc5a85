"""Conv2d forward, and forward + backward: mytorch against its GEMM floor and against PyTorch.

    python benchmarks/conv.py [--quick] [--rounds 7]

The cases are the CNN's (batch 64, 28×28 images, 3×3 kernels, stride 1, no padding): 1→8 and 8→16
channels, float64. Forward is ``Conv2d.forward(A)``; forward + backward adds ``backward(dLdZ)``,
which yields dLdA, dLdW and dLdb. PyTorch runs ``torch.nn.functional.conv2d`` on the same arrays
(forward under ``no_grad``; forward + backward through ``torch.autograd.grad`` for the same three
gradients). The floor is the matrix products of the im2col formulation alone, on a column matrix
built beforehand: forward ``W (C_out, C_in·K·K) @ cols (N, C_in·K·K, H_out·W_out)``; forward +
backward adds the products of the same sizes that give dLdW and dLdA. What mytorch spends above it
is building the columns (one copy of the input's windows) and col2im (K·K strided additions).
"""
import argparse
import json
import os

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from timing import interleaved

try:
    import torch
except ImportError:  # optional: its columns are left empty
    torch = None
else:  # as many threads as NumPy's BLAS was given (run.py sets both)
    torch.set_num_threads(int(os.environ.get("OPENBLAS_NUM_THREADS", os.cpu_count() or 1)))

from mytorch.nn import Conv2d

CHANNELS = ((1, 8), (8, 16))
BATCH, SIZE, KERNEL = 64, 28, 3


def case(c_in, c_out, n=BATCH, size=SIZE, k=KERNEL, rounds=7,
         frameworks=("mytorch", "floor", "torch")):
    rng = np.random.default_rng(0)
    layer = Conv2d(c_in, c_out, k, rng=0)
    A = rng.standard_normal((n, c_in, size, size))
    out = size - k + 1
    dLdZ = rng.standard_normal((n, c_out, out, out))
    # the floor's operands: the im2col matrix and the flattened kernel, built once
    windows = sliding_window_view(A, (k, k), axis=(2, 3))
    cols = np.ascontiguousarray(windows.transpose(0, 1, 4, 5, 2, 3)).reshape(n, -1, out * out)
    W = layer.W.reshape(c_out, -1)
    dZ = dLdZ.reshape(n, c_out, -1)

    def mytorch_forward():
        layer.forward(A)

    def mytorch_step():
        layer.forward(A)
        layer.backward(dLdZ)

    def floor_forward():
        W @ cols

    def floor_step():
        W @ cols
        dZ @ cols.transpose(0, 2, 1)  # dLdW, per example (then summed)
        W.T @ dZ  # the windows' gradients that col2im adds into dLdA

    candidates = {}
    if "mytorch" in frameworks:
        candidates.update(mytorch_forward=mytorch_forward, mytorch_step=mytorch_step)
    if "floor" in frameworks:
        candidates.update(floor_forward=floor_forward, floor_step=floor_step)
    if torch is not None and "torch" in frameworks:
        F = torch.nn.functional
        tA = torch.from_numpy(A).requires_grad_()
        tW = torch.from_numpy(layer.W).requires_grad_()
        tb = torch.from_numpy(layer.b).requires_grad_()
        tdLdZ = torch.from_numpy(dLdZ)

        def torch_forward():
            with torch.no_grad():
                F.conv2d(tA, tW, tb)

        def torch_step():
            torch.autograd.grad(F.conv2d(tA, tW, tb), (tA, tW, tb), tdLdZ)

        candidates.update(torch_forward=torch_forward, torch_step=torch_step)
        # the same numbers, else the comparison means nothing
        np.testing.assert_allclose(layer.forward(A), F.conv2d(tA, tW, tb).detach().numpy(),
                                   rtol=1e-10, atol=1e-10)
        theirs = torch.autograd.grad(F.conv2d(tA, tW, tb), (tA, tW, tb), tdLdZ)
        for mine, t in zip((layer.backward(dLdZ), layer.dLdW, layer.dLdb), theirs):
            np.testing.assert_allclose(mine, t.numpy(), rtol=1e-10, atol=1e-10)
    t = interleaved(candidates, rounds)
    ms = {name: t[name] * 1e3 if name in t else None
          for name in ("mytorch_forward", "mytorch_step", "floor_forward", "floor_step",
                       "torch_forward", "torch_step")}
    return {"bench": "conv2d", "dtype": "float64", "batch": n, "size": size, "kernel": k,
            "c_in": c_in, "c_out": c_out,
            "forward_ms": ms["mytorch_forward"], "forward_floor_ms": ms["floor_forward"],
            "forward_torch_ms": ms["torch_forward"],
            "forward_vs_floor": ratio(ms["mytorch_forward"], ms["floor_forward"]),
            "forward_vs_torch": ratio(ms["mytorch_forward"], ms["torch_forward"]),
            "step_ms": ms["mytorch_step"], "step_floor_ms": ms["floor_step"],
            "step_torch_ms": ms["torch_step"],
            "step_vs_floor": ratio(ms["mytorch_step"], ms["floor_step"]),
            "step_vs_torch": ratio(ms["mytorch_step"], ms["torch_step"])}


def ratio(a, b):
    return a / b if a is not None and b is not None else None


def run(rounds=7, frameworks=("mytorch", "floor", "torch")):
    return [case(c_in, c_out, rounds=rounds, frameworks=frameworks) for c_in, c_out in CHANNELS]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="3 rounds")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args()
    rows = run(3 if args.quick else args.rounds)
    if args.json:
        print(json.dumps(rows))
    else:
        for row in rows:
            print(row)


if __name__ == "__main__":
    main()
