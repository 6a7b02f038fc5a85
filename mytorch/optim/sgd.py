"""Task 4: stochastic gradient descent with momentum."""
import numpy as np


class SGD:
    """For every (param, grad) pair of ``model.parameters()``: v = momentum·v + grad; param -= lr·v.

    This is PyTorch's ``optim.SGD(params, lr, momentum)`` (dampening 0, no Nesterov, no weight
    decay); PyTorch initialises v to the first gradient, which the rule above gives too when v
    starts at 0. With ``momentum=0`` it is plain gradient descent, param -= lr·grad.

    ``model`` is any ``Module`` (a layer or a model with ``layers``); the update is in place, so the
    layer's own arrays change. ``velocities`` holds one v per parameter, in the same order.
    """

    def __init__(self, model, lr=0.1, momentum=0.0):
        self.model, self.lr, self.momentum = model, lr, momentum
        self.velocities = [np.zeros_like(p) for p, _ in model.parameters()]

    def step(self):
        # BEGIN SOLUTION
        for v, (p, grad) in zip(self.velocities, self.model.parameters()):
            v *= self.momentum
            v += grad
            p -= self.lr * v
        # END SOLUTION

    def __repr__(self):
        return f"SGD(lr={self.lr}, momentum={self.momentum})"
