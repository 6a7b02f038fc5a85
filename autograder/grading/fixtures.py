"""The graded suite's pytest fixtures that need the grader plugin's state.

The plugin (``plugin.py``) registers this module with pytest and puts itself in the config's stash;
pytest deprecates fixtures wider than a test defined on plugin objects, so they live here.
"""
import pytest

PLUGIN_KEY = pytest.StashKey()
PLUGIN_NAME = "mytorch-grader-fixtures"


@pytest.fixture
def sub(request):
    """The submission, with a clean object table and reseeded global generators."""
    plugin = request.config.stash[PLUGIN_KEY]
    submission = plugin.started_submission()
    submission.reset()
    submission.take_output()
    yield submission
    try:
        submission.sync()  # requests the test did not wait for: their errors are its own
    finally:
        result = plugin.state.results.get(request.node.nodeid)
        if result is not None:
            result.output = submission.take_output()
