"""HW2: CNNs by hand."""
