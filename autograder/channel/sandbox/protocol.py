"""Every message between the grader and a worker, in one place: both sides build them here.

The grader (``proxy.py``, ``transport.py``) calls these builders; the worker (``worker.py``)
dispatches on ``OPERATIONS``. A request is a dict with ``op`` (one of ``OPERATIONS``) and a ``seq``
number the transport adds; the reply carries the same ``seq`` and either ``ok`` (the result) or
``error`` (a description of what the student's code raised). Values travel as ``wire.py`` frames.
Objects in the worker are named by integer ids (``ref``): the grader names the ones it creates
itself (negative ids), so that it need not wait for ``new``'s reply.

This module is copied beside the worker and imports nothing.
"""

# op -> what the worker does (the worker checks at start-up that it handles exactly these)
OPERATIONS = {
    "new": "import the class at `path`, call it with `args`/`kwargs`, keep the object as `id`",
    "function": "import the function (or class) at `path` and return a handle to it",
    "import": "import `module` of the submission (once; `allowed`: packages it may import)",
    "getattr": "read attribute `name` of object `ref`",
    "getmany": "read attributes `names` of object `ref`, as a tuple",
    "setattr": "set attribute `name` of object `ref` to `value`",
    "call": "call object `ref` with `args`/`kwargs`",
    "callmethod": "call method `name` of object `ref` with `args`/`kwargs`",
    "callmany": "call method `name` of object `ref` once per row of `groups` (columns of args)",
    "reset": "forget every object and reseed the global random generators",
    "ping": "answer 'pong'",
}


def config(submission, limits, landlock, namespaces, require):
    """The first frame a worker reads, before any request: where the submission is and how to
    isolate it (sent on stdin, never on argv: any process may read another's argv)."""
    return {"submission": submission, "limits": limits, "landlock": landlock,
            "namespaces": namespaces, "require": list(require)}


def new(path, args, kwargs, ref_id):
    return {"op": "new", "path": path, "args": list(args), "kwargs": kwargs, "id": ref_id}


def function(path):
    return {"op": "function", "path": path}


def import_module(module, allowed=None):
    message = {"op": "import", "module": module}
    if allowed is not None:
        message["allowed"] = list(allowed)
    return message


def get(ref, name):
    return {"op": "getattr", "ref": ref, "name": name}


def get_many(ref, names):
    return {"op": "getmany", "ref": ref, "names": list(names)}


def set(ref, name, value):  # the protocol's own name for the operation
    return {"op": "setattr", "ref": ref, "name": name, "value": value}


def call(ref, args, kwargs):
    return {"op": "call", "ref": ref, "args": list(args), "kwargs": kwargs}


def call_method(ref, name, args, kwargs):
    return {"op": "callmethod", "ref": ref, "name": name, "args": list(args), "kwargs": kwargs}


def call_many(ref, name, groups):
    """``groups``: [{"count": n, "args": [column, ...], "set": {attribute: column}}]: n calls
    alike, their arguments (and attributes to set before each call) by columns."""
    return {"op": "callmany", "ref": ref, "name": name, "groups": groups}


def reset():
    return {"op": "reset"}


def ping():
    return {"op": "ping"}
