"""Authoring checks: comparisons that explain themselves, per-quantity credit, gradient checks and
hypothesis strategies, for the graded suites of every assignment."""
