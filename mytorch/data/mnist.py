"""MNIST: read the official IDX files, download them once (checksummed), and serve mini-batches.

NumPy and the standard library only.

The IDX format (http://yann.lecun.com/exdb/mnist/, "FILE FORMATS FOR THE MNIST DATABASE")
-------------------------------------------------------------------------------------------
All integers in the header are 32-bit **big-endian**::

    offset  size         content
    0       2 bytes      0x00 0x00
    2       1 byte       element type: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
                                       0x0D float32, 0x0E float64 (multi-byte types big-endian)
    3       1 byte       number of dimensions d
    4       4·d bytes    the size of each dimension, one uint32 each
    4+4·d   ...          the data, C order (last index fastest): prod(sizes) elements

so the 4-byte *magic number* is ``0x0000_08_03`` for the image files (uint8, 3 dimensions:
count × 28 rows × 28 columns, pixels 0 = background (white) .. 255 = foreground (black)) and
``0x0000_08_01`` for the label files (uint8, 1 dimension: count, values 0..9). A file is exactly
``4 + 4·d + prod(sizes)·itemsize`` bytes long; anything shorter is truncated, anything longer is
not a valid IDX file. The four official files, usually distributed gzip-compressed (``.gz``)::

    train-images-idx3-ubyte   60000 × 28 × 28     train-labels-idx1-ubyte   60000
    t10k-images-idx3-ubyte    10000 × 28 × 28     t10k-labels-idx1-ubyte    10000

Where the files live
--------------------
``data_dir`` argument, else ``$MYTORCH_DATA/mnist``, else ``~/.cache/mytorch/mnist``. Each file
may be there raw or gzip-compressed (``name`` or ``name.gz``; the ``train-images.idx3-ubyte``
spelling of some unpacked copies is accepted too). Compression is recognised by content, not name.

Downloading
-----------
Missing files are fetched with ``urllib`` from a mirror: the ``mirror`` argument (one base URL or
a list), else ``$MYTORCH_MNIST_MIRROR`` (one or more base URLs separated by spaces or commas),
else :data:`DEFAULT_MIRRORS`. Each ``.gz`` is streamed into a temporary file in the cache
directory, its SHA-256 compared with :data:`SHA256`, and only then renamed into place with
``os.replace`` — a checksum mismatch or an interrupted download never leaves a file behind.
``file://`` URLs work too (handy for an offline copy, and for tests).

Public API
----------
``load_mnist(data_dir=None, download=True, mirror=None, flatten=True, normalize=True)``
    -> ``(X_train, y_train, X_test, y_test)``; images float64 in [0, 1] of shape (N, 784),
    labels int64 of shape (N,).
``read_idx(path)`` -> the ndarray stored in any IDX file (raw or gzip).
``download_mnist(data_dir=None, mirror=None)`` -> the directory, with the four ``.gz`` files.
``batches(X, y, batch_size, rng=None)`` -> iterator of ``(X_batch, y_batch)`` mini-batches.
"""
import gzip
import hashlib
import http.client
import math
import os
import tempfile
import urllib.request
import zlib
from pathlib import Path

import numpy as np

__all__ = ["load_mnist", "read_idx", "download_mnist", "batches", "default_data_dir",
           "MNISTFormatError", "MNISTNotFoundError", "MNISTDownloadError",
           "FILES", "SHA256", "DEFAULT_MIRRORS"]

#: The four files, by role, without the ``.gz`` suffix.
FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

#: SHA-256 of the official gzip-compressed files (9,912,422 / 28,881 / 1,648,877 / 4,542 bytes).
#: Source: the values published with the ossci-datasets / cvdf-datasets mirrors in independent
#: public projects (Guild AI's gpkg.mnist package definition, the TensorFlow Haskell bindings' Nix
#: expression, several download scripts), which all agree. torchvision publishes MD5s for the
#: same files: f68b3c2d..., d53e105e..., 9fb629c4..., ec29112d...
SHA256 = {
    "train-images-idx3-ubyte.gz":
        "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz":
        "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz":
        "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz":
        "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}

#: Tried in order. The first is the mirror torchvision uses; the second TensorFlow's.
DEFAULT_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)

MIRROR_ENV = "MYTORCH_MNIST_MIRROR"
DATA_ENV = "MYTORCH_DATA"

IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801
ROWS = COLS = 28
NUM_CLASSES = 10

# IDX element-type code -> big-endian NumPy dtype.
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20


class MNISTFormatError(ValueError):
    """A file is not a valid IDX file, or not the MNIST file it should be. The message names it."""


class MNISTNotFoundError(FileNotFoundError):
    """Some MNIST files are missing and downloading was disabled."""


class MNISTDownloadError(OSError):
    """A file could not be downloaded from any mirror, or its checksum did not match."""


# --------------------------------------------------------------------------------------------
# Reading

def _read_bytes(path):
    """The file's content, decompressed when it is gzip (recognised by its first two bytes)."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] != _GZIP_MAGIC:
        return data
    try:
        return gzip.decompress(data)
    except EOFError:
        raise MNISTFormatError(f"{path}: the gzip stream is truncated (the .gz file is incomplete)"
                               ) from None
    except (OSError, zlib.error) as e:  # gzip.BadGzipFile is an OSError
        raise MNISTFormatError(f"{path}: corrupt gzip data ({e})") from None


def _parse_idx(data, path):
    """Validate an IDX header against the data length; return (magic, dims, dtype, offset)."""
    if len(data) < 4:
        raise MNISTFormatError(f"{path}: file too short ({len(data)} bytes) to hold an IDX magic "
                               f"number; the file is empty or truncated")
    magic = int.from_bytes(data[:4], "big")
    if data[0] != 0 or data[1] != 0 or data[2] not in _IDX_TYPES or data[3] == 0:
        raise MNISTFormatError(f"{path}: bad magic number 0x{magic:08X}; an IDX file starts with "
                               f"0x00 0x00, a type code (0x08 for uint8) and the number of "
                               f"dimensions (MNIST images 0x{IMAGES_MAGIC:08X}, labels "
                               f"0x{LABELS_MAGIC:08X})")
    ndim = data[3]
    offset = 4 + 4 * ndim
    if len(data) < offset:
        raise MNISTFormatError(f"{path}: truncated header: {ndim} dimensions need {offset} header "
                               f"bytes, the file has {len(data)}")
    dims = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_TYPES[data[2]])
    expected = offset + math.prod(dims) * dtype.itemsize
    if len(data) != expected:
        problem = "truncated" if len(data) < expected else "has trailing bytes"
        shape = " x ".join(map(str, dims))
        raise MNISTFormatError(f"{path}: file size mismatch ({problem}): the header declares "
                               f"{shape} elements of {dtype.itemsize} byte(s), i.e. {expected} "
                               f"bytes with the header, but the file has {len(data)} bytes")
    return magic, dims, dtype, offset


def read_idx(path):
    """Read any IDX file (raw or gzip-compressed) into an ndarray of the declared shape.

    The array is native-endian, of the declared element type (uint8 for MNIST), C-contiguous and
    writable. Raises :class:`MNISTFormatError` naming the file on a bad magic number, a truncated
    header or a size that disagrees with the header; ``FileNotFoundError`` when it does not exist.
    """
    data = _read_bytes(path)
    _, dims, dtype, offset = _parse_idx(data, path)
    arr = np.frombuffer(data, dtype=dtype, offset=offset)
    return arr.astype(dtype.newbyteorder("="), copy=True).reshape(dims)


def _read_mnist_file(path, expected_magic, kind, layout):
    """``(data, dims, offset)`` of an IDX file that must be MNIST's ``kind`` (its ``layout``)."""
    data = _read_bytes(path)
    magic, dims, _, offset = _parse_idx(data, path)
    if magic != expected_magic:
        raise MNISTFormatError(f"{path}: bad magic number 0x{magic:08X} for {kind}, "
                               f"expected 0x{expected_magic:08X} ({layout})")
    return data, dims, offset


def _read_mnist_images(path):
    data, dims, offset = _read_mnist_file(path, IMAGES_MAGIC, "an image file",
                                          "uint8, 3 dimensions")
    n, rows, cols = dims
    if (rows, cols) != (ROWS, COLS):
        raise MNISTFormatError(f"{path}: wrong image dimensions {rows}x{cols}, MNIST images are "
                               f"{ROWS}x{COLS}")
    if n == 0:
        raise MNISTFormatError(f"{path}: the file holds no images")
    return np.frombuffer(data, dtype=np.uint8, offset=offset).reshape(n, rows, cols).copy()


def _read_mnist_labels(path):
    data, _, offset = _read_mnist_file(path, LABELS_MAGIC, "a label file", "uint8, 1 dimension")
    labels = np.frombuffer(data, dtype=np.uint8, offset=offset)
    if labels.size and labels.max() >= NUM_CLASSES:
        bad = int(np.argmax(labels >= NUM_CLASSES))
        raise MNISTFormatError(f"{path}: label {int(labels[bad])} at index {bad} is not a digit "
                               f"0..{NUM_CLASSES - 1}")
    return labels.astype(np.int64)


# --------------------------------------------------------------------------------------------
# Locating and downloading

def default_data_dir():
    """``$MYTORCH_DATA/mnist`` when the variable is set, else ``~/.cache/mytorch/mnist``."""
    root = os.environ.get(DATA_ENV)
    if root:
        return Path(root).expanduser() / "mnist"
    return Path.home() / ".cache" / "mytorch" / "mnist"


def _resolve_dir(data_dir):
    return Path(data_dir).expanduser() if data_dir is not None else default_data_dir()


def _candidates(data_dir, name):
    """Accepted spellings of one file in ``data_dir``, in order of preference."""
    dotted = name.replace("-idx", ".idx")  # train-images.idx3-ubyte, as some unpacked copies
    return [data_dir / n for n in (name, name + ".gz", dotted, dotted + ".gz")]


def _find(data_dir, name):
    for p in _candidates(data_dir, name):
        if p.is_file():
            return p
    return None


def _mirror_list(mirror):
    if mirror is None:
        mirror = os.environ.get(MIRROR_ENV) or DEFAULT_MIRRORS
    if isinstance(mirror, str):
        mirror = mirror.replace(",", " ").split()
    mirrors = [m if m.endswith("/") else m + "/" for m in mirror if m]
    if not mirrors:
        raise ValueError("no MNIST mirror given")
    return mirrors


def _sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def _fetch(url, dest_dir, filename, sha256, timeout):
    """Download ``url`` into ``dest_dir/filename`` via a temp file, only if its SHA-256 matches.

    On any failure the temp file is removed and the exception propagates; the destination is
    never touched unless the download is complete and verified.
    """
    fd, tmp = tempfile.mkstemp(prefix=f".{filename}.", suffix=".part", dir=dest_dir)
    try:
        h = hashlib.sha256()
        size = 0
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            for chunk in iter(lambda: resp.read(_CHUNK), b""):
                h.update(chunk)
                out.write(chunk)
                size += len(chunk)
            out.flush()
            os.fsync(out.fileno())
        digest = h.hexdigest()
        if digest != sha256:
            raise MNISTDownloadError(f"checksum mismatch for {filename} downloaded from {url}: "
                                     f"expected sha256 {sha256}, got {digest} ({size} bytes); "
                                     f"the download was discarded")
        os.replace(tmp, dest_dir / filename)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def download_mnist(data_dir=None, mirror=None, files=None, checksums=None, timeout=60,
                   verbose=False):
    """Download the missing MNIST ``.gz`` files into ``data_dir`` (created if need be).

    A file already present (raw or ``.gz``) is left alone. ``mirror``: a base URL or a list of
    them (default ``$MYTORCH_MNIST_MIRROR``, else :data:`DEFAULT_MIRRORS`), tried in order.
    ``files``: names without ``.gz`` (default all four). ``checksums``: ``{name.gz: sha256}``
    (default :data:`SHA256`; only for private mirrors of other IDX data). Raises
    :class:`MNISTDownloadError` listing every mirror's failure when a file cannot be obtained.
    Returns the directory.
    """
    data_dir = _resolve_dir(data_dir)
    mirrors = _mirror_list(mirror)
    checksums = SHA256 if checksums is None else checksums
    data_dir.mkdir(parents=True, exist_ok=True)
    for name in (files if files is not None else FILES.values()):
        if _find(data_dir, name) is not None:
            continue
        gz = name + ".gz"
        if gz not in checksums:
            raise MNISTDownloadError(f"no known sha256 for {gz}; refusing to download it "
                                     f"unverified")
        failures = []
        for base in mirrors:
            url = base + gz
            if verbose:
                print(f"downloading {url}", flush=True)
            try:
                _fetch(url, data_dir, gz, checksums[gz], timeout)
                break
            except MNISTDownloadError as e:
                failures.append(str(e))
            except (OSError, ValueError, http.client.HTTPException) as e:  # HTTP, timeout, bad URL
                reason = getattr(e, "reason", None) or e
                failures.append(f"{url}: {type(e).__name__}: {reason}")
        else:
            raise MNISTDownloadError(f"could not download {gz} into {data_dir}:\n  "
                                     + "\n  ".join(failures))
    return data_dir


# --------------------------------------------------------------------------------------------
# Loading

def load_mnist(data_dir=None, download=True, mirror=None, flatten=True, normalize=True,
               dtype=np.float64, timeout=60, verbose=False):
    """Load MNIST as ``(X_train, y_train, X_test, y_test)``.

    Images: ``(N, 784)`` (``flatten=False``: ``(N, 28, 28)``), ``dtype`` (float64) scaled to
    [0, 1] by /255; with ``normalize=False`` the raw uint8 pixels 0..255. Labels: int64 ``(N,)``,
    digits 0..9. N is 60000 / 10000 for the official files.

    ``data_dir``: where the files are (see the module docstring for the default). When some are
    missing they are downloaded (see :func:`download_mnist`) unless ``download=False``, which
    raises :class:`MNISTNotFoundError` listing them. Invalid files raise :class:`MNISTFormatError`.
    """
    data_dir = _resolve_dir(data_dir)
    missing = [name for name in FILES.values() if _find(data_dir, name) is None]
    if missing:
        if not download:
            raise MNISTNotFoundError(
                f"MNIST files missing from {data_dir}: {', '.join(missing)} (raw or .gz). "
                f"Put the official files there, point data_dir / ${DATA_ENV} elsewhere, or "
                f"allow downloading.")
        download_mnist(data_dir, mirror=mirror, files=missing, timeout=timeout, verbose=verbose)

    paths = {role: _find(data_dir, name) for role, name in FILES.items()}
    out = []
    for split in ("train", "test"):
        images = _read_mnist_images(paths[f"{split}_images"])
        labels = _read_mnist_labels(paths[f"{split}_labels"])
        if len(images) != len(labels):
            raise MNISTFormatError(f"{paths[f'{split}_images']} holds {len(images)} images but "
                                   f"{paths[f'{split}_labels']} holds {len(labels)} labels; "
                                   f"the counts must agree")
        if normalize:
            images = images.astype(dtype) / 255.0
        if flatten:
            images = images.reshape(len(images), ROWS * COLS)
        out += [images, labels]
    return tuple(out)


def batches(X, y, batch_size, rng=None, shuffle=True):
    """Yield mini-batches ``(X[idx], y[idx])`` covering every example exactly once.

    X: (N, ...), y: (N,). Batches have ``batch_size`` rows except possibly the last (smaller).
    With ``shuffle`` the order is a fresh permutation drawn from ``rng`` (a Generator or seed);
    pass the same Generator every epoch to get a new, reproducible order each epoch.
    """
    n = len(X)
    if len(y) != n:
        raise ValueError(f"batches: X has {n} rows but y has {len(y)}")
    if batch_size < 1:
        raise ValueError(f"batches: batch_size must be positive, got {batch_size}")
    order = np.random.default_rng(rng).permutation(n) if shuffle else np.arange(n)
    for start in range(0, n, batch_size):
        idx = order[start:start + batch_size]
        yield X[idx], y[idx]
