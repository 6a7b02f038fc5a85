"""Linear forward + backward: mytorch against its matmul floor and against ``torch.nn.Linear``.

    python benchmarks/linear.py [--quick] [--rounds 7]

One step is ``forward(A)`` then ``backward(dLdZ)``, which yields dLdA, dLdW and dLdb. The floor is
the same three matmuls alone (``A @ W.T``, ``dLdZ @ W``, ``dLdZ.T @ A``) on the same arrays: what
any NumPy implementation must pay. PyTorch computes the same three gradients with
``torch.autograd.grad`` (no accumulation into ``.grad``), on the same weights and inputs.
"""
import argparse
import json
import os

import numpy as np

from timing import interleaved

try:
    import torch
except ImportError:  # optional: its columns are left empty
    torch = None
else:  # as many threads as NumPy's BLAS was given (run.py sets both)
    torch.set_num_threads(int(os.environ.get("OPENBLAS_NUM_THREADS", os.cpu_count() or 1)))

from mytorch.nn import Linear
from mytorch.speed import cast

BATCHES = (1, 16, 64, 256, 1024)
LAYERS = ((784, 128), (128, 64))


def case(n, c_in, c_out, dtype, rounds, frameworks=("mytorch", "floor", "torch")):
    rng = np.random.default_rng(0)
    A = rng.standard_normal((n, c_in)).astype(dtype)
    dLdZ = rng.standard_normal((n, c_out)).astype(dtype)
    layer = cast(Linear(c_in, c_out, rng=0), dtype)
    W = layer.W

    def mytorch_step():
        layer.forward(A)
        layer.backward(dLdZ)

    def floor():
        A @ W.T
        dLdZ @ W
        dLdZ.T @ A

    candidates = {name: fn for name, fn in (("mytorch", mytorch_step), ("floor", floor))
                  if name in frameworks}
    if torch is not None and "torch" in frameworks:
        lin = torch.nn.Linear(c_in, c_out, dtype=getattr(torch, np.dtype(dtype).name))
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(W))
            lin.bias.copy_(torch.from_numpy(layer.b.ravel()))
        tA = torch.from_numpy(A).requires_grad_()
        tdLdZ = torch.from_numpy(dLdZ)
        params = [tA, lin.weight, lin.bias]

        def torch_step():
            torch.autograd.grad(lin(tA), params, tdLdZ)

        candidates["torch"] = torch_step
        mine = (layer.forward(A), layer.backward(dLdZ), layer.dLdW)
        theirs = torch.autograd.grad(lin(tA), params, tdLdZ)
        for m, t in zip(mine[1:], theirs[:2]):  # same numbers, else the comparison means nothing
            np.testing.assert_allclose(m, t.numpy(), rtol=1e-4 if dtype == np.float32 else 1e-10,
                                       atol=1e-4 if dtype == np.float32 else 1e-10)
    t = interleaved(candidates, rounds)
    us = {name: t[name] * 1e6 if name in t else None for name in ("mytorch", "floor", "torch")}
    return {"bench": "linear", "dtype": np.dtype(dtype).name, "batch": n, "c_in": c_in,
            "c_out": c_out, "mytorch_us": us["mytorch"], "floor_us": us["floor"],
            "torch_us": us["torch"], "vs_floor": ratio(us["mytorch"], us["floor"]),
            "vs_torch": ratio(us["mytorch"], us["torch"])}


def ratio(a, b):
    return a / b if a is not None and b is not None else None


def run(rounds=7, quick=False, frameworks=("mytorch", "floor", "torch")):
    layers = LAYERS[:1] if quick else LAYERS
    return [case(n, c_in, c_out, dtype, rounds, frameworks) for dtype in (np.float64, np.float32)
            for c_in, c_out in layers for n in BATCHES]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="one layer shape only")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    parser.add_argument("--frameworks", default="mytorch,floor,torch",
                        help="which of mytorch,floor,torch to time (default: all three)")
    args = parser.parse_args()
    rows = run(args.rounds, args.quick, args.frameworks.split(","))
    if args.json:
        print(json.dumps(rows))
    else:
        for row in rows:
            print(row)


if __name__ == "__main__":
    main()
