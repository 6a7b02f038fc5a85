"""Task 4: stochastic gradient descent with momentum."""
import numpy as np


class SGD:
    """For every (param, grad) pair of ``model.parameters()``:  v = momentum·v + grad;  param -= lr·v.

    This is PyTorch's ``optim.SGD(params, lr, momentum)`` (dampening 0, no Nesterov, no weight decay);
    PyTorch initialises v to the first gradient, which the rule above gives too when v starts at 0.
    ``model`` is any ``Module`` (a layer or a model with ``layers``); the update is in place, so the
    layer's own arrays change.
    """

    def __init__(self, model, lr=0.1, momentum=0.0):
        self.model, self.lr, self.mu = model, lr, momentum
        self.v = [np.zeros_like(p) for p, _ in model.parameters()]

    def step(self):
        # BEGIN SOLUTION
        for v, (p, grad) in zip(self.v, self.model.parameters()):
            if self.mu:
                v *= self.mu
                v += grad
                p -= self.lr * v
            else:
                p -= self.lr * grad
        # END SOLUTION

    def __repr__(self):
        return f"SGD(lr={self.lr}, momentum={self.mu})"
