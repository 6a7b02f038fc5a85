"""Trusted side of the trust boundary: worker processes and the proxy the graded tests use.

The graded tests never touch student objects, only ``Remote`` handles: attribute reads, writes and
calls become requests to a worker process (``sandbox/worker.py``), and what comes back is plain data
decoded by ``sandbox/wire.py``. A worker that dies, hangs or breaks the protocol fails the request in
flight with ``WorkerCrashed``; the next request starts a fresh worker.

Requests are pipelined (a round trip is the proxy's main cost): those whose answer nobody needs at
once — creating an object, writing an attribute, resetting — are sent without waiting, and
``method.submit(...)``, ``call_many(..., wait=False)`` and ``read(..., wait=False)`` return a
``Pending``; the next request that waits collects every reply owed, in order, each error under the
name of the request that caused it.
"""
import collections
import contextlib
import copy
import json
import os
import queue
import select
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
# What the sandboxed worker must not read even when it lies inside a folder it may read (the grader
# installed into site-packages): the grader's package (fixtures, secret handling) and the reference.
GRADER_FILES = (Path(__file__).resolve().parent, Path(__file__).resolve().parent.parent / "mytorch")


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
    sandbox: bool = True            # Landlock on Linux (sandbox/landlock.py): what code may touch

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


class _Pipes:
    """The three pipes to a worker: requests out; replies (a time limit on each) and output in.

    On POSIX one thread does all of it with ``select``: one wake-up per reply (a reader thread
    handing frames over a queue costs a second one, ~0.1 ms per request on a loaded 2-core
    machine), and since the worker flushes its prints before it replies, everything a call printed
    has been read once its reply has. Requests are written without blocking, reading replies and
    output meanwhile, so that a worker busy printing while the grader sends never deadlocks the
    two. Windows cannot ``select`` on pipes: there reader threads keep the pipes drained.
    """

    def __init__(self, requests, replies, errors, output):
        self.requests, self.output, self.outgoing = requests, output, bytearray()
        if os.name == "posix":
            self.in_fd, self.fd, self.err_fd = requests.fileno(), replies.fileno(), errors.fileno()
            self.buffer = bytearray()
            os.set_blocking(self.in_fd, False)
        else:
            self.queue = queue.Queue()
            threading.Thread(target=self._pump, args=(replies,), daemon=True).start()
            threading.Thread(target=self._pump_output, args=(errors,), daemon=True).start()

    def write(self, seconds):
        """Send everything queued in ``outgoing``; False if the worker did not take it in time.

        Raises ``OSError`` (``BrokenPipeError``) when the worker no longer reads at all.
        """
        if os.name != "posix":
            self.requests.write(self.outgoing)
            self.requests.flush()
            self.outgoing.clear()
            return True
        deadline = time.monotonic() + seconds
        while self.outgoing:
            try:
                sent = os.write(self.in_fd, self.outgoing[:1 << 16])
            except BlockingIOError:
                sent = 0
            del self.outgoing[:sent]
            if sent or not self.outgoing:
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            readable, writable, _ = select.select(self._watched(), [self.in_fd], [], remaining)
            if not readable and not writable:
                return False
            if readable:
                self._read_available()
        return True

    def _watched(self):
        """The pipes to read from: replies, and output until the worker closes it."""
        return [self.fd] + ([self.err_fd] if self.err_fd is not None else [])

    def _read_available(self):
        """Move whatever replies and output are waiting into their buffers, without blocking."""
        ready = select.select(self._watched(), [], [], 0)[0]
        if self.err_fd in ready:
            self._read_output()
        if self.fd in ready:
            data = os.read(self.fd, 1 << 20)
            if data:  # at EOF the next read, in ``next``, says so
                self.buffer += data

    def next(self, seconds, ended=None):
        """``("frame", (header, payload))``, ``("eof", None)``, ``("bad", why)``; None on timeout.

        ``ended()`` says whether the worker process has exited: a dead worker whose children still
        hold the pipe open (it forked, then exited) is "eof" at once, not a time limit later.
        """
        if os.name != "posix":
            try:
                return self.queue.get(timeout=seconds)
            except queue.Empty:
                return None
        deadline = time.monotonic() + seconds
        while True:
            try:
                frame = wire.split_frame(self.buffer)
            except wire.WireError as exc:
                return "bad", str(exc)
            if frame is not None:
                self.drain_output()
                return "frame", frame
            remaining = deadline - time.monotonic()
            ready = select.select(self._watched(), [], [], min(remaining, 0.25))[0] \
                if remaining > 0 else []
            if not ready:
                if ended is not None and ended():
                    self.drain_output()
                    return "eof", None
                if remaining > 0.25:
                    continue
                return None
            if self.err_fd in ready:
                self._read_output()
            if self.fd in ready:
                try:
                    data = os.read(self.fd, 1 << 20)
                except OSError as exc:
                    return "bad", str(exc)
                if not data:
                    self.drain_output()
                    return "eof", None
                self.buffer += data

    def drain_output(self):
        """Read whatever output is waiting, without blocking (POSIX; a thread does it elsewhere)."""
        for _ in range(64):  # bounded: a runaway printer must not keep the grader here
            if os.name != "posix" or self.err_fd is None \
                    or not select.select([self.err_fd], [], [], 0)[0] or not self._read_output():
                return

    def _read_output(self):
        try:
            data = os.read(self.err_fd, 65536)
        except OSError:
            data = b""
        if not data:
            self.err_fd = None  # the worker closed it (or died): stop watching
            return False
        self.output.add(data)
        return True

    def _pump(self, stream):
        try:
            while True:
                frame = wire.read_frame(stream)
                if frame is None:
                    self.queue.put(("eof", None))
                    return
                self.queue.put(("frame", frame))
        except (wire.WireError, OSError, ValueError) as exc:
            self.queue.put(("bad", str(exc)))

    def _pump_output(self, stream):
        while True:
            data = stream.read1(65536) if hasattr(stream, "read1") else stream.read(4096)
            if not data:
                return
            self.output.add(data)


class Worker:
    """One worker process serving one submission.

    Requests are pipelined: ``send`` writes a request and returns; ``finish`` collects every reply
    still outstanding, in order. A caller that needs no answer (setting an attribute, creating an
    object whose handle the grader names itself) does not wait for one, so a check such as "create
    a Linear, set W and b, call forward" costs one round trip instead of four.
    """

    def __init__(self, submission, limits, python=None, user=None):
        self.limits = limits
        self.output = BoundedOutput(limits.output_bytes)
        self.pending = collections.deque()  # (action, on_reply, seq) of requests not yet answered
        self.dir = tempfile.mkdtemp(prefix="mytorch-worker-")
        for name in ("landlock.py", "wire.py", "worker.py"):
            shutil.copy(SANDBOX_DIR / name, self.dir)
        env = {k: v for k, v in os.environ.items()
               if k in ("PATH", "SYSTEMROOT", "HOME", "USERPROFILE", "TMP", "TEMP", "TMPDIR", "LANG")}
        env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
                   PYTHONDONTWRITEBYTECODE="1", PYTHONIOENCODING="utf-8")
        extra = {}
        if os.name == "posix":
            extra["start_new_session"] = True  # so a timeout can kill everything the student forked
            # the student's temporary files: inside the worker's folder (the only place outside the
            # submission the sandbox lets it write), removed with the worker
            env["TMPDIR"] = os.path.join(self.dir, "tmp")
            os.mkdir(env["TMPDIR"])
            if user is not None:
                extra.update(user=user.uid, group=user.gid, extra_groups=[])
                os.chmod(self.dir, 0o755)
                os.chown(env["TMPDIR"], user.uid, user.gid)
        submission = Path(submission).resolve()
        sandbox = {"hide": [str(p) for p in GRADER_FILES if not p.is_relative_to(submission)]}
        self.seq = 0  # requests are numbered; each reply must carry its request's number
        self.group_killed = False
        try:
            self.proc = subprocess.Popen(
                [python or sys.executable, "-I", "-X", "utf8", os.path.join(self.dir, "worker.py"),
                 str(submission), json.dumps(limits.posix())]
                + ([json.dumps(sandbox)] if limits.sandbox else []),
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                cwd=str(submission), env=env, **extra)
        except BaseException:  # no worker, so nobody else would remove its folder
            shutil.rmtree(self.dir, ignore_errors=True)
            raise
        self.pipes = _Pipes(self.proc.stdin, self.proc.stdout, self.proc.stderr, self.output)
        # The greeting is the reply to request 0: not waited for here, so that the worker starts
        # (Python, NumPy: ~70 ms) while the grader collects its tests.
        self.info = None
        self.pending.append(("starting your code", self._greeted, 0))

    def _greeted(self, ok, info):
        if not (ok and isinstance(info, dict) and info.get("ready")):
            self.kill()
            raise WorkerCrashed("sent an invalid greeting", "starting your code")
        self.info = info

    def _wait(self, seconds, action):
        reply = self.pipes.next(seconds, self._ended)
        if reply is None:
            raise self._timed_out(seconds, action)
        kind, data = reply
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
            self._kill_group()
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
        self.pending.clear()
        self.pipes.drain_output()
        return WorkerCrashed(f"{what}: the process {detail}", action)

    MAX_PENDING = 64  # requests sent ahead; their replies must fit the pipe back unread

    def send(self, message, action, on_reply=None):
        """Queue one request; ``finish`` sends what is queued and collects the replies."""
        if self._ended():  # blame the oldest request not answered (the start, if it was that)
            raise self._crash("had already ended", self.pending[0][0] if self.pending else action)
        self.seq += 1
        self.pipes.outgoing += wire.encode(dict(message, seq=self.seq), _remote_to_ref)
        self.pending.append((action, on_reply, self.seq))
        if len(self.pending) >= self.MAX_PENDING or len(self.pipes.outgoing) > 2**20:
            self._write()

    def _write(self):
        action = self.pending[0][0] if self.pending else "sending a request"
        try:
            done = self.pipes.write(self.limits.call_seconds)
        except OSError:
            raise self._crash("stopped reading requests", action) from None
        if not done:
            raise self._timed_out(self.limits.call_seconds, action)

    def _timed_out(self, seconds, action):
        self.kill()
        return WorkerCrashed(f"did not finish within {seconds:g} s (time limit; an infinite "
                             "loop?)", action, timed_out=True)

    def finish(self):
        """Collect every outstanding reply, in order; return the last one's value.

        The first error among them is raised (after the rest are read, so that the stream stays in
        step), naming the request it belongs to. A dead or hung worker raises at once.
        """
        error = value = None
        self._write()
        while self.pending:
            action, on_reply, seq = self.pending[0]
            reply = self._wait(self.limits.start_seconds if seq == 0 else self.limits.call_seconds,
                               action)
            self.pending.popleft()
            if not isinstance(reply, dict) or not ({"ok"} <= reply.keys()
                                                   or {"error"} <= reply.keys()):
                self.kill()
                raise WorkerCrashed("sent a reply the grader did not ask for", action)
            if reply.get("seq") != seq:
                # A frame the student's code wrote on the wire itself (found among its file
                # descriptors): taken as a reply it would shift every later reply by one, so that
                # the tests after this one, of other tasks, got each other's answers.
                self.kill()
                raise WorkerCrashed("sent a reply out of turn (something wrote on the grader's "
                                    "channel)", action)
            if "error" in reply:
                info = reply["error"] if isinstance(reply["error"], dict) else {}
                cls = NotImplementedYet if info.get("kind") == "not_implemented" else StudentError
                failure = cls(info, action)
                error = error or failure
                if on_reply is not None:
                    on_reply(False, failure)
                continue
            value = reply["ok"]
            if on_reply is not None:
                on_reply(True, value)
        if error is not None:
            raise error
        return value

    def alive(self):
        return not self._ended()

    def _ended(self):
        """True once the worker process has exited; its process group is killed at that moment."""
        if self.proc.poll() is None:
            return False
        self._kill_group()
        return True

    def _kill_group(self):
        # The whole process group, also when the worker itself has already exited: what it forked
        # (a fork bomb's sleepers) lives on in its group. Done once: while the worker lives, or as
        # soon as it is seen dead (its group's members keep the id from being reused; when none is
        # left, killpg finds nothing) — never later, when the number could be someone else's.
        if os.name != "posix" or self.group_killed:
            return
        self.group_killed = True
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def kill(self):
        self._kill_group()
        if self.proc.poll() is None:  # Windows has no groups (elsewhere: already dying, harmless)
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
        if name in self._ref.methods:  # a method of the class: calling it is the one round trip
            return RemoteMethod(self, name)
        value = self._sub._request({"op": "getattr", "ref": self._ref.id, "name": name},
                                   f"reading {self._label}.{name}", self)
        if isinstance(value, Remote) and value._ref.callable:
            return RemoteMethod(self, name)
        return value

    def __setattr__(self, name, value):  # not waited for: errors surface at the next request
        self._sub._request({"op": "setattr", "ref": self._ref.id, "name": name, "value": value},
                           f"setting {self._label}.{name}", self, wait=False,
                           on_reply=_no_result)

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
        return self._send(args, kwargs, wait=True)

    def submit(self, *args, **kwargs):
        """Call without waiting: returns a ``Pending`` whose ``result()`` is the return value."""
        return self._send(args, kwargs, wait=False)

    def _send(self, args, kwargs, wait):
        o = self.owner
        return o._sub._request({"op": "callmethod", "ref": o._ref.id, "name": self.name,
                                "args": list(args), "kwargs": kwargs},
                               f"{o._label}.{self.name}()", o, wait=wait)


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
                self.worker.finish()
            except StudentError:
                pass
            except WorkerCrashed:
                self.worker.kill()
            if self.worker.alive():
                try:
                    self.worker.send({"op": "reset"}, "resetting your code")
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
    def _bookkeeping(self):
        try:
            yield
        except NotImplementedYet as exc:
            self.fatal = exc
            raise
        except WorkerCrashed as exc:
            self.events["crashes"] += 1
            self.generation += 1  # the dead worker's objects are gone: old handles must say so
            self.fatal = exc
            if exc.timed_out:
                self.hung[exc.action] = exc
            if self.worker is not None:
                self.worker.kill()
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
        short = path.rsplit(".", 1)[-1]
        self.next_id -= 1  # negative: the worker numbers the objects it hands out from 1 up
        ref = _PendingRef(self, self.next_id, path)
        self._request({"op": "new", "path": path, "args": list(args), "kwargs": kwargs,
                       "id": ref.id}, f"{short}({_describe_args(args, kwargs)})",
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
        message = {"op": "callmany", "ref": remote._ref.id, "name": method, "groups": [
            {"count": len(calls), "args": [list(col) for col in zip(*(a for a, _ in calls))],
             "set": {name: [s[name] for _, s in calls] for name in shape[1]}}
            for shape, calls in groups]}
        return self._request(message, f"{remote._label}.{method}()", remote, wait=wait)

    def read(self, remote, *names, wait=True):
        """``tuple(getattr(remote, name) for name in names)`` in one round trip (or a Pending)."""
        return self._request({"op": "getmany", "ref": remote._ref.id, "names": list(names)},
                             f"reading {remote._label}.{'/'.join(names)}", remote, wait=wait)

    def function(self, path):
        """A Remote for a module-level function or class of the submission."""
        return self._request({"op": "function", "path": path}, f"importing {path}")


def _no_result(ok, value):
    """``on_reply`` of a request whose result nobody wants: its error is raised by the next wait."""


class _PendingRef:
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
