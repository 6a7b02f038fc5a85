"""Shared pytest configuration of the project's tests.

Hypothesis profiles live in ``autograder/grading/hypothesis_profile.py``; pick one with
``MYTORCH_HYPOTHESIS_PROFILE=mytorch-thorough python -m pytest ...`` (default: ``mytorch``).
"""
import os

from hypothesis import settings

from autograder.grading.hypothesis_profile import register_profiles

register_profiles()
settings.load_profile(os.environ.get("MYTORCH_HYPOTHESIS_PROFILE", "mytorch"))
