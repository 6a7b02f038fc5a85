"""Comparisons that explain themselves, and hints that are verified before they are shown.

``expect_close`` compares a value the worker sent back with the trusted expected value and, when
they differ, raises ``Mismatch``: the quantity, both shapes and dtypes, the largest error and where
it is, and — only when one is verified — a diagnosis.

A ``Diagnosis`` is a suspected mistake *applied to the reference inputs* on the trusted side (e.g.
``A @ W`` instead of ``A @ W.T``). It is named only when it reproduces what the student's code gave:
the same shape and values within tolerance, or the very exception the student's code raised
(``replaying_errors``). Every diagnosis has a stable id (``linear.dLdW.transposed``,
``bn.eps_outside_sqrt``) that ``Mismatch`` carries as data, so that a class's common mistakes can be
counted without reading any text. The catalogue of named mistakes per layer is ``mistakes.py``; a
few generic ones (a flipped sign, a transposed square matrix, a factor N, a doubled value, a
constant factor) are tried here on every comparison.

Tolerances (in the writeup): ``|actual - expected| <= ATOL + RTOL·|expected|`` for float64; a
float32 result at float32 precision. ``property_check``: a hypothesis test whose failure carries
the arguments it failed with.
"""
import contextlib
import functools
import re
from dataclasses import dataclass

import hypothesis
import numpy as np

from ..channel.errors import NotImplementedYet, StudentError
from ..channel.sandbox.wire import TaggedArray

RTOL = 1e-6   # float64 reference outputs; an einsum or another summation order stays ~1e-14 away
ATOL = 1e-8
FLOAT32_RTOL = 1e-4  # float32 rounds at ~6e-8; sums of a few dozen terms stay well inside
FLOAT32_ATOL = 1e-5  # times max(1, largest |expected|): cancellation leaves an absolute error

_UNSET = object()


class Diagnosis:
    """A known mistake, as the value (or exception) it gives on the reference inputs.

    ``value``: what the mistake computes, or ``replay``: a callable computing it lazily (only when a
    comparison failed); it may raise, as the student's code would (see ``replaying_errors``).
    """

    __slots__ = ("id", "hint", "_value", "_replay", "_error")

    def __repr__(self):
        return f"Diagnosis({self.id!r})"

    def __init__(self, id, hint, value=_UNSET, replay=None):
        if (value is _UNSET) == (replay is None):
            raise ValueError(f"diagnosis {id}: give exactly one of value and replay")
        self.id, self.hint, self._value, self._replay, self._error = id, hint, value, replay, None

    def _outcome(self):
        if self._value is _UNSET:
            try:
                self._value = self._replay()
            except Exception as exc:  # the mistake raises on these inputs: remember how
                self._value, self._error = None, exc
        return self._value, self._error

    def reproduces(self, actual, rtol=RTOL, atol=ATOL):
        """True when the mistake gives ``actual``: same shape, values within tolerance."""
        value, error = self._outcome()
        if error is not None or value is None:
            return False
        value = np.asarray(value, dtype=np.float64)
        actual = np.asarray(actual)
        if actual.dtype.kind not in "biuf" or value.shape != actual.shape:
            return False
        rtol, atol = tolerances(actual, value, rtol, atol)
        return agree(actual.astype(np.float64), value, rtol, atol)

    def reproduces_error(self, exc):
        """True when the mistake raises on the reference inputs what the student's code raised."""
        _, error = self._outcome()
        return error is not None and type(error).__name__ == exc.type and str(error) == exc.message


class Mismatch(AssertionError):
    """A graded value is wrong. ``str()`` is the feedback shown to the student; ``diagnosis`` is the
    catalogue id of the verified mistake its hint names (None: no id is made up from the text)."""

    def __init__(self, name, message, hint=None, diagnosis=None):
        self.name, self.hint = name, hint
        self.diagnosis = diagnosis
        text = f"{name}: {message}"
        if hint:
            text += f"\n  Hint: {hint}"
        super().__init__(text)

    @classmethod
    def of(cls, name, message, diagnosis):
        """A Mismatch naming ``diagnosis`` (a Diagnosis or None)."""
        if diagnosis is None:
            return cls(name, message)
        return cls(name, message, diagnosis.hint, diagnosis.id)

    def feedback(self):
        return str(self)


class NotGradable(Mismatch):  # another task's code is wrong: costs nothing (quantities.py)
    pass


SHAPE_SHARE = 0.25  # of a quantity's weight: what a right value in the wrong shape costs


class ShapeMismatch(Mismatch):  # right values, wrong shape ((C,) for (1, C))
    share = SHAPE_SHARE


@dataclass(frozen=True)
class FailingExample:
    """The arguments a property check failed with, drawn by hypothesis."""
    test: str          # the test function's name
    arguments: dict    # name -> drawn value

    def call(self):
        """The test called with these arguments: "test_x(shape=(3, 1), seed=0)"."""
        return f"{self.test}(" + ", ".join(f"{k}={v!r}" for k, v in self.arguments.items()) + ")"


def property_check(**strategies):
    """``hypothesis.given(**strategies)`` for a graded test, recording each failing example.

    When the test raises, the exception carries the arguments drawn for that run
    (``failing_example(exc)``); the failure hypothesis finally reports is the one of the example it
    reports, so the grader shows exactly the arguments that fail.
    """
    def decorate(test):
        @functools.wraps(test)
        def run_example(*args, **kwargs):
            try:
                return test(*args, **kwargs)
            except BaseException as exc:
                drawn = {name: kwargs[name] for name in strategies if name in kwargs}
                exc.mytorch_failing_example = FailingExample(test.__name__, drawn)
                raise
        return hypothesis.given(**strategies)(run_example)
    return decorate


def failing_example(exc):
    """The ``FailingExample`` a ``property_check`` test attached to ``exc``, or None."""
    return getattr(exc, "mytorch_failing_example", None)


def _kind(value):
    if isinstance(value, TaggedArray):
        return f"an ndarray subclass ({value.pytype})"
    if isinstance(value, np.ndarray):
        return f"an ndarray of shape {value.shape} and dtype {value.dtype}"
    return f"a {type(value).__name__}" if value is not None else "None"


LOW_PRECISION = (np.float32,)  # float16 is too coarse for any check: held to float64


def tolerances(actual, expected, rtol=RTOL, atol=ATOL, computed_in=None):
    """(rtol, atol) for ``actual`` vs ``expected``: float32 precision for a float32 result (or one
    ``computed_in`` float32: float64 arrays times a float32 cache), else as given."""
    dtype = computed_in if computed_in in LOW_PRECISION else getattr(actual, "dtype", None)
    if dtype in LOW_PRECISION and rtol < FLOAT32_RTOL:
        expected = np.asarray(expected, dtype=np.float64)
        finite = np.abs(expected[np.isfinite(expected)])
        scale = max(1.0, float(finite.max())) if finite.size else 1.0
        return FLOAT32_RTOL, max(atol, FLOAT32_ATOL * scale)
    return rtol, atol


def close(a, b, rtol=RTOL, atol=ATOL):
    """True when arrays ``a`` and ``b`` have one shape and agree elementwise (NaN never agrees)."""
    return a.shape == b.shape and bool(np.all(np.abs(a - b) <= atol + rtol * np.abs(b)))


def agree(a, b, rtol=RTOL, atol=ATOL):
    """``close``, but equal infinities and NaN where NaN is expected agree (a mistake's value)."""
    if a.shape != b.shape:
        return False
    with np.errstate(invalid="ignore"):
        ok = (np.abs(a - b) <= atol + rtol * np.abs(b)) | (a == b) | (np.isnan(a) & np.isnan(b))
    return bool(np.all(ok))


def _key(name):
    """A diagnosis-id prefix from a quantity's display name: 'self.dLdW' -> 'dLdW'."""
    head = re.split(r"[ =(]", name.replace("self.", ""), maxsplit=1)[0]
    return head or "value"


def _diagnoses(key, diagnoses, alternatives):
    """``diagnoses``, then ``alternatives`` ({hint: value}; {(id, hint): value} gives an id)."""
    found = list(diagnoses or ())
    for hint, value in (alternatives or {}).items():
        found.append(Diagnosis(*(hint if isinstance(hint, tuple) else (None, hint)), value=value))
    return found


def _number(value):
    """``value`` as a float if it is a plain number (or a size-1 numeric array), else None."""
    if isinstance(value, np.ndarray) and value.size == 1 and value.dtype.kind in "iuf":
        return float(value.reshape(())[()])
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return float(value)
    return None


def expect_array(actual, name, shape=None, dtype_kind="f", diagnoses=(), expected=None, key=None):
    """Return ``actual`` if it is a plain ndarray (of ``shape`` if given), else raise Mismatch.
    ``diagnoses`` are tried on a wrong shape or a number where an array was expected (e.g. a
    scalar dLdBW); ``expected`` verifies the shape hints (right values: ``ShapeMismatch``)."""
    key = key or _key(name)
    if not isinstance(actual, np.ndarray):
        number = _number(actual)
        if number is not None:
            found = next((d for d in diagnoses if d.reproduces(np.asarray(number))), None)
            if found is not None:
                raise Mismatch.of(name, f"expected an array of shape {shape}, got the number "
                                  f"{number:.6g}", found)
        hint, code = None, None
        if isinstance(actual, (list, tuple)):
            hint, code = ("convert with np.array(...) or compute with NumPy operations throughout",
                          "not_an_array")
        elif isinstance(actual, TaggedArray):
            hint, code = "return a plain numpy.ndarray (np.asarray(x)), not a subclass", "subclass"
        elif actual is None:
            hint, code = "did you forget to return it (or to store it on self)?", "missing"
        raise Mismatch(name, f"expected a numpy.ndarray, got {_kind(actual)}", hint,
                       f"{key}.{code}" if code else None)
    if dtype_kind and actual.dtype.kind not in dtype_kind:
        raise Mismatch(name, f"expected a floating-point array, got dtype {actual.dtype}",
                       "integer or boolean arrays lose the fractional part; use float64",
                       f"{key}.not_float")
    if shape is not None and actual.shape != tuple(shape):
        message = f"expected shape {tuple(shape)}, got {actual.shape}"
        found = next((d for d in diagnoses if d.reproduces(actual)), None)
        if found is None and expected is not None:
            found = _shape_diagnosis(actual, np.asarray(expected), key)
        if found is None:
            found = _shape_fact(actual.shape, tuple(shape), key)
        if found is not None and found.id == f"{key}.shape" and expected is not None:
            raise ShapeMismatch(name, message, found.hint, found.id)  # values right: reshaped
        raise Mismatch.of(name, message, found)
    return actual


def _shape_diagnosis(actual, expected, key):
    """A wrong shape whose values are right once rearranged (verified against ``expected``)."""
    got, want = actual.shape, expected.shape
    limits = tolerances(actual, expected)
    if len(want) == 2 and got == want[::-1] and 1 not in want \
            and close(actual.T.astype(np.float64), expected, *limits):
        return Diagnosis(f"{key}.transposed", "the values are right but transposed: check the "
                         "order of the matrix product", value=expected.T)
    if actual.size == expected.size and close(actual.reshape(want).astype(np.float64), expected,
                                              *limits):
        return Diagnosis(f"{key}.shape", f"the values are right: reshape to {want} (e.g. "
                         "keepdims=True or .reshape)", value=expected.reshape(got))
    if len(got) == 2 and len(want) == 2 and got[1:] == want[1:] and want[0] == 1 and got[0] > 1:
        summed = actual.astype(np.float64).sum(axis=0, keepdims=True)
        if close(summed, expected, *tolerances(actual, expected)):
            return Diagnosis(f"{key}.not_summed_over_batch", "one row per example: sum over the "
                             "batch axis (axis=0, keepdims=True)", value=actual)
    return None


def _shape_fact(got, want, key):
    """What the shapes alone say for sure (no guess about the cause)."""
    if len(want) == 2 and 1 in want and got == (max(want),) and np.prod(want) == max(want):
        kind = "row" if want[0] == 1 else "column"
        return Diagnosis(f"{key}.shape.flat", f"a 1-D array where a {kind} is expected: keep the "
                         f"{kind} shape {want} (keepdims=True or .reshape)", value=None)
    if np.prod(got) != np.prod(want) and len(got) == len(want) + 1 and got[1:] == want:
        return Diagnosis(f"{key}.shape.extra_axis", "an extra leading axis", value=None)
    return None


def expect_close(actual, expected, name, rtol=RTOL, atol=ATOL, alternatives=None, batch=None,
                 key=None, diagnoses=(), computed_in=None):
    """Raise Mismatch unless ``actual`` is a float ndarray close to ``expected``.

    ``diagnoses`` (Diagnosis objects, e.g. from ``mistakes.py``) and ``alternatives`` ({hint: the
    value a specific mistake would produce}, ids made from ``key`` and the hint) are tried first;
    ``batch`` is N, to recognise sums vs averages; ``key`` prefixes the ids of the generic
    diagnoses (default: the quantity's name); ``computed_in``: the dtype the student's layer
    computes in (e.g. its forward's), when float32 values may come back as float64.
    """
    key = key or _key(name)
    expected = np.asarray(expected)
    candidates = _diagnoses(key, diagnoses, alternatives)
    actual = expect_array(actual, name, shape=expected.shape, diagnoses=candidates,
                          expected=expected, key=key)
    rtol, atol = tolerances(actual, expected, rtol, atol, computed_in)
    if close(actual, expected, rtol, atol):
        return
    err = np.abs(actual - expected)
    err = np.where(np.isnan(err), np.inf, err)
    where = np.unravel_index(int(np.argmax(err)), err.shape) if err.size else ()
    where = tuple(int(i) for i in where)
    found = diagnose(actual, expected, candidates, batch, key, rtol, atol)
    if not np.all(np.isfinite(actual)) and np.all(np.isfinite(expected)):
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(actual))[0])
        message = f"contains {actual[bad]} at index {bad} where {expected[bad]:.6g} was expected"
        raise Mismatch.of(name, message, found)
    scale = abs(float(expected[where])) if err.size else 0.0
    relative = f" (relative {err[where] / scale:.3g})" if scale > 0 else ""
    message = (f"wrong values (shape {actual.shape} is right). Largest error {err[where]:.3g}"
               f"{relative} at index {where}: expected {float(expected[where]):.6g}, "
               f"got {float(actual[where]):.6g}")
    raise Mismatch.of(name, message, found)


def generic_diagnoses(expected, batch, key):
    """Mistakes recognisable from the expected value alone, tried after the specific ones."""
    out = [Diagnosis(f"{key}.sign_flipped", "the sign is flipped", value=-expected)]
    if expected.ndim == 2 and expected.shape[0] == expected.shape[1] > 1:
        out.append(Diagnosis(f"{key}.transposed", "the result is transposed: check the order of "
                             "the product", value=expected.T))
    if batch and batch > 1:
        out.append(Diagnosis(f"{key}.times_N", f"off by a factor of N = {batch}: summed where the "
                             "mean was wanted (or the other way round)?", value=expected * batch))
        out.append(Diagnosis(f"{key}.divided_by_N", f"off by a factor of 1/N = 1/{batch}: "
                             "averaged where the sum was wanted?", value=expected / batch))
    out.append(Diagnosis(f"{key}.doubled", "exactly twice the expected value: accumulated (+=) "
                         "instead of assigned?", value=2 * expected))
    return out


def diagnose(actual, expected, diagnoses=(), batch=None, key="value", rtol=RTOL, atol=ATOL):
    """The first verified diagnosis that turns the reference into ``actual``, or None.

    The specific ``diagnoses`` come first, then ``generic_diagnoses``, then a constant factor,
    which is said only of an array with at least two nonzero expected entries, a nonzero factor,
    and ``actual`` equal to factor × expected everywhere (zeros included).
    """
    expected = np.asarray(expected, dtype=np.float64)
    for candidate in list(diagnoses) + generic_diagnoses(expected, batch, key):
        if candidate.reproduces(actual, rtol, atol):
            return candidate
    nonzero = np.abs(expected) > 1e-12
    if np.count_nonzero(nonzero) < 2 or not np.all(np.isfinite(actual)):
        return None
    ratio = actual[nonzero] / expected[nonzero]
    factor = float(np.median(ratio))
    if factor == 0 or abs(factor - 1) < 1e-6 or not np.isfinite(factor):
        return None
    guess = Diagnosis(f"{key}.constant_factor", f"every entry is {factor:.6g}× the expected value: "
                      "a constant factor is off", value=factor * expected)
    return guess if guess.reproduces(actual, rtol, atol) else None


@contextlib.contextmanager
def replaying_errors(name, diagnoses):
    """Name the mistake when the student's code raises exactly the exception a known mistake
    raises on the reference inputs (e.g. numpy's matmul shape error for ``A @ W``).

    Other exceptions, and NotImplementedError, pass through unchanged."""
    try:
        yield
    except NotImplementedYet:
        raise
    except StudentError as exc:
        found = next((d for d in diagnoses if d.reproduces_error(exc)), None)
        if found is None:
            raise
        raise Mismatch.of(name, exc.feedback(), found) from exc


def expect_scalar(actual, expected, name, rtol=RTOL, atol=ATOL, alternatives=None, batch=None,
                  key=None, diagnoses=()):
    """Like ``expect_close`` for a scalar (a Python/NumPy number or a 0-d / size-1 array)."""
    value = _number(actual)
    if value is None:
        raise Mismatch(name, f"expected a number, got {_kind(actual)}")
    dtype = actual.dtype if isinstance(actual, (np.ndarray, np.floating)) else np.float64
    expect_close(np.asarray(value, dtype=dtype), np.asarray(float(expected)), name, rtol, atol,
                 {k: np.asarray(float(v)) for k, v in (alternatives or {}).items()}, batch,
                 key, diagnoses)


def expect_gradient(analytic, numeric, name, rtol=None, atol=None, alternatives=None, *,
                    reference=None, forward=None, key=None, diagnoses=(), any_shape=False):
    """Raise Mismatch unless the gradient ``analytic`` (sent by the worker) is right.

    ``numeric`` is a trusted central-difference estimate (``gradcheck.vjp_from``) of the
    student's own forward, or None when that forward raised (then ``reference`` alone judges).
    ``reference``, when given, is the reference gradient on the same inputs: a backward equal to it
    passes whatever the central differences say (a forward computing ``log(softmax + 1e-12)``
    differs from the exact function by far less than a fixture can see, but enough to move a
    numeric derivative). ``forward`` = (the student's forward output, the reference's) lets the
    feedback say which side is inconsistent. Diagnoses are applied to the reference gradient (else
    to ``numeric``), as in ``expect_close``. ``any_shape``: values compared whatever the shape.
    """
    from .gradcheck import ATOL as GRAD_ATOL
    from .gradcheck import RTOL as GRAD_RTOL
    from .gradcheck import compare_gradients

    key = key or _key(name)
    if numeric is None and reference is None:
        raise ValueError(f"expect_gradient({name}): give numeric or reference")
    trusted = np.asarray(numeric if reference is None else reference, dtype=np.float64)
    candidates = _diagnoses(key, diagnoses, alternatives)
    if any_shape and getattr(analytic, "size", None) == trusted.size:  # charged elsewhere, once
        analytic = analytic.reshape(trusted.shape)
    analytic = expect_array(analytic, name, shape=trusted.shape, diagnoses=candidates,
                            expected=trusted, key=key)
    forward_dtype = getattr(forward[0], "dtype", None) if forward else None
    limits = tolerances(analytic, trusted, computed_in=forward_dtype)
    if reference is not None and close(analytic, trusted, *limits):
        return
    if numeric is None:  # the forward raised: no central differences to compare with
        found = diagnose(analytic, trusted, candidates, key=key) \
            if np.all(np.isfinite(analytic)) else None
        raise Mismatch.of(name, "differs from the reference gradient (your forward raised on "
                          "these inputs, so central differences were not possible)", found)
    numeric = np.asarray(numeric, dtype=np.float64)
    low_precision = analytic.dtype != np.float64 or forward_dtype in LOW_PRECISION
    if low_precision and reference is None:
        raise Mismatch(name, f"expected dtype float64, got {analytic.dtype}",
                       "keep everything in float64 (no .astype(np.float32), no integer arrays)",
                       f"{key}.not_float64")
    result = compare_gradients(analytic, numeric, GRAD_RTOL if rtol is None else rtol,
                               GRAD_ATOL if atol is None else atol)
    if result.ok and not low_precision:
        return  # consistent with the student's own forward: the forward's test judges the rest
    found = diagnose(analytic, trusted, candidates, key=key, rtol=limits[0], atol=limits[1]) \
        if np.all(np.isfinite(analytic)) else None
    if low_precision:
        message = ("differs from the reference gradient (your forward computes in "
                   f"{forward_dtype or analytic.dtype}, too coarse for central differences, so "
                   "this check compares with the reference derivative instead)")
        raise Mismatch.of(name, message, found)
    forward_ok = None
    if forward is not None:
        mine = np.asarray(forward[0], dtype=np.float64)
        theirs = np.asarray(forward[1], dtype=np.float64)
        forward_ok = close(mine, theirs, *tolerances(forward[0], theirs))
    if forward_ok is False:
        message = ("agrees neither with the reference gradient nor with the central-difference "
                   "gradient of your own forward, and your forward itself differs from the "
                   "reference (its own test says where): fix the forward first. " + result.message)
    else:
        side = " (which matches the reference)" if forward_ok else ""
        message = ("your backward is inconsistent with your forward: it disagrees with the "
                   f"central-difference gradient of your own forward{side}: " + result.message)
    raise Mismatch.of(name, message, found)
