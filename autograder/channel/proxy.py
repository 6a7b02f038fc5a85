"""The proxy the graded tests use: handles on the submission's objects, living in a worker.

The graded tests never touch student objects, only ``Remote`` handles: attribute reads, writes and
calls become requests to a worker process (``transport.py`` starts it; ``sandbox/worker.py`` serves
it), and what comes back is plain data decoded by ``sandbox/wire.py``. A worker that dies, hangs or
breaks the protocol fails the request in flight with ``WorkerCrashed``; the next request starts a
fresh worker.

Pipelining. A round trip is the proxy's main cost, so requests whose answer nobody needs at once —
creating an object (the proxy names it itself, with a negative id), writing an attribute, resetting
between tests — are sent without waiting. ``method.submit(...)``, ``call_many(..., wait=False)`` and
``read(..., wait=False)`` return a ``Pending``. The next request that waits collects every reply
owed, in order, and each error surfaces under the name of the request that caused it; the ``sub``
fixture syncs at the end of a test, so a late error still fails its own test.
"""
import collections
import contextlib
import copy
import functools
import time
from pathlib import Path

from ..intake import imports
from .errors import BudgetExhausted, ImportFailed, NotImplementedYet, StudentError, WorkerCrashed
from .pending import Pending, PendingRef
from .sandbox import protocol, wire
from .transport import Limits, Worker


class Remote:
    """A handle on an object in the worker. Attribute access and calls become requests."""

    __slots__ = ("_sub", "_ref", "_label", "_generation")

    def __init__(self, sub, ref, label):
        object.__setattr__(self, "_sub", sub)
        object.__setattr__(self, "_ref", ref)
        object.__setattr__(self, "_label", label)
        object.__setattr__(self, "_generation", sub.generation)

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        if name in self._ref.methods:  # a method of the class: calling it is the one round trip
            return RemoteMethod(self, name)
        value = self._sub._request(protocol.get(self._ref.id, name),
                                   f"reading {self._label}.{name}", self)
        if isinstance(value, Remote) and value._ref.callable:
            return RemoteMethod(self, name)
        return value

    def __setattr__(self, name, value):  # not waited for: errors surface at the next request
        self._sub._request(protocol.set(self._ref.id, name, value),
                           f"setting {self._label}.{name}", self, wait=False,
                           on_reply=_no_result)

    def __call__(self, *args, **kwargs):
        return self._sub._request(protocol.call(self._ref.id, args, kwargs),
                                  f"calling {self._label}", self)

    def __repr__(self):
        return f"<remote {self._label} ({self._ref.type})>"


class RemoteMethod:
    """``remote.method`` — calling it is one request (``callmethod``)."""

    __slots__ = ("owner", "name")

    def __init__(self, owner, name):
        self.owner, self.name = owner, name

    def __call__(self, *args, **kwargs):
        return self._send(args, kwargs, wait=True)

    def submit(self, *args, **kwargs):
        """Call without waiting: returns a ``Pending`` whose ``result()`` is the return value."""
        return self._send(args, kwargs, wait=False)

    def _send(self, args, kwargs, wait):
        o = self.owner
        return o._sub._request(protocol.call_method(o._ref.id, self.name, args, kwargs),
                               f"{o._label}.{self.name}()", o, wait=wait)


class Submission:
    """The proxy fixture's object: ``sub.new("mytorch.nn.Linear", 3, 5)`` and friends."""

    def __init__(self, path, limits=None, python=None, user=None):
        self.path = Path(path).resolve()
        self.limits = limits or Limits()
        self.python, self.user = python, user
        self.worker = None
        self.generation = 0
        self.events = collections.Counter()
        # The first "not implemented" or crash of a test fails every later request of that test at
        # once: hypothesis can then shrink in milliseconds instead of restarting workers. A call
        # that timed out is not retried for the rest of the run (each retry would cost the limit).
        self.fatal = None
        self.hung = {}
        self.next_id = 0  # names of objects created by ``new``
        self.known_methods = {}  # "mytorch.nn.Linear" -> its methods, learnt from the first one
        # Imports. Each module (package by package) is imported by a request of its own before the
        # first object needs it, so that a failure there is known as one: recorded once, it fails
        # every later test needing the module at once, hangs and crashes included, and a module
        # that needs one whose import killed the worker (read from the source, imports.py) too.
        self.allowed_imports = None  # top-level names the submission may import (None: anything)
        self.import_failures = {}  # module -> ImportFailed
        self._import_actions = {}  # "importing mytorch.nn" -> "mytorch.nn"
        self._imported, self._imported_by = set(), None  # asked of this worker already
        # What the submission's modules import, read from its source before any of it ran (the
        # grader's own scan, or one made before the first worker starts): once student code has
        # run, its folder may hold links (into /proc, say) and FIFOs, so it is never read again.
        self.source_scan = None
        # Set by the grader once hidden cases run: what the submission does from then on may
        # quote them, so its import failures are not told at the top (``ImportFailed.at_top``).
        self.hidden_phase = False
        # The time budget: wall time spent waiting on the submission's code, over all tests.
        self.spent = 0.0
        self.budget_hit = False
        self._deadline = None

    # -- worker lifecycle ---------------------------------------------------------------------
    def _worker(self):
        if self.source_scan is None:
            self.source_scan = imports.scan(self.path)
        if self.worker is None or not self.worker.alive():
            if self.worker is not None:
                self.worker.kill()
            self.generation += 1
            self.events["worker_starts"] += 1
            self.worker = None
            self.worker = Worker(self.path, self.limits, self.python, self.user,
                                 encode_hook=_remote_to_ref)
        self.worker.deadline = self._deadline
        return self.worker

    def budget_left(self):
        """Seconds of the time budget left (inf without a budget)."""
        budget = getattr(self.limits, "budget_seconds", None)
        return float("inf") if budget is None else budget - self.spent

    def start(self):
        """Start the worker now, without waiting for it (the grader collects its tests meanwhile).

        Failing here is not final: the first request starts a worker again and reports why not.
        """
        try:
            self._worker()
        except (OSError, WorkerCrashed):
            self.worker = None

    def reset(self):
        """Between tests: forget the worker's objects and reseed its global generators.

        Replies the last test left unread are collected first (their errors were that test's), and
        the reset itself is not waited for: it is answered with the next test's first request.
        """
        if self.worker is not None and self.worker.alive():
            try:
                with self._charged():
                    self.worker.finish()
            except StudentError:
                pass
            except WorkerCrashed:
                self.worker.kill()
            if self.worker.alive():
                try:
                    self.worker.send(protocol.reset(), "resetting your code")
                except WorkerCrashed:
                    self.worker.kill()
        self.generation += 1
        self.fatal = None

    def take_output(self):
        if self.worker is None:
            return ""
        self.worker.pipes.drain_output()
        return self.worker.output.take()

    def close(self):
        if self.worker is not None:
            self.worker.kill()
            self.worker = None

    # -- requests -----------------------------------------------------------------------------
    def _request(self, message, action, owner=None, wait=True, on_reply=None):
        """Send one request and collect its reply (and any still owed).

        With ``wait=False`` nothing is collected: the result is a ``Pending`` (or, given
        ``on_reply``, None: the caller handles the reply itself).
        """
        if self.fatal is not None:
            raise copy.copy(self.fatal)
        if self.budget_left() <= 0:
            self.budget_hit = True
            raise BudgetExhausted(self.limits.budget_seconds)
        if action in self.hung:
            raise WorkerCrashed(self.hung[action].reason + " (in an earlier test; not retried)",
                                action, timed_out=True)
        if owner is not None and owner._generation != self.generation:
            raise WorkerCrashed("refers to an object lost when your code was restarted", action)
        with self._bookkeeping():
            worker = self._worker()
            if wait:
                worker.send(message, action)
                return self._decode_refs(worker.finish())
            pending = None if on_reply is not None else Pending(self)
            worker.send(message, action, on_reply or pending._resolve)
            return pending

    def sync(self):
        """Collect every reply still owed (requests not waited for), raising the first error."""
        if self.fatal is not None:
            raise copy.copy(self.fatal)
        if self.worker is not None and self.worker.pending:
            with self._bookkeeping():
                self.worker.finish()

    @contextlib.contextmanager
    def _charged(self):
        """Time spent in the block counts against the budget; no reply is awaited past it."""
        start = time.monotonic()
        self._deadline = start + self.budget_left() if self.budget_left() < float("inf") else None
        if self.worker is not None:
            self.worker.deadline = self._deadline
        try:
            yield
        finally:
            self.spent += time.monotonic() - start

    @contextlib.contextmanager
    def _bookkeeping(self):
        try:
            with self._charged():
                yield
        except (StudentError, WorkerCrashed) as exc:
            if isinstance(exc, WorkerCrashed):
                self.events["crashes"] += 1
                self.generation += 1  # the dead worker's objects are gone: old handles must say so
                if self.worker is not None:
                    self.worker.kill()
                if exc.timed_out and self.budget_left() <= 0:
                    self.budget_hit = True
                    self.fatal = BudgetExhausted(self.limits.budget_seconds, exc.action)
                    raise copy.copy(self.fatal) from None
            module = self._import_actions.get(exc.action)
            if module is not None:
                self.fatal = self._import_failed(module, copy.copy(exc))
                raise copy.copy(self.fatal) from None
            if isinstance(exc, (NotImplementedYet, WorkerCrashed)):
                self.fatal = copy.copy(exc)  # kept without its traceback (and what it holds)
            if isinstance(exc, WorkerCrashed) and exc.timed_out:
                self.hung[exc.action] = copy.copy(exc)
            raise

    def _decode_refs(self, value):
        if isinstance(value, wire.Ref):
            label = value.type.rsplit(".", 1)[-1] or "object"
            return Remote(self, value, label)
        if isinstance(value, list):
            return [self._decode_refs(v) for v in value]
        if isinstance(value, tuple):
            return tuple(self._decode_refs(v) for v in value)
        if isinstance(value, dict):
            return {k: self._decode_refs(v) for k, v in value.items()}
        return value

    def new(self, path, *args, **kwargs):
        """Construct ``path`` (e.g. "mytorch.nn.Linear") in the worker; return a Remote.

        The grader names the new object itself, so it need not wait for the reply: errors of the
        constructor surface at the next request that waits, under the constructor's name.
        """
        self._require(path.rpartition(".")[0])
        short = path.rsplit(".", 1)[-1]
        self.next_id -= 1  # negative: the worker numbers the objects it hands out from 1 up
        ref = PendingRef(self, self.next_id, path)
        self._request(protocol.new(path, args, kwargs, ref.id),
                      f"{short}({_describe_args(args, kwargs)})",
                      wait=False, on_reply=ref.resolve)
        return Remote(self, ref, short)

    def call_many(self, remote, method, args_list, set_list=None, wait=True):
        """``[remote.method(*args) for args in args_list]`` in one round trip.

        ``set_list[i]`` (a dict) is assigned to attributes of ``remote`` before call ``i``.
        ``wait=False``: return a ``Pending`` instead.
        """
        set_list = set_list or [{}] * len(args_list)
        # Runs of calls alike (same number of arguments, same attributes set) travel by columns:
        # a column of equal arrays is then one array on the wire (wire's $stack), not one each.
        groups = []
        for args, sets in zip(args_list, set_list):
            shape = (len(args), sorted(sets))
            if not groups or groups[-1][0] != shape:
                groups.append((shape, []))
            groups[-1][1].append((args, sets))
        message = protocol.call_many(remote._ref.id, method, [
            {"count": len(calls), "args": [list(col) for col in zip(*(a for a, _ in calls))],
             "set": {name: [s[name] for _, s in calls] for name in shape[1]}}
            for shape, calls in groups])
        return self._request(message, f"{remote._label}.{method}()", remote, wait=wait)

    def read(self, remote, *names, wait=True):
        """``tuple(getattr(remote, name) for name in names)`` in one round trip (or a Pending)."""
        return self._request(protocol.get_many(remote._ref.id, names),
                             f"reading {remote._label}.{'/'.join(names)}", remote, wait=wait)

    def function(self, path):
        """A Remote for a module-level function or class of the submission."""
        self._require(path.rpartition(".")[0])
        return self._request(protocol.function(path), f"importing {path}")


    # -- imports ------------------------------------------------------------------------------
    def _require(self, module):
        """Have the worker import ``module`` (and its packages, one by one) unless it has: the
        request is not waited for. A module known not to import fails the test at once."""
        parts = module.split(".")
        for i in range(1, len(parts) + 1):
            name = ".".join(parts[:i])
            failure = self._known_failure(name)
            if failure is not None:
                if name != module:
                    failure = self._import_failed(module, failure.cause, via=failure.via or name)
                self.fatal = failure
                raise copy.copy(failure)
            if self.worker is None or self.worker is not self._imported_by:
                self._imported, self._imported_by = set(), None
            if name in self._imported:
                continue
            action = f"importing {name}"
            self._import_actions[action] = name
            self._request(protocol.import_module(name, self.allowed_imports), action, wait=False,
                          on_reply=functools.partial(self._import_replied, name))
            if self._imported_by is not self.worker:
                self._imported, self._imported_by = set(), self.worker
            self._imported.add(name)

    def _import_replied(self, module, ok, value):
        if not ok:  # a copy: the failure itself is raised, and keeps a traceback
            self._import_failed(module, copy.copy(value))

    def _import_failed(self, module, cause, via=None):
        """Record (once) that ``module`` cannot be imported; return its ``ImportFailed``."""
        if module not in self.import_failures:
            parts = module.split(".")
            for i in range(1, len(parts)):  # a package that failed first is the real cause
                prefix = self.import_failures.get(".".join(parts[:i]))
                if prefix is not None and via is None:
                    cause, via = prefix.cause, prefix.via or prefix.module
                    break
            self.import_failures[module] = ImportFailed(module, cause, via,
                                                        at_top=not self.hidden_phase)
        return self.import_failures[module]

    def _known_failure(self, module):
        """The ``ImportFailed`` of ``module``: recorded, or following from a module it needs whose
        import hung or killed the worker (trying again would only do the same)."""
        if module in self.import_failures:
            return self.import_failures[module]
        crashed = [f for f in self.import_failures.values() if f.crashed and f.via is None]
        if not crashed:
            return None
        needs = self.source_scan.closure(module) if self.source_scan is not None else {module}
        for failure in crashed:
            if failure.module in needs:
                return self._import_failed(module, failure.cause, via=failure.module)
        return None


def _no_result(ok, value):
    """``on_reply`` of a request whose result nobody wants: its error is raised by the next wait."""


def _remote_to_ref(value):
    """``wire.encode``'s hook for what is not plain data: only handles on worker objects pass."""
    if isinstance(value, Remote):
        return wire.Ref(value._ref.id)
    if isinstance(value, RemoteMethod):
        raise TypeError("pass the object, not its method")
    raise TypeError(f"cannot send a {type(value).__name__} to the worker")


def _describe_args(args, kwargs):
    parts = [repr(a) if isinstance(a, (int, float, str, bool)) or a is None else type(a).__name__
             for a in args]
    parts += [f"{k}={v!r}" if isinstance(v, (int, float, str, bool)) or v is None else k
              for k, v in kwargs.items()]
    return ", ".join(parts)
