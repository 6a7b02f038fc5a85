"""Fixtures of the instructor-side tests (helpers live in ``instructor_helpers.py``)."""
import pytest

from tests.autograder.instructor.helpers import copy_reference


@pytest.fixture
def reference_submission(tmp_path):
    """A student folder holding a copy of the reference mytorch/."""
    return copy_reference(tmp_path / "reference")
