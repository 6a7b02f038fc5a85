"""mytorch kit autograder: the trusted side of grading (checks, sandboxed worker, reports)."""

__version__ = "0.1.0"  # the kit's release, as pyproject.toml declares it (a test keeps them equal)
