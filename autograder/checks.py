"""Comparisons that explain themselves.

``expect_close`` compares a value the worker sent back with the trusted expected value and, when they
differ, raises ``Mismatch`` whose message names the quantity, both shapes and dtypes, the largest
error and where it is, and — by testing the usual mistakes one by one — the likely bug.

``property_check`` declares a property-based test (hypothesis draws its arguments) whose failure
carries the arguments it failed with, so that the grader reports them in its own words.
"""
import functools
from dataclasses import dataclass

import hypothesis
import numpy as np

from .sandbox.wire import TaggedArray

RTOL = 1e-6   # float64 reference outputs; an einsum or another summation order stays ~1e-14 away
ATOL = 1e-8


class Mismatch(AssertionError):
    """A graded value is wrong. ``str()`` is the feedback shown to the student."""

    def __init__(self, name, message, hint=None):
        self.name, self.hint = name, hint
        text = f"{name}: {message}"
        if hint:
            text += f"\n  Hint: {hint}"
        super().__init__(text)

    def feedback(self):
        return str(self)


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


def close(a, b, rtol=RTOL, atol=ATOL):
    """True when arrays ``a`` and ``b`` have one shape and agree elementwise (NaN never agrees)."""
    return a.shape == b.shape and bool(np.all(np.abs(a - b) <= atol + rtol * np.abs(b)))


def expect_array(actual, name, shape=None, dtype_kind="f"):
    """Return ``actual`` if it is a plain ndarray (of ``shape`` if given), else raise Mismatch."""
    if not isinstance(actual, np.ndarray):
        hint = None
        if isinstance(actual, (list, tuple)):
            hint = "convert with np.array(...) or compute with NumPy operations throughout"
        elif isinstance(actual, TaggedArray):
            hint = "return a plain numpy.ndarray (np.asarray(x)), not a subclass"
        elif actual is None:
            hint = "did you forget to return it (or to store it on self)?"
        raise Mismatch(name, f"expected a numpy.ndarray, got {_kind(actual)}", hint)
    if dtype_kind and actual.dtype.kind not in dtype_kind:
        raise Mismatch(name, f"expected a floating-point array, got dtype {actual.dtype}",
                       "integer or boolean arrays lose the fractional part; use float64")
    if shape is not None and actual.shape != tuple(shape):
        raise Mismatch(name, f"expected shape {tuple(shape)}, got {actual.shape}",
                       _shape_hint(actual.shape, tuple(shape)))
    return actual


def _shape_hint(got, want):
    if len(want) == 2 and want[0] == 1 and got == (want[1],):
        return f"keep the row shape: reshape to {want} (e.g. keepdims=True or .reshape(1, -1))"
    if len(want) == 2 and want[0] == 1 and len(got) == 2 and got[0] > 1 and got[1] == want[1]:
        return "one row per example: sum over the batch axis (axis=0, keepdims=True)"
    if len(want) == 2 and want[1] == 1 and got == (want[0],):
        return f"keep the column shape: reshape to {want} (e.g. keepdims=True or .reshape(-1, 1))"
    if len(want) == 2 and got == want[::-1]:
        return "the shape is transposed: check the order of the matrix product"
    if len(got) == len(want) + 1 and got[1:] == want:
        return "an extra leading axis: did you forget to sum over the batch?"
    if len(got) + 1 == len(want) and got == want[1:]:
        return "the batch axis is missing: did you sum or average over it too early?"
    if np.prod(got) == np.prod(want):
        return "same number of elements, different arrangement: check reshapes and transposes"
    return None


def expect_close(actual, expected, name, rtol=RTOL, atol=ATOL, alternatives=None, batch=None):
    """Raise Mismatch unless ``actual`` is a float ndarray close to ``expected``.

    ``alternatives`` maps a hint to the value a specific mistake would produce (e.g. "forgot to add
    the bias b" -> Z computed without it); ``batch`` is N, to recognise sums vs averages.
    """
    expected = np.asarray(expected)
    actual = expect_array(actual, name, shape=expected.shape)
    if close(actual, expected, rtol, atol):
        return
    if not np.all(np.isfinite(actual)):
        bad = np.argwhere(~np.isfinite(actual))[0]
        where = tuple(int(i) for i in bad)
        hint = "overflow or division by zero? (e.g. exp of a large input: subtract the row max)"
        if np.all(np.isfinite(expected)):
            raise Mismatch(name, f"contains {actual[where]} at index {where} where "
                           f"{expected[where]:.6g} was expected", hint)
    err = np.abs(actual - expected)
    err = np.where(np.isnan(err), np.inf, err)
    where = np.unravel_index(int(np.argmax(err)), err.shape) if err.size else ()
    where = tuple(int(i) for i in where)
    rel = err[where] / max(abs(float(expected[where])), 1e-300) if err.size else 0.0
    message = (f"wrong values (shape {actual.shape} is right). Largest error {err[where]:.3g} "
               f"(relative {rel:.3g}) at index {where}: expected {float(expected[where]):.6g}, "
               f"got {float(actual[where]):.6g}")
    raise Mismatch(name, message, diagnose(actual, expected, alternatives, batch))


def diagnose(actual, expected, alternatives=None, batch=None, rtol=1e-6, atol=1e-9):
    """Name the first recognised mistake that turns ``expected`` into ``actual``, or None.

    ``rtol``/``atol``: how close ``actual`` must be to a mistake's value (looser for numeric
    estimates).
    """
    candidates = list((alternatives or {}).items())
    candidates.append(("the sign is flipped", -expected))
    if expected.ndim == 2 and expected.shape[0] == expected.shape[1]:
        candidates.append(("the result is transposed: check the order of the product", expected.T))
    if batch and batch > 1:
        candidates.append((f"off by a factor of N = {batch}: summed where the mean was wanted "
                           "(or the other way round)?", expected * batch))
        candidates.append((f"off by a factor of 1/N = 1/{batch}: averaged where the sum was wanted?",
                           expected / batch))
    candidates.append(("exactly twice the expected value: accumulated (+=) instead of assigned?",
                       2 * expected))
    for hint, value in candidates:
        value = np.asarray(value)
        if value.shape == actual.shape and close(actual, value, rtol, atol):
            return hint
    nonzero = np.abs(expected) > 1e-12
    if np.any(nonzero):
        ratio = actual[nonzero] / expected[nonzero]
        if np.all(np.isfinite(ratio)) and np.ptp(ratio) < rtol * max(1.0, abs(ratio[0])) \
                and abs(ratio[0] - 1) > 1e-6:
            return f"every entry is {ratio[0]:.6g}× the expected value: a constant factor is off"
    return None


def expect_scalar(actual, expected, name, rtol=RTOL, atol=ATOL, alternatives=None, batch=None):
    """Like ``expect_close`` for a scalar (a Python/NumPy number or a 0-d / size-1 array)."""
    value = actual
    if isinstance(actual, np.ndarray) and actual.size == 1:
        value = actual.reshape(())[()]
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        raise Mismatch(name, f"expected a number, got {_kind(actual)}")
    expect_close(np.asarray(float(value)), np.asarray(float(expected)), name, rtol, atol,
                 {k: np.asarray(float(v)) for k, v in (alternatives or {}).items()}, batch)


def expect_gradient(analytic, numeric, name, rtol=None, atol=None, alternatives=None):
    """Raise Mismatch unless ``analytic`` (a gradient the worker sent) agrees with ``numeric``.

    ``numeric`` is a trusted central-difference estimate (``gradcheck.numeric_vjp_many``) of the
    student's own forward. Checks the type, shape and float64 dtype first (a float32 gradient cannot
    pass a central-difference check, see docs/gradcheck.md), then compares with ``compare_gradients``.
    ``alternatives`` maps a hint to the gradient a known mistake gives (as in ``expect_close``).
    """
    from .gradcheck import ATOL as GRAD_ATOL
    from .gradcheck import RTOL as GRAD_RTOL
    from .gradcheck import compare_gradients

    numeric = np.asarray(numeric, dtype=np.float64)
    analytic = expect_array(analytic, name, shape=numeric.shape)
    if analytic.dtype != np.float64:
        raise Mismatch(name, f"expected dtype float64, got {analytic.dtype}",
                       "keep everything in float64 (no .astype(np.float32), no integer arrays)")
    result = compare_gradients(analytic, numeric, GRAD_RTOL if rtol is None else rtol,
                               GRAD_ATOL if atol is None else atol)
    if not result.ok:
        hint = None
        if np.all(np.isfinite(analytic)):
            hint = diagnose(analytic, numeric, alternatives, rtol=1e-4, atol=1e-6)
            if hint and hint.startswith("every entry is") and np.count_nonzero(numeric) < 2:
                hint = None  # one number: a ratio says nothing about a constant factor
        raise Mismatch(name, "disagrees with the central-difference gradient of your own forward: "
                       + result.message, hint)
