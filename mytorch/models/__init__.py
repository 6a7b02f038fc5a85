from .cnn import CNN
from .mlp import MLP, MLP0, MLP1, MLP4, Sequential

__all__ = ["Sequential", "MLP0", "MLP1", "MLP4", "MLP", "CNN"]
