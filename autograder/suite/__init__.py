"""The graded suite (a package, so its modules import as autograder.suite.test_*, never clashing
with same-named test modules elsewhere)."""
