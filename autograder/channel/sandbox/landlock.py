"""Linux Landlock for the worker: what student code may read, write and signal.

POSIX limits bound how much a worker may use; they do not say *what* it may touch. Student code
runs as the grader's user whenever no privilege drop is possible (always on a student's own machine;
as root when no unprivileged user can run the interpreter), and could then read the fixtures, the
reference solution and the secret, read the grader's memory through ``/proc/<pid>/mem``, write the
grader's output files, or signal the grader. Landlock (Linux >= 5.13, no privileges needed) takes
that away for the worker and everything it starts:

* read (and execute) only the Python installation the worker runs on, the system's libraries, the
  submission and the worker's own folder — not ``/proc``, not the grader's folder (``hide``);
* write only inside the submission and the worker's own folder (its ``TMPDIR``), where it may
  create regular files, folders and symbolic links but no device node, FIFO or socket file;
* no TCP bind/connect (ABI >= 4); no signals to, or ptrace of, processes outside the sandbox
  (signals: ABI >= 6, Linux 6.12; ptrace: always).

``restrict(...)`` returns None when applied, else the reason it could not be (other platforms,
older kernels, Landlock disabled); the worker reports that reason and grading goes on without it.
Only standard-library ``ctypes`` is used; the file runs beside ``worker.py``, never in the grader.
"""
import ctypes
import os
import struct
import sys

_CREATE_RULESET, _ADD_RULE, _RESTRICT_SELF = 444, 445, 446  # the same on every architecture
_VERSION_FLAG = 1
_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38

# filesystem rights by the ABI version that introduced them
_FS = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 5: (1 << 16) - 1}
EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
TRUNCATE, IOCTL_DEV = 1 << 14, 1 << 15
# Never granted, not even in writable folders: a device node would reach a disk by its number
# (Landlock checks the path, not the node), a FIFO could block whoever opens it, a socket file
# would be a channel out of the sandbox.
MAKE_CHAR, MAKE_SOCK, MAKE_FIFO, MAKE_BLOCK = 1 << 6, 1 << 9, 1 << 10, 1 << 11
_NEVER = MAKE_CHAR | MAKE_SOCK | MAKE_FIFO | MAKE_BLOCK
_FILE_ONLY = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV  # rights a file rule may hold
_NET_TCP = 0b11           # bind and connect (ABI 4)
_SCOPES = 0b11            # abstract unix sockets and signals (ABI 6)

# System folders with nothing secret in them, needed by the interpreter's extension modules.
SYSTEM_READ = ("/usr/lib", "/usr/lib64", "/usr/lib32", "/lib", "/lib64", "/lib32",
               "/usr/share/zoneinfo", "/etc/ld.so.cache", "/etc/localtime")


def _libc():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc


def abi_version():
    """The kernel's Landlock ABI version, or 0 when there is none."""
    if not sys.platform.startswith("linux"):
        return 0
    try:
        version = _libc().syscall(_CREATE_RULESET, None, ctypes.c_size_t(0),
                                  ctypes.c_uint32(_VERSION_FLAG))
    except (OSError, AttributeError):
        return 0
    return max(int(version), 0)


def _fs_rights(abi):
    return _FS[max(v for v in _FS if v <= abi)]


def _grants(roots, hide):
    """Expand ``roots`` into paths to grant, leaving out every path in ``hide`` (and below it).

    Landlock can only allow, never deny below an allowed folder: a root that contains a hidden
    path is replaced by its entries, recursively, down to the hidden path's siblings.
    """
    hide = [os.path.realpath(h) for h in hide]
    out = []

    def grant(path):
        inside = [h for h in hide if h == path or h.startswith(path.rstrip(os.sep) + os.sep)]
        if not inside:
            out.append(path)
        elif path not in inside and os.path.isdir(path) and not os.path.islink(path):
            try:
                names = os.listdir(path)
            except OSError:
                return
            for name in sorted(names):
                grant(os.path.join(path, name))

    for root in roots:
        if root and os.path.exists(root):
            grant(os.path.realpath(root))
    return out


def restrict(read, write, hide=()):
    """Sandbox this process (single-threaded, before student code runs); None or why not."""
    abi = abi_version()
    if abi < 1:
        return "Landlock is not available (needs Linux 5.13 or later with Landlock enabled)"
    if len(os.listdir("/proc/self/task")) != 1:  # restrict_self covers the calling thread only
        return "the worker already runs several threads; Landlock was not applied"
    libc = _libc()
    fs = _fs_rights(abi)
    size = 8 if abi < 4 else 16 if abi < 6 else 24
    attr = struct.pack("<QQQ", fs, _NET_TCP if abi >= 4 else 0, _SCOPES if abi >= 6 else 0)[:size]
    buf = ctypes.create_string_buffer(attr, len(attr))
    ruleset = libc.syscall(_CREATE_RULESET, buf, ctypes.c_size_t(size), ctypes.c_uint32(0))
    if ruleset < 0:
        return f"Landlock ruleset refused: {os.strerror(ctypes.get_errno())}"
    try:
        read_rights = EXECUTE | READ_FILE | READ_DIR
        for rights, paths in ((read_rights, _grants(read, hide)),
                             (fs & ~_NEVER, _grants(write, hide))):
            for path in paths:
                _add_rule(libc, ruleset, path, rights & fs)
        _add_rule(libc, ruleset, os.devnull, (READ_FILE | WRITE_FILE | TRUNCATE) & fs)
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            return f"no_new_privs refused: {os.strerror(ctypes.get_errno())}"
        if libc.syscall(_RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0)) != 0:
            return f"Landlock restriction refused: {os.strerror(ctypes.get_errno())}"
    finally:
        os.close(ruleset)
    return None


def _add_rule(libc, ruleset, path, rights):
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return  # a folder that vanished or cannot be opened is simply not granted
    try:
        if not os.path.isdir(path):
            rights &= _FILE_ONLY
        attr = ctypes.create_string_buffer(struct.pack("<Qi", rights, fd), 12)
        libc.syscall(_ADD_RULE, ctypes.c_int(ruleset), ctypes.c_int(_RULE_PATH_BENEATH), attr,
                     ctypes.c_uint32(0))
    finally:
        os.close(fd)
