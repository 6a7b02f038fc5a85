"""Whatever a submission sends back, the checks answer with a wrong value and a clear message
(``Mismatch``), never with an error of the grader's own (issue: "any value the checker cannot
compare is a wrong value, never a grader error").

The values are every kind the wire can deliver (``sandbox/wire.py``): None, booleans, numbers of any
size, strings, nested lists, tuples and dicts, arrays of every allowed dtype and of any shape (0-d,
empty, wrong rank), NaN and infinities, and tagged ndarray subclasses.
"""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from autograder.channel.sandbox.wire import ALLOWED_DTYPES, TaggedArray
from autograder.checking.checks import (
    Mismatch,
    expect_array,
    expect_close,
    expect_gradient,
    expect_scalar,
)

DTYPES = sorted(np.dtype(d) for d in ALLOWED_DTYPES)
SPECIAL = [0.0, -0.0, 1e308, -1e308, 5e-324, np.nan, np.inf, -np.inf]


@st.composite
def arrays(draw):
    dtype = draw(st.sampled_from(DTYPES))
    shape = tuple(draw(st.lists(st.integers(0, 4), max_size=3)))
    seed = draw(st.integers(0, 2**32 - 1))
    values = np.random.default_rng(seed).normal(0, 10, shape)
    if dtype.kind == "f" and values.size and draw(st.booleans()):
        values.flat[0] = draw(st.sampled_from(SPECIAL))
    with np.errstate(all="ignore"):
        return values.astype(dtype) if dtype.kind != "b" else values > 0


plain = st.one_of(st.none(), st.booleans(), st.integers(-2**80, 2**80),
                  st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20),
                  arrays())
sent = st.recursive(plain, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.tuples(inner, inner),
    st.dictionaries(st.text(max_size=5), inner, max_size=2),
    st.builds(TaggedArray.wrap, arrays(), st.text(max_size=10))), max_leaves=6)


def _judged(check):
    """Run ``check``: passing or a Mismatch whose message is printable text are both fine."""
    try:
        check()
    except Mismatch as exc:
        assert isinstance(str(exc), str) and str(exc)


@settings(max_examples=300, deadline=None)
@given(value=sent, shape=st.lists(st.integers(1, 4), min_size=1, max_size=2),
       seed=st.integers(0, 2**32 - 1))
def test_any_value_is_judged_never_a_grader_error(value, shape, seed):
    expected = np.random.default_rng(seed).normal(size=shape)
    _judged(lambda: expect_close(value, expected, "Z", batch=shape[0]))
    _judged(lambda: expect_array(value, "Z", shape=expected.shape))
    _judged(lambda: expect_scalar(value, 1.5, "L"))
    _judged(lambda: expect_gradient(value, expected, "dLdZ"))
    _judged(lambda: expect_gradient(value, expected, "dLdZ", reference=expected))
