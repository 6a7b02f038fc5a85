"""The proxy's overhead: the graded suite through the worker against the same suite in-process.

    python benchmarks/proxy_overhead.py [--repeat 5]

Both runs execute the same pytest suite with the same hypothesis examples through
``autograder.grading.runner.grade``; only the ``sub`` fixture differs. The proxied run is the
real one: a worker process, the wire and ``Remote`` handles. The in-process run swaps in
``InProcessSubmission``, which imports the reference ``mytorch`` into the grader's own process and
hands the tests thin wrappers around the live objects — what the checks would cost with no trust
boundary at all. Arrays are still copied at the boundary (a memcpy each): the tests rely on value
semantics, e.g. an in-place SGD step must not change the test's own copy of the weights. It
exists only here: the grader itself never runs student code in its own process.

The two are timed alternately (proxied, in-process, proxied, ...) so that drift on a noisy machine
hits both; the ratio of the medians is the proxy's overhead. Grading time here excludes interpreter
start and pytest import (both are paid once either way; ``grade_time.py`` measures the cold start).
"""
import argparse
import importlib
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from autograder.channel.errors import NotImplementedYet, StudentError  # noqa: E402 - sys.path set above
from autograder.channel.proxy import Submission  # noqa: E402 - sys.path set above
from autograder.channel.sandbox.wire import Ref  # noqa: E402 - sys.path set above
from autograder.grading.runner import grade  # noqa: E402 - sys.path set above

_PLAIN = (type(None), bool, int, float, str, np.generic)


def _crossing(value, other):
    """``value`` as it comes out on the other side: arrays copied (the wire copies them),
    containers walked, anything else given to ``other``."""
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, list):
        return [_crossing(v, other) for v in value]
    if isinstance(value, tuple):
        return tuple(_crossing(v, other) for v in value)
    if isinstance(value, dict):
        return {k: _crossing(v, other) for k, v in value.items()}
    return other(value)


def _wrap(value):  # submission -> tests: objects become handles
    return _crossing(value, lambda v: v if isinstance(v, _PLAIN) else LocalHandle(v))


def _unwrap(value):  # tests -> submission: handles become their objects
    return _crossing(value, lambda v: v._obj if isinstance(v, LocalHandle) else v)


def _student_call(fn, *args, **kwargs):
    """Call into the submission, raising what the proxy would raise."""
    try:
        return _wrap(fn(*_unwrap(args), **_unwrap(kwargs)))
    except NotImplementedError as exc:
        raise NotImplementedYet({"kind": "not_implemented", "type": type(exc).__name__,
                                 "message": str(exc)}, getattr(fn, "__name__", "call")) from None
    except Exception as exc:
        raise StudentError({"type": type(exc).__name__, "message": str(exc)},
                           getattr(fn, "__name__", "call")) from None


class Done:
    """``pending.Pending``'s interface for a call that has already run."""

    def __init__(self, fn, *args, **kwargs):
        self.value = self.error = None
        try:
            self.value = fn(*args, **kwargs)
        except Exception as exc:  # raised by result(), as the proxy does
            self.error = exc

    def result(self):
        if self.error is not None:
            raise self.error
        return self.value


class LocalHandle:
    """``proxy.Remote``'s interface over a live object in this process."""

    __slots__ = ("_obj", "_ref")

    def __init__(self, obj):
        object.__setattr__(self, "_obj", obj)
        object.__setattr__(self, "_ref", Ref(id(obj), f"{type(obj).__module__}."
                                             f"{type(obj).__qualname__}", callable(obj)))

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _wrap(getattr(self._obj, name))

    def __setattr__(self, name, value):
        setattr(self._obj, name, _unwrap(value))

    def __call__(self, *args, **kwargs):
        return _student_call(self._obj, *args, **kwargs)

    def submit(self, *args, **kwargs):
        return Done(_student_call, self._obj, *args, **kwargs)


class InProcessSubmission:
    """``proxy.Submission``'s interface, importing ``mytorch`` from ``path`` into this process."""

    def __init__(self, path, limits=None, user=None):
        self.path = Path(path).resolve()
        self.worker = None
        if str(self.path) not in sys.path:
            sys.path.insert(0, str(self.path))
        # a grader imports each submission afresh, as the worker does: no modules kept from before
        for name in [m for m in sys.modules if m == "mytorch" or m.startswith("mytorch.")]:
            del sys.modules[name]

    def reset(self):
        np.random.seed(0)  # as the worker's reset does

    def take_output(self):
        return ""

    def sync(self):
        pass

    def close(self):
        pass

    def function(self, path):
        module, _, name = path.rpartition(".")
        return _wrap(getattr(importlib.import_module(module), name))

    def new(self, path, *args, **kwargs):
        return _student_call(self.function(path)._obj, *args, **kwargs)

    def call_many(self, remote, method, args_list, set_list=None, wait=True):
        if not wait:
            return Done(self.call_many, remote, method, args_list, set_list)
        set_list = set_list or [{}] * len(args_list)
        out = []
        for args, assignments in zip(args_list, set_list):
            for name, value in assignments.items():
                setattr(remote._obj, name, _unwrap(value))
            out.append(_student_call(getattr(remote._obj, method), *args))
        return out

    def read(self, remote, *names, wait=True):
        if not wait:
            return Done(self.read, remote, *names)
        return tuple(_wrap(getattr(remote._obj, name)) for name in names)


def measure(repeat=5, submission=ROOT):
    """Median seconds of a full grade through the worker and in-process; both must be 100/100."""
    times = {"proxy": [], "in-process": []}
    for _ in range(repeat):
        for kind, factory in (("proxy", Submission), ("in-process", InProcessSubmission)):
            start = time.perf_counter()
            result = grade(submission, submission_factory=factory)
            times[kind].append(time.perf_counter() - start)
            if result.score != result.max_score:
                failed = [f"{t.nodeid}: {t.feedback[:200]}" for task in result.tasks
                          for t in task.failures()]
                raise SystemExit(f"{kind} grade was {result.score}/{result.max_score}:\n"
                                 + "\n".join(failed[:5] + result.errors[:3]))
    proxy, local = (statistics.median(times[k]) for k in ("proxy", "in-process"))
    return {"proxy_s": proxy, "in_process_s": local, "ratio": proxy / local, "repeat": repeat,
            "proxy_runs": times["proxy"], "in_process_runs": times["in-process"]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    r = measure(args.repeat)
    print(f"graded suite through the worker: median {r['proxy_s']:.2f} s; in-process: "
          f"{r['in_process_s']:.2f} s; overhead {r['ratio']:.2f}x (median of {r['repeat']})")


if __name__ == "__main__":
    main()
