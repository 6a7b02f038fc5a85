"""Hypothesis strategies and value builders shared by the project's tests and the graded checks.

The rule (see docs/gradcheck.md): hypothesis draws a *shape* and a *seed*; the values are built from
the seed with ``np.random.default_rng``. Shapes still shrink to small counterexamples, and values
are generic: no repeated entries, no exact zeros, no denormals — things ``hypothesis.extra.numpy``
produces on purpose and that make correct ReLU or max backwards fail central-difference checks.
Valid inputs are built directly (e.g. ``away_from_zero``), never filtered with ``assume``.

Typical use::

    @given(shape=batch_shapes(), seed=seeds())
    def test_relu_gradient(shape, seed):
        rng = np.random.default_rng(seed)
        Z = values(rng, shape, away_from_zero=1e-3)
        dLdA = upstream(rng, shape)

Every builder takes ``seed`` as anything ``np.random.default_rng`` accepts: an int, a sequence of
ints, or a ``Generator`` (then successive calls draw successive, independent arrays).
No hypothesis profile is registered here; see ``autograder/grading/hypothesis_profile.py``.
"""
import numpy as np
from hypothesis import strategies as st

SEED_MAX = 2**32 - 1
LOGIT_BOUND = 10.0

__all__ = ["seeds", "sizes", "batch_shapes", "values", "upstream", "logits", "labels",
           "one_hot", "positive"]


# ----------------------------------------------------------------------------- strategies

def seeds():
    """Seeds for ``np.random.default_rng``; shrink towards 0."""
    return st.integers(min_value=0, max_value=SEED_MAX)


def sizes(min_value=1, max_value=5):
    """One dimension (batch size, number of features). Small by default: a numeric Jacobian costs
    two forwards per input entry."""
    return st.integers(min_value=min_value, max_value=max_value)


def batch_shapes(min_rows=1, max_rows=5, min_cols=1, max_cols=5):
    """Shapes ``(N, C)`` of a batch with N rows and C features."""
    return st.tuples(sizes(min_rows, max_rows), sizes(min_cols, max_cols))


# ----------------------------------------------------------------------------- values from a seed

def _rng(seed):
    """Every ``seed`` below is what ``numpy.random.default_rng`` takes: an int drawn by hypothesis,
    a list of ints (``[seed, 1000]``: an independent stream), or a Generator already made."""
    return np.random.default_rng(seed)


def values(seed, shape, low=-3.0, high=3.0, away_from_zero=0.0):
    """float64 array of ``shape``, uniform on ``[low, high]`` minus the gap ``(-away_from_zero,
    away_from_zero)``: every entry has ``|x| >= away_from_zero`` (keep ReLU-family inputs
    off their kink with e.g. ``away_from_zero=1e-3``). Built directly, without rejection.
    """
    low, high, gap = float(low), float(high), float(away_from_zero)
    if not low < high:
        raise ValueError(f"values: need low < high, got {low} and {high}")
    if gap < 0:
        raise ValueError(f"values: away_from_zero must be >= 0, got {gap}")
    # The allowed set is [low, high] ∩ ((-inf, -gap] ∪ [gap, inf)): at most two intervals.
    pieces = [(low, min(high, -gap)), (max(low, gap), high)]
    pieces = [(a, b) for a, b in pieces if b > a]
    if not pieces:
        raise ValueError(f"values: no number in [{low}, {high}] has |x| >= {gap}")
    lengths = np.array([b - a for a, b in pieces])
    t = _rng(seed).uniform(0.0, lengths.sum(), size=shape)
    if len(pieces) == 1:
        out = pieces[0][0] + t
    else:
        (a0, _), (a1, _) = pieces
        out = np.where(t < lengths[0], a0 + t, a1 + (t - lengths[0]))
    return np.asarray(out, dtype=np.float64)


def positive(seed, shape, low=0.5, high=2.0):
    """float64 array uniform on ``[low, high]`` with ``low > 0`` (variances, scales)."""
    if not 0 < low < high:
        raise ValueError(f"positive: need 0 < low < high, got {low} and {high}")
    return values(seed, shape, low, high)


def upstream(seed, shape):
    """A random upstream gradient (standard normal, float64).
    Never all ones: see docs/gradcheck.md."""
    return _rng(seed).standard_normal(shape)


def logits(seed, shape, bound=LOGIT_BOUND):
    """Logits uniform in ``[-bound, bound]`` (default ±10): probabilities stay away from 0 far
    enough for central differences of softmax and cross-entropy."""
    return values(seed, shape, -bound, bound)


def labels(seed, n, num_classes):
    """``n`` integer class labels in ``[0, num_classes)`` (int64)."""
    return _rng(seed).integers(0, num_classes, size=n, dtype=np.int64)


def one_hot(seed, n, num_classes):
    """``(n, num_classes)`` float64 one-hot rows, classes drawn uniformly."""
    Y = np.zeros((n, num_classes))
    Y[np.arange(n), labels(seed, n, num_classes)] = 1.0
    return Y
