"""The wire format (autograder/channel/sandbox/wire.py) and the explaining comparisons (checks.py).

The wire is the trust boundary's only door: everything here is about what ``decode`` refuses, since
its input comes from a process running student code.
"""
import io
import json
import math
import struct

import numpy as np
import pytest

from autograder.channel.sandbox import wire
from autograder.channel.sandbox.wire import (
    MAGIC,
    Ref,
    TaggedArray,
    WireError,
    decode,
    encode,
    read_frame,
    split_frame,
)
from autograder.checking.checks import (
    Mismatch,
    close,
    diagnose,
    expect_array,
    expect_close,
    expect_scalar,
)


def roundtrip(value, **kwargs):
    frame = encode(value, **kwargs)
    header, payload = read_frame(io.BytesIO(frame))
    return decode(header, payload)


def frame_of(tree, payload=b""):
    """A hand-built frame whose header is the JSON of ``tree`` (for forging hostile input)."""
    header = json.dumps(tree).encode()
    return struct.pack("<4sIQ", MAGIC, len(header), len(payload)) + header + payload


def decode_tree(tree, payload=b""):
    header, data = read_frame(io.BytesIO(frame_of(tree, payload)))
    return decode(header, data)


def array_node(offset, nbytes, dtype="<f8", shape=(1,)):
    return {"$nd": [offset, nbytes], "dtype": dtype, "shape": list(shape)}


class LyingArray(np.ndarray):
    """An ndarray subclass whose comparisons always say "equal" (a known attack)."""

    def __eq__(self, other):
        return True

    def __array_finalize__(self, obj):
        pass


# --------------------------------------------------------------------------- round trips

@pytest.mark.parametrize("value", [
    None, True, False, 0, -7, 2**62, 1.5, -0.0, 1e-300, "", "héllo ✓", "a\x00b",
    [], (), {}, [1, "two", None], (1, (2, (3,))), {"a": 1, "b": [1, 2], "c": {"d": (None,)}},
])
def test_plain_values_round_trip(value):
    out = roundtrip(value)
    assert out == value and type(out) is type(value)


@pytest.mark.parametrize("value", [float("inf"), float("-inf")])
def test_infinities_round_trip(value):
    assert roundtrip(value) == value
    assert roundtrip([value]) == [value]


def test_nan_round_trips():
    out = roundtrip({"x": float("nan")})
    assert math.isnan(out["x"])


def test_numpy_scalars_arrive_as_python_numbers():
    out = roundtrip([np.int32(-3), np.uint64(7), np.float32(0.5), np.float64(2.25), np.bool_(True),
                     np.float64("nan")])
    assert out[:5] == [-3, 7, 0.5, 2.25, True]
    assert [type(x) for x in out] == [int, int, float, float, bool, float]
    assert math.isnan(out[5])


@pytest.mark.parametrize("dtype", ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16",
                                   "uint32", "uint64", "float16", "float32", "float64"])
def test_every_allowed_dtype_round_trips(dtype):
    rng = np.random.default_rng(0)
    arr = (rng.normal(size=(3, 4)) * 50).astype(dtype)
    out = roundtrip(arr)
    assert type(out) is np.ndarray
    assert out.dtype == np.dtype(dtype) and out.shape == (3, 4)
    np.testing.assert_array_equal(out, arr)


@pytest.mark.parametrize("arr", [
    np.zeros((0,)), np.zeros((0, 3)), np.asarray(3.5), np.arange(12.0).reshape(3, 4).T,
    np.arange(24.0).reshape(2, 3, 4)[:, ::2, 1:], np.asfortranarray(np.eye(3)),
    np.arange(5, dtype=">f8"), np.arange(5, dtype=">i4"),
], ids=["empty", "empty2d", "0d", "transposed", "strided", "fortran", "big-endian-f8",
        "big-endian-i4"])
def test_unusual_layouts_round_trip_as_plain_arrays(arr):
    out = roundtrip(arr)
    assert type(out) is np.ndarray and out.shape == arr.shape
    assert out.dtype == arr.dtype.newbyteorder("=")
    np.testing.assert_array_equal(out, arr)


def test_several_arrays_in_one_frame_keep_their_own_bytes():
    a, b = np.arange(6.0).reshape(2, 3), np.array([True, False])
    out = roundtrip({"a": a, "pair": (b, [a * 2])})
    np.testing.assert_array_equal(out["a"], a)
    np.testing.assert_array_equal(out["pair"][0], b)
    np.testing.assert_array_equal(out["pair"][1][0], a * 2)


def test_refs_round_trip_and_use_make_ref():
    frame = encode([Ref(5, "mytorch.nn.Linear", True, ["forward", "backward"]), Ref(6)])
    out = decode(*read_frame(io.BytesIO(frame)))
    assert [(r.id, r.type, r.callable, r.methods) for r in out] == [
        (5, "mytorch.nn.Linear", True, {"backward", "forward"}), (6, "", False, set())]
    made = decode(*read_frame(io.BytesIO(frame)), make_ref=lambda *a: ("made",) + a)
    assert made[0] == ("made", 5, "mytorch.nn.Linear", True, ["backward", "forward"])


@pytest.mark.parametrize("methods", [["x"] * 1001, [1], ["x" * 201], "forward"])
def test_method_lists_are_checked(methods):
    with pytest.raises(WireError, match="method list"):
        decode_tree({"$ref": 1, "type": "T", "callable": False, "methods": methods})


def test_split_frame_takes_whole_frames_only():
    buffer = bytearray(encode([1, 2]) + encode("next"))
    first_len = len(encode([1, 2]))
    partial = bytearray(buffer[:first_len - 1])
    assert split_frame(partial) is None and len(partial) == first_len - 1
    assert decode(*split_frame(buffer)) == [1, 2]
    assert decode(*split_frame(buffer)) == "next" and buffer == bytearray()
    with pytest.raises(WireError, match="marker"):
        split_frame(bytearray(b"XXXX" + bytes(12)))


def test_non_plain_values_need_to_ref():
    class Thing:
        pass

    for value in (Thing(), {1: "int key"}, {1.5}, b"bytes", np.array(["a"], dtype=object),
                  np.array([1 + 2j]), Ellipsis):
        with pytest.raises(WireError, match="cannot send"):
            encode(value)
    seen = []
    out = roundtrip([Thing(), np.array([object()])],
                    to_ref=lambda v: seen.append(v) or Ref(len(seen), type(v).__name__))
    assert [type(r) for r in out] == [Ref, Ref] and len(seen) == 2


def test_several_frames_on_one_stream():
    stream = io.BytesIO(encode(1) + encode([2.0]) + encode(np.ones(2)))
    values = [decode(*read_frame(stream)) for _ in range(3)]
    assert values[0] == 1 and values[1] == [2.0]
    np.testing.assert_array_equal(values[2], np.ones(2))
    assert read_frame(stream) is None  # clean end of stream


# --------------------------------------------------------------------------- decoded arrays

def test_decoded_arrays_are_fresh_writable_plain_ndarrays():
    out = roundtrip(np.arange(6, dtype=">f8").reshape(2, 3)[:, ::2])
    assert type(out) is np.ndarray
    assert out.flags.writeable and out.flags.c_contiguous and out.flags.owndata
    assert out.dtype.isnative
    out[0, 0] = 42.0  # does not raise: not a read-only view of the frame's bytes


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")
def test_ndarray_subclass_arrives_as_tagged_array():
    lying = np.arange(4.0).view(LyingArray)
    out = roundtrip({"value": lying})["value"]
    assert isinstance(out, TaggedArray) and not isinstance(out, np.ndarray)
    assert "LyingArray" in out.pytype
    assert type(out.array) is np.ndarray
    np.testing.assert_array_equal(out.array, np.arange(4.0))
    matrix = roundtrip(np.asmatrix(np.eye(2)))
    assert isinstance(matrix, TaggedArray) and matrix.pytype == "numpy.matrix"


def test_tagged_array_pytype_is_bounded():
    out = decode_tree({**array_node(0, 8), "pytype": "x" * 10_000}, b"\0" * 8)
    assert isinstance(out, TaggedArray) and len(out.pytype) == 200


# --------------------------------------------------------------------------- hostile frames

@pytest.mark.parametrize("dtype", ["|O", "<c16", "<M8[s]", "<U3", "|S4", "|V8", ">f8", "<f16",
                                   "float64", "f8", 5, None])
def test_decode_rejects_dtypes_off_the_whitelist(dtype):
    with pytest.raises(WireError):
        decode_tree(array_node(0, 8, dtype=dtype), b"\0" * 8)


def test_object_arrays_cannot_be_forged():
    with pytest.raises(WireError, match="not allowed"):
        decode_tree(array_node(0, 8, dtype="|O"), b"\0" * 8)


def test_bad_magic():
    frame = encode([1, 2])
    with pytest.raises(WireError, match="marker"):
        read_frame(io.BytesIO(b"XXXX" + frame[4:]))
    with pytest.raises(WireError):
        read_frame(io.BytesIO(b"\x80\x04\x95" + b"\0" * 30))  # a pickle is not a frame


@pytest.mark.parametrize("cut", [1, 5, 15, 17, -9, -1])
def test_truncated_frames(cut):
    frame = encode({"a": np.arange(3.0)})
    with pytest.raises(WireError, match="ended inside a frame"):
        read_frame(io.BytesIO(frame[:cut]))


def test_short_reads_are_reassembled():
    class Trickle(io.RawIOBase):
        def __init__(self, data):
            self.data = data

        def read(self, n=-1):
            chunk, self.data = self.data[:1], self.data[1:]
            return chunk

    value = decode(*read_frame(Trickle(encode([np.arange(4.0), "x"]))))
    np.testing.assert_array_equal(value[0], np.arange(4.0))


@pytest.mark.parametrize("shape,nbytes", [((2,), 8), ((3,), 32), ((2, 2), 24), ((0,), 8), ((), 16)])
def test_shape_and_byte_count_must_agree(shape, nbytes):
    with pytest.raises(WireError, match="cannot span"):
        decode_tree(array_node(0, nbytes, shape=shape), b"\0" * 64)


@pytest.mark.parametrize("shape", [[-1], [1.0], [True], "3", [[2]], [1] * 33, None])
def test_malformed_shapes(shape):
    with pytest.raises(WireError):
        decode_tree({"$nd": [0, 8], "dtype": "<f8", "shape": shape}, b"\0" * 8)


@pytest.mark.parametrize("offset,nbytes", [(-8, 8), (12, 8), (16, 1), (0, 24), (1.0, 8), (True, 8),
                                           (0, -8), ("0", 8), (2**70, 8)])
def test_out_of_range_or_malformed_offsets(offset, nbytes):
    with pytest.raises(WireError):
        decode_tree({"$nd": [offset, nbytes], "dtype": "<f8", "shape": [1]}, b"\0" * 16)


@pytest.mark.parametrize("node", [{"$nd": [0]}, {"$nd": 0, "dtype": "<f8", "shape": [1]},
                                  {"$nd": [0, 8], "shape": [1]}, {"$nd": [0, 8], "dtype": "<f8"}])
def test_malformed_array_nodes(node):
    with pytest.raises(WireError):
        decode_tree(node, b"\0" * 8)


def test_too_deep_nesting():
    deep = 0
    for _ in range(wire.MAX_DEPTH + 5):
        deep = [deep]
    with pytest.raises(WireError, match="deep"):
        encode(deep)
    with pytest.raises(WireError):
        decode_tree(deep)
    tuples = 0
    for _ in range(wire.MAX_DEPTH + 5):
        tuples = {"$tuple": [tuples]}
    with pytest.raises(WireError):
        decode_tree(tuples)
    ok = 0
    for _ in range(wire.MAX_DEPTH - 1):
        ok = [ok]
    assert roundtrip(ok) == ok


def test_json_recursion_bomb_is_a_wire_error():
    header = b"[" * 200_000 + b"]" * 200_000
    with pytest.raises(WireError):
        decode(header, b"")


def test_too_many_nodes():
    with pytest.raises(WireError, match="too large"):
        decode_tree([0] * (wire.MAX_NODES + 1))


@pytest.mark.parametrize("node", [
    {}, {"$foo": 1}, {"a": 1}, {"$float": "1e5"}, {"$float": 3.0}, {"$ref": "1"}, {"$ref": 1.0},
    {"$tuple": 5}, {"$dict": {"a": 1}}, {"$dict": [[1, 2]]}, {"$dict": [["a"]]}, {"$dict": ["ab"]},
    {"__class__": "os.system"}, {"py/object": "builtins.eval"},
])
def test_unknown_or_malformed_tagged_nodes(node):
    with pytest.raises(WireError):
        decode_tree([1, node])


@pytest.mark.parametrize("header", [b"\xff\xfe", b"{not json", b"", b"[1, 2"])
def test_unreadable_headers(header):
    with pytest.raises(WireError, match="unreadable"):
        decode(header, b"")


@pytest.mark.parametrize("header_len,payload_len", [(wire.MAX_HEADER_BYTES + 1, 0),
                                                    (2, wire.MAX_PAYLOAD_BYTES + 1),
                                                    (2**32 - 1, 2**64 - 1)])
def test_oversized_frames_are_refused_before_reading(header_len, payload_len):
    class NoMoreReads(io.BytesIO):
        def read(self, n=-1):
            if self.tell() >= wire._PREFIX.size:
                raise AssertionError("read_frame read past the prefix of an oversized frame")
            return super().read(n)

    prefix = struct.pack("<4sIQ", MAGIC, header_len, payload_len)
    with pytest.raises(WireError, match="too large"):
        read_frame(NoMoreReads(prefix + b"[]"))


def test_decode_never_returns_anything_but_plain_data():
    """Whatever the tree, decode's output is built from a closed set of types."""
    allowed = (type(None), bool, int, float, str, list, tuple, dict, np.ndarray, Ref, TaggedArray)

    def walk(v):
        assert type(v) in allowed, type(v)
        if isinstance(v, (list, tuple)):
            for x in v:
                walk(x)
        if isinstance(v, dict):
            for x in v.values():
                walk(x)

    walk(roundtrip([1, (2.0, "s"), {"k": [None, np.ones(2), np.ones(2).view(LyingArray)]},
                    Ref(1), float("nan")]))


# =========================================================================== checks.py

def hint_of(excinfo):
    return excinfo.value.hint or ""


@pytest.fixture
def expected():
    return np.random.default_rng(1).normal(size=(4, 3))


def test_close_values_pass(expected):
    expect_close(expected + 1e-13 * expected, expected, "Z")
    expect_close(np.einsum("ij->ij", expected), expected, "Z")
    expect_scalar(np.float64(2.0), 2.0, "L")
    expect_scalar(np.asarray([[2.0]]), 2.0, "L")
    expect_scalar(2, 2.0, "L")


def test_mismatch_message_names_quantity_error_and_place(expected):
    actual = expected.copy()
    actual[2, 1] += 0.5
    with pytest.raises(Mismatch) as exc:
        expect_close(actual, expected, "self.dLdW")
    text = str(exc.value)
    assert text.startswith("self.dLdW: wrong values (shape (4, 3) is right)")
    assert "Largest error 0.5" in text and "at index (2, 1)" in text
    assert exc.value.feedback() == text


def test_diagnoses_transposed():
    square = np.random.default_rng(2).normal(size=(3, 3))
    with pytest.raises(Mismatch) as exc:
        expect_close(square.T, square, "dLdW")
    assert "transposed" in hint_of(exc)


def test_diagnoses_transposed_shape(expected):
    with pytest.raises(Mismatch) as exc:
        expect_close(expected.T, expected, "dLdW")
    assert "expected shape (4, 3), got (3, 4)" in str(exc.value)
    assert "transposed" in hint_of(exc)


def test_diagnoses_sign(expected):
    with pytest.raises(Mismatch) as exc:
        expect_close(-expected, expected, "dLdA")
    assert "sign is flipped" in hint_of(exc)


@pytest.mark.parametrize("factor,words", [(4, "factor of N = 4"), (1 / 4, "factor of 1/N = 1/4")])
def test_diagnoses_factor_n(expected, factor, words):
    with pytest.raises(Mismatch) as exc:
        expect_close(expected * factor, expected, "dLdb", batch=4)
    assert words in hint_of(exc)


def test_diagnoses_column_vector_shape():
    b = np.ones((5, 1))
    with pytest.raises(Mismatch) as exc:
        expect_close(np.ones(5), b, "self.dLdb")
    assert "expected shape (5, 1), got (5,)" in str(exc.value)
    assert "keepdims=True" in hint_of(exc)


def test_diagnoses_accumulated_twice(expected):
    with pytest.raises(Mismatch) as exc:
        expect_close(2 * expected, expected, "self.dLdW after two backward calls")
    assert "accumulated (+=)" in hint_of(exc)


def test_diagnoses_constant_factor(expected):
    with pytest.raises(Mismatch) as exc:
        expect_close(3 * expected, expected, "dLdA")
    assert "every entry is 3× the expected value" in hint_of(exc)


def test_alternatives_come_first(expected):
    with pytest.raises(Mismatch) as exc:
        expect_close(expected - 1, expected, "Z",
                     alternatives={"the bias is missing": expected - 1})
    assert hint_of(exc) == "the bias is missing"


def test_no_hint_for_unrecognised_errors(expected):
    noise = np.random.default_rng(3).normal(size=expected.shape)
    with pytest.raises(Mismatch) as exc:
        expect_close(expected + noise, expected, "Z", batch=4)
    assert exc.value.hint is None and "Hint" not in str(exc.value)


@pytest.mark.parametrize("value", [[[1.0, 2.0]], ((1.0, 2.0),)])
def test_list_instead_of_ndarray(value):
    with pytest.raises(Mismatch) as exc:
        expect_close(value, np.array([[1.0, 2.0]]), "A")
    assert "expected a numpy.ndarray, got a " in str(exc.value)
    assert "np.array" in hint_of(exc)


def test_none_and_subclass_and_integer_arrays():
    with pytest.raises(Mismatch) as exc:
        expect_close(None, np.ones(2), "dLdZ")
    assert "forget to return" in hint_of(exc)
    tagged = TaggedArray.wrap(np.ones(2), "evil.LyingArray")
    with pytest.raises(Mismatch) as exc:
        expect_close(tagged, np.ones(2), "dLdZ")
    assert "subclass (evil.LyingArray)" in str(exc.value) and "plain numpy.ndarray" in hint_of(exc)
    with pytest.raises(Mismatch) as exc:
        expect_close(np.ones(2, dtype=int), np.ones(2), "dLdZ")
    assert "floating-point" in str(exc.value)
    assert type(expect_array(np.ones(2), "x", shape=(2,))) is np.ndarray


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_inf_hint(expected, bad):
    actual = expected.copy()
    actual[1, 2] = bad
    with pytest.raises(Mismatch) as exc:
        expect_close(actual, expected, "A = softmax(Z)")
    assert "at index (1, 2)" in str(exc.value)
    assert exc.value.hint is None  # no mistake reproduces it: said as a fact, without a guess


def test_nan_never_counts_as_close():
    a = np.array([np.nan, 1.0])
    assert not close(a, a)


def test_scalars():
    with pytest.raises(Mismatch) as exc:
        expect_scalar(4.0 * 1.5, 1.5, "L", batch=4)
    assert "factor of N = 4" in hint_of(exc)
    for value in (None, [1.5], "1.5", True, np.ones(2)):
        with pytest.raises(Mismatch, match="expected a number"):
            expect_scalar(value, 1.5, "L")


def test_diagnose_directly(expected):
    assert diagnose(expected, expected * 2) is not None  # half is a constant factor
    assert diagnose(expected.copy(), -expected).hint == "the sign is flipped"


# --------------------------------------------------------------------------- stacked lists

def test_lists_of_equal_arrays_travel_as_one_and_come_back_as_lists():
    xs = [np.arange(6.0).reshape(2, 3) + k for k in range(40)]
    frame = encode(xs)
    assert b"$stack" in frame and frame.count(b"$nd") == 1
    out = roundtrip(xs)
    assert type(out) is list and len(out) == 40
    for got, sent in zip(out, xs):
        assert type(got) is np.ndarray and got.dtype == sent.dtype and got.flags.writeable
        np.testing.assert_array_equal(got, sent)
    out[0][...] = -1  # rows are disjoint: writing one leaves the others alone
    np.testing.assert_array_equal(out[1], xs[1])


@pytest.mark.parametrize("items", [
    [np.zeros(3), np.zeros(4)],                      # shapes differ
    [np.zeros(3), np.zeros(3, dtype=np.float32)],   # dtypes differ
    [np.float64(1.0), np.float64(2.0)],              # scalars
    [np.array(1.0), np.array(2.0)],                  # 0-d arrays (rows would be scalars)
    [np.zeros(3), np.zeros(3).view(LyingArray)],     # a subclass keeps its tag
    [np.zeros(3)],                                   # one item
])
def test_other_lists_are_sent_item_by_item(items):
    assert b"$stack" not in encode(items)
    out = roundtrip(items)
    assert type(out) is list and len(out) == len(items)
    assert [np.shape(getattr(o, "array", o)) for o in out] == [np.shape(i) for i in items]


@pytest.mark.parametrize("inner", [[1, 2], 5, None, {"$float": "nan"}])
def test_a_stack_must_hold_an_array(inner):
    with pytest.raises(WireError, match="stack"):
        decode_tree({"$stack": inner})


def test_a_stack_of_one_dimension_is_refused():
    with pytest.raises(WireError, match="stack"):
        decode_tree({"$stack": array_node(0, 16, shape=(2,))}, bytes(16))


def test_a_stack_of_countless_empty_rows_is_refused():
    """Zero bytes can claim 10**9 rows; each would become an object on the trusted side."""
    with pytest.raises(WireError, match="has a dimension beyond"):
        decode_tree({"$stack": array_node(0, 0, shape=(10**9, 0))})
    with pytest.raises(WireError, match="too large"):
        decode_tree({"$stack": array_node(0, 0, shape=(10**6, 0))})


@pytest.mark.parametrize("shape", [(0, 2**70), (2**64, 0), (0, 10**400)])
def test_an_absurd_shape_of_no_bytes_is_refused(shape):
    with pytest.raises(WireError, match="has a dimension beyond"):
        decode_tree(array_node(0, 0, shape=shape))


@pytest.mark.parametrize("number", [10**400, -(2**64) - 1])
def test_an_integer_beyond_2_to_the_64_is_refused(number):
    with pytest.raises(WireError, match="out of range"):
        decode_tree([1, {"$tuple": [number]}])
    assert decode_tree([2**64, -(2**64)]) == [2**64, -(2**64)]


def test_values_beyond_the_frame_limit_are_refused_before_copying():
    huge = np.broadcast_to(np.float64(0.0), (10**12,))  # 8 TB if it were made contiguous
    with pytest.raises(WireError, match="too large to send"):
        encode(huge)
    with pytest.raises(WireError, match="too large to send"):
        encode([np.zeros(2**20)] * (wire.MAX_PAYLOAD_BYTES // 2**23 + 1))
