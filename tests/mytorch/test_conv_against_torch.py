"""Convolutions, pooling, Flatten and the CNN against PyTorch (float64, relative error <= 1e-10).

Skipped, with the reason, when torch is not installed. Like ``test_against_torch.py``: parameters
are copied into torch modules, torch's autograd gives the reference gradients, and the largest
relative error seen is printed at the end of the run.
"""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from autograder.checking.strategies import labels, seeds, sizes, upstream, values
from mytorch.models import CNN
from mytorch.nn import AvgPool2d, Conv1d, Conv2d, Flatten, MaxPool2d
from mytorch.speed import skip_input_gradient
from tests.mytorch.helpers import assert_matches_torch, conv_geometries, tensor

torch = pytest.importorskip(
    "torch", reason="PyTorch is not installed; the cross-checks against torch need "
                    "`pip install torch` (or the project's [torch] extra)")
F = torch.nn.functional

from tests.mytorch.torch_copies import (  # noqa: E402 - needs torch
    assert_parameters_match,
    assert_trains_like_torch,
    torch_copy,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


# ----------------------------------------------------------------------------- convolutions

@pytest.mark.parametrize("cls, conv", [(Conv1d, F.conv1d), (Conv2d, F.conv2d)],
                         ids=["Conv1d", "Conv2d"])
@given(data=st.data(), n=sizes(1, 4), c_in=sizes(1, 4), c_out=sizes(1, 4), seed=seeds())
def test_convolution(cls, conv, data, n, c_in, c_out, seed):
    k, stride, padding, spatial = data.draw(conv_geometries(cls.dims))
    rng = np.random.default_rng(seed)
    layer = cls(c_in, c_out, k, stride=stride, padding=padding, rng=rng)
    A = values(rng, (n, c_in, *spatial))
    At, Wt, bt = (tensor(x, requires_grad=True) for x in (A, layer.W, layer.b))
    Zt = conv(At, Wt, bt, stride=stride, padding=padding)
    dLdZ = upstream(rng, tuple(Zt.shape))
    Zt.backward(tensor(dLdZ))
    name = cls.__name__
    assert_matches_torch(layer.forward(A), Zt, f"{name} Z")
    assert_matches_torch(layer.backward(dLdZ), At.grad, f"{name} dLdA")
    assert_matches_torch(layer.dLdW, Wt.grad, f"{name} dLdW")
    assert_matches_torch(layer.dLdb, bt.grad, f"{name} dLdb")


@pytest.mark.parametrize("cls", [Conv1d, Conv2d])
def test_convolution_init_bound_is_torchs(cls):
    for c_in, k in ((1, 3), (8, 3), (3, 5)):
        ref = torch_copy(type("M", (), {"layers": [cls(c_in, 64, k)]})())[0]
        ref.reset_parameters()  # torch's own draw
        ours = cls(c_in, 64, k, rng=0)
        bound = 1 / math.sqrt(c_in * k ** cls.dims)
        for p, tp in ((ours.W, ref.weight), (ours.b, ref.bias)):
            assert tuple(tp.shape) == p.shape
            for values_ in (np.abs(p), tp.detach().abs().numpy()):
                assert values_.max() <= bound and values_.max() > 0.8 * bound


# ----------------------------------------------------------------------------- pooling

@pytest.mark.parametrize("cls, pool", [(MaxPool2d, F.max_pool2d), (AvgPool2d, F.avg_pool2d)],
                         ids=["MaxPool2d", "AvgPool2d"])
@given(n=sizes(1, 3), c=sizes(1, 3), k=sizes(1, 3), stride=st.sampled_from([None, 1, 2, 3]),
       extra=sizes(0, 4), seed=seeds(), ties=st.booleans())
def test_pooling(cls, pool, n, c, k, stride, extra, seed, ties):
    rng = np.random.default_rng(seed)
    shape = (n, c, k + extra, k + (extra + 1) // 2)
    # small integers make ties common: the gradient must go where torch sends it
    A = rng.integers(-2, 3, shape).astype(np.float64) if ties else values(rng, shape)
    layer = cls(k, stride)
    At = tensor(A, requires_grad=True)
    Zt = pool(At, k, stride=stride)
    dLdZ = upstream(rng, tuple(Zt.shape))
    Zt.backward(tensor(dLdZ))
    name = f"{cls.__name__}{' (ties)' if ties else ''}"
    assert_matches_torch(layer.forward(A), Zt, f"{name} Z")
    assert_matches_torch(layer.backward(dLdZ), At.grad, f"{name} dLdA")


def test_flatten():
    A = values(0, (3, 2, 4, 5))
    At = tensor(A, requires_grad=True)
    Zt = torch.flatten(At, 1)
    dLdZ = upstream(1, (3, 40))
    Zt.backward(tensor(dLdZ))
    layer = Flatten()
    assert_matches_torch(layer.forward(A), Zt, "Flatten Z")
    assert_matches_torch(layer.backward(dLdZ), At.grad, "Flatten dLdA")


# ----------------------------------------------------------------------------- the CNN

@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cnn_forward_and_backward(seed):
    rng = np.random.default_rng(seed)
    model = CNN(rng=rng)
    ref = torch_copy(model)
    X, dLdY = values(rng, (4, 1, 28, 28), 0.0, 1.0), upstream(rng, (4, 10))
    Xt = tensor(X, requires_grad=True)
    Yt = ref(Xt)
    Yt.backward(tensor(dLdY))
    assert_matches_torch(model.forward(X), Yt, "CNN output")
    assert_matches_torch(model.backward(dLdY), Xt.grad, "CNN dLdX")
    assert_parameters_match(model, ref, "CNN")


def test_cnn_trains_like_torch():
    """Five SGD steps with momentum on the same batches: the same losses and weights."""
    rng = np.random.default_rng(5)
    model = skip_input_gradient(CNN(image_size=14, channels=(4, 6), rng=rng))
    batches = ((values(rng, (8, 1, 14, 14), 0.0, 1.0), labels(rng, 8, 10)) for _ in range(5))
    assert_trains_like_torch(model, batches, lr=0.05, momentum=0.9, what="CNN SGD")
