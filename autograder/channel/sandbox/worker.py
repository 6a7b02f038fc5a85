"""The worker: imports the submission and serves calls from the trusted grader over stdin/stdout.

Started as ``python -I worker.py``; the grader's first frame on stdin says what to serve and how
(its paths never appear on the worker's argv or in its environment). Before any student code runs
it isolates itself (``isolate``: namespaces, resource limits, Landlock, no capabilities, a socket
filter — ``isolation.py``, ``landlock.py``), keeps private copies of the wire's file descriptors,
points fds 1 and 2 (the student's prints) at stderr, which the grader reads into a bounded buffer,
and closes stdin for the student. Everything the student's code does — raise, print, exit —
becomes a reply; only a dead process does not, and the grader notices that on its own.
"""
import functools
import importlib
import inspect
import os
import random
import sys
import traceback
import types

# the files beside this one, imported before the submission is on sys.path
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import isolation
import landlock
import numpy as np
import protocol
import wire


def apply_limits(limits):
    """Apply POSIX limits where available; return the names of the limits that could not be set."""
    missing = []
    try:
        import resource
    except ImportError:
        return sorted(limits)
    names = {"memory_mb": "RLIMIT_AS", "cpu_seconds": "RLIMIT_CPU", "file_size_mb": "RLIMIT_FSIZE",
             "processes": "RLIMIT_NPROC"}
    for key, value in limits.items():
        rname = names.get(key)
        if value is None or rname is None:
            continue
        if not hasattr(resource, rname):
            missing.append(key)
            continue
        amount = int(value * 2**20) if key.endswith("_mb") else int(value)
        try:
            resource.setrlimit(getattr(resource, rname), (amount, amount))
        except (ValueError, OSError):
            missing.append(key)
    return missing


@functools.cache
def public_methods(cls):
    """Names of the plain, static and class methods a class defines or inherits (not dunders)."""
    kinds = (types.FunctionType, staticmethod, classmethod)
    return [name for name in dir(cls) if not name.startswith("__")
            and isinstance(inspect.getattr_static(cls, name, None), kinds)][:wire.MAX_METHODS]


class Server:
    def __init__(self, submission, wire_in, wire_out, sandbox, missing_limits):
        self.submission = os.path.realpath(submission)
        self.sandbox, self.missing_limits = sandbox, missing_limits  # told in the greeting
        self.wire_in, self.wire_out = wire_in, wire_out
        self.objects = {}
        self.next_id = 1
        self.failed_imports = {}  # module -> its error: a module that failed is not run again
        self.import_policy = None
        self.handlers = {op: getattr(self, f"op_{op}") for op in protocol.OPERATIONS}

    # -- object table -------------------------------------------------------------------------
    def to_ref(self, obj, ref_id=None):
        if ref_id is None:
            ref_id = self.next_id
            self.next_id += 1
        self.objects[ref_id] = obj
        shadowed = getattr(obj, "__dict__", None)
        methods = [m for m in public_methods(type(obj))
                   if not (isinstance(shadowed, dict) and m in shadowed)]
        return wire.Ref(ref_id, f"{type(obj).__module__}.{type(obj).__qualname__}", callable(obj),
                        methods)

    def resolve(self, value):
        if isinstance(value, wire.Ref):
            try:
                return self.objects[value.id]
            except KeyError:
                raise LookupError(f"object #{value.id} no longer exists in the worker") from None
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if isinstance(value, tuple):
            return tuple(self.resolve(v) for v in value)
        if isinstance(value, dict):
            return {k: self.resolve(v) for k, v in value.items()}
        return value

    # -- requests -----------------------------------------------------------------------------
    def load(self, dotted):
        """Import ``package.module.Name`` from the submission (and only from the submission)."""
        module_name, _, attr = dotted.rpartition(".")
        return getattr(self.import_module(module_name), attr)

    def import_module(self, module_name):
        """Import ``module_name`` from the submission, once: a failure is kept and raised again
        (the grader has recorded it; running the module's code again would only repeat it)."""
        parts = module_name.split(".")
        for i in range(1, len(parts) + 1):
            failed = ".".join(parts[:i])
            if failed in self.failed_imports:
                raise ImportError(f"importing {failed} failed earlier "
                                  f"({self.failed_imports[failed]})")
        try:
            return self._import(module_name)
        except BaseException as exc:
            self.failed_imports[module_name] = f"{type(exc).__name__}: {exc}"[:300]
            raise

    def _import(self, module_name):
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError:
            # A package whose __path__ points elsewhere (at the reference, say) finds nothing
            # there under the sandbox, which may not read it: name the real reason.
            outside = self.outside_path(module_name)
            if outside is None:
                raise
            raise ImportError(f"{module_name} was not found in the submission folder "
                              f"{self.submission} (its package looks in {outside})") from None
        origin = os.path.realpath(getattr(module, "__file__", None) or "")
        if not origin.startswith(self.submission + os.sep):
            raise ImportError(f"{module_name} was not found in the submission folder "
                              f"{self.submission} (got {origin or 'a built-in module'})")
        return module

    def outside_path(self, module_name):
        """A search path of an imported parent package of ``module_name`` outside the submission."""
        parts = module_name.split(".")
        for i in range(1, len(parts)):
            for entry in getattr(sys.modules.get(".".join(parts[:i])), "__path__", None) or []:
                if not os.path.realpath(str(entry)).startswith(self.submission + os.sep):
                    return str(entry)
        return None

    def handle(self, request):
        handler = self.handlers.get(request.get("op")) if isinstance(request, dict) else None
        if handler is None:
            raise ValueError(f"unknown request {request!r:.100}")
        return handler(request)

    # -- the operations (protocol.OPERATIONS says what each does) -----------------------------
    def op_new(self, request):
        target = self.load(request["path"])
        obj = target(*self.resolve(request["args"]), **self.resolve(request["kwargs"]))
        # the grader names the new object (a negative id), so it need not wait for this reply
        return self.to_ref(obj, request["id"]) if "id" in request else obj

    def op_function(self, request):
        return self.load(request["path"])

    def op_import(self, request):  # before a module's first object: its failure is known as one
        if request.get("allowed") is not None and self.import_policy is None:
            self.import_policy = ImportPolicy(self.submission, request["allowed"])
            sys.meta_path.insert(0, self.import_policy)
        self.import_module(request["module"])

    def op_getattr(self, request):
        return getattr(self.objects[request["ref"]], request["name"])

    def op_getmany(self, request):
        obj = self.objects[request["ref"]]
        return tuple(getattr(obj, name) for name in request["names"])

    def op_setattr(self, request):
        setattr(self.objects[request["ref"]], request["name"], self.resolve(request["value"]))

    def op_call(self, request):
        return self.objects[request["ref"]](*self.resolve(request["args"]),
                                            **self.resolve(request["kwargs"]))

    def op_callmethod(self, request):
        method = getattr(self.objects[request["ref"]], request["name"])
        return method(*self.resolve(request["args"]), **self.resolve(request["kwargs"]))

    def op_callmany(self, request):  # many calls in one request: a numeric gradient's forwards
        obj, results = self.objects[request["ref"]], []
        for group in request["groups"]:  # calls alike, by columns: see protocol.call_many
            args = [self.resolve(column) for column in group["args"]]
            sets = {name: self.resolve(column) for name, column in group["set"].items()}
            for i in range(group["count"]):
                for name, column in sets.items():
                    setattr(obj, name, column[i])
                results.append(getattr(obj, request["name"])(*[column[i] for column in args]))
        return results

    def op_reset(self, request):
        self.objects.clear()
        np.random.seed(0)
        random.seed(0)

    def op_ping(self, request):
        return "pong"

    def reply(self, message):
        try:
            frame = wire.encode(message, self.to_ref)
        except BaseException as exc:
            # a value we cannot send is the student's error, reported as one
            frame = wire.encode({"error": self.describe(exc), "seq": message.get("seq")})
        self.wire_out.write(frame)
        self.wire_out.flush()

    def describe(self, exc):
        """Describe an exception with only the submission's own traceback frames."""
        frames = []
        for fs in traceback.extract_tb(exc.__traceback__):
            if not os.path.isabs(fs.filename):  # "<frozen importlib._bootstrap>", "<string>"
                continue  # (realpath would resolve it against the cwd, the submission folder)
            path = os.path.realpath(fs.filename)
            if path.startswith(self.submission + os.sep):
                # bounded: a student can name a function with a million characters
                frames.append([os.path.relpath(path, self.submission)[:300], fs.lineno,
                               fs.name[:200], (fs.line or "")[:300]])
        if isinstance(exc, SystemExit):
            kind = "exit"
        elif isinstance(exc, NotImplementedError):
            kind = "not_implemented"
        elif isinstance(exc, MemoryError):
            kind = "memory"
        else:
            kind = "exception"
        try:
            message = str(exc)[:2000]
        except BaseException:
            message = "<the exception's message could not be turned into text>"
        return {"kind": kind, "type": type(exc).__name__[:200], "message": message,
                "frames": frames[-20:]}

    def serve(self):
        self.reply({"ok": {"ready": True, "python": sys.version.split()[0],
                           "numpy": np.__version__, "limits_missing": self.missing_limits,
                           "sandbox": self.sandbox}, "seq": 0})
        while True:
            frame = wire.read_frame(self.wire_in)
            if frame is None:
                return
            request = wire.decode(*frame)
            try:
                result = self.handle(request)
                message = {"ok": result}
            except BaseException as exc:  # SystemExit/KeyboardInterrupt from student code too
                message = {"error": self.describe(exc)}
            finally:
                for stream in (sys.stdout, sys.stderr):
                    try:
                        stream.flush()
                    except BaseException:
                        pass
            if isinstance(request, dict) and "seq" in request:
                message["seq"] = request["seq"]  # the grader matches each reply to its request
            self.reply(message)


class ImportPolicy:
    """A ``sys.meta_path`` finder refusing what the submission's own code imports beyond the
    course's allowed packages and the standard library (what NumPy imports for itself passes).

    The grader has already told the student, from the source; this keeps the grade the same
    whatever happens to be installed where it runs."""

    def __init__(self, submission, allowed):
        self.submission = submission + os.sep
        self.allowed = set(allowed) | set(sys.stdlib_module_names) | {"__future__"}

    def find_spec(self, name, path=None, target=None):
        top = name.partition(".")[0]
        if top in self.allowed or path is not None:  # a submodule: its package was let in
            return None
        frame = sys._getframe(1)
        while frame is not None and (frame.f_code.co_filename.startswith("<") or
                                     frame.f_globals.get("__name__", "").startswith("importlib")):
            frame = frame.f_back
        if frame is not None and os.path.realpath(frame.f_code.co_filename).startswith(
                self.submission) and not os.path.exists(os.path.join(self.submission, top)) \
                and not os.path.exists(os.path.join(self.submission, top + ".py")):
            raise ImportError(f"import of {top} refused: {top} is not allowed in this course",
                              name=name)
        return None


def apply_landlock(submission, options):
    """Landlock (Linux): read the interpreter, system libraries and the submission; write the
    submission and this worker's folder; nothing of ``options["hide"]`` (the grader's own files).
    Returns None when applied, else why not (reported, never fatal)."""
    here = os.path.dirname(os.path.abspath(__file__))
    read = [sys.prefix, sys.base_prefix, sys.exec_prefix,
            os.path.dirname(os.path.dirname(os.path.realpath(np.__file__))), *landlock.SYSTEM_READ]
    try:
        return landlock.restrict(read, [os.path.realpath(submission), here],
                                 hide=options.get("hide", []))
    except Exception as exc:  # a sandbox that cannot be built is reported, not fatal
        return f"Landlock could not be applied ({type(exc).__name__}: {exc})"


def isolate(config):
    """Every layer between student code and the rest of the machine, before any of it runs.

    Returns the greeting's ``sandbox`` report: ``active`` (layer -> detail), ``missing`` (layer
    -> why not), ``weak`` (missing layers this kernel offers: a grader may refuse to go on) and
    ``host_uid`` (the worker's user outside any namespace).
    """
    host_uid = os.geteuid() if hasattr(os, "geteuid") else None
    active, missing = {}, {}

    def record(name, why, detail=""):
        if why:
            missing[name] = why
        else:
            active[name] = detail

    offers = {}
    if sys.platform.startswith("linux"):
        offers = {"user-ns": isolation.offered("user"), "pid-ns": isolation.offered("pid"),
                  "net-ns": isolation.offered("net"), "ipc-ns": isolation.offered("ipc"),
                  "own-proc": isolation.offered("pid"), "caps-dropped": True,
                  "no-new-privs": True, "seccomp": isolation.seccomp_offered(),
                  "landlock": landlock.abi_version() >= 1}
    if config.get("namespaces", True):
        found, lost = isolation.enter_namespaces()  # the parent never returns from here
        active.update(found)
        missing.update(lost)
        if "pid-ns" not in active:
            record("own-proc", "no PID namespace")
    else:
        missing.update({n: "not requested" for n in ("user-ns", "pid-ns", "net-ns", "ipc-ns",
                                                      "own-proc")})
    limits = config.get("limits", {})
    lacking = apply_limits(limits)
    requested = [k for k, v in sorted(limits.items()) if v is not None]
    record("rlimits", ("not enforced here: " + ", ".join(lacking)) if lacking
           else None if requested else "not requested", ", ".join(requested))
    if config.get("landlock") is None:
        record("landlock", "not requested")
    else:
        record("landlock", apply_landlock(config["submission"], config["landlock"]),
               f"ABI {landlock.abi_version()}")
    caps, nnp = isolation.drop_capabilities()
    record("caps-dropped", caps)
    record("no-new-privs", nnp)
    record("seccomp", isolation.block_unix_sockets(), "no unix sockets, no io_uring")
    # Not a layer applied here, but one a grader may require of every worker: student code runs
    # as a user other than root (the grader dropped to it, or never was root).
    record("unprivileged", None if host_uid else
           "runs as root" if host_uid == 0 else "no users on this platform", f"uid {host_uid}")
    weak = sorted(n for n, why in missing.items() if offers.get(n) and why != "not requested")
    return {"active": active, "missing": missing, "weak": weak, "host_uid": host_uid}, lacking


def read_config(fd):
    """The grader's first frame: the submission, limits and sandbox options (never on argv, which
    any process can read, nor in the environment, which student code inherits)."""
    frame = wire.read_frame(os.fdopen(fd, "rb", buffering=0, closefd=False))
    if frame is None:
        sys.exit("the grader sent no configuration")
    return wire.decode(*frame)


def main():
    config = read_config(0)
    submission = config["submission"]
    sandbox, missing_limits = isolate(config)
    wire_in = os.fdopen(os.dup(0), "rb", buffering=0)
    wire_out = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(2, 1)
    sys.stdin = open(os.devnull)
    sys.stdout = os.fdopen(1, "w", buffering=1, errors="replace", closefd=False)
    sys.stderr = os.fdopen(2, "w", buffering=1, errors="replace", closefd=False)
    required = [n for n in config.get("require", []) if n not in sandbox["active"]]
    if required:  # the grader would not trust the grade: no student code runs at all
        failed = "; ".join(f"{n}: {sandbox['missing'].get(n, 'unknown layer')}" for n in required)
        wire_out.write(wire.encode({"ok": {"ready": False, "sandbox_failed": failed,
                                           "sandbox": sandbox}, "seq": 0}))
        wire_out.flush()
        return
    # The submission comes first on the path; drop editable-install finders that could otherwise
    # hand out the grader's own (reference) mytorch when the submission has none.
    sys.path.insert(0, os.path.realpath(submission))
    sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in type(f).__module__.lower()
                        and "editable" not in getattr(f, "__name__", "").lower()]
    os.chdir(submission)
    Server(submission, wire_in, wire_out, sandbox, missing_limits).serve()

if __name__ == "__main__":
    main()
