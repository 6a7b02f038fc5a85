"""mytorch: a small, explicit, NumPy-only deep-learning framework.

Every layer has a ``forward`` that stores what its ``backward`` needs, and a ``backward`` that
returns the gradient with respect to its input and stores the gradients of its parameters.
Conventions (shapes, names) follow the classic "implement an MLP by hand" homework; every number
is checked against PyTorch in the project's tests.
"""
__version__ = "0.1.0"
