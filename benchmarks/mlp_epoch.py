"""One training epoch of a 784-128-64-10 MLP: mytorch against PyTorch and against its matmul floor.

    python benchmarks/mlp_epoch.py [--samples 60000] [--repeat 3] [--dtype float32]

Both frameworks train the same network (Linear-ReLU-Linear-ReLU-Linear, cross-entropy, SGD with
momentum 0.9, lr 0.01) from the same initial weights on the same MNIST-shaped data in the same batch
order, then evaluate it: the two accuracies must agree (float64: exactly; float32: within 0.5
points: summation orders differ, and over thousands of steps rounding differences grow). The
floor is the network's matmuls alone — for every batch the 3 forward products, dLdW per layer
and dLdA for the last two (8 in all; neither framework computes the gradient of the data) on
arrays of the same shapes.

The data are synthetic (seeded) so that the benchmark needs no download: ten random class
prototypes plus noise, scaled like MNIST pixels. ``--mnist DIR`` uses the real files instead.
"""
import argparse
import os

import numpy as np

from timing import median_of

try:
    import torch
except ImportError:  # optional
    torch = None
else:  # as many threads as NumPy's BLAS was given (run.py sets both)
    torch.set_num_threads(int(os.environ.get("OPENBLAS_NUM_THREADS", os.cpu_count() or 1)))

from mytorch.models import MLP
from mytorch.nn import CrossEntropyLoss
from mytorch.optim import SGD
from mytorch.speed import cast, skip_input_gradient

DIMS = (784, 128, 64, 10)
LR, MOMENTUM = 0.01, 0.9


def synthetic_mnist(samples, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    prototypes = rng.uniform(0, 1, (10, 784)) * (rng.uniform(0, 1, (10, 784)) < 0.3)
    labels = rng.integers(0, 10, samples)
    # ~99 % after an epoch
    X = np.clip(prototypes[labels] + rng.normal(0, 1.2, (samples, 784)), 0, 1)
    return X.astype(dtype), labels


def mytorch_epoch(model, X, y, order, batch):
    loss_fn, opt = CrossEntropyLoss(), SGD(model, lr=LR, momentum=MOMENTUM)
    for start in range(0, len(order), batch):
        idx = order[start:start + batch]
        loss_fn.forward(model.forward(X[idx]), y[idx])
        model.backward(loss_fn.backward())
        opt.step()


def torch_epoch(net, X, y, order, batch):
    opt = torch.optim.SGD(net.parameters(), lr=LR, momentum=MOMENTUM)
    loss_fn = torch.nn.CrossEntropyLoss()
    for start in range(0, len(order), batch):
        idx = order[start:start + batch]
        opt.zero_grad(set_to_none=True)
        loss_fn(net(X[idx]), y[idx]).backward()
        opt.step()


def floor_epoch(weights, X, order, batch):
    """The matmuls of one epoch with nothing else: forward products, then dLdW per layer and dLdA
    for every layer but the first (the gradient of the data is not needed)."""
    for start in range(0, len(order), batch):
        A = X[order[start:start + batch]]
        acts = [A]
        for W in weights:
            acts.append(acts[-1] @ W.T)
        d = acts[-1]
        for i in reversed(range(len(weights))):
            d.T @ acts[i]
            if i:
                d = d @ weights[i]


def to_torch(model, dtype):
    layers = []
    for layer in model.layers:
        if hasattr(layer, "W"):
            lin = torch.nn.Linear(layer.W.shape[1], layer.W.shape[0], dtype=dtype)
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(layer.W))
                lin.bias.copy_(torch.from_numpy(layer.b.ravel()))
            layers.append(lin)
        else:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


def accuracy_mytorch(model, X, y):
    return float(np.mean(model.forward(X).argmax(axis=1) == y))


def accuracy_torch(net, X, y):
    with torch.no_grad():
        return float((net(X).argmax(dim=1) == y).double().mean())


def case(X, y, X_test, y_test, batch, repeat, dtype):
    order = np.random.default_rng(1).permutation(len(X))

    def fresh():  # the same initial weights for every run of both frameworks
        return skip_input_gradient(cast(MLP(DIMS, rng=0), dtype))  # no gradient for the data

    models = []

    def run_mytorch():
        models.append(fresh())
        mytorch_epoch(models[-1], X, y, order, batch)

    row = {"bench": "mlp_epoch", "dtype": np.dtype(dtype).name, "batch": batch,
           "samples": len(X)}
    row["mytorch_s"], _ = median_of(run_mytorch, repeat)
    row["mytorch_acc"] = accuracy_mytorch(models[-1], X_test, y_test)
    weights = [layer.W for layer in fresh().layers if hasattr(layer, "W")]
    row["floor_s"], _ = median_of(lambda: floor_epoch(weights, X, order, batch), repeat)
    row["vs_floor"] = row["mytorch_s"] / row["floor_s"]
    row["torch_s"] = row["torch_acc"] = row["vs_torch"] = None
    if torch is not None:
        tdtype = getattr(torch, np.dtype(dtype).name)
        tX, ty, torder = torch.from_numpy(X), torch.from_numpy(y), torch.from_numpy(order)
        nets = []

        def run_torch():
            nets.append(to_torch(fresh(), tdtype))
            torch_epoch(nets[-1], tX, ty, torder, batch)

        row["torch_s"], _ = median_of(run_torch, repeat)
        row["torch_acc"] = accuracy_torch(nets[-1], torch.from_numpy(X_test),
                                          torch.from_numpy(y_test))
        row["vs_torch"] = row["mytorch_s"] / row["torch_s"]
        tolerance = 0.0 if dtype == np.float64 else 0.005
        row["same_accuracy"] = abs(row["mytorch_acc"] - row["torch_acc"]) <= tolerance
        # and the same weights: the largest difference, relative to the largest weight
        mine = [layer.W for layer in models[-1].layers if hasattr(layer, "W")]
        theirs = [m.weight.detach().numpy() for m in nets[-1] if hasattr(m, "weight")]
        row["weights_rel_diff"] = max(float(np.abs(a - b).max() / np.abs(b).max())
                                      for a, b in zip(mine, theirs))
    return row


def load_data(samples, mnist_dir, dtype):
    if mnist_dir:
        from mytorch.data.mnist import load_mnist
        X, y, X_test, y_test = load_mnist(mnist_dir, download=False, dtype=dtype)
        return X[:samples], y[:samples], X_test, y_test
    X, y = synthetic_mnist(samples + 10_000, dtype=dtype)
    return X[:samples], y[:samples], X[samples:], y[samples:]


def run(samples=60_000, repeat=3, batches=(16, 64, 256), dtype=np.float32, mnist_dir=None):
    X, y, X_test, y_test = load_data(samples, mnist_dir, dtype)
    return [case(X, y, X_test, y_test, b, repeat, dtype) for b in batches]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=60_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument("--mnist", metavar="DIR", help="train on the real MNIST files in DIR")
    args = parser.parse_args()
    for row in run(args.samples, args.repeat, dtype=np.dtype(args.dtype).type,
                   mnist_dir=args.mnist):
        print(row)


if __name__ == "__main__":
    main()
