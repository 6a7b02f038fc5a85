"""The course's assignments, one folder each (data: rubric, suite, cases, generators, writeup)."""
