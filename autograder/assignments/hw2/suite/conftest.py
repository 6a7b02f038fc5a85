"""Fixtures of the graded suite that do not need the grader plugin's state."""
import pytest

from autograder.checking.quantities import Quantities


@pytest.fixture
def quantities():
    """Checks that earn credit one by one: ``with quantities.check("dLdW"): expect_close(...)``."""
    return Quantities()
