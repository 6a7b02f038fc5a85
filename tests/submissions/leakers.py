"""The leaker: a submission that records everything the grader sends it, in every phase, and shows
it every way student code can.

It is the reference ``mytorch/`` (so it earns its visible points) with every ``forward``,
``backward`` and ``step`` of ``mytorch.nn`` and ``mytorch.optim`` and every attribute the grader
sets wrapped: each number received is logged (in memory, and in ``leak.log`` in the submission
folder). From its second worker process on (the hidden phase runs in a fresh worker) each wrapped
call prints what this process has seen and raises it, from a frame whose function is named after
the numbers; and ``mytorch/optim/sgd.py``, imported there by the SGD tests only, raises it at import
(the import failure the grader once told at the top of the report, visible at once).

``tokens(value)`` are the forms the leaker writes a number in: the tests look for them in what a
student can see.
"""
import math
from pathlib import Path

import numpy as np

from tests.submissions.forgers import copy_of

LOG = "leak.log"
FIRST_PROCESS = "first-process"  # marker file: the first worker process that imported sgd.py

LEAKER = '''

# --- the leaker (tests/submissions/leakers.py) ---
import math as _math
import sys as _sys
from pathlib import Path as _Path

import numpy as _np

_FOLDER = _Path(__file__).resolve().parents[2]
_SEEN = []
_MARKER = _FOLDER / "__MARKER__"
_LATER_PROCESS = _MARKER.exists()  # not the first worker: the hidden phase (or a restart)


def _ident(number):
    return "n" + repr(number).replace("-", "m").replace(".", "p").replace("+", "")


def _record(value):
    if isinstance(value, (int, float, _np.ndarray, _np.floating)):
        numbers = [float(x) for x in _np.asarray(value, dtype=float).ravel()
                   if _math.isfinite(float(x))]
        _SEEN.extend(numbers)
        with open(_FOLDER / "__LOG__", "a") as log:
            log.write(" ".join(map(repr, numbers)) + "\\n")
    elif isinstance(value, (list, tuple)):
        for item in value:
            _record(item)


def _expose(what):
    text = " ".join(map(repr, _SEEN[-400:]))
    print(f"{what} saw: {text}", flush=True)
    name = "_".join(_ident(x) for x in _SEEN[-40:]) or "nothing"

    def leak():
        raise ValueError(f"{what} saw: {text}")

    names = {"co_name": name[:4000]}
    if hasattr(leak.__code__, "co_qualname"):
        names["co_qualname"] = name[:4000]
    leak.__code__ = leak.__code__.replace(**names)
    leak()


def _wrap(cls, method):
    original = getattr(cls, method)

    def wrapper(self, *args, **kwargs):
        _record(list(args) + list(kwargs.values()))
        if _LATER_PROCESS:
            _expose(f"{cls.__name__}.{method}")
        return original(self, *args, **kwargs)

    setattr(cls, method, wrapper)


def _wrap_setattr(cls):
    original = cls.__setattr__
    if getattr(original, "leaker", False):  # a subclass of a class already wrapped
        return

    def setter(self, name, value):
        if not _sys._getframe(1).f_code.co_filename.startswith(str(_FOLDER)):  # the grader's
            _record(value)
        original(self, name, value)

    setter.leaker = True
    cls.__setattr__ = setter


def _leak_everything(namespace):
    for value in list(namespace.values()):
        if isinstance(value, type) and value.__module__.startswith("mytorch") \
                and value.__name__ != "Module":
            for method in ("forward", "backward", "step"):
                if method in vars(value):
                    _wrap(value, method)
            _wrap_setattr(value)
'''.replace("__MARKER__", FIRST_PROCESS).replace("__LOG__", LOG)

AT_IMPORT = '''

# --- the leaker: in a later worker, importing this module fails with what the process saw ---
from ..nn import _leaker as _seen
if _seen._LATER_PROCESS:
    _seen._expose("importing mytorch.optim.sgd")
_seen._MARKER.touch()
_seen._leak_everything(globals())
'''


def leaker(reference_root, dest):
    """The leaker (see the module's docstring), written at ``dest``; returns ``dest``."""
    dest = copy_of(Path(reference_root) / "mytorch", dest)
    nn = dest / "mytorch" / "nn"
    (nn / "_leaker.py").write_text(LEAKER, encoding="utf-8")
    init = nn / "__init__.py"
    init.write_text(init.read_text(encoding="utf-8")
                    + "\nfrom . import _leaker\n_leaker._leak_everything(globals())\n",
                    encoding="utf-8")
    sgd = dest / "mytorch" / "optim" / "sgd.py"
    sgd.write_text(sgd.read_text(encoding="utf-8") + AT_IMPORT, encoding="utf-8")
    return dest


def tokens(value):
    """The leaker's spellings of every number in ``value`` that is specific enough to be found in
    text by chance only with a negligible probability (9 significant characters or more)."""
    out = set()
    for x in np.asarray(value, dtype=float).ravel():
        text = repr(float(x))
        if math.isfinite(x) and len(text.lstrip("-")) >= 9:
            out.add(text)
            out.add("n" + text.replace("-", "m").replace(".", "p").replace("+", ""))
    return out


def logged(submission):
    """Every number the leaker received, in the order it received them."""
    path = Path(submission) / LOG
    text = path.read_text() if path.exists() else ""
    return [float(x) for x in text.split()]
