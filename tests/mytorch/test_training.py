"""End to end: mytorch learns a small non-linear classification problem, deterministically."""
import numpy as np
import pytest

from mytorch.models import MLP
from mytorch.nn import CrossEntropyLoss
from mytorch.optim import SGD


def spirals(n_per_class=100, classes=3, noise=0.1, seed=0):
    """The classic interleaved 2-D spirals (not linearly separable), standardised inputs."""
    rng = np.random.default_rng(seed)
    X, y = [], []
    for k in range(classes):
        r = np.linspace(0.05, 1.0, n_per_class)
        theta = np.linspace(4.0 * k, 4.0 * (k + 1), n_per_class) + noise * rng.standard_normal(
            n_per_class)
        X.append(np.column_stack([r * np.sin(theta), r * np.cos(theta)]))
        y.append(np.full(n_per_class, k))
    X, y = np.concatenate(X), np.concatenate(y)
    return (X - X.mean(axis=0)) / X.std(axis=0), y


def train(model, X, y, epochs, lr=0.1, momentum=0.9, batch_size=32, seed=0):
    """Mini-batch SGD on cross-entropy; returns the loss of every step."""
    rng = np.random.default_rng(seed)
    loss_fn, opt, losses = CrossEntropyLoss(), SGD(model, lr=lr, momentum=momentum), []
    for _ in range(epochs):
        order = rng.permutation(len(X))
        for start in range(0, len(X), batch_size):
            batch = order[start:start + batch_size]
            if len(batch) < 2:  # BatchNorm needs two rows
                continue
            losses.append(loss_fn.forward(model.forward(X[batch]), y[batch]))
            model.backward(loss_fn.backward())
            opt.step()
    return losses


def evaluated(model, X):
    """The model's output for X in evaluation mode; the model is left in training mode."""
    out = model.eval().forward(X)
    model.train()
    return out


def accuracy(model, X, y):
    return float((evaluated(model, X).argmax(axis=1) == y).mean())


@pytest.mark.parametrize("batchnorm", [False, True], ids=["plain", "batchnorm"])
def test_mlp_learns_spirals(batchnorm):
    X, y = spirals()
    model = MLP([2, 64, 64, 3], activation="relu", batchnorm=batchnorm, rng=0)
    chance_loss = CrossEntropyLoss().forward(evaluated(model, X), y)
    assert accuracy(model, X, y) < 0.6
    losses = train(model, X, y, epochs=60)
    assert np.isfinite(losses).all()
    final_loss = CrossEntropyLoss().forward(evaluated(model, X), y)
    assert final_loss < 0.2 * chance_loss
    assert accuracy(model, X, y) >= 0.95


def test_training_is_deterministic():
    X, y = spirals(n_per_class=30)
    runs = []
    for _ in range(2):
        model = MLP([2, 16, 3], rng=1)
        losses = train(model, X, y, epochs=5, batch_size=16, seed=2)
        runs.append((losses, [p.copy() for p, _ in model.parameters()]))
    assert runs[0][0] == runs[1][0]
    for p, q in zip(runs[0][1], runs[1][1]):
        np.testing.assert_array_equal(p, q)
