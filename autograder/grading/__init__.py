"""Grading: run an assignment's graded suite under pytest with the grader plugin, and turn the
outcomes into a grade (the console table, results.json)."""
