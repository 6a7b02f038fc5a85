"""The torch cross-checks' thread setting, and the largest relative error against PyTorch they
observed, printed at the end of the run."""
import pytest

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


@pytest.fixture(scope="module")
def one_torch_thread():
    """The cross-checks' tensors are tiny: torch's intra-op thread pool only adds latency (on a busy
    2-core machine, 60 ms instead of 0.25 ms for a BatchNorm forward + backward). Results do not
    depend on it. Restored afterwards, for other modules of the session."""
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
