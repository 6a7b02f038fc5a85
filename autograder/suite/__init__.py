"""The graded suite (a package, so hidden tests can re-run public test functions on new cases)."""
