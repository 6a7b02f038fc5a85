"""HW2's graded suite (a package, so its modules import as
autograder.assignments.hw2.suite.test_*, never clashing with same-named modules elsewhere)."""
