"""Partial credit inside one test: each graded quantity earns its own share of the test's points.

A graded test checks several things — ``dLdZ``, ``dLdBW`` and ``dLdBb`` of one backward call, say.
Each check sits in its own block::

    def test_backward(sub, case, quantities):
        ...
        with quantities.check("dLdZ", weight=2):
            expect_close(dLdZ, case["dLdZ"], "dLdZ")
        with quantities.check("self.dLdBW"):
            expect_close(bn.dLdBW, case["dLdBW"], "self.dLdBW")

A block that fails (a wrong value, or the student's code raising or crashing while the block reads
the quantity) costs that quantity's weight only; the later blocks still run and still earn theirs.
The plugin then fails the test with every failing quantity's feedback and scores it
``max_score · passed weight / total weight``.

A value that is right in the wrong shape (``checks.ShapeMismatch``: ``(C,)`` where ``(1, C)`` is
documented, and the values equal once reshaped) is one mistake: it costs ``SHAPE_SHARE`` of that
quantity's weight, with the hint, and the quantity still counts as right (``passed``) for the gates
of the checks behind it (rubric.toml's ``self_consistency``), so nothing else is charged for it.

A check that cannot be graded because another task's code is wrong (``checks.NotGradable``: the
layers one by one give nothing a model's wiring could be told by, a forward that differs from the
reference under a gradient check of backward) costs nothing: its weight goes to the quantities of
the test that can be graded, and a test none of whose quantities can be graded gives its points to
the tests of its task that can (``report.TaskGrade.score``).

A hypothesis test brackets each example with ``new_example()`` and ``end_example()``: the latter
raises ``ExampleFailed`` when a quantity failed, so that hypothesis shrinks to a small failing
example, and the verdict is the quantities of the last example run (hypothesis replays the shrunk
failing example last).
"""
import contextlib
from dataclasses import dataclass

from ..channel.errors import BudgetExhausted, ImportFailed, StudentError, WorkerCrashed
from .checks import Mismatch, NotGradable, ShapeMismatch


class ExampleFailed(AssertionError):
    """A hypothesis example in which some quantities failed; their own feedback says how."""


@dataclass
class Outcome:
    name: str
    weight: float
    passed: bool   # the values are right
    error: BaseException | None = None
    credit: float = 1.0  # share of the weight earned: 0 when failed, 1 - SHAPE_SHARE for a shape
    gradable: bool = True  # False: another task's code is wrong (checks.NotGradable)

    @property
    def charged(self):
        """True when this quantity cost points (its feedback is shown)."""
        return self.error is not None and self.gradable


class Quantities:
    """The graded quantities of one test, in the order they were checked."""

    def __init__(self):
        self.outcomes = []

    @contextlib.contextmanager
    def check(self, name, weight=1.0):
        if weight <= 0:
            raise ValueError(f"quantity {name}: weight must be positive, got {weight}")
        try:
            yield
        except NotGradable as exc:
            self.outcomes.append(Outcome(name, float(weight), False, exc, 0.0, gradable=False))
        except ShapeMismatch as exc:
            self.outcomes.append(Outcome(name, float(weight), True, exc, 1.0 - exc.share))
        except (Mismatch, StudentError, WorkerCrashed, ImportFailed, BudgetExhausted,
                AssertionError) as exc:
            self.outcomes.append(Outcome(name, float(weight), False, exc, 0.0))
        else:
            self.outcomes.append(Outcome(name, float(weight), True))

    def failures(self):
        return [o for o in self.outcomes if o.charged]

    def not_gradable(self):
        return [o for o in self.outcomes if not o.gradable]

    def fraction(self):
        """Share of this test's points its quantities earned (0 when it checked none): a quantity
        that cannot be graded (another task's code is wrong) gives its weight to the others."""
        graded = [o for o in self.outcomes if o.gradable]
        total = sum(o.weight for o in graded)
        return sum(o.weight * o.credit for o in graded) / total if total else 0.0

    def new_example(self):
        """Forget the previous hypothesis example's outcomes."""
        self.outcomes.clear()

    def end_example(self):
        """Raise ExampleFailed if a quantity of this example failed (hypothesis then shrinks)."""
        failed = self.failures()
        if failed:
            raise ExampleFailed("failed: " + ", ".join(o.name for o in failed))
