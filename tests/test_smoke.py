import numpy as np

from mytorch.models import MLP4


def test_mlp4_runs_forward_and_backward():
    model = MLP4(rng=0)
    out = model.forward(np.ones((3, 2)))
    assert out.shape == (3, 2)
    assert model.backward(np.ones_like(out)).shape == (3, 2)
