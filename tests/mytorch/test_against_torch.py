"""Every number of mytorch against PyTorch (float64, relative error <= 1e-10).

Skipped, with the reason, when torch is not installed. Parameters are copied from mytorch into the
torch modules; torch's autograd then gives the reference gradients. The largest relative error seen
is printed at the end of the run (``tests/mytorch/conftest.py``).
"""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from autograder.checking.strategies import (
    batch_shapes,
    labels,
    logits,
    positive,
    seeds,
    sizes,
    upstream,
    values,
)
from mytorch.models import MLP, MLP4
from mytorch.nn import (
    GELU,
    BatchNorm1d,
    CrossEntropyLoss,
    Identity,
    Linear,
    MSELoss,
    ReLU,
    Sigmoid,
    Softmax,
    Tanh,
)
from tests.mytorch.helpers import assert_matches_torch, tensor

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


# ----------------------------------------------------------------------------- Linear

@given(n=sizes(), c_in=sizes(), c_out=sizes(), seed=seeds(), bias=st.booleans())
def test_linear(n, c_in, c_out, seed, bias):
    rng = np.random.default_rng(seed)
    layer = Linear(c_in, c_out, bias=bias, rng=rng)
    A, dLdZ = values(rng, (n, c_in)), upstream(rng, (n, c_out))
    ref = torch_copy(type("M", (), {"layers": [layer]})())[0]
    At = tensor(A, requires_grad=True)
    Zt = ref(At)
    Zt.backward(tensor(dLdZ))
    assert_matches_torch(layer.forward(A), Zt, "Linear Z")
    assert_matches_torch(layer.backward(dLdZ), At.grad, "Linear dLdA")
    assert_matches_torch(layer.dLdW, ref.weight.grad, "Linear dLdW")
    if bias:
        assert_matches_torch(layer.dLdb, ref.bias.grad.reshape(-1, 1), "Linear dLdb")


def test_linear_init_bound_is_torchs():
    # torch: kaiming_uniform_(W, a=sqrt(5)) -> bound gain * sqrt(3 / fan_in); bias 1/sqrt(fan_in)
    for fan_in in (1, 3, 50):
        gain = torch.nn.init.calculate_gain("leaky_relu", math.sqrt(5))
        assert gain * math.sqrt(3.0 / fan_in) == pytest.approx(1 / math.sqrt(fan_in), rel=1e-15)
        ref = torch.nn.Linear(fan_in, 400, dtype=torch.float64)
        ours = Linear(fan_in, 400, rng=0)
        for p, tp in ((ours.W, ref.weight), (ours.b, ref.bias)):
            t_max = float(tp.detach().abs().max())
            assert np.abs(p).max() <= 1 / math.sqrt(fan_in) and t_max <= 1 / math.sqrt(fan_in)
            assert np.abs(p).max() > 0.9 / math.sqrt(fan_in) and t_max > 0.9 / math.sqrt(fan_in)


# ----------------------------------------------------------------------------- activations

ACTIVATIONS = {
    "Identity": (Identity, lambda z: z),
    "Sigmoid": (Sigmoid, torch.sigmoid),
    "Tanh": (Tanh, torch.tanh),
    "ReLU": (ReLU, torch.relu),
    "GELU": (GELU, F.gelu),  # approximate="none": the exact erf form
    "Softmax": (Softmax, lambda z: torch.softmax(z, dim=1)),
}


@pytest.mark.parametrize("name", list(ACTIVATIONS))
@given(shape=batch_shapes(), seed=seeds(), scale=st.sampled_from([3.0, 12.0]))
def test_activation(name, shape, seed, scale):
    cls, fn = ACTIVATIONS[name]
    rng = np.random.default_rng(seed)
    Z, dLdA = values(rng, shape, -scale, scale), upstream(rng, shape)
    Z[rng.random(shape) < 0.2] = 0.0  # exact zeros: ReLU's kink convention must agree too
    Zt = tensor(Z, requires_grad=True)
    At = fn(Zt)
    At.backward(tensor(dLdA))
    layer = cls()
    assert_matches_torch(layer.forward(Z), At, f"{name} A")
    # measured against the upstream's size: 1 - tanh(z)**2 of a saturated tanh cancels
    assert_matches_torch(layer.backward(dLdA), Zt.grad, f"{name} dLdZ",
                         scale=np.abs(dLdA).max())


def test_softmax_with_logits_in_the_thousands():
    rng = np.random.default_rng(0)
    Z, dLdA = values(rng, (4, 6), -3000, 3000), upstream(rng, (4, 6))
    Z[1] = Z[1, 0]  # a row of ties
    Zt = tensor(Z, requires_grad=True)
    At = torch.softmax(Zt, dim=1)
    At.backward(tensor(dLdA))
    layer = Softmax()
    assert_matches_torch(layer.forward(Z), At, "Softmax A (large logits)")
    assert_matches_torch(layer.backward(dLdA), Zt.grad, "Softmax dLdZ (large logits)",
                         scale=np.abs(dLdA).max())


# ----------------------------------------------------------------------------- losses

@given(shape=batch_shapes(), seed=seeds())
def test_mse_loss_is_torchs_mean_mse(shape, seed):
    rng = np.random.default_rng(seed)
    A, Y = values(rng, shape), values(rng, shape)
    At = tensor(A, requires_grad=True)
    Lt = torch.nn.MSELoss()(At, tensor(Y))  # mean over all N·C entries
    Lt.backward()
    loss = MSELoss()
    assert_matches_torch(loss.forward(A, Y), Lt, "MSELoss L")
    assert_matches_torch(loss.backward(), At.grad, "MSELoss dLdA")


@pytest.mark.parametrize("targets", ["one-hot", "labels"])
@given(shape=batch_shapes(), seed=seeds(), bound=st.sampled_from([10.0, 1000.0]))
def test_cross_entropy(targets, shape, seed, bound):
    rng = np.random.default_rng(seed)
    n, c = shape
    A = logits(rng, shape, bound)
    y = labels(rng, n, c)
    Y = np.eye(c)[y] if targets == "one-hot" else y
    At = tensor(A, requires_grad=True)
    # one-hot rows are class probabilities for torch; integer labels are class indices
    Lt = torch.nn.CrossEntropyLoss()(At, tensor(Y) if targets == "one-hot" else torch.from_numpy(y))
    Lt.backward()
    loss = CrossEntropyLoss()
    assert_matches_torch(loss.forward(A, Y), Lt, f"CrossEntropyLoss L ({targets})")
    assert_matches_torch(loss.backward(), At.grad, f"CrossEntropyLoss dLdA ({targets})")


def test_cross_entropy_with_class_probabilities():
    rng = np.random.default_rng(1)
    A = logits(rng, (5, 4))
    P = positive(rng, (5, 4))
    P /= P.sum(axis=1, keepdims=True)
    At = tensor(A, requires_grad=True)
    Lt = torch.nn.CrossEntropyLoss()(At, tensor(P))
    Lt.backward()
    loss = CrossEntropyLoss()
    assert_matches_torch(loss.forward(A, P), Lt, "CrossEntropyLoss L (probabilities)")
    assert_matches_torch(loss.backward(), At.grad, "CrossEntropyLoss dLdA (probabilities)")


# ----------------------------------------------------------------------------- SGD

@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_sgd_trains_like_torch(momentum):
    rng = np.random.default_rng(4)
    model = MLP([3, 6, 5, 4], activation="tanh", rng=rng)
    batches = ((values(rng, (6, 3)), labels(rng, 6, 4)) for _ in range(8))
    assert_trains_like_torch(model, batches, lr=0.2, momentum=momentum,
                             what=f"SGD momentum={momentum}")


# ----------------------------------------------------------------------------- BatchNorm1d

@given(c=sizes(), seed=seeds(), alpha=st.sampled_from([0.9, 0.5]))
def test_batchnorm_train_then_eval(c, seed, alpha):
    rng = np.random.default_rng(seed)
    bn = BatchNorm1d(c, alpha=alpha)
    bn.BW, bn.Bb = values(rng, (1, c)), values(rng, (1, c))
    ref = torch_copy(type("M", (), {"layers": [bn]})())[0]
    ref.train()
    for _step, n in enumerate((2, 5, 3, 4)):  # several steps of different batch sizes
        Z = values(rng, (n, c), -2, 4) * positive(rng, (1, c), 0.1, 5.0)
        dLdBZ = upstream(rng, (n, c))
        ref.zero_grad()
        Zt = tensor(Z, requires_grad=True)
        BZt = ref(Zt)
        BZt.backward(tensor(dLdBZ))
        assert_matches_torch(bn.forward(Z), BZt, "BatchNorm1d train BZ")
        # dLdZ is a difference of terms of size |dLdBZ * BW| / std (for N = 2 it is 0 up to eps)
        terms = np.abs(dLdBZ * bn.BW / np.sqrt(bn.V + bn.eps)).max()
        assert_matches_torch(bn.backward(dLdBZ), Zt.grad, "BatchNorm1d train dLdZ", scale=terms)
        assert_matches_torch(bn.dLdBW, ref.weight.grad.reshape(1, -1), "BatchNorm1d train dLdBW")
        assert_matches_torch(bn.dLdBb, ref.bias.grad.reshape(1, -1), "BatchNorm1d train dLdBb")
        assert_matches_torch(bn.running_M, ref.running_mean.reshape(1, -1), "BatchNorm1d running_M")
        assert_matches_torch(bn.running_V, ref.running_var.reshape(1, -1), "BatchNorm1d running_V")
    ref.eval()
    for n in (1, 4):
        Z, dLdBZ = values(rng, (n, c), -2, 4), upstream(rng, (n, c))
        ref.zero_grad()
        Zt = tensor(Z, requires_grad=True)
        BZt = ref(Zt)
        BZt.backward(tensor(dLdBZ))
        assert_matches_torch(bn.forward(Z, eval=True), BZt, "BatchNorm1d eval BZ")
        assert_matches_torch(bn.backward(dLdBZ), Zt.grad, "BatchNorm1d eval dLdZ")
        assert_matches_torch(bn.dLdBW, ref.weight.grad.reshape(1, -1), "BatchNorm1d eval dLdBW")
        assert_matches_torch(bn.dLdBb, ref.bias.grad.reshape(1, -1), "BatchNorm1d eval dLdBb")


# ----------------------------------------------------------------------------- models

@given(n=sizes(), seed=seeds())
def test_mlp4_forward_and_backward(n, seed):
    rng = np.random.default_rng(seed)
    model = MLP4(rng=rng)
    ref = torch_copy(model)
    X, dLdY = values(rng, (n, 2)), upstream(rng, (n, 2))
    Xt = tensor(X, requires_grad=True)
    Yt = ref(Xt)
    Yt.backward(tensor(dLdY))
    assert_matches_torch(model.forward(X), Yt, "MLP4 output")
    assert_matches_torch(model.backward(dLdY), Xt.grad, "MLP4 dLdA0")
    assert_parameters_match(model, ref, "MLP4")


@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
def test_mlp_with_batchnorm_train_and_eval(activation):
    rng = np.random.default_rng(7)
    model = MLP([4, 8, 6, 3], activation=activation, batchnorm=True, rng=rng)
    ref = torch_copy(model)
    for _step in range(3):
        X, dLdY = values(rng, (5, 4)), upstream(rng, (5, 3))
        ref.zero_grad()
        Xt = tensor(X, requires_grad=True)
        Yt = ref.train()(Xt)
        Yt.backward(tensor(dLdY))
        assert_matches_torch(model.forward(X), Yt, f"MLP+BN ({activation}) output")
        assert_matches_torch(model.backward(dLdY), Xt.grad, f"MLP+BN ({activation}) dLdA0")
        assert_parameters_match(model, ref, f"MLP+BN ({activation})")
    X = values(rng, (3, 4))
    assert_matches_torch(model.eval().forward(X), ref.eval()(tensor(X)),
                         f"MLP+BN ({activation}) eval output")
