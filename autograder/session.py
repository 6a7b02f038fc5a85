"""Trusted side of the trust boundary: worker processes and the proxy the graded tests use.

The graded tests never touch student objects, only ``Remote`` handles: attribute reads, writes and
calls become requests to a worker process (``sandbox/worker.py``), and what comes back is plain data
decoded by ``sandbox/wire.py``. A worker that dies, hangs or breaks the protocol fails the request in
flight with ``WorkerCrashed``; the next request starts a fresh worker.
"""
import collections
import copy
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .sandbox import wire

SANDBOX_DIR = Path(__file__).parent / "sandbox"


@dataclass
class Limits:
    """Limits on one worker. ``None`` disables a limit. POSIX limits apply where the OS has them."""

    call_seconds: float = 10.0      # wall time of one request
    start_seconds: float = 30.0     # wall time to start a worker (Python + NumPy import)
    memory_mb: int | None = 2048    # address space (RLIMIT_AS)
    cpu_seconds: int | None = 600   # CPU time of one worker process (RLIMIT_CPU)
    file_size_mb: int | None = 16   # largest file the worker may write (RLIMIT_FSIZE)
    processes: int | None = None    # RLIMIT_NPROC; only meaningful for a dedicated user
    output_bytes: int = 64 * 1024   # student prints kept per worker; the rest is counted, not kept

    def posix(self):
        return {"memory_mb": self.memory_mb, "cpu_seconds": self.cpu_seconds,
                "file_size_mb": self.file_size_mb, "processes": self.processes}


class StudentError(Exception):
    """The submission's code raised (or exited) while serving a request."""

    def __init__(self, info, action):
        self.kind = info.get("kind", "exception")
        self.type = info.get("type", "Exception")
        self.message = info.get("message", "")
        self.frames = info.get("frames", [])
        self.action = action
        super().__init__(f"{self.type}: {self.message}")

    def __reduce__(self):  # copy.copy/pickle: rebuild from what __init__ takes, not from args
        info = {"kind": self.kind, "type": self.type, "message": self.message, "frames": self.frames}
        return type(self), (info, self.action)

    def feedback(self):
        if self.kind == "not_implemented":
            head = f"not implemented yet ({self.action} raised NotImplementedError"
            return head + (f": {self.message})" if self.message else ")")
        if self.kind == "exit":
            head = f"{self.action} called sys.exit({self.message})"
        else:
            head = f"{self.action} raised {self.type}: {self.message}"
        lines = [head]
        if self.frames:
            lines.append("Traceback (your code, most recent call last):")
            for path, line, func, text in self.frames:
                lines.append(f'  File "{path}", line {line}, in {func}')
                if text:
                    lines.append(f"    {text}")
        return "\n".join(lines)


class NotImplementedYet(StudentError):
    pass


class WorkerCrashed(Exception):
    """The worker died, hung, or sent something that is not a valid reply."""

    def __init__(self, reason, action, timed_out=False):
        self.reason, self.action, self.timed_out = reason, action, timed_out
        super().__init__(f"{action}: {reason}")

    def __reduce__(self):  # copy.copy/pickle: rebuild from what __init__ takes, not from args
        return type(self), (self.reason, self.action, self.timed_out)

    def feedback(self):
        return f"{self.action} {self.reason}; the grader restarted your code for the next test"


class BoundedOutput:
    """Keeps the first ``limit`` bytes the student printed (per test) and counts the rest."""

    def __init__(self, limit):
        self.limit, self.chunks, self.kept, self.dropped = limit, [], 0, 0
        self.lock = threading.Lock()

    def add(self, data):
        with self.lock:
            room = self.limit - self.kept
            if room > 0:
                self.chunks.append(data[:room])
                self.kept += min(room, len(data))
            self.dropped += max(0, len(data) - max(room, 0))

    def take(self):
        with self.lock:
            text = b"".join(self.chunks).decode("utf-8", "replace")
            if self.dropped:
                text += f"\n[... {self.dropped} more bytes of output not shown]"
            self.chunks, self.kept, self.dropped = [], 0, 0
            return text


class Worker:
    """One worker process serving one submission."""

    def __init__(self, submission, limits, python=None, user=None):
        self.limits = limits
        self.output = BoundedOutput(limits.output_bytes)
        self.replies = queue.Queue()
        self.dir = tempfile.mkdtemp(prefix="mytorch-worker-")
        for name in ("wire.py", "worker.py"):
            shutil.copy(SANDBOX_DIR / name, self.dir)
        env = {k: v for k, v in os.environ.items()
               if k in ("PATH", "SYSTEMROOT", "HOME", "USERPROFILE", "TMP", "TEMP", "TMPDIR", "LANG")}
        env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
                   PYTHONDONTWRITEBYTECODE="1", PYTHONIOENCODING="utf-8")
        extra = {}
        if os.name == "posix":
            extra["start_new_session"] = True  # so a timeout can kill everything the student forked
            if user is not None:
                extra.update(user=user.uid, group=user.gid, extra_groups=[])
                os.chmod(self.dir, 0o755)
        self.proc = subprocess.Popen(
            [python or sys.executable, "-I", "-X", "utf8", os.path.join(self.dir, "worker.py"),
             str(submission), json.dumps(limits.posix())],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            cwd=str(submission), env=env, **extra)
        threading.Thread(target=self._read_replies, daemon=True).start()
        threading.Thread(target=self._read_output, daemon=True).start()
        self.info = self._wait(limits.start_seconds, "starting your code")
        if not isinstance(self.info, dict) or not self.info.get("ready"):
            raise self._crash("sent an invalid greeting", "starting your code")

    def _read_replies(self):
        try:
            while True:
                frame = wire.read_frame(self.proc.stdout)
                if frame is None:
                    self.replies.put(("eof", None))
                    return
                self.replies.put(("frame", frame))
        except (wire.WireError, OSError, ValueError) as exc:
            self.replies.put(("bad", str(exc)))

    def _read_output(self):
        while True:
            data = self.proc.stderr.read1(65536) if hasattr(self.proc.stderr, "read1") \
                else self.proc.stderr.read(4096)
            if not data:
                return
            self.output.add(data)

    def _wait(self, seconds, action):
        try:
            kind, data = self.replies.get(timeout=seconds)
        except queue.Empty:
            self.kill()
            raise WorkerCrashed(f"did not finish within {seconds:g} s (time limit; "
                                "an infinite loop?)", action, timed_out=True) from None
        if kind == "eof":
            raise self._crash("ended the worker process", action)
        if kind == "bad":
            self.kill()
            raise WorkerCrashed(f"broke the grader's protocol ({data})", action)
        try:
            return wire.decode(*data)
        except wire.WireError as exc:
            self.kill()
            raise WorkerCrashed(f"sent an invalid value ({exc})", action) from None

    def _crash(self, what, action):
        try:
            code = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.kill()
            code = self.proc.wait()
        if code is not None and code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            why = {"SIGKILL": " (killed: memory or time limit?)", "SIGSEGV": " (segmentation fault)",
                   "SIGXCPU": " (CPU time limit)", "SIGXFSZ": " (file size limit)"}.get(name, "")
            detail = f"was killed by {name}{why}"
        else:
            detail = f"exited with code {code}"
        return WorkerCrashed(f"{what}: the process {detail}", action)

    def request(self, message, action):
        if self.proc.poll() is not None:
            raise self._crash("had already ended", action)
        try:
            self.proc.stdin.write(wire.encode(message))
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise self._crash("stopped reading requests", action) from None
        reply = self._wait(self.limits.call_seconds, action)
        if not isinstance(reply, dict) or not ({"ok"} <= reply.keys() or {"error"} <= reply.keys()):
            self.kill()
            raise WorkerCrashed("sent a reply the grader did not ask for", action)
        if "error" in reply:
            info = reply["error"] if isinstance(reply["error"], dict) else {}
            cls = NotImplementedYet if info.get("kind") == "not_implemented" else StudentError
            raise cls(info, action)
        return reply["ok"]

    def alive(self):
        return self.proc.poll() is None

    def kill(self):
        if self.proc.poll() is None:
            try:
                if os.name == "posix":
                    os.killpg(self.proc.pid, signal.SIGKILL)
                else:
                    self.proc.kill()
            except (ProcessLookupError, PermissionError):
                self.proc.kill()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)

    close = kill


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
        value = self._sub._request({"op": "getattr", "ref": self._ref.id, "name": name},
                                   f"reading {self._label}.{name}", self)
        if isinstance(value, Remote) and value._ref.callable:
            return RemoteMethod(self, name)
        return value

    def __setattr__(self, name, value):
        self._sub._request({"op": "setattr", "ref": self._ref.id, "name": name, "value": value},
                           f"setting {self._label}.{name}", self)

    def __call__(self, *args, **kwargs):
        return self._sub._request({"op": "call", "ref": self._ref.id, "args": list(args),
                                   "kwargs": kwargs}, f"calling {self._label}", self)

    def __repr__(self):
        return f"<remote {self._label} ({self._ref.type})>"


class RemoteMethod:
    """``remote.method`` — calling it is one request (``callmethod``)."""

    __slots__ = ("owner", "name")

    def __init__(self, owner, name):
        self.owner, self.name = owner, name

    def __call__(self, *args, **kwargs):
        o = self.owner
        return o._sub._request({"op": "callmethod", "ref": o._ref.id, "name": self.name,
                                "args": list(args), "kwargs": kwargs},
                               f"{o._label}.{self.name}()", o)


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

    # -- worker lifecycle ---------------------------------------------------------------------
    def _worker(self):
        if self.worker is None or not self.worker.alive():
            if self.worker is not None:
                self.worker.kill()
            self.generation += 1
            self.events["worker_starts"] += 1
            self.worker = None
            self.worker = Worker(self.path, self.limits, self.python, self.user)
        return self.worker

    def reset(self):
        """Between tests: forget the worker's objects and reseed its global generators."""
        if self.worker is not None and self.worker.alive():
            try:
                self.worker.request({"op": "reset"}, "resetting your code")
            except (StudentError, WorkerCrashed):
                self.worker.kill()
        self.generation += 1
        self.fatal = None

    def take_output(self):
        return self.worker.output.take() if self.worker is not None else ""

    def close(self):
        if self.worker is not None:
            self.worker.kill()
            self.worker = None

    # -- requests -----------------------------------------------------------------------------
    def _request(self, message, action, owner=None):
        if self.fatal is not None:
            raise copy.copy(self.fatal)
        if action in self.hung:
            raise WorkerCrashed(self.hung[action].reason + " (in an earlier test; not retried)",
                                action, timed_out=True)
        if owner is not None and owner._generation != self.generation:
            raise WorkerCrashed("refers to an object lost when your code was restarted", action)
        try:
            return self._decode_refs(self._worker().request(_refs_to_wire(message), action), action)
        except NotImplementedYet as exc:
            self.fatal = exc
            raise
        except WorkerCrashed as exc:
            self.events["crashes"] += 1
            self.generation += 1  # the dead worker's objects are gone: old handles must say so
            self.fatal = exc
            if exc.timed_out:
                self.hung[action] = exc
            if self.worker is not None:
                self.worker.kill()
            raise

    def _decode_refs(self, value, action):
        if isinstance(value, wire.Ref):
            label = value.type.rsplit(".", 1)[-1] or "object"
            return Remote(self, value, label)
        if isinstance(value, list):
            return [self._decode_refs(v, action) for v in value]
        if isinstance(value, tuple):
            return tuple(self._decode_refs(v, action) for v in value)
        if isinstance(value, dict):
            return {k: self._decode_refs(v, action) for k, v in value.items()}
        return value

    def new(self, path, *args, **kwargs):
        """Construct ``path`` (e.g. "mytorch.nn.Linear") in the worker; return a Remote."""
        short = path.rsplit(".", 1)[-1]
        return self._request({"op": "new", "path": path, "args": list(args), "kwargs": kwargs},
                             f"{short}({_describe_args(args, kwargs)})")

    def call_many(self, remote, method, args_list, set_list=None):
        """``[remote.method(*args) for args in args_list]`` in one round trip.

        ``set_list[i]`` (a dict) is assigned to attributes of ``remote`` before call ``i``.
        """
        set_list = set_list or [{}] * len(args_list)
        calls = [{"args": list(a), "set": s} for a, s in zip(args_list, set_list)]
        return self._request({"op": "callmany", "ref": remote._ref.id, "name": method,
                              "calls": calls}, f"{remote._label}.{method}()", remote)

    def function(self, path):
        """A Remote for a module-level function or class of the submission."""
        return self._request({"op": "function", "path": path}, f"importing {path}")


def _refs_to_wire(value):
    if isinstance(value, Remote):
        return value._ref
    if isinstance(value, RemoteMethod):
        raise TypeError("pass the object, not its method")
    if isinstance(value, dict):
        return {k: _refs_to_wire(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_refs_to_wire(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_refs_to_wire(v) for v in value)
    return value


def _describe_args(args, kwargs):
    parts = [repr(a) if isinstance(a, (int, float, str, bool)) or a is None else type(a).__name__
             for a in args]
    parts += [f"{k}={v!r}" if isinstance(v, (int, float, str, bool)) or v is None else k
              for k, v in kwargs.items()]
    return ", ".join(parts)
