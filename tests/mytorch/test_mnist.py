"""mytorch.data.mnist on small IDX files made here: reading, validation, download, batches.

No test touches the network: downloads come from ``file://`` mirrors inside tmp_path.
"""
import gzip
import hashlib
import os
import urllib.request

import numpy as np
import pytest

from mytorch.data import mnist
from mytorch.data.mnist import (
    FILES,
    MNISTDownloadError,
    MNISTFormatError,
    MNISTNotFoundError,
    batches,
    download_mnist,
    load_mnist,
    read_idx,
)


def idx_bytes(array, type_code=0x08, dtype=">u1"):
    """The IDX encoding of ``array``: magic 0x0000<type><ndim>, big-endian sizes, the data."""
    array = np.asarray(array)
    header = bytes([0, 0, type_code, array.ndim])
    header += b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    return header + array.astype(dtype).tobytes()


def write(path, data, compress=False):
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def make_split(n, rng):
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n, dtype=np.uint8)
    return images, labels


def make_dataset(folder, n_train=12, n_test=7, compress=(True, False, True, False), seed=0):
    """Write the four files (some gzip, some raw) into ``folder``; return the arrays."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Xtr, ytr = make_split(n_train, rng)
    Xte, yte = make_split(n_test, rng)
    arrays = [Xtr, ytr, Xte, yte]
    for (_role, name), arr, gz in zip(FILES.items(), arrays, compress):
        write(folder / (name + (".gz" if gz else "")), idx_bytes(arr), gz)
    return arrays


# ------------------------------------------------------------------------------------------------
# reading

def test_round_trip_mixed_gzip_and_raw(tmp_path):
    Xtr, ytr, Xte, yte = make_dataset(tmp_path)
    X_train, y_train, X_test, y_test = load_mnist(tmp_path, download=False)
    assert X_train.shape == (12, 784) and X_test.shape == (7, 784)
    assert X_train.dtype == np.float64 and y_train.dtype == np.int64
    assert 0.0 <= X_train.min() and X_train.max() <= 1.0
    np.testing.assert_allclose(X_train, Xtr.reshape(12, 784) / 255.0)
    np.testing.assert_allclose(X_test, Xte.reshape(7, 784) / 255.0)
    np.testing.assert_array_equal(y_train, ytr)
    np.testing.assert_array_equal(y_test, yte)


@pytest.mark.parametrize("compress", [(False,) * 4, (True,) * 4])
def test_round_trip_raw_uint8_unflattened(tmp_path, compress):
    Xtr, ytr, Xte, yte = make_dataset(tmp_path, compress=compress)
    X_train, y_train, X_test, _ = load_mnist(tmp_path, download=False, flatten=False,
                                             normalize=False)
    assert X_train.dtype == np.uint8 and X_train.shape == (12, 28, 28)
    np.testing.assert_array_equal(X_train, Xtr)
    np.testing.assert_array_equal(X_test, Xte)


def test_dotted_file_names_are_accepted(tmp_path):
    Xtr, *_ = make_dataset(tmp_path, compress=(False,) * 4)
    for name in FILES.values():
        (tmp_path / name).rename(tmp_path / name.replace("-idx", ".idx"))
    X_train, *_ = load_mnist(tmp_path, download=False, normalize=False, flatten=False)
    np.testing.assert_array_equal(X_train, Xtr)


@pytest.mark.parametrize("dtype,code", [(">u1", 0x08), (">i1", 0x09), (">i2", 0x0B),
                                        (">i4", 0x0C), (">f4", 0x0D), (">f8", 0x0E)])
@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_any_type_and_shape(tmp_path, dtype, code, compress):
    arr = (np.arange(24).reshape(2, 3, 4) - 5).astype(dtype) if dtype != ">u1" \
        else np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    path = write(tmp_path / "a.idx", idx_bytes(arr, code, dtype), compress)
    out = read_idx(path)
    assert out.shape == (2, 3, 4) and out.dtype == np.dtype(dtype).newbyteorder("=")
    np.testing.assert_array_equal(out, arr)
    out[0, 0, 0] = 1  # a writable copy, not a view of the file's bytes


# ------------------------------------------------------------------------------------------------
# validation errors: each names the file and the problem

def replace_file(folder, role, data, compress=False):
    name = FILES[role]
    for suffix in ("", ".gz"):
        (folder / (name + suffix)).unlink(missing_ok=True)
    return write(folder / (name + (".gz" if compress else "")), data, compress)


@pytest.mark.parametrize("compress", [False, True])
def test_bad_magic_on_image_file(tmp_path, compress):
    make_dataset(tmp_path)
    labels_like = idx_bytes(np.zeros(12, np.uint8))  # magic 0x00000801 where 0x803 belongs
    path = replace_file(tmp_path, "train_images", labels_like, compress)
    with pytest.raises(MNISTFormatError, match="magic number 0x00000801.*expected 0x00000803") \
            as e:
        load_mnist(tmp_path, download=False)
    assert str(path) in str(e.value)


def test_bad_magic_on_label_file(tmp_path):
    make_dataset(tmp_path)
    path = replace_file(tmp_path, "test_labels", idx_bytes(np.zeros((7, 1), np.uint8)))
    with pytest.raises(MNISTFormatError, match="magic number 0x00000802.*expected 0x00000801") \
            as e:
        load_mnist(tmp_path, download=False)
    assert str(path) in str(e.value)


@pytest.mark.parametrize("junk", [b"\x12\x34\x56\x78" + bytes(20), b"\x00\x00\x07\x01" + bytes(8),
                                  b"\x00\x00\x08\x00" + bytes(8), b"PK\x03\x04 a zip file"])
def test_read_idx_rejects_non_idx_magic(tmp_path, junk):
    path = write(tmp_path / "junk", junk)
    with pytest.raises(MNISTFormatError, match="bad magic number") as e:
        read_idx(path)
    assert str(path) in str(e.value)


@pytest.mark.parametrize("cut", [1, 100, 2000])
def test_truncated_raw_image_file(tmp_path, cut):
    make_dataset(tmp_path, compress=(False,) * 4)
    path = tmp_path / FILES["train_images"]
    path.write_bytes(path.read_bytes()[:-cut])
    with pytest.raises(MNISTFormatError, match="truncated") as e:
        load_mnist(tmp_path, download=False)
    assert str(path) in str(e.value)
    assert str(12 * 784 + 16) in str(e.value)  # the size the header promises


@pytest.mark.parametrize("size", [0, 3, 10])
def test_truncated_header(tmp_path, size):
    path = write(tmp_path / "t", idx_bytes(np.zeros((2, 28, 28), np.uint8))[:size])
    with pytest.raises(MNISTFormatError, match="truncated|too short") as e:
        read_idx(path)
    assert str(path) in str(e.value)


def test_truncated_gzip_stream(tmp_path):
    make_dataset(tmp_path, compress=(True,) * 4)
    path = tmp_path / (FILES["test_images"] + ".gz")
    path.write_bytes(path.read_bytes()[:-30])
    with pytest.raises(MNISTFormatError, match="gzip") as e:
        load_mnist(tmp_path, download=False)
    assert str(path) in str(e.value)


def test_corrupt_gzip_stream(tmp_path):
    data = bytearray(gzip.compress(idx_bytes(np.zeros((3, 28, 28), np.uint8) + 7)))
    data[12:20] = b"\xff" * 8
    path = write(tmp_path / "c.gz", bytes(data))
    with pytest.raises(MNISTFormatError, match="gzip") as e:
        read_idx(path)
    assert str(path) in str(e.value)


def test_trailing_bytes(tmp_path):
    make_dataset(tmp_path, compress=(False,) * 4)
    path = tmp_path / FILES["train_labels"]
    path.write_bytes(path.read_bytes() + b"\x00")
    with pytest.raises(MNISTFormatError, match="trailing bytes") as e:
        load_mnist(tmp_path, download=False)
    assert str(path) in str(e.value)


@pytest.mark.parametrize("split", ["train", "test"])
def test_image_and_label_counts_must_agree(tmp_path, split):
    make_dataset(tmp_path, n_train=12, n_test=7)
    n = 12 if split == "train" else 7
    replace_file(tmp_path, f"{split}_labels", idx_bytes(np.zeros(n - 1, np.uint8)))
    with pytest.raises(MNISTFormatError, match=rf"{n} images but .* {n - 1} labels") as e:
        load_mnist(tmp_path, download=False)
    assert FILES[f"{split}_images"] in str(e.value) and FILES[f"{split}_labels"] in str(e.value)


@pytest.mark.parametrize("shape", [(5, 27, 28), (5, 28, 32), (5, 784, 1)])
def test_wrong_image_dimensions(tmp_path, shape):
    make_dataset(tmp_path)
    path = replace_file(tmp_path, "test_images", idx_bytes(np.zeros(shape, np.uint8)))
    with pytest.raises(MNISTFormatError, match="wrong image dimensions") as e:
        load_mnist(tmp_path, download=False)
    assert str(path) in str(e.value)


def test_image_file_with_wrong_number_of_dimensions(tmp_path):
    make_dataset(tmp_path)
    replace_file(tmp_path, "train_images", idx_bytes(np.zeros((12, 784), np.uint8)))
    with pytest.raises(MNISTFormatError, match="0x00000802"):
        load_mnist(tmp_path, download=False)


def test_label_out_of_range(tmp_path):
    make_dataset(tmp_path)
    bad = np.zeros(12, np.uint8)
    bad[4] = 10
    path = replace_file(tmp_path, "train_labels", idx_bytes(bad))
    with pytest.raises(MNISTFormatError, match="label 10 at index 4") as e:
        load_mnist(tmp_path, download=False)
    assert str(path) in str(e.value)


def test_missing_files_without_download(tmp_path):
    make_dataset(tmp_path)
    (tmp_path / (FILES["train_images"] + ".gz")).unlink()
    (tmp_path / FILES["test_labels"]).unlink()
    with pytest.raises(MNISTNotFoundError) as e:
        load_mnist(tmp_path, download=False)
    msg = str(e.value)
    assert FILES["train_images"] in msg and FILES["test_labels"] in msg
    assert FILES["train_labels"] not in msg and str(tmp_path) in msg
    assert isinstance(e.value, FileNotFoundError)


def test_errors_are_value_errors():
    assert issubclass(MNISTFormatError, ValueError)


# ------------------------------------------------------------------------------------------------
# downloading from a fake mirror (file:// URLs; no network)

def make_mirror(folder, seed=1):
    """A mirror folder with the four .gz files; return (base URL, arrays, checksums)."""
    arrays = make_dataset(folder, compress=(True,) * 4, seed=seed)
    sums = {name + ".gz": hashlib.sha256((folder / (name + ".gz")).read_bytes()).hexdigest()
            for name in FILES.values()}
    return folder.as_uri() + "/", arrays, sums


def test_official_checksum_table_is_well_formed():
    assert set(mnist.SHA256) == {name + ".gz" for name in FILES.values()}
    for digest in mnist.SHA256.values():
        assert len(digest) == 64 and int(digest, 16) >= 0
    assert mnist.DEFAULT_MIRRORS and all(m.startswith("https://") for m in mnist.DEFAULT_MIRRORS)


def test_download_good_checksum_caches_the_files(tmp_path):
    url, arrays, sums = make_mirror(tmp_path / "mirror")
    cache = tmp_path / "cache" / "mnist"
    assert download_mnist(cache, mirror=url, checksums=sums) == cache
    assert sorted(os.listdir(cache)) == sorted(name + ".gz" for name in FILES.values())
    for name in FILES.values():
        assert (cache / (name + ".gz")).read_bytes() == \
            (tmp_path / "mirror" / (name + ".gz")).read_bytes()
    X_train, y_train, _, y_test = load_mnist(cache, download=False, normalize=False,
                                             flatten=False)
    np.testing.assert_array_equal(X_train, arrays[0])
    np.testing.assert_array_equal(y_test, arrays[3])


def test_load_mnist_downloads_via_env_mirror_into_env_data_dir(tmp_path, monkeypatch):
    url, arrays, sums = make_mirror(tmp_path / "mirror")
    monkeypatch.setattr(mnist, "SHA256", sums)
    monkeypatch.setenv("MYTORCH_MNIST_MIRROR", url)
    monkeypatch.setenv("MYTORCH_DATA", str(tmp_path / "data"))
    assert mnist.default_data_dir() == tmp_path / "data" / "mnist"
    X_train, y_train, X_test, y_test = load_mnist()
    np.testing.assert_array_equal(y_train, arrays[1])
    assert X_test.shape == (7, 784)
    assert len(os.listdir(tmp_path / "data" / "mnist")) == 4


def test_only_missing_files_are_downloaded(tmp_path):
    url, _, sums = make_mirror(tmp_path / "mirror")
    cache = tmp_path / "cache"
    local = make_dataset(cache, compress=(False,) * 4, seed=5)
    (cache / FILES["test_labels"]).unlink()
    download_mnist(cache, mirror=url, checksums=sums)
    assert sorted(os.listdir(cache)) == sorted([*list(FILES.values())[:3],
                                                FILES["test_labels"] + ".gz"])
    X_train, *_ = load_mnist(cache, download=False, normalize=False, flatten=False)
    np.testing.assert_array_equal(X_train, local[0])  # the local file was kept


def test_download_bad_checksum_leaves_nothing(tmp_path):
    url, _, sums = make_mirror(tmp_path / "mirror")
    bad = dict(sums)
    bad[FILES["train_labels"] + ".gz"] = "0" * 64
    cache = tmp_path / "cache"
    with pytest.raises(MNISTDownloadError, match="checksum mismatch") as e:
        download_mnist(cache, mirror=url, checksums=bad)
    assert FILES["train_labels"] + ".gz" in str(e.value) and "0" * 64 in str(e.value)
    # the file before it in the list is complete and verified; nothing else is left behind
    assert os.listdir(cache) == [FILES["train_images"] + ".gz"]


def test_bad_checksum_through_load_mnist(tmp_path, monkeypatch):
    url, _, _ = make_mirror(tmp_path / "mirror")
    cache = tmp_path / "cache"
    # the synthetic files cannot match the official checksums
    with pytest.raises(MNISTDownloadError, match="checksum mismatch"):
        load_mnist(cache, mirror=url)
    assert os.listdir(cache) == []


def test_falls_back_to_the_next_mirror(tmp_path):
    url, arrays, sums = make_mirror(tmp_path / "mirror")
    (tmp_path / "empty").mkdir()
    cache = tmp_path / "cache"
    download_mnist(cache, mirror=f"{(tmp_path / 'empty').as_uri()} , {url}", checksums=sums)
    assert len(os.listdir(cache)) == 4


def test_all_mirrors_failing_names_each(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    mirrors = [(tmp_path / "a").as_uri(), (tmp_path / "b").as_uri()]
    cache = tmp_path / "cache"
    with pytest.raises(MNISTDownloadError, match="could not download") as e:
        download_mnist(cache, mirror=mirrors)
    for m in mirrors:
        assert m + "/" + FILES["train_images"] + ".gz" in str(e.value)
    assert os.listdir(cache) == []


def test_interrupted_download_leaves_no_partial_file(tmp_path, monkeypatch):
    class Broken:
        def __init__(self):
            self.calls = 0

        def read(self, n):
            self.calls += 1
            if self.calls > 1:
                raise ConnectionResetError("connection reset by peer")
            return b"x" * 1000

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout=None: Broken())
    cache = tmp_path / "cache"
    with pytest.raises(MNISTDownloadError, match="connection reset"):
        download_mnist(cache, mirror="https://mirror.invalid/mnist/")
    assert os.listdir(cache) == []


# ------------------------------------------------------------------------------------------------
# mini-batches

def test_batches_cover_every_example_once():
    X = np.arange(23 * 2).reshape(23, 2)
    y = np.arange(23)
    got = list(batches(X, y, 5, rng=0))
    assert [len(xb) for xb, _ in got] == [5, 5, 5, 5, 3]
    order = np.concatenate([yb for _, yb in got])
    assert sorted(order) == list(range(23)) and not np.array_equal(order, np.arange(23))
    for xb, yb in got:
        np.testing.assert_array_equal(xb[:, 0] // 2, yb)  # rows stay paired with their labels


def test_batches_reproducible_and_reshuffled_each_epoch():
    X, y = np.zeros((50, 3)), np.arange(50)
    order = lambda rng: np.concatenate([yb for _, yb in batches(X, y, 8, rng=rng)])  # noqa: E731
    g1, g2 = np.random.default_rng(7), np.random.default_rng(7)
    e1, e2 = order(g1), order(g1)
    assert not np.array_equal(e1, e2)
    np.testing.assert_array_equal(e1, order(g2))
    np.testing.assert_array_equal(np.concatenate([yb for _, yb in
                                                  batches(X, y, 8, shuffle=False)]), y)


def test_batches_reject_bad_input():
    with pytest.raises(ValueError, match="rows"):
        list(batches(np.zeros((3, 2)), np.zeros(4), 2))
    with pytest.raises(ValueError, match="batch_size"):
        list(batches(np.zeros((3, 2)), np.zeros(3), 0))
