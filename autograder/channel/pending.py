"""Replies not yet read: ``Pending`` results and ``PendingRef`` handles of objects being created.

The proxy (``proxy.py``) sends requests without waiting whenever nobody needs the answer yet; these
stand for the answers until the next request that waits collects every reply owed, in order.
"""
import copy

from .errors import StudentError, WorkerCrashed
from .sandbox import wire


class Pending:
    """The reply to a request sent without waiting for it, like ``concurrent.futures.Future``.

    Requests are answered in order, so a test can send several (``method.submit(...)``,
    ``call_many(..., wait=False)``, ``read(..., wait=False)``) and pay one round trip for all of
    them: ``result()`` collects every reply owed up to and including this one.
    """

    __slots__ = ("_sub", "_done", "_value", "_error")

    def __init__(self, sub):
        self._sub, self._done, self._value, self._error = sub, False, None, None

    def _resolve(self, ok, value):
        self._done = True
        if ok:
            self._value = self._sub._decode_refs(value)
        else:
            self._error = value
            value.claimed = True  # raised by this Pending's result(), not on behalf of another

    def result(self):
        if not self._done:
            try:
                self._sub.sync()
            except StudentError as exc:
                # another Pending's error, answered in the same round trip: that one raises it
                if not (self._done and getattr(exc, "claimed", False)):
                    raise
        if self._error is not None:
            raise copy.copy(self._error)
        if not self._done:  # the worker died before answering: sync raised, or it was reset
            raise WorkerCrashed("got no reply (your code was restarted)", "a request")
        return self._value


class PendingRef:
    """The handle of an object ``new`` asked for, before the worker's reply has been read.

    Its id is known at once; its class (``type``, ``methods``) once the reply is in: reading them
    earlier collects the replies owed. ``methods`` is guessed from an earlier object of the same
    class when there was one — a wrong guess costs nothing but speed, since the worker looks the
    name up itself either way.
    """

    __slots__ = ("id", "_sub", "_path", "_ref")

    def __init__(self, sub, ref_id, path):
        self.id, self._sub, self._path, self._ref = ref_id, sub, path, None

    def resolve(self, ok, ref):
        if ok and isinstance(ref, wire.Ref):
            self._ref = ref
            self._sub.known_methods[self._path] = ref.methods

    def _known(self):
        if self._ref is None:
            self._sub.sync()
        if self._ref is None:
            raise WorkerCrashed("was never created", self._path.rsplit(".", 1)[-1])
        return self._ref

    @property
    def type(self):
        return self._known().type

    @property
    def callable(self):
        return self._known().callable

    @property
    def methods(self):
        if self._ref is None and self._path in self._sub.known_methods:
            return self._sub.known_methods[self._path]
        return self._known().methods
