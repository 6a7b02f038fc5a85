"""The benchmarks compare like with like (no timings are asserted: those live in benchmarks/)."""
import sys
from pathlib import Path

import numpy as np
import pytest

# scripts, not a package
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import conv
import linear
import mlp_epoch


def test_mlp_epoch_trains_the_same_network_as_pytorch():
    """Same initial weights, batch order and dtype: float64 weights agree to rounding."""
    pytest.importorskip("torch", reason="PyTorch (optional) is the other side of this comparison")
    X, y, X_test, y_test = mlp_epoch.load_data(640, None, np.float64)
    row = mlp_epoch.case(X, y, X_test[:500], y_test[:500], batch=64, repeat=1, dtype=np.float64)
    assert row["same_accuracy"] and row["mytorch_acc"] == row["torch_acc"]
    assert row["weights_rel_diff"] < 1e-10
    assert row["mytorch_s"] > 0 and row["floor_s"] > 0 and row["torch_s"] > 0


def test_floor_epoch_does_the_networks_matmuls_and_nothing_more():
    """Per batch: 3 forward products, dLdW of each layer, dLdA of all but the first (the data)."""
    products = []

    class Counting(np.ndarray):
        def __matmul__(self, other):
            products.append((self.shape, np.shape(other)))
            return (np.asarray(self) @ np.asarray(other)).view(Counting)

        def __rmatmul__(self, other):
            products.append((np.shape(other), self.shape))
            return (np.asarray(other) @ np.asarray(self)).view(Counting)

    dims = mlp_epoch.DIMS
    weights = [np.ones((o, i)).view(Counting) for i, o in zip(dims, dims[1:])]
    mlp_epoch.floor_epoch(weights, np.ones((8, 784)).view(Counting), np.arange(8), batch=4)
    one_batch = [((4, 784), (784, 128)), ((4, 128), (128, 64)), ((4, 64), (64, 10)),  # forward
                 ((10, 4), (4, 64)), ((4, 10), (10, 64)),     # layer 3: dLdW, dLdA
                 ((64, 4), (4, 128)), ((4, 64), (64, 128)),   # layer 2: dLdW, dLdA
                 ((128, 4), (4, 784))]                        # layer 1: dLdW only
    assert products == one_batch * 2


def test_linear_case_reports_every_column():
    row = linear.case(4, 8, 3, np.float32, rounds=1,
                      frameworks=("mytorch", "floor"))
    assert row["dtype"] == "float32" and row["torch_us"] is None and row["vs_torch"] is None
    assert row["mytorch_us"] > 0 and row["floor_us"] > 0
    assert row["vs_floor"] == pytest.approx(row["mytorch_us"] / row["floor_us"])


def test_mlp_epoch_reads_real_mnist_files(tmp_path):
    """--mnist DIR: the official IDX files (tiny ones here), float32 pixels in [0, 1]."""
    from mytorch.data.mnist import FILES
    rng = np.random.default_rng(0)
    sizes = {"train": 30, "test": 10}
    for role, name in FILES.items():
        n = sizes[role.split("_")[0]]
        data = (rng.integers(0, 256, (n, 28, 28)) if role.endswith("images")
                else rng.integers(0, 10, n)).astype(np.uint8)
        header = bytes([0, 0, 0x08, data.ndim]) + b"".join(d.to_bytes(4, "big") for d in data.shape)
        (tmp_path / name).write_bytes(header + data.tobytes())
    X, y, X_test, y_test = mlp_epoch.load_data(20, str(tmp_path), np.float32)
    assert X.shape == (20, 784) and X.dtype == np.float32 and 0 <= X.min() and X.max() <= 1
    assert y.shape == (20,) and X_test.shape == (10, 784) and y_test.shape == (10,)
    row = mlp_epoch.case(X, y, X_test, y_test, batch=8, repeat=1, dtype=np.float32)
    assert 0 <= row["mytorch_acc"] <= 1


def test_conv_case_reports_every_column():
    row = conv.case(2, 3, n=2, size=6, k=3, rounds=1, frameworks=("mytorch", "floor"))
    assert (row["c_in"], row["c_out"], row["batch"], row["size"]) == (2, 3, 2, 6)
    assert row["forward_torch_ms"] is None and row["step_vs_torch"] is None
    for what in ("forward", "step"):
        assert row[f"{what}_ms"] > 0 and row[f"{what}_floor_ms"] > 0
        assert row[f"{what}_vs_floor"] == pytest.approx(row[f"{what}_ms"] /
                                                        row[f"{what}_floor_ms"])


def test_conv_compares_with_torch_on_the_same_numbers():
    """With torch present the case first checks that both give the same Z and gradients."""
    pytest.importorskip("torch", reason="PyTorch (optional) is the other side of this comparison")
    row = conv.case(1, 2, n=2, size=5, k=3, rounds=1)
    assert row["forward_torch_ms"] > 0 and row["step_torch_ms"] > 0
    assert row["step_vs_torch"] == pytest.approx(row["step_ms"] / row["step_torch_ms"])

