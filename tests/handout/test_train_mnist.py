"""handout/train_mnist.py end to end, as a subprocess, on small synthetic IDX files (no network)."""
import csv
import gzip
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "handout" / "train_mnist.py"
NAMES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte",
         "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]


def idx_bytes(array):
    array = np.asarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(n.to_bytes(4, "big") for n in array.shape)
    return header + array.tobytes()


def synthetic(n, rng):
    """Learnable digits: class k lights up a 4x20 bar at rows 2k+4.., plus dim noise."""
    labels = rng.integers(0, 10, size=n).astype(np.uint8)
    images = rng.integers(0, 60, size=(n, 28, 28)).astype(np.uint8)
    for i, k in enumerate(labels):
        images[i, 2 * k + 4: 2 * k + 8, 4:24] = rng.integers(180, 256, size=(4, 20))
    return images, labels


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mnist")
    rng = np.random.default_rng(0)
    arrays = [*synthetic(200, rng), *synthetic(100, rng)]
    for name, arr, gz in zip(NAMES, arrays, (True, False, True, False)):
        data = idx_bytes(arr)
        if gz:
            (folder / (name + ".gz")).write_bytes(gzip.compress(data))
        else:
            (folder / name).write_bytes(data)
    return folder


def run(args, cwd, env_extra=None, drop=()):
    env = {k: v for k, v in os.environ.items()
           if k not in ("MYTORCH_DATA", "MYTORCH_MNIST_MIRROR", *drop)}
    env.update(env_extra or {})
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_trains_end_to_end_and_writes_metrics(data_dir, tmp_path):
    out = tmp_path / "metrics"
    proc = run(["--data-dir", str(data_dir), "--no-download", "--epochs", "2",
                "--batch-size", "10", "--lr", "0.05", "--hidden", "32,16", "--seed", "3",
                "--out", str(out)], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "200 training / 100 test" in proc.stdout
    assert "epoch 1/2" in proc.stdout and "epoch 2/2" in proc.stdout

    record = json.loads((out / "metrics.json").read_text())
    assert record["config"]["dims"] == [784, 32, 16, 10]
    assert record["config"]["batch_size"] == 10 and record["config"]["seed"] == 3
    assert record["data"] == {"train_examples": 200, "test_examples": 100}
    epochs = record["epochs"]
    assert [e["epoch"] for e in epochs] == [1, 2]
    for e in epochs:
        assert 0.0 <= e["train_acc"] <= 1.0 and 0.0 <= e["test_acc"] <= 1.0
        assert np.isfinite(e["train_loss"]) and e["train_loss"] > 0 and e["seconds"] >= 0
    assert epochs[1]["train_loss"] < epochs[0]["train_loss"]  # it learns
    # chance is 0.1; the bars are easy to tell apart (seeds 0-7 all give 0.92-1.0 here)
    assert epochs[1]["test_acc"] >= 0.8
    assert record["final"]["test_acc"] == epochs[-1]["test_acc"]

    with open(out / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert float(rows[1]["test_acc"]) == pytest.approx(epochs[1]["test_acc"])

    if (out / "learning_curve.png").exists():
        assert (out / "learning_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    else:
        assert "matplotlib is not installed" in proc.stdout


def test_trains_the_cnn_and_reports_the_time(data_dir, tmp_path):
    out = tmp_path / "cnn"
    proc = run(["--data-dir", str(data_dir), "--no-download", "--model", "cnn", "--epochs", "2",
                "--batch-size", "10", "--lr", "0.05", "--seed", "1", "--out", str(out)],
               cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "model: CNN Conv2d(1,8,3)-ReLU-MaxPool2d(2)-Conv2d(8,16,3)-ReLU-MaxPool2d(2)-" \
           "Flatten-Linear(400,10)" in proc.stdout
    assert re.search(r"epoch 2/2 .* \(\d+\.\d s\)", proc.stdout)
    assert re.search(r"after 2 epoch\(s\), \d+\.\d s in total", proc.stdout)
    record = json.loads((out / "metrics.json").read_text())
    assert record["config"]["model"] == "cnn" and "dims" not in record["config"]
    epochs = record["epochs"]
    assert epochs[1]["train_loss"] < epochs[0]["train_loss"]  # it learns
    # the bars are easy to tell apart (seeds 0-5 all give 1.0 here); chance is 0.1
    assert epochs[1]["test_acc"] >= 0.8
    assert record["final"]["total_seconds"] >= sum(e["seconds"] for e in epochs) - 0.01


def test_same_seed_same_result(data_dir, tmp_path):
    results = []
    for i in range(2):
        out = tmp_path / f"run{i}"
        proc = run(["--data-dir", str(data_dir), "--no-download", "--epochs", "1",
                    "--limit", "60", "--hidden", "8", "--out", str(out)], cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        record = json.loads((out / "metrics.json").read_text())
        assert record["data"]["train_examples"] == 60
        results.append((record["epochs"][0]["train_loss"], record["epochs"][0]["test_acc"]))
    assert results[0] == results[1]


def test_missing_data_without_download_is_a_clear_error(tmp_path):
    proc = run(["--data-dir", str(tmp_path / "nothing"), "--no-download", "--out",
                str(tmp_path / "o")], cwd=tmp_path)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert "error" in proc.stderr and "train-images-idx3-ubyte" in proc.stderr
    assert "--no-download" in proc.stderr
    assert not (tmp_path / "o").exists()


def test_failed_download_is_a_clear_error(tmp_path):
    empty = tmp_path / "empty-mirror"
    empty.mkdir()
    proc = run(["--data-dir", str(tmp_path / "cache"), "--out", str(tmp_path / "o")],
               cwd=tmp_path, env_extra={"MYTORCH_MNIST_MIRROR": empty.as_uri()})
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert "could not download train-images-idx3-ubyte.gz" in proc.stderr
    assert list((tmp_path / "cache").iterdir()) == []


def test_help_and_bad_arguments(tmp_path):
    proc = run(["--help"], cwd=tmp_path)
    assert proc.returncode == 0
    for option in ["--data-dir", "--epochs", "--batch-size", "--lr", "--momentum", "--hidden",
                   "--seed", "--out", "--no-download", "--limit", "--model"]:
        assert option in proc.stdout
    proc = run(["--hidden", "128,x"], cwd=tmp_path)
    assert proc.returncode == 2 and "--hidden" in proc.stderr and "Traceback" not in proc.stderr
    proc = run(["--momentum", "1.5"], cwd=tmp_path)
    assert proc.returncode == 2 and "momentum" in proc.stderr
    proc = run(["--model", "rnn"], cwd=tmp_path)
    assert proc.returncode == 2 and "--model" in proc.stderr and "'cnn'" in proc.stderr


# --------------------------------------------------------------------------- BLAS threads

def load_script():
    import importlib.util

    spec = importlib.util.spec_from_file_location("train_mnist_under_test", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("argv,cores,load,threads", [
    ([], 2, 0.1, 2),                          # batch 64, idle: the second thread saves ~40 %
    (["--batch-size", "8"], 2, 0.1, 1),       # below 16 a second thread does nothing
    (["--batch-size=256"], 2, 1.2, 1),        # one core busy elsewhere: it would spin
    ([], 2, 9.0, 1),                          # loaded: 2 threads were 20-30x slower
    ([], 1, 0.0, 1),
    ([], 2, None, 1),                         # no load average (Windows)
    (["--threads", "2", "--batch-size", "1"], 2, 9.0, 2),  # the student decides
])
def test_blas_threads_by_batch_size_and_load(argv, cores, load, threads):
    chosen, why = load_script().choose_blas_threads(argv, environ={}, cores=cores, load=load)
    assert chosen == threads, why


def test_blas_threads_from_the_environment_are_kept():
    chosen, why = load_script().choose_blas_threads([], environ={"OMP_NUM_THREADS": "3"},
                                                    cores=2, load=0.0)
    assert chosen is None and "OMP_NUM_THREADS=3" in why


def test_the_script_sets_and_reports_its_blas_threads(data_dir, tmp_path):
    proc = run(["--data-dir", str(data_dir), "--no-download", "--epochs", "1", "--batch-size", "8",
                "--out", str(tmp_path / "out")], cwd=tmp_path,
               drop=("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"))
    assert proc.returncode == 0, proc.stderr
    assert "BLAS threads: 1 (batch 8 < 16" in proc.stdout
    environment = json.loads((tmp_path / "out" / "metrics.json").read_text())["environment"]
    assert environment["blas_threads"] == 1
