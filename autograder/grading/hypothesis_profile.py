"""The hypothesis profiles of the project, registered in one place and selected by name.

* ``mytorch`` (default): deterministic (``derandomize=True``, no example database), no deadline
  (a loaded 2-core machine must not fail a correct solution), 30 examples per property, and
  ``print_blob=True`` so a failure prints the ``@reproduce_failure`` line to paste back.
* ``mytorch-thorough``: the same with 200 examples, for occasional deeper runs.

``register_profiles()`` is idempotent; ``load_profile()`` registers and loads the profile named by
``$MYTORCH_HYPOTHESIS_PROFILE`` (default ``mytorch``).
"""
import os

from hypothesis import HealthCheck, Phase, settings

DEFAULT_PROFILE = "mytorch"
THOROUGH_PROFILE = "mytorch-thorough"
GRADER_PROFILE = "mytorch-grader"
PROFILE_ENV = "MYTORCH_HYPOTHESIS_PROFILE"

_COMMON = dict(
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    # Slow machines (and the sandboxed worker's round trips) must not turn into failures.
    suppress_health_check=[HealthCheck.too_slow],
)


def register_profiles():
    """Register ``mytorch`` and ``mytorch-thorough``; calling it again changes nothing."""
    settings.register_profile(DEFAULT_PROFILE, max_examples=30, **_COMMON)
    settings.register_profile(THOROUGH_PROFILE, max_examples=200, **_COMMON)
    # The graded suite: fewer examples (each one crosses the process boundary), and the proxy
    # fixture is deliberately shared by a test's examples. No shrinking: it re-runs a failing
    # property hundreds of times (seconds per failing test, a minute for a starter handout,
    # and a restart each time for code that crashes or hangs); the first failing example is
    # reported as found (derandomized, so the same one every run). The grader reports the
    # example itself (checking/checks.py: property_check), one per test: no blob to paste, and
    # the first failure only, not a group of them.
    settings.register_profile(GRADER_PROFILE, max_examples=5, **{
        **_COMMON, "suppress_health_check": [HealthCheck.too_slow,
                                             HealthCheck.function_scoped_fixture],
        "phases": [Phase.explicit, Phase.reuse, Phase.generate],
        "print_blob": False, "report_multiple_bugs": False})


def load_profile(name=None):
    """Register the profiles and load ``name`` (default: ``$MYTORCH_HYPOTHESIS_PROFILE`` or
    ``mytorch``). Returns the name loaded."""
    register_profiles()
    name = name or os.environ.get(PROFILE_ENV, DEFAULT_PROFILE)
    settings.load_profile(name)
    return name
