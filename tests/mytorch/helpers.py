"""Helpers shared by the project's tests of mytorch (``from tests.mytorch.helpers import ...``).

* ``assert_gradient``: central-difference check of an analytic gradient
  (``autograder.checking.gradcheck``); ``conv_geometries``: valid convolution sizes to draw.
* ``rel_error`` / ``assert_matches_torch``: float64 comparisons against PyTorch, which also record
  the largest relative error seen in the session (``TORCH_ERRORS``; printed by
  ``tests/mytorch/conftest.py`` at the end of the run); ``tensor`` / ``to_numpy`` convert.
"""
import contextlib
import warnings

import numpy as np
from hypothesis import strategies as st

from autograder.checking.gradcheck import compare_gradients, numeric_vjp

TORCH_RTOL = 1e-10

#: name of the quantity -> largest relative error (``rel_error``) against PyTorch in this session
TORCH_ERRORS = {}
#: the same with the stricter, informative ``elementwise_rel_error``
TORCH_ELEMENTWISE = {}


def assert_gradient(analytic, f, x, upstream, name, **context):
    """Assert that ``analytic`` is the gradient of ``sum(upstream * f(x))`` w.r.t. ``x``.

    ``analytic`` must be float64 and have ``x``'s shape. ``context`` (seed, shape, ...) is shown
    in the failure message so the case can be reproduced.
    """
    analytic = np.asarray(analytic)
    where = ", ".join(f"{k}={v!r}" for k, v in context.items())
    assert analytic.dtype == np.float64, (
        f"{name}: dtype {analytic.dtype}, expected float64 ({where})")
    assert analytic.shape == np.shape(x), (
        f"{name}: shape {analytic.shape}, expected {np.shape(x)} ({where})")
    result = compare_gradients(analytic, numeric_vjp(f, x, upstream))
    assert result.ok, f"{name}: {result.message} ({where})"
    return result


@st.composite
def conv_geometries(draw, dims):
    """(kernel, stride, padding, spatial sizes) such that every padded side holds a kernel."""
    k, stride, padding = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(0, 2))
    # a side of k + extra after padding: extra >= 0 keeps it at least one kernel wide
    spatial = tuple(max(1, k + draw(st.integers(0, 4)) - 2 * padding) for _ in range(dims))
    return k, stride, padding, spatial


@contextlib.contextmanager
def strict_floats():
    """Overflow, division by zero, invalid operations (NaN) and any warning become errors inside
    the block; underflow to 0 stays allowed (exp(-2000) is 0, correctly)."""
    with warnings.catch_warnings(), np.errstate(over="raise", divide="raise", invalid="raise",
                                                under="ignore"):
        warnings.simplefilter("error")
        yield


def rel_error(actual, expected, scale=0.0):
    """Relative error of ``actual`` against ``expected``: ``max|a - e| / max(max|e|, scale)``.

    This is the error relative to the size of the quantity (infinity norm). ``scale`` gives the size
    when ``expected`` is small only through cancellation: a gradient that is zero in exact
    arithmetic (a bias before BatchNorm, BatchNorm's input gradient for two rows) or the
    ``1 - tanh(z)**2`` of a saturated tanh is computed as a difference of O(scale) terms, so any
    two float64 implementations legitimately differ there by ~1e-16 * scale.
    Exact agreement is 0; different shapes, NaN or infinities give ``inf``.
    """
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    if a.shape != e.shape:
        return float("inf")
    if a.size == 0:
        return 0.0
    if not (np.isfinite(a).all() and np.isfinite(e).all()):
        return 0.0 if np.array_equal(a, e, equal_nan=True) else float("inf")
    diff = float(np.abs(a - e).max())
    if diff == 0.0:
        return 0.0
    return diff / max(float(np.abs(e).max()), float(scale), np.finfo(np.float64).tiny)


def elementwise_rel_error(actual, expected, scale=0.0, floor=1e-6):
    """Stricter, for information: ``max_i |a_i - e_i| / max(|e_i|, floor * max(max|e|, scale))``.

    Not asserted (entries that are tiny through cancellation make it meaningless), only recorded
    in ``TORCH_ELEMENTWISE``.
    """
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    if a.shape != e.shape or not (np.isfinite(a).all() and np.isfinite(e).all()):
        return float("inf")
    diff = np.abs(a - e)
    if a.size == 0 or not diff.any():
        return 0.0
    size = max(float(np.abs(e).max()), float(scale))
    denominator = np.maximum(np.abs(e), max(floor * size, np.finfo(np.float64).tiny))
    return float((diff / denominator).max())


def tensor(x, requires_grad=False):
    """A float64 torch tensor holding ``x`` (torch is imported here: it is optional)."""
    import torch

    return torch.tensor(np.asarray(x, dtype=np.float64), dtype=torch.float64,
                        requires_grad=requires_grad)


def to_numpy(tensor):
    """A torch tensor (or None) as a float64 NumPy array (or None)."""
    return None if tensor is None else tensor.detach().cpu().numpy().astype(np.float64)


def assert_matches_torch(ours, theirs, name, scale=0.0, rtol=TORCH_RTOL):
    """Assert ``rel_error(ours, theirs, scale) <= rtol``; ``theirs`` is a torch tensor or array.

    Shapes must agree exactly (reshape torch's (C,) bias gradient to (C, 1) *before* calling).
    The errors are recorded in ``TORCH_ERRORS[name]`` and ``TORCH_ELEMENTWISE[name]``.
    """
    if hasattr(theirs, "detach"):
        theirs = to_numpy(theirs)
    ours = np.asarray(ours)
    theirs = np.asarray(theirs)
    assert ours.shape == theirs.shape, f"{name}: shape {ours.shape}, torch gives {theirs.shape}"
    err = rel_error(ours, theirs, scale)
    TORCH_ERRORS[name] = max(err, TORCH_ERRORS.get(name, 0.0))
    elementwise = elementwise_rel_error(ours, theirs, scale)
    TORCH_ELEMENTWISE[name] = max(elementwise, TORCH_ELEMENTWISE.get(name, 0.0))
    assert err <= rtol, (f"{name}: relative error {err:.3g} against torch exceeds {rtol:g} "
                         f"(max |diff| {np.abs(ours - theirs).max():.3g}, scale "
                         f"{max(float(np.abs(theirs).max()), scale):.3g})")
    return err
