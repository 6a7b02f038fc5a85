from .activation import GELU, Identity, ReLU, Sigmoid, Softmax, Tanh
from .batchnorm import BatchNorm1d
from .linear import Linear
from .loss import CrossEntropyLoss, MSELoss
from .module import Module

__all__ = ["Module", "Linear", "Identity", "Sigmoid", "Tanh", "ReLU", "GELU", "Softmax",
           "MSELoss", "CrossEntropyLoss", "BatchNorm1d"]
