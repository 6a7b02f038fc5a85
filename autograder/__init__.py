"""mytorch kit autograder: the trusted side of grading (checks, sandboxed worker, reports)."""
