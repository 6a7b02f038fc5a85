"""Submissions that try to earn points they have not earned, or to see what they should not.

Written as a determined student would, for real (each is code that runs in the grader's worker):

* ``zeros``: the starter with every forward and backward returning zeros of the right shape (and
  zero parameter gradients; SGD's step changes nothing). A gradient check compares backward with
  the submission's own forward, and zeros agree with zeros.
* ``lookup``: the same, plus a table of the handout's public cases
(``autograder/assignments/hw1/public_cases``)
  copied into the code, keyed by the bytes of each call's inputs: every public case is answered
  exactly, anything else with zeros.
* ``recorder``: the reference, plus a Tanh.forward that records every input it sees (in memory and
  in a file of the submission folder, with its process id), and an MSELoss.forward that raises an
  error carrying all it recorded: whatever the worker saw before a visible MSE test reaches that
  test's feedback.
* ``bn_recorder``: the reference, but BatchNorm1d keeps every array the grader sends or sets on it
  and answers a forward from that table when it has seen the input (zeros otherwise; backward
  returns zeros).
"""
import hashlib
import json
import shutil
from pathlib import Path

import numpy as np

from autograder.grading.assignment import find
from autograder.grading.case_store import load_cases

REPO = Path(__file__).resolve().parents[2]
HW1 = find("hw1")
SEEN_LOG = "seen.log"  # the recorder's file, in the submission folder

SHORTCUTS = '''
"""Answers for the inputs the handout ships; zeros for everything else."""
import hashlib

import numpy as np

from mytorch import nn
from mytorch.models import mlp
from mytorch.optim import sgd

ANSWERS = json.loads(TABLE)


def _key(kind, *arrays):
    h = hashlib.sha256(kind.encode())
    for a in arrays:
        a = np.ascontiguousarray(np.asarray(a, dtype=np.float64))
        h.update(repr(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _answer(kind, *arrays):
    entry = ANSWERS.get(_key(kind, *arrays))
    if entry is None:
        return None
    return {k: np.array(v, dtype=np.float64).reshape(shape) for k, (shape, v) in entry.items()}


def _linear_forward(self, A):
    self._answer = _answer("Linear", A, self.W)
    if self._answer is not None:
        return self._answer["Z"]
    return np.zeros((A.shape[0], self.W.shape[0]))


def _linear_backward(self, dLdZ):
    ans = getattr(self, "_answer", None)
    if ans is not None:
        self.dLdW = ans["dLdW"]
        self.dLdb = ans.get("dLdb", np.zeros((self.W.shape[0], 1)))
        return ans["dLdA"]
    self.dLdW, self.dLdb = np.zeros_like(self.W), np.zeros((self.W.shape[0], 1))
    return np.zeros((dLdZ.shape[0], self.W.shape[1]))


nn.Linear.forward, nn.Linear.backward = _linear_forward, _linear_backward


def _activation(name):
    def forward(self, Z):
        self._answer = _answer(name, Z)
        self.A = self._answer["A"] if self._answer is not None else np.zeros_like(Z)
        return self.A

    def backward(self, dLdA):
        ans = getattr(self, "_answer", None)
        return ans["dLdZ"] if ans is not None else np.zeros_like(dLdA)
    return forward, backward


for _name in ("Sigmoid", "Tanh", "ReLU", "GELU", "Softmax"):
    getattr(nn, _name).forward, getattr(nn, _name).backward = _activation(_name)


def _loss(name):
    def forward(self, A, Y):
        self.A = A
        self._answer = _answer(name, A, Y)
        return float(self._answer["L"]) if self._answer is not None else 0.0

    def backward(self):
        ans = getattr(self, "_answer", None)
        return ans["dLdA"] if ans is not None else np.zeros_like(self.A)
    return forward, backward


nn.MSELoss.forward, nn.MSELoss.backward = _loss("MSELoss")
nn.CrossEntropyLoss.forward, nn.CrossEntropyLoss.backward = _loss("CrossEntropyLoss")


def _bn_forward(self, Z, eval=False):
    eval = self.evaluating = eval or not self.training  # eval=True, layer.eval(), model.eval()
    self._answer = _answer("BatchNorm1d-eval" if eval else "BatchNorm1d", Z)
    if self._answer is None:
        self.NZ = np.zeros_like(Z)
        return np.zeros_like(Z)
    self.NZ = self._answer.get("NZ", np.zeros_like(Z))
    if not eval:
        self.running_M, self.running_V = self._answer["running_M"], self._answer["running_V"]
    return self._answer["BZ"]


def _bn_backward(self, dLdBZ):
    ans = getattr(self, "_answer", None)
    if ans is None:
        self.dLdBW, self.dLdBb = np.zeros_like(self.BW), np.zeros_like(self.Bb)
        return np.zeros_like(dLdBZ)
    self.dLdBW, self.dLdBb = ans["dLdBW"], ans["dLdBb"]
    return ans["dLdZ"]


nn.BatchNorm1d.forward, nn.BatchNorm1d.backward = _bn_forward, _bn_backward


def _model_forward(self, A):
    self._answer = _answer(type(self).__name__, A)
    if self._answer is not None:
        return self._answer["out"]
    for layer in self.layers:
        A = layer.forward(A)
    return A


def _model_backward(self, dLdA):
    ans = getattr(self, "_answer", None)
    if ans is None:
        for layer in reversed(self.layers):
            dLdA = layer.backward(dLdA)
        return dLdA
    linears = [layer for layer in self.layers if isinstance(layer, nn.Linear)]
    for k, layer in enumerate(linears):
        layer.dLdW, layer.dLdb = ans[f"dLdW{k}"], ans[f"dLdb{k}"]
    return ans["dLdA0"]


mlp.Sequential.forward, mlp.Sequential.backward = _model_forward, _model_backward


def _step(self):
    for param, grad in self.model.parameters():
        ans = _answer("SGD", param, grad)
        if ans is not None:
            param[...] = ans["after"]


sgd.SGD.step = _step
'''


def _entry(**arrays):
    return {k: [list(np.shape(v)), np.asarray(v, dtype=np.float64).ravel().tolist()]
            for k, v in arrays.items()}


def _key(kind, *arrays):  # the same as the submission's
    h = hashlib.sha256(kind.encode())
    for a in arrays:
        a = np.ascontiguousarray(np.asarray(a, dtype=np.float64))
        h.update(repr(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def public_answers(case_dir=HW1.cases_dir):
    """The table a student can make from the handout: {key of a call's inputs: its answers}."""
    table = {}
    for c in load_cases("linear", case_dir) + load_cases("linear_nobias", case_dir):
        table[_key("Linear", c["A"], c["W"])] = _entry(
            Z=c["Z"], dLdA=c["dLdA"], dLdW=c["dLdW"],
            **({"dLdb": c["dLdb"]} if "dLdb" in c else {}))
    for name, components in (("Sigmoid", ["sigmoid"]), ("Tanh", ["tanh"]), ("ReLU", ["relu"]),
                             ("GELU", ["gelu"]), ("Softmax", ["softmax", "softmax_large"])):
        for component in components:
            for c in load_cases(component, case_dir):
                table[_key(name, c["Z"])] = _entry(A=c["A"], dLdZ=c["dLdZ"])
    for name, component in (("MSELoss", "mse"), ("CrossEntropyLoss", "cross_entropy")):
        for c in load_cases(component, case_dir):
            table[_key(name, c["A"], c["Y"])] = _entry(L=c["L"], dLdA=c["dLdA"])
    for c in load_cases("batchnorm", case_dir):
        table[_key("BatchNorm1d", c["Z"])] = _entry(
            BZ=c["BZ"], NZ=c["NZ"], running_M=c["running_M"], running_V=c["running_V"],
            dLdZ=c["dLdZ"], dLdBW=c["dLdBW"], dLdBb=c["dLdBb"])
        table[_key("BatchNorm1d-eval", c["Z_eval"])] = _entry(
            BZ=c["BZ_eval"], NZ=c["NZ_eval"], dLdZ=c["dLdZ_eval"], dLdBW=c["dLdBW_eval"],
            dLdBb=c["dLdBb_eval"])
    for name in ("MLP0", "MLP1", "MLP4"):
        for c in load_cases(name.lower(), case_dir):
            grads = {k: v for k, v in c.items() if k.startswith(("dLdW", "dLdb"))}
            table[_key(name, c["A0"])] = _entry(out=c["out"], dLdA0=c["dLdA0"], **grads)
    for c in load_cases("sgd", case_dir):
        names = sorted({k.split("_", 1)[1] for k in c if k.startswith("step0_")} - {
            k.split("_", 1)[1] for k in c if k.startswith("step0_dLd")})
        for s in range(int(c["steps"])):
            for name in names:
                before = c[name] if s == 0 else c[f"step{s - 1}_{name}"]
                table[_key("SGD", before, c[f"step{s}_dLd{name}"])] = _entry(
                    after=c[f"step{s}_{name}"])
    return table


def write_shortcuts(mytorch_dir, table):
    """Add the shortcut module to a copy of mytorch/ (imported last by mytorch/__init__.py)."""
    mytorch_dir = Path(mytorch_dir)
    code = "import json\n\nTABLE = " + repr(json.dumps(table)) + "\n" + SHORTCUTS
    (mytorch_dir / "_shortcuts.py").write_text(code, encoding="utf-8")
    init = mytorch_dir / "__init__.py"
    init.write_text(init.read_text(encoding="utf-8") + "\nfrom . import _shortcuts  # noqa\n",
                    encoding="utf-8")


def copy_of(mytorch_dir, dest):
    """A submission folder holding a copy of ``mytorch_dir`` as its mytorch/."""
    shutil.copytree(mytorch_dir, Path(dest) / "mytorch",
                    ignore=shutil.ignore_patterns("__pycache__"))
    return Path(dest)


def zeros(starter_mytorch, dest):
    """The starter whose forwards and backwards all return zeros."""
    write_shortcuts(copy_of(starter_mytorch, dest) / "mytorch", {})
    return Path(dest)


def lookup(starter_mytorch, dest):
    """The starter answering the handout's public cases from a table (zeros for the rest)."""
    write_shortcuts(copy_of(starter_mytorch, dest) / "mytorch", public_answers())
    return Path(dest)


RECORDER = '''

# --- what this submission saw (the recorder attack) ---
import hashlib as _hashlib
import os as _os
from pathlib import Path as _Path

_SEEN = []
_SEEN_LOG = _Path(__file__).resolve().parents[2] / "__LOG_NAME__"
# which worker process saw it: a pid means nothing across PID namespaces (each worker is pid 2)
_PROCESS = _os.urandom(8).hex()


def _record(Z):
    digest = _hashlib.sha256(np.ascontiguousarray(Z, dtype=np.float64).tobytes()).hexdigest()[:16]
    _SEEN.append(digest)
    with open(_SEEN_LOG, "a") as log:
        log.write(f"{_PROCESS} {digest}\\n")


_tanh_forward = Tanh.forward


def _recording_forward(self, Z):
    _record(Z)
    return _tanh_forward(self, Z)


Tanh.forward = _recording_forward
'''.replace("__LOG_NAME__", SEEN_LOG)

LEAK = '''

# --- the recorder attack: every MSE forward reports what this process (and the log) saw ---
from . import activation as _activation


def _leaking_forward(self, A, Y):
    logged = _activation._SEEN_LOG.read_text() if _activation._SEEN_LOG.exists() else ""
    digests = [line.split()[1] for line in logged.splitlines() if line.strip()]
    raise ValueError(f"seen in memory: {_activation._SEEN}; in the log: {digests}")


MSELoss.forward = _leaking_forward
'''


def digest(Z):
    return hashlib.sha256(np.ascontiguousarray(Z, dtype=np.float64).tobytes()).hexdigest()[:16]


def recorder(reference_root, dest):
    """The reference, recording Tanh inputs and leaking them through MSELoss's feedback."""
    dest = copy_of(Path(reference_root) / "mytorch", dest)
    for name, code in (("activation.py", RECORDER), ("loss.py", LEAK)):
        path = dest / "mytorch" / "nn" / name
        path.write_text(path.read_text(encoding="utf-8") + code, encoding="utf-8")
    return dest


def read_seen_log(submission):
    """[(worker process, digest)] in the order the recorder's worker(s) saw Tanh inputs."""
    path = Path(submission) / SEEN_LOG
    lines = path.read_text().split("\n") if path.exists() else []
    return [tuple(line.split()) for line in lines if line.strip()]


# --- the BatchNorm recorder: a table of the state the grader sets --------------------------------
# The attack the old Task 5.2 tests allowed: they set the reference's forward results (NZ, BZ, the
# running statistics after a step) on the student's object after its forward on a checked input,
# and a table keyed by that input answered Task 5.1. This forger keeps every array the grader sends
# or sets on a BatchNorm1d (in memory, and in a log in the submission folder), and answers a
# forward from the table when the grader once set state after a forward on the same input; zeros
# otherwise. Its backward returns zeros: it does no arithmetic at all.
BN_LOG = "bn_seen.npylog"  # the forger's log: np.save'd (name, array) pairs, one after another
BN_RECORDER = '''

# --- the BatchNorm recorder attack ---
import hashlib as _hashlib
from pathlib import Path as _Path

_BN_LOG = _Path(__file__).resolve().parents[2] / "__BN_LOG__"
_BN_TABLE = {}  # (digest of a forward's input, evaluating) -> {attribute: array the grader set}


def _bn_digest(Z):
    return _hashlib.sha256(np.ascontiguousarray(Z, dtype=np.float64).tobytes()).hexdigest()


def _bn_log(name, value):
    with open(_BN_LOG, "ab") as log:
        np.save(log, np.array(name))
        np.save(log, np.asarray(value, dtype=np.float64))


def _bn_setattr(self, name, value):
    # only the grader's sets are recorded: the forger's own methods use object.__setattr__, and
    # __init__'s run before _bn_ready
    if isinstance(value, np.ndarray) and "_bn_ready" in self.__dict__:
        _bn_log("set " + name, value)
        key = self.__dict__.get("_bn_key")
        if key is not None:
            _BN_TABLE.setdefault(key, {})[name] = value.copy()
    object.__setattr__(self, name, value)


def _bn_forward(self, Z, eval=False):
    _bn_log("forward Z", Z)
    evaluating = bool(eval) or not self.training
    key = (_bn_digest(Z), evaluating)
    seen = _BN_TABLE.get(key, {})
    for name in ("Z", "NZ", "BZ", "M", "V", "running_M", "running_V"):
        if name in seen:
            object.__setattr__(self, name, seen[name])
    object.__setattr__(self, "_bn_key", key)
    object.__setattr__(self, "evaluating", evaluating)
    if "BZ" not in seen:
        object.__setattr__(self, "NZ", np.zeros_like(Z))
        object.__setattr__(self, "BZ", np.zeros_like(Z))
    return self.BZ


def _bn_backward(self, dLdBZ):
    _bn_log("backward dLdBZ", dLdBZ)
    object.__setattr__(self, "dLdBW", np.zeros_like(self.BW))
    object.__setattr__(self, "dLdBb", np.zeros_like(self.Bb))
    return np.zeros_like(dLdBZ)


_bn_init = BatchNorm1d.__init__


def _bn_ready_init(self, *args, **kwargs):
    _bn_init(self, *args, **kwargs)
    object.__setattr__(self, "_bn_ready", True)


BatchNorm1d.__init__, BatchNorm1d.__setattr__ = _bn_ready_init, _bn_setattr
BatchNorm1d.forward, BatchNorm1d.backward = _bn_forward, _bn_backward
'''.replace("__BN_LOG__", BN_LOG)


def bn_recorder(reference_root, dest):
    """The reference, but BatchNorm1d records what the grader sends and sets, and answers forwards
    from what it recorded (zeros otherwise)."""
    dest = copy_of(Path(reference_root) / "mytorch", dest)
    path = dest / "mytorch" / "nn" / "batchnorm.py"
    path.write_text(path.read_text(encoding="utf-8") + BN_RECORDER, encoding="utf-8")
    return dest


def read_bn_log(submission):
    """[(what, array)] in the order the BatchNorm recorder's worker(s) saw them."""
    path = Path(submission) / BN_LOG
    seen = []
    if not path.exists():
        return seen
    size = path.stat().st_size
    with open(path, "rb") as log:
        while log.tell() < size:
            seen.append((str(np.load(log)), np.load(log)))
    return seen
