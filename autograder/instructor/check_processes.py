"""The process that grades one student of a batch: forked from a server that has already imported
the grader, or, where that is not available, a fresh ``python -m autograder check``.

Each student gets a process of its own: a wall-time cap, everything it started killed at the end,
nothing shared with the next student. Started as ``python -m autograder check``, that process
spends about half a second on the interpreter and its imports (NumPy, pytest, hypothesis, the
grader) before it grades anything, for every student. On Linux the batch instead starts one
server (``multiprocessing``'s fork server) that imports all of it once, then forks a fresh copy of
that clean state per student: the same command line, environment and working folder as the
subprocess, a session of its own, its output in two files. The server never runs student code and
never grades: every fork starts from the state it had right after its imports.

A batch run with another interpreter (``--python``), or on a platform without ``fork``, starts the
subprocess as before; so does ``MYTORCH_CHECK_SUBPROCESS=1``.
"""
import io
import multiprocessing
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

# imported once by the server, before it forks anyone
PRELOAD = ["numpy", "pytest", "hypothesis", "autograder.__main__", "autograder.grading.runner",
           "autograder.instructor.cli"]
SUBPROCESS_ENV = "MYTORCH_CHECK_SUBPROCESS"
# The server's BLAS reads these at import: the checks run one thread each (--jobs uses the cores)
SINGLE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

_server_lock = threading.Lock()
_context = None


def fork_server_usable(python):
    """Whether checks for ``python`` can be forked from the server (else: subprocesses)."""
    return (sys.platform.startswith("linux") and os.environ.get(SUBPROCESS_ENV) != "1"
            and Path(python).resolve() == Path(sys.executable).resolve()
            and "forkserver" in multiprocessing.get_all_start_methods())


def _fork_server():
    """The ``forkserver`` context, its server started once (with the single-thread BLAS setting)."""
    global _context
    with _server_lock:
        if _context is None:
            from multiprocessing import forkserver

            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(PRELOAD)
            saved = {name: os.environ.get(name) for name in SINGLE_THREAD}
            os.environ.update(SINGLE_THREAD)
            try:
                forkserver.ensure_running()
            finally:
                for name, value in saved.items():
                    if value is None:
                        os.environ.pop(name, None)
                    else:
                        os.environ[name] = value
            _context = context
    return _context


def _run_check(argv, cwd, env, out_path, err_path):
    """In the forked process: become what ``python -m autograder <argv>`` would be, and run it."""
    os.setsid()  # as start_new_session: the batch kills the whole group
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    tempfile.tempdir = None  # TMPDIR is this student's folder now
    for fd, path in ((1, out_path), (2, err_path)):
        target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(target, fd)
        os.close(target)
    stdin = os.open(os.devnull, os.O_RDONLY)
    os.dup2(stdin, 0)
    os.close(stdin)
    sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8",
                                  errors="replace", line_buffering=True)
    sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding="utf-8",
                                  errors="replace", line_buffering=True)
    from autograder.__main__ import main

    try:
        code = main(argv)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    sys.exit(code)


class ForkedCheck:
    """A forked check with the parts of ``subprocess.Popen`` the batch uses: ``pid``, ``poll()``,
    ``wait(timeout)``, ``communicate(timeout)`` (its output, read from its two files) and
    ``returncode`` (negative: killed by that signal)."""

    def __init__(self, argv, cwd, env, work):
        self._out, self._err = Path(work) / "check.stdout", Path(work) / "check.stderr"
        self._process = _fork_server().Process(
            target=_run_check, args=(list(argv), str(cwd), dict(env), str(self._out),
                                     str(self._err)), name="mytorch-check")
        self._process.start()
        self.pid = self._process.pid

    @property
    def returncode(self):
        return self._process.exitcode

    def poll(self):
        return self._process.exitcode

    def wait(self, timeout=None):
        self._process.join(timeout)
        if self._process.exitcode is None:
            raise subprocess.TimeoutExpired("mytorch-check", timeout)
        return self._process.exitcode

    def communicate(self, timeout=None):
        self.wait(timeout)
        return tuple(path.read_bytes() if path.is_file() else b""
                     for path in (self._out, self._err))


def start_check(cmd, cwd, env, work):
    """The check for ``cmd`` (``[python, "-m", "autograder", ...]``), writing scratch files in
    ``work``: forked from the server where it is usable, else a subprocess."""
    if cmd[1:3] == ["-m", "autograder"] and fork_server_usable(cmd[0]):
        return ForkedCheck(cmd[3:], cwd, env, work)
    return subprocess.Popen(cmd, cwd=str(cwd), env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
