"""Central-difference gradient checks that do not fail correct code (see docs/gradcheck.md).

A layer's ``backward(upstream)`` is a vector-Jacobian product: the gradient of the scalar
``sum(upstream * f(x))`` with respect to ``x``. We estimate the same gradient numerically, entry by
entry, with central differences::

    d/dx_i sum(u * f(x))  ~=  sum(u * (f(x + h e_i) - f(x - h e_i))) / (2 h)

Numerics, briefly:

* **float64 only.** The error of a central difference is about ``h**2 |f'''| + eps |f| / h``
  (truncation + rounding). With float64 (``eps`` ~ 1e-16) and ``h = 1e-6`` both terms are ~1e-10;
  with float32 (``eps`` ~ 1e-7) no ``h`` gets below ~1e-5 and correct gradients fail. Everything
  here is converted to float64; callers should also build their inputs and parameters in float64.
* **h = 1e-6** (``H``); anything in 1e-7 ... 1e-4 works. Entries are compared with
  ``|analytic - numeric| <= ATOL + RTOL * |numeric|`` (``RTOL = 1e-4``, ``ATOL = 1e-6``): a correct
  gradient is off by ~1e-9, a real bug by O(1), so the margin is wide on both sides.
* **Random upstream gradients, never all ones.** With ``upstream = ones`` some wrong backwards pass
  (softmax's rows always sum to a constant, so any error along that direction is invisible).
* **The numeric pass is isolated.** ``f`` is evaluated on perturbed *copies* of ``x``; ``x``
  itself is never modified. Compute the analytic gradient first: running ``f`` usually
  overwrites what a layer cached for its backward.
* Keep inputs away from kinks (ReLU at 0, ties of a max): a finite difference straddling a kink
  measures the average of the two one-sided slopes.

``f`` may be any callable returning something array-like (in the grader it is a proxy of a remote
object), so its result is always converted with ``np.asarray(..., dtype=np.float64)``.
Only NumPy and the standard library are used.
"""
from dataclasses import dataclass

import numpy as np

H = 1e-6
RTOL = 1e-4
ATOL = 1e-6

__all__ = ["H", "RTOL", "ATOL", "GradcheckResult", "numeric_vjp", "compare_gradients",
           "check_vjp", "perturbations", "vjp_from"]


def _as_float64(value, what):
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{what} is not convertible to a float64 array: {exc}") from None


def numeric_vjp(f, x, upstream, h=H):
    """Central-difference gradient of ``sum(upstream * f(x))`` with respect to ``x`` (float64).

    ``f`` is called ``2 * x.size`` times, each time on a fresh perturbed float64 copy of ``x``;
    ``x`` is not modified. ``f(x)`` must have the shape of ``upstream`` (a scalar ``f`` takes a
    scalar ``upstream``, e.g. ``1.0``); otherwise ``ValueError``.
    """
    return vjp_from([f(probe) for probe in perturbations(x, h)], x, upstream, h)


@dataclass(frozen=True)
class GradcheckResult:
    """Outcome of comparing an analytic gradient with a numeric one.

    ``max_abs_error`` is ``max |a - n|``; ``max_rel_error`` is ``max |a - n| / max(|a|, |n|)``
    elementwise (0 where both are 0); ``worst_index`` is the entry that violates the tolerance the
    most (``()`` for scalars or when the shapes differ), with its two values. ``message`` is a
    one-line explanation suitable for a student.
    """

    ok: bool
    max_abs_error: float
    max_rel_error: float
    worst_index: tuple
    analytic_value: float | None
    numeric_value: float | None
    message: str = ""

    def __bool__(self):
        return self.ok

    def __str__(self):
        return self.message


def compare_gradients(analytic, numeric, rtol=RTOL, atol=ATOL):
    """Compare entrywise with ``|analytic - numeric| <= atol + rtol * |numeric|``.

    Different shapes (no broadcasting: (C,) is not (C, 1)), values that are not numbers, and any
    NaN or infinity on either side give ``ok=False`` with a message saying which.
    """
    try:
        a = _as_float64(analytic, "analytic gradient")
    except TypeError as exc:
        return GradcheckResult(False, float("inf"), float("inf"), (), None, None, str(exc))
    n = _as_float64(numeric, "numeric gradient")
    if a.shape != n.shape:
        return GradcheckResult(False, float("inf"), float("inf"), (), None, None,
                               f"shape mismatch: analytic gradient has shape {a.shape}, "
                               f"numeric gradient has shape {n.shape}")
    if a.size == 0:
        return GradcheckResult(True, 0.0, 0.0, (), None, None, "ok (empty gradient)")

    finite = np.isfinite(a) & np.isfinite(n)
    if not finite.all():
        index = tuple(int(i) for i in np.argwhere(~finite)[0])
        bad = "analytic" if not np.isfinite(a[index]) else "numeric"
        return GradcheckResult(False, float("nan"), float("nan"), index, float(a[index]),
                               float(n[index]),
                               f"{bad} gradient is not finite at index {index}: "
                               f"analytic {a[index]!r}, numeric {n[index]!r}")

    diff = np.abs(a - n)
    scale = np.maximum(np.abs(a), np.abs(n))
    rel = np.divide(diff, scale, out=np.zeros_like(diff), where=scale > 0)
    allowed = atol + rtol * np.abs(n)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        violation = np.where(diff > 0, diff / allowed, 0.0)  # how many tolerances off; inf if 0
    flat = int(np.argmax(violation))
    index = tuple(int(i) for i in np.unravel_index(flat, a.shape))
    ok = bool(np.all(diff <= allowed))
    where = f" at index {index}" if index else ""
    message = (f"{'ok' if ok else 'gradient mismatch'}: max abs error {diff.max():.3g}, "
               f"max rel error {rel.max():.3g}; worst entry{where}: analytic {a[index]:.10g}, "
               f"numeric {n[index]:.10g} (tolerance {atol:g} + {rtol:g}*|numeric|)")
    return GradcheckResult(ok, float(diff.max()), float(rel.max()), index, float(a[index]),
                           float(n[index]), message)


def check_vjp(f, x, upstream, analytic, h=H, rtol=RTOL, atol=ATOL):
    """``compare_gradients(analytic, numeric_vjp(f, x, upstream, h))``.

    Compute ``analytic`` (the backward) *before* calling this: ``f`` runs forwards again.
    """
    return compare_gradients(analytic, numeric_vjp(f, x, upstream, h), rtol=rtol, atol=atol)


def perturbations(x, h=H):
    """``x + h·e_i`` and ``x - h·e_i`` for every entry ``i`` of ``x`` (float64), in that order.

    The inputs of a central-difference VJP; ``vjp_from`` turns the outputs of ``f`` at them into
    the gradient. Split in two so that a test can send the forwards along with other requests.
    """
    base = np.array(x, dtype=np.float64, copy=True)
    inputs = []
    for index in np.ndindex(base.shape):
        for sign in (1.0, -1.0):
            probe = base.copy()
            probe[index] += sign * h
            inputs.append(probe)
    return inputs


def vjp_from(outputs, x, upstream, h=H):
    """``numeric_vjp`` from ``f``'s ``outputs`` at ``perturbations(x, h)``."""
    shape = np.shape(x)
    up = _as_float64(upstream, "upstream")
    outputs = list(outputs)
    if len(outputs) != 2 * int(np.prod(shape)):
        raise ValueError(f"numeric VJP: {2 * int(np.prod(shape))} inputs gave {len(outputs)} "
                         "outputs")
    grad = np.zeros(shape)
    for k, index in enumerate(np.ndindex(shape)):
        f_plus = _as_float64(outputs[2 * k], "f(x + h)")
        f_minus = _as_float64(outputs[2 * k + 1], "f(x - h)")
        if f_plus.shape != up.shape or f_minus.shape != up.shape:
            raise ValueError(f"numeric_vjp: f(x) has shape {f_plus.shape}, but upstream has shape "
                             f"{up.shape}; they must be equal")
        grad[index] = np.sum(up * (f_plus - f_minus)) / (2.0 * h)
    return grad
