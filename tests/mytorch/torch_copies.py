"""torch twins of mytorch models, for the cross-checks: same layers, same parameters.

Imports torch: import this module only after ``pytest.importorskip("torch")``.
"""
import numpy as np
import torch

from mytorch.nn import (
    AvgPool2d,
    BatchNorm1d,
    Conv1d,
    Conv2d,
    CrossEntropyLoss,
    Flatten,
    Identity,
    Linear,
    MaxPool2d,
    ReLU,
    Sigmoid,
    Tanh,
)
from mytorch.optim import SGD
from tests.mytorch.helpers import assert_matches_torch, tensor


def torch_copy(model):
    """A torch.nn.Sequential computing the same function as a mytorch model, same parameters."""
    modules = []
    for layer in model.layers:
        if isinstance(layer, Linear):
            m = torch.nn.Linear(layer.in_features, layer.out_features, bias=layer.b is not None,
                                dtype=torch.float64)
            with torch.no_grad():
                m.weight.copy_(torch.from_numpy(layer.W))
                if layer.b is not None:
                    m.bias.copy_(torch.from_numpy(layer.b.ravel()))
        elif isinstance(layer, BatchNorm1d):
            m = torch.nn.BatchNorm1d(layer.num_features, eps=layer.eps, momentum=1 - layer.alpha,
                                     dtype=torch.float64)
            with torch.no_grad():
                m.weight.copy_(torch.from_numpy(layer.BW.ravel()))
                m.bias.copy_(torch.from_numpy(layer.Bb.ravel()))
                m.running_mean.copy_(torch.from_numpy(layer.running_M.ravel()))
                m.running_var.copy_(torch.from_numpy(layer.running_V.ravel()))
        elif isinstance(layer, (Conv1d, Conv2d)):
            cls = torch.nn.Conv1d if isinstance(layer, Conv1d) else torch.nn.Conv2d
            m = cls(layer.in_channels, layer.out_channels, layer.kernel_size, stride=layer.stride,
                    padding=layer.padding, dtype=torch.float64)
            with torch.no_grad():
                m.weight.copy_(torch.from_numpy(layer.W))
                m.bias.copy_(torch.from_numpy(layer.b))
        elif isinstance(layer, (MaxPool2d, AvgPool2d)):
            cls = torch.nn.MaxPool2d if isinstance(layer, MaxPool2d) else torch.nn.AvgPool2d
            m = cls(layer.kernel_size, stride=layer.stride)
        else:
            m = {ReLU: torch.nn.ReLU, Tanh: torch.nn.Tanh, Sigmoid: torch.nn.Sigmoid,
                 Identity: torch.nn.Identity, Flatten: torch.nn.Flatten}[type(layer)]()
        modules.append(m)
    return torch.nn.Sequential(*modules)


def torch_params(ref):
    """torch parameters in mytorch's order and shapes: (weight, bias (C, 1)) per layer."""
    out = []
    for m in ref:
        if isinstance(m, torch.nn.Linear):
            out.append((m.weight, None))
            if m.bias is not None:
                out.append((m.bias, (-1, 1)))
        elif isinstance(m, torch.nn.BatchNorm1d):
            out += [(m.weight, (1, -1)), (m.bias, (1, -1))]
        elif isinstance(m, (torch.nn.Conv1d, torch.nn.Conv2d)):
            out += [(m.weight, None), (m.bias, None)]  # the same shapes in both
    return out


def assert_parameters_match(model, ref, what, grads=True):
    """Parameters (and gradients) of a mytorch model against its torch copy.

    Gradients are compared relative to the largest gradient of the model: the bias of a Linear
    followed by BatchNorm has a gradient that is 0 in exact arithmetic (a sum of O(1) terms that
    cancel), so its own size is no scale to measure rounding against.
    """
    pairs = list(zip(model.parameters(), torch_params(ref)))
    assert len(pairs) == len(model.parameters()) == len(torch_params(ref))
    scale = max(float(np.abs(g).max()) for (_, g), _ in pairs) if grads else 0.0
    for i, ((p, g), (tp, shape)) in enumerate(pairs):
        t_value = tp.detach() if shape is None else tp.detach().reshape(shape)
        assert_matches_torch(p, t_value, f"{what} parameter {i}")
        if grads:
            t_grad = tp.grad if shape is None else tp.grad.reshape(shape)
            assert_matches_torch(g, t_grad, f"{what} gradient {i}", scale=scale)


def assert_trains_like_torch(model, batches, lr, momentum, what):
    """Train ``model`` and its torch twin side by side with SGD and cross-entropy on ``batches``
    (an iterable of (X, integer labels)); after every step the losses, parameters and gradients
    must agree."""
    ref = torch_copy(model)
    opt = SGD(model, lr=lr, momentum=momentum)
    t_opt = torch.optim.SGD(ref.parameters(), lr=lr, momentum=momentum)
    loss, t_loss = CrossEntropyLoss(), torch.nn.CrossEntropyLoss()
    for step, (X, y) in enumerate(batches):
        L = loss.forward(model.forward(X), y)
        model.backward(loss.backward())
        opt.step()
        t_opt.zero_grad()
        Lt = t_loss(ref(tensor(X)), torch.from_numpy(y))
        Lt.backward()
        t_opt.step()
        assert_matches_torch(L, Lt, f"{what} loss")
        assert_parameters_match(model, ref, f"{what} step {step}")
