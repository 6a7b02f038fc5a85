"""The grader's side of one worker process: starting it, its pipes, limits, and ending it.

A ``Worker`` runs ``sandbox/worker.py`` in a fresh process, writes requests to its stdin and reads
numbered replies from its stdout (``sandbox/wire.py`` frames), with a time limit on each reply; the
student's prints arrive on its stderr and are kept in a ``BoundedOutput``. A worker that dies, hangs
or breaks the protocol fails the request in flight with ``WorkerCrashed`` and is killed with all it
started. The proxy (``proxy.py``) builds the graded tests' view on top of this.
"""
import collections
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from .cleanup import remove_tree
from .errors import NotImplementedYet, StudentError, WorkerCrashed
from .pipes import BoundedOutput, Pipes
from .sandbox import protocol, wire

SANDBOX_DIR = Path(__file__).parent / "sandbox"
# What the sandboxed worker must not read even when it lies inside a folder it may read (the grader
# installed into site-packages): the grader's package (fixtures, secret handling) and the reference.
GRADER_FILES = (Path(__file__).resolve().parent.parent,  # autograder/
                Path(__file__).resolve().parent.parent.parent / "mytorch")
SANDBOX_FAILED = 4  # `check`'s exit status when a worker lacked a layer --require-sandbox names


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
    namespaces: bool = True         # user, PID, network, IPC namespaces (sandbox/isolation.py)
    # Layers (names as in the worker's greeting) without which no student code may run: a worker
    # lacking one refuses to serve, and the reason is added to ``sandbox_failures`` (a grade that
    # saw one must not be trusted; ``python -m autograder check --require-sandbox`` exits 4).
    require_layers: tuple = ()
    sandbox_failures: list = field(default_factory=list, repr=False, compare=False)
    budget_seconds: float | None = 120.0  # wall time of all requests of one grade (the proxy's)

    def posix(self):
        return {"memory_mb": self.memory_mb, "cpu_seconds": self.cpu_seconds,
                "file_size_mb": self.file_size_mb, "processes": self.processes}


def describe_sandbox(report):
    """One line naming the layers a worker's greeting reports active, and those missing (why)."""
    shown = ("user-ns", "landlock", "unprivileged")  # the details worth a reader's time
    active = [f"{name} ({detail})" if detail and name in shown else name
              for name, detail in report.get("active", {}).items()]
    text = "sandbox layers: " + (", ".join(active) or "none")
    missing = report.get("missing", {})
    if missing:
        text += "; missing: " + "; ".join(f"{name} ({why})" for name, why in missing.items())
    return text


class Worker:
    """One worker process serving one submission.

    Requests are pipelined: ``send`` writes a request and returns; ``finish`` collects every reply
    still outstanding, in order. A caller that needs no answer (setting an attribute, creating an
    object whose handle the grader names itself) does not wait for one, so a check such as "create
    a Linear, set W and b, call forward" costs one round trip instead of four.
    """

    def __init__(self, submission, limits, python=None, user=None, encode_hook=None):
        self.limits = limits
        self.encode_hook = encode_hook  # how the proxy's handles travel (wire.encode's hook)
        self.output = BoundedOutput(limits.output_bytes)
        self.pending = collections.deque()  # (action, on_reply, seq) of requests not yet answered
        self.dir = tempfile.mkdtemp(prefix="mytorch-worker-")
        for name in ("isolation.py", "landlock.py", "protocol.py", "wire.py",
                     "worker.py"):
            shutil.copy(SANDBOX_DIR / name, self.dir)
        env = {k: v for k, v in os.environ.items()
               if k in ("PATH", "SYSTEMROOT", "HOME", "USERPROFILE", "TMP", "TEMP", "TMPDIR",
                        "LANG")}
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
        # Sent as the first frame on stdin, not on argv: any process may read another's argv.
        hide = [str(p) for p in GRADER_FILES if not p.is_relative_to(submission)]
        config = protocol.config(str(submission), limits.posix(),
                                 {"hide": hide} if limits.sandbox else None,
                                 limits.namespaces, limits.require_layers)
        self.seq = 0  # requests are numbered; each reply must carry its request's number
        self.group_killed = False
        try:
            self.proc = subprocess.Popen(
                [python or sys.executable, "-I", "-X", "utf8", os.path.join(self.dir, "worker.py")],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                cwd=str(submission), env=env, **extra)
        except BaseException:  # no worker, so nobody else would remove its folder
            remove_tree(self.dir)
            raise
        self.pipes = Pipes(self.proc.stdin, self.proc.stdout, self.proc.stderr, self.output)
        self.pipes.outgoing += wire.encode(config)
        try:  # a few hundred bytes into an empty pipe: at once, and the worker boots meanwhile
            self.pipes.write(limits.start_seconds)
        except OSError:
            pass  # a worker that died at once: the wait for its greeting reports it
        # The greeting is the reply to request 0: not waited for here, so that the worker starts
        # (Python, NumPy: ~70 ms) while the grader collects its tests.
        self.info = None
        self.pending.append(("starting your code", self._greeted, 0))
        self.deadline = None  # time.monotonic() past which no reply is awaited (the time budget)

    def _greeted(self, ok, info):
        if ok and isinstance(info, dict) and isinstance(info.get("sandbox_failed"), str):
            self.info = info
            self.limits.sandbox_failures.append(info["sandbox_failed"])
            self.kill()
            raise WorkerCrashed("failed: the grader could not isolate your code as required "
                                f"({info['sandbox_failed']}), so it did not run",
                                "starting your code")
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
            why = {"SIGKILL": " (killed: memory or time limit?)",
                   "SIGSEGV": " (segmentation fault)",
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
        self.pipes.outgoing += wire.encode(dict(message, seq=self.seq), self.encode_hook)
        self.pending.append((action, on_reply, self.seq))
        if len(self.pending) >= self.MAX_PENDING or len(self.pipes.outgoing) > 2**20:
            self._write()

    def _write(self):
        action = self.pending[0][0] if self.pending else "sending a request"
        try:
            done = self.pipes.write(self.limits.call_seconds)
        except OSError:
            raise self._crash("stopped reading requests", action) from None
        except wire.WireError as exc:
            self.kill()
            raise WorkerCrashed(f"broke the grader's protocol ({exc})", action) from None
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
            seconds = self.limits.start_seconds if seq == 0 else self.limits.call_seconds
            if self.deadline is not None:
                seconds = max(0.0, min(seconds, self.deadline - time.monotonic()))
            reply = self._wait(seconds, action)
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
        self.pipes.release()
        remove_tree(self.dir)

    close = kill
