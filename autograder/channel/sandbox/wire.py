"""Wire format between the trusted grader and the worker: plain data only, never pickle.

A frame is ``MAGIC | u32 header length | u64 payload length | header | payload``. The header is JSON
(UTF-8) describing one value tree; ndarrays appear in it as
``{"$nd": [offset, nbytes], "dtype": ..., "shape": [...]}`` pointing into the raw payload bytes.
Other tagged nodes: ``$tuple``, ``$dict`` (pairs with string keys), ``$ref`` (a handle to an object
that lives in the worker), ``$float`` (nan/inf), ``$stack`` (a list of arrays of one shape and
dtype, sent as one array: its rows, views of one fresh buffer, come back as the list).

``decode`` is written for hostile input: it accepts only the node types above, dtypes on the
whitelist, shapes whose size matches the byte count, and bounded sizes and nesting; anything else
raises ``WireError``. Decoded arrays are fresh, writable, plain ``numpy.ndarray`` objects.
"""
import json
import math
import struct

import numpy as np

MAGIC = b"MTW1"
_PREFIX = struct.Struct("<4sIQ")
# Sized to what the graded suite sends and receives, with a wide margin: its largest message (the
# perturbed forwards of a gradient check, a few hundred small arrays) is under 100 kB. A frame is
# refused from its length prefix before anything is read, so the grader never holds more than one
# frame (and the arrays decoded from it) of a worker at a time: its memory stays within ~10 MB of
# its own needs whatever a submission sends.
MAX_HEADER_BYTES = 1 * 2**20
MAX_PAYLOAD_BYTES = 4 * 2**20
MAX_DEPTH = 32
MAX_NODES = 100_000
MAX_METHODS = 1000
MAX_INT = 2**64  # larger integers are no number the suite sends or expects (10**400 is no float)
ALLOWED_DTYPES = frozenset(
    np.dtype(t).newbyteorder("<").str
    for t in ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
              "float16", "float32", "float64")
)


class WireError(Exception):
    """The bytes on the wire are not a valid message."""


class Ref:
    """A handle naming an object held by the worker (decoded on the trusted side as this).

    ``methods`` names the public methods of the object's class, so that the trusted side can call
    ``remote.forward(x)`` in one round trip instead of first asking what ``forward`` is.
    """

    __slots__ = ("id", "type", "callable", "methods")

    def __init__(self, id, type="", callable=False, methods=()):
        self.id, self.type, self.callable, self.methods = id, type, callable, frozenset(methods)

    def __repr__(self):
        return f"Ref({self.id}, {self.type!r})"


def encode(value, to_ref=None):
    """Return the frame bytes for ``value``.

    ``to_ref(obj) -> Ref`` is asked for anything that is not plain data; without it such values
    raise ``WireError``.
    """
    buffers = []
    offset = [0]

    def room_for(nbytes):  # checked before copying: a broadcast view can claim terabytes
        if offset[0] + nbytes > MAX_PAYLOAD_BYTES:
            raise WireError(f"the value is too large to send: arrays of {offset[0] + nbytes:,} "
                            f"bytes (the limit is {MAX_PAYLOAD_BYTES // 2**20} MB)")

    def node(v, depth):
        if depth > MAX_DEPTH:
            raise WireError("value nested too deeply")
        t = type(v)  # exact types first: most nodes are one of these (a third of encode's time)
        if t is str or t is int or t is bool or v is None:
            return v
        if t is list:
            # e.g. the 2·size outputs of a numeric gradient: one array, not 2·size
            if _stackable(v):
                room_for(len(v) * v[0].nbytes)
                return {"$stack": node(np.stack(v), depth + 1)}
            return [node(x, depth + 1) for x in v]
        if t is dict and all(type(k) is str for k in v):
            return {"$dict": [[k, node(x, depth + 1)] for k, x in v.items()]}
        if isinstance(v, (bool, str)):
            return v
        if isinstance(v, (int, np.integer)) and not isinstance(v, np.bool_):
            return int(v)
        if isinstance(v, (float, np.floating)):
            f = float(v)
            return f if math.isfinite(f) else {"$float": repr(f)}
        if isinstance(v, np.bool_):
            return bool(v)
        if isinstance(v, np.ndarray) and v.dtype.kind in "biuf":
            room_for(v.nbytes)
            # (reshape: ascontiguousarray turns a 0-d array into shape (1,))
            arr = np.ascontiguousarray(v, dtype=v.dtype.newbyteorder("<")).reshape(v.shape)
            data = arr.tobytes()
            entry = {"$nd": [offset[0], len(data)], "dtype": arr.dtype.str,
                     "shape": list(arr.shape)}
            if type(v) is not np.ndarray:
                entry["pytype"] = _qualname(v)
            buffers.append(data)
            offset[0] += len(data)
            return entry
        if isinstance(v, Ref):
            return {"$ref": v.id, "type": v.type, "callable": v.callable,
                    "methods": sorted(v.methods)}
        if t is tuple:
            return {"$tuple": [node(x, depth + 1) for x in v]}
        if to_ref is None:
            raise WireError(f"cannot send a value of type {_qualname(v)}")
        return node(to_ref(v), depth)

    header = json.dumps(node(value, 0), separators=(",", ":")).encode()
    if len(header) > MAX_HEADER_BYTES:
        raise WireError(f"the value is too large to send: a description of {len(header):,} bytes "
                        f"(the limit is {MAX_HEADER_BYTES // 2**20} MB)")
    payload = b"".join(buffers)
    return _PREFIX.pack(MAGIC, len(header), len(payload)) + header + payload


def _stackable(items):
    """A list of two or more plain arrays (at least 1-d) of one dtype and one shape."""
    if len(items) < 2 or type(items[0]) is not np.ndarray:
        return False
    first = items[0]
    return first.ndim >= 1 and first.dtype.kind in "biuf" and all(
        type(x) is np.ndarray and x.dtype == first.dtype and x.shape == first.shape
        for x in items[1:])


def _qualname(obj):
    t = type(obj)
    return f"{t.__module__}.{t.__qualname__}"


def read_frame(stream):
    """Read one frame from a binary stream;
    return ``(header_bytes, payload_bytes)`` or None at EOF."""
    prefix = _read_exact(stream, _PREFIX.size, allow_eof=True)
    if prefix is None:
        return None
    header_len, payload_len = _check_prefix(prefix)
    return _read_exact(stream, header_len), _read_exact(stream, payload_len)


def frame_size(buffer):
    """The length of the frame at the front of ``buffer``; None until its prefix has arrived.
    A bad marker or a declared size beyond the limits raises ``WireError`` at once."""
    if len(buffer) < _PREFIX.size:
        return None
    header_len, payload_len = _check_prefix(bytes(buffer[:_PREFIX.size]))
    return _PREFIX.size + header_len + payload_len


MAX_FRAME_BYTES = _PREFIX.size + MAX_HEADER_BYTES + MAX_PAYLOAD_BYTES


def split_frame(buffer):
    """Take one whole frame off the front of ``buffer`` (a bytearray); None if it is incomplete."""
    end = frame_size(buffer)
    if end is None:
        return None
    header_len = _PREFIX.unpack(bytes(buffer[:_PREFIX.size]))[1]
    if len(buffer) < end:
        return None
    frame = bytes(buffer[_PREFIX.size:_PREFIX.size + header_len]), \
        bytes(buffer[_PREFIX.size + header_len:end])
    del buffer[:end]
    return frame


def _check_prefix(prefix):
    magic, header_len, payload_len = _PREFIX.unpack(prefix)
    if magic != MAGIC:
        raise WireError(f"bad frame marker {magic!r}")
    if header_len > MAX_HEADER_BYTES or payload_len > MAX_PAYLOAD_BYTES:
        raise WireError(f"frame too large ({header_len} header + {payload_len} payload bytes)")
    return header_len, payload_len


def _read_exact(stream, n, allow_eof=False):
    chunks, got = [], 0
    while got < n:
        chunk = stream.read(n - got)
        if not chunk:
            if allow_eof and got == 0:
                return None
            raise WireError(f"stream ended inside a frame ({got} of {n} bytes)")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def decode(header, payload, make_ref=Ref):
    """Turn one frame back into a value, validating everything (see the module docstring)."""
    try:
        tree = json.loads(header.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise WireError(f"unreadable header: {exc}") from None
    count = [0]

    def value(n, depth):
        count[0] += 1
        if depth > MAX_DEPTH or count[0] > MAX_NODES:
            raise WireError("value too deeply nested or too large")
        t = type(n)  # json.loads makes exactly these types
        if t is int and not -MAX_INT <= n <= MAX_INT:  # 10**400: no float or int64 holds it
            raise WireError(f"integer of {len(str(abs(n)))} digits is out of range (at most "
                            "2**64 in size)")
        if t is str or t is int or t is float or t is bool or n is None:
            return n
        if t is list:
            return [value(x, depth + 1) for x in n]
        if t is not dict or len(n) == 0:
            raise WireError(f"unexpected node {type(n).__name__}")
        if "$nd" in n:
            return _array(n, payload)
        if "$stack" in n:  # a list of equal arrays sent as one: its rows, each a plain ndarray
            stacked = value(n["$stack"], depth + 1)
            if type(stacked) is not np.ndarray or stacked.ndim < 2:
                raise WireError("malformed stack of arrays")
            count[0] += stacked.shape[0]
            if count[0] > MAX_NODES:
                raise WireError("value too deeply nested or too large")
            return list(stacked)
        if "$tuple" in n and isinstance(n["$tuple"], list):
            return tuple(value(x, depth + 1) for x in n["$tuple"])
        if "$dict" in n and isinstance(n["$dict"], list):
            out = {}
            for pair in n["$dict"]:
                if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str)):
                    raise WireError("malformed dict entry")
                out[pair[0]] = value(pair[1], depth + 1)
            return out
        if "$float" in n and n["$float"] in ("nan", "inf", "-inf"):
            return float(n["$float"])
        if "$ref" in n and isinstance(n["$ref"], int):
            methods = n.get("methods", [])
            if not (isinstance(methods, list) and len(methods) <= MAX_METHODS
                    and all(isinstance(m, str) and len(m) <= 200 for m in methods)):
                raise WireError("malformed method list")
            return make_ref(n["$ref"], str(n.get("type", "")), bool(n.get("callable", False)),
                            methods)
        raise WireError(f"unknown node with keys {sorted(n)[:5]}")

    return value(tree, 0)


def _array(n, payload):
    try:
        (offset, nbytes), dtype, shape = n["$nd"], n["dtype"], n["shape"]
    except (KeyError, TypeError, ValueError):
        raise WireError("malformed array node") from None
    if dtype not in ALLOWED_DTYPES:
        raise WireError(f"array dtype {dtype!r} is not allowed (numbers and booleans only)")
    if not (isinstance(shape, list) and all(type(s) is int and s >= 0 for s in shape)
            and len(shape) <= 32):
        raise WireError(f"malformed array shape {shape!r}")
    if not (type(offset) is int and type(nbytes) is int and 0 <= offset
            and offset + nbytes <= len(payload)):
        raise WireError("array bytes out of range")
    if any(s > MAX_PAYLOAD_BYTES for s in shape):  # e.g. [0, 2**70]: no bytes, an absurd shape
        raise WireError(f"array shape {_shown(shape)} has a dimension beyond "
                        f"{MAX_PAYLOAD_BYTES:,}")
    dt = np.dtype(dtype)
    if math.prod(shape) * dt.itemsize != nbytes:
        raise WireError(f"array of shape {tuple(shape)} and dtype {dt} cannot span {nbytes} bytes")
    arr = np.frombuffer(payload, dtype=dt, count=math.prod(shape), offset=offset)
    arr = arr.reshape(shape).astype(dt.newbyteorder("="), copy=True)
    return TaggedArray.wrap(arr, n.get("pytype")) if n.get("pytype") else arr


def _shown(shape):
    return "[" + ", ".join(str(s) if s < 10**6 else f"about 2**{s.bit_length() - 1}"
                           for s in shape) + "]"


class TaggedArray:
    """Marker for arrays that were an ndarray *subclass* in the worker: the data, plus the name."""

    __slots__ = ("array", "pytype")

    @classmethod
    def wrap(cls, array, pytype):
        tagged = cls()
        tagged.array, tagged.pytype = array, str(pytype)[:200]
        return tagged
