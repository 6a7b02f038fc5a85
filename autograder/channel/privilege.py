"""Privilege drop: which user the worker (student code) runs as when the grader runs as root.

``--user NAME`` picks the user; a grader started as root without it uses ``nobody`` (or the user
named in ``$MYTORCH_GRADER_USER``; set it to ``none`` to keep root, e.g. in a throw-away container).
Before relying on the drop, the grader spawns the interpreter once as that user (cached): if that
user cannot run Python (an interpreter under a private home such as ``/root/.pyenv``), cannot import
NumPy or cannot read the submission, the worker runs without the drop and the report says so — never
a crash.
On platforms without ``pwd``/``os.setuid`` (Windows) there is no drop, and ``--user`` says so.
"""
import functools
import os
import subprocess
import sys
from dataclasses import dataclass

USER_ENV = "MYTORCH_GRADER_USER"
DEFAULT_USER = "nobody"
PROBE_SECONDS = 60


class UserError(ValueError):
    """The requested user does not exist (or the platform has no users to switch to)."""


@dataclass(frozen=True)
class User:
    name: str
    uid: int
    gid: int


def resolve_user(name):
    """``User`` for a user name (or a numeric uid)."""
    try:
        import pwd
    except ImportError:
        raise UserError("--user needs a POSIX system; this platform cannot switch users") from None
    try:
        entry = pwd.getpwuid(int(name)) if str(name).isdigit() else pwd.getpwnam(str(name))
    except (KeyError, OverflowError):
        raise UserError(f"no user named {name!r} on this system") from None
    return User(entry.pw_name, entry.pw_uid, entry.pw_gid)


def running_as_root():
    return hasattr(os, "geteuid") and os.geteuid() == 0


def default_user_name():
    """The user to drop to when root gives no ``--user`` (None: no drop)."""
    if not running_as_root():
        return None
    name = os.environ.get(USER_ENV, DEFAULT_USER).strip()
    return None if name.lower() in ("", "none", "root", "0") else name


@functools.lru_cache(maxsize=None)
def probe(user, python, submission):
    """None when ``user`` can run ``python`` with NumPy and read ``submission``; else the reason."""
    code = "import os, sys, numpy; os.listdir(os.path.join(sys.argv[1], 'mytorch'))"
    try:
        proc = subprocess.run([python, "-I", "-c", code, str(submission)],
                              user=user.uid, group=user.gid, extra_groups=[], cwd="/",
                              stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=PROBE_SECONDS, env=_probe_env())
    except subprocess.TimeoutExpired:
        return f"user {user.name} could not start {python} within {PROBE_SECONDS} s"
    except PermissionError as exc:
        return (f"user {user.name} cannot run {python} ({exc.strerror}; is the interpreter under "
                "a private home folder?)")
    except OSError as exc:
        return f"cannot start {python} as user {user.name} ({exc.strerror or exc})"
    if proc.returncode == 0:
        return None
    last = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
    return f"user {user.name} cannot run the worker with {python}: {last[0][:300]}"


def _probe_env():
    keep = ("PATH", "LANG", "TMPDIR")
    return {k: v for k, v in os.environ.items() if k in keep}


def choose_user(requested, submission, python=None):
    """(User or None, notes) for grading ``submission``; raises UserError for an unknown name."""
    python = python or sys.executable
    notes = []
    if requested is None:
        name = default_user_name()
        if name is None:
            return None, notes
        try:
            user = resolve_user(name)
        except UserError as exc:
            return None, [f"privilege drop unavailable: {exc}; student code ran as root"]
    else:
        user = resolve_user(requested)
        if not running_as_root():
            if os.name == "posix" and user.uid == os.geteuid():
                return None, notes
            return None, [f"privilege drop unavailable: only root can run code as {user.name}; "
                          "student code ran as the current user"]
    reason = probe(user, python, os.path.abspath(submission))
    if reason is not None:
        return None, [f"privilege drop unavailable: {reason}; student code ran as "
                      f"{_current_user()}"]
    if requested is None:
        notes.append(f"running as root: student code ran as user {user.name} (--user NAME or "
                     f"${USER_ENV} to choose another; ${USER_ENV}=none to keep root)")
    return user, notes


def _current_user():
    try:
        import pwd
        return pwd.getpwuid(os.geteuid()).pw_name
    except (ImportError, KeyError):
        return "the grader's user"


# -- the worker's sandbox, checked once before a class is graded ---------------------------------
class WeakSandbox(RuntimeError):
    """Student code would run with fewer layers between it and the machine than this one offers."""


def probe_sandbox(requested_user=None, python=None):
    """The sandbox report (``active``, ``missing``, ``weak``, ``host_uid``) of a worker started
    exactly as grading starts one (as the user ``choose_user`` picks), on an empty submission."""
    import shutil
    import tempfile

    from .errors import WorkerCrashed
    from .transport import Limits, Worker

    folder = tempfile.mkdtemp(prefix="mytorch-sandbox-probe-")
    try:
        os.chmod(folder, 0o755)  # readable by the unprivileged user, as a batch's copies are
        os.mkdir(os.path.join(folder, "mytorch"), 0o755)
        try:
            user, _ = choose_user(requested_user, folder, python)
        except UserError as exc:
            raise WeakSandbox(str(exc)) from None
        worker = Worker(folder, Limits(), python, user)
        try:
            worker.finish()
        except WorkerCrashed as exc:
            raise WeakSandbox(f"a probe worker could not start: {exc}") from None
        finally:
            worker.kill()
        return dict(worker.info.get("sandbox") or {})
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# Where a container refuses namespaces (Docker's default seccomp profile refuses unshare), a
# grader built for it may go on without these: the throw-away container is then the outer wall.
NAMESPACE_LAYERS = ("user-ns", "pid-ns", "net-ns", "ipc-ns", "own-proc")


def sandbox_problems(report, optional=()):
    """Why ``report`` is too weak to grade a class with (an empty list when it is not); a layer in
    ``optional`` may be missing."""
    problems = [f"{name} is missing though this machine offers it ({report['missing'][name]})"
                for name in report.get("weak", []) if name not in optional]
    if report.get("host_uid") == 0 and "user-ns" not in report.get("active", {}):
        problems.append("student code would run as root (no user namespace, no unprivileged user)")
    return problems


def check_sandbox(requested_user=None, python=None, allow_weak=False, optional=()):
    """Probe once; return ``(report, notes)`` for grading a class.

    Raises ``WeakSandbox`` naming every problem unless ``allow_weak``, in which case the problems
    become notes. A layer in ``optional`` may be missing (a note says so). The layers active in
    ``report`` are then required of every student's worker: one without them never runs that
    student's code (``Limits.require_layers``).
    """
    report = probe_sandbox(requested_user, python)
    problems = sandbox_problems(report, optional)
    if problems and not allow_weak:
        raise WeakSandbox("the sandbox around student code is weaker than this machine allows: "
                          + "; ".join(problems) + ". Fix that (see docs/security.md) "
                          "or pass --allow-weak-sandbox to grade anyway")
    skipped = [f"{name} is missing ({report['missing'][name]}); allowed where namespaces are "
               "refused" for name in report.get("weak", []) if name in optional]
    return report, [f"weak sandbox allowed: {p}" for p in problems] + skipped
