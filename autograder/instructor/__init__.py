"""What only instructors run: class grading, Gradescope, the handout build, hidden cases, the
reference solution and the public cases written from it.

The student handout drops this package whole; nothing outside it imports it, except the command
line, which offers these commands only where the package is present.
"""
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent.parent  # autograder/
PROJECT_ROOT = PACKAGE_DIR.parent                      # holds the reference mytorch/
