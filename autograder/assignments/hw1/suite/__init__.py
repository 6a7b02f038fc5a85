"""HW1's graded suite (a package, so its modules import as
autograder.assignments.hw1.suite.test_*, never clashing with same-named modules elsewhere)."""
