"""Prints the largest relative error against PyTorch observed by the torch cross-checks."""
from tests.mytorch.helpers import TORCH_ELEMENTWISE, TORCH_ERRORS, TORCH_RTOL


def pytest_terminal_summary(terminalreporter):
    if not TORCH_ERRORS:
        return
    name = max(TORCH_ERRORS, key=TORCH_ERRORS.get)
    terminalreporter.write_line(
        f"mytorch vs torch: {len(TORCH_ERRORS)} quantities compared, largest relative error "
        f"{TORCH_ERRORS[name]:.3g} ({name}; tolerance {TORCH_RTOL:g})")
    if TORCH_ELEMENTWISE:
        worst = max(TORCH_ELEMENTWISE, key=TORCH_ELEMENTWISE.get)
        terminalreporter.write_line(
            f"  entry by entry (informative, not asserted): "
            f"{TORCH_ELEMENTWISE[worst]:.3g} ({worst})")
