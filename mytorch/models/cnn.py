"""A small convolutional network for 28×28 digits, built from the layers of ``mytorch.nn``.

Like the MLPs it is a ``Sequential``: ``forward`` runs ``self.layers`` first to last, ``backward``
last to first.
"""
import numpy as np

from ..nn import Conv2d, Flatten, Linear, MaxPool2d, ReLU
from .mlp import Sequential


class CNN(Sequential):
    """Two blocks Conv2d(K) -> ReLU -> MaxPool2d(2), then Flatten -> Linear to the class logits.

    With the defaults (``channels=(8, 16)``, ``kernel_size=3``, 28×28 single-channel images):

        layer                 output shape
        input                 (N, 1, 28, 28)
        Conv2d(1, 8, 3)       (N, 8, 26, 26)
        ReLU                  (N, 8, 26, 26)
        MaxPool2d(2)          (N, 8, 13, 13)
        Conv2d(8, 16, 3)      (N, 16, 11, 11)
        ReLU                  (N, 16, 11, 11)
        MaxPool2d(2)          (N, 16, 5, 5)      (the 11th row and column fall out of every window)
        Flatten               (N, 400)
        Linear(400, 10)       (N, 10)            logits, ready for CrossEntropyLoss

    ``channels`` gives the output channels of each block (one block per entry); ``image_size`` the
    side of the square input; ``rng`` seeds the PyTorch-style initialisation of every layer, drawn
    in order from one generator.
    """

    def __init__(self, in_channels=1, image_size=28, channels=(8, 16), kernel_size=3,
                 num_classes=10, rng=None):
        rng = np.random.default_rng(rng)
        # BEGIN SOLUTION
        self.layers, size, c_in = [], int(image_size), in_channels
        for c_out in channels:
            size = (size - kernel_size + 1) // 2
            if size < 1:
                raise ValueError(f"CNN: a {image_size}×{image_size} image is too small for "
                                 f"{len(channels)} blocks of Conv2d(kernel_size={kernel_size}) "
                                 f"and MaxPool2d(2)")
            self.layers += [Conv2d(c_in, c_out, kernel_size, rng=rng), ReLU(), MaxPool2d(2)]
            c_in = c_out
        self.layers += [Flatten(), Linear(c_in * size * size, num_classes, rng=rng)]
        # END SOLUTION
