from .activation import GELU, Identity, ReLU, Sigmoid, Softmax, Tanh
from .batchnorm import BatchNorm1d
from .conv import Conv1d, Conv2d
from .flatten import Flatten
from .linear import Linear
from .loss import CrossEntropyLoss, MSELoss
from .module import Module
from .pool import AvgPool2d, MaxPool2d

__all__ = ["Module", "Linear", "Identity", "Sigmoid", "Tanh", "ReLU", "GELU", "Softmax",
           "MSELoss", "CrossEntropyLoss", "BatchNorm1d", "Conv1d", "Conv2d", "MaxPool2d",
           "AvgPool2d", "Flatten"]
