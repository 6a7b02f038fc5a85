"""Submissions made from the reference by text edits, for the tests of the autograder."""
