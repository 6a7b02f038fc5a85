"""Instructor-only tools (not shipped in the student handout)."""
