"""HW1: MLPs by hand."""
