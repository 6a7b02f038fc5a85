"""Linux isolation of the worker, without privileges: namespaces, capabilities, a socket filter.

Landlock (``landlock.py``) says which *paths* student code may touch. It does not hide other
processes (a child that leaves the process group outlives the worker and can ``prlimit`` the next
student's worker), does not stop UDP or raw sockets, connections to unix sockets on the host, or
what a process that runs as root may do with its capabilities (create a device node for the
grader's disk). This module closes those, in the worker, before any student code runs:

* ``enter_namespaces``: new user, PID, network, mount and IPC namespaces (``unshare``), then two
  forks: PID 1 of the new PID namespace mounts the namespace's own ``/proc`` over the host's and
  waits for its child, the worker. When either ends, the kernel kills everything in the
  namespace, ``setsid`` or not. The network namespace has only a loopback that is down: no TCP,
  UDP or raw traffic, and no abstract unix socket of the host. The user namespace maps the
  worker's user to itself (root to uid 65534 inside): it holds no capability outside its
  namespaces. Each parent only waits, holding no channel to the grader, and exits as its child
  did.
* ``drop_capabilities``: empty capability sets, bounding set and ambient set; ``no_new_privs``.
* ``block_unix_sockets``: a seccomp filter that leaves the worker no unix socket at all, since a
  unix socket on the host, found by its path, is reachable from any network namespace, and
  Landlock does not check ``connect``, ``bind`` or ``sendto``/``sendmsg`` with an address: it
  refuses every way to get one, ``socket(AF_UNIX, ...)``, ``socketpair(AF_UNIX, ...)``,
  ``io_uring`` (which could create one without those system calls) and ``pidfd_getfd`` (a copy of
  another process's). Every call that addresses a host socket needs a unix socket of the worker's
  own (the kernel refuses a unix address on any other family), and the worker starts with none:
  its only descriptors are pipes.

Each function returns None when applied, else the reason it was not; the worker reports both
(``layers`` in its greeting). Only standard-library ``ctypes`` is used; runs beside ``worker.py``.
"""
import ctypes
import os
import platform
import signal
import struct
import sys

CLONE_NEWNS, CLONE_NEWIPC, CLONE_NEWUSER = 0x00020000, 0x08000000, 0x10000000
CLONE_NEWPID, CLONE_NEWNET = 0x20000000, 0x40000000
_MS_NOSUID, _MS_NODEV, _MS_NOEXEC, _MS_REC, _MS_PRIVATE = 2, 4, 8, 1 << 14, 1 << 18
_PR_SET_PDEATHSIG, _PR_CAPBSET_READ, _PR_CAPBSET_DROP = 1, 23, 24
_PR_SET_NO_NEW_PRIVS, _PR_GET_NO_NEW_PRIVS, _PR_SET_SECCOMP = 38, 39, 22
_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL = 47, 4
_CAP_VERSION_3 = 0x20080522
_SECCOMP_MODE_FILTER = 2
NOBODY = 65534  # who root becomes inside the user namespace

# (audit architecture, (socket, socketpair), system calls refused whatever their arguments) per
# machine: io_uring_setup/enter/register (they could make a socket without ``socket``) and
# pidfd_getfd (it copies a descriptor, a unix socket say, out of another process); x86-64's x32
# system calls (numbers with bit 30 set) are refused too
_SYSCALLS = {"x86_64": (0xC000003E, (41, 53), (425, 426, 427, 438)),
             "aarch64": (0xC00000B7, (198, 199), (425, 426, 427, 438))}


def _libc():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                           ctypes.c_void_p]
    return libc


def _why(what):
    return f"{what}: {os.strerror(ctypes.get_errno())}"


def offered(namespace):
    """Whether this kernel has the namespace (``user``, ``pid``, ``net``, ``ipc``, ``mnt``)."""
    return os.path.exists(f"/proc/self/ns/{namespace}")


def enter_namespaces():
    """Unshare user, PID, network, mount and IPC namespaces and fork into the new PID namespace.

    Returns ``(active, missing)``: namespace -> detail, namespace -> why not. Only the child
    returns when the PID namespace was entered; the parent waits for it and exits as it did.
    """
    names = ("user-ns", "pid-ns", "net-ns", "ipc-ns")
    if not sys.platform.startswith("linux"):
        return {}, {n: "Linux only" for n in names}
    if len(os.listdir("/proc/self/task")) != 1:
        return {}, {n: "the worker already runs several threads" for n in names}
    libc = _libc()
    uid, gid = os.geteuid(), os.getegid()
    if uid == 0:
        try:
            os.setgroups([])  # root's supplementary groups would stay with it in the namespace
        except OSError:
            pass
    others = CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWNS | CLONE_NEWIPC
    active, missing = {}, {}
    if libc.unshare(CLONE_NEWUSER | others) == 0:
        inner_uid = NOBODY if uid == 0 else uid
        inner_gid = NOBODY if gid == 0 else gid
        try:
            for name, text in (("setgroups", "deny"), ("uid_map", f"{inner_uid} {uid} 1"),
                               ("gid_map", f"{inner_gid} {gid} 1")):
                with open(f"/proc/self/{name}", "w") as fh:
                    fh.write(text)
        except OSError as exc:
            # without a map the worker runs as the overflow user: still no capability outside
            missing["user-ns"] = f"user namespace without an id map ({exc.strerror})"
        else:
            active["user-ns"] = f"uid {inner_uid}" + (f", host uid {uid}" if uid == 0 else "")
    else:
        missing["user-ns"] = _why("user namespace refused")
        # root may create the others without one (its capabilities are dropped afterwards)
        if libc.unshare(others) != 0:
            reason = _why("namespaces refused")
            return active, dict(missing, **{n: reason for n in names[1:]})
    active.update({"pid-ns": "", "net-ns": "", "ipc-ns": ""})
    status_read, status_write = os.pipe()
    _fork_and_wait(status_read=status_read)  # only the child returns
    # PID 1 of the new namespace: when it ends, so does every process in it. It is not the
    # worker itself, because PID 1 ignores the signals it sends itself (a student's
    # os.kill(os.getpid(), SIGSEGV) must end the worker as anywhere else).
    os.close(status_read)
    why = mount_own_proc()
    if why:
        missing["own-proc"] = why
    else:
        active["own-proc"] = ""
    _fork_and_wait(status_write=status_write)
    os.close(status_write)
    return active, missing


def _fork_and_wait(status_read=None, status_write=None):
    """Fork. The child returns at once. The parent, which holds no channel to the grader,
    waits for it and exits as it did (a signal's end passed on through ``status_write`` when the
    parent is PID 1 of a namespace, which cannot signal itself to death; read on the other end
    from ``status_read``)."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        _libc().prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # its parent was killed
        return
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)  # an ended child is an ended worker at once: nothing else holds its pipes
    os.dup2(devnull, 1)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    drop_capabilities()
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except ChildProcessError:
            os._exit(70)
    if status_write is not None:
        os.write(status_write, struct.pack("<i", status))
        os._exit(0)
    if status_read is not None and os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
        reported = os.read(status_read, 4)
        if len(reported) == 4:
            status = struct.unpack("<i", reported)[0]
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            import resource
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # the child's crash, not a new one
            signal.signal(sig, signal.SIG_DFL)
            os.kill(os.getpid(), sig)
        except (OSError, ValueError):
            pass
        os._exit(128 + sig)
    os._exit(os.waitstatus_to_exitcode(status))


def mount_own_proc():
    """Mount this PID namespace's ``/proc`` over the host's (needs ``enter_namespaces``)."""
    libc = _libc()
    if libc.mount(None, b"/", None, _MS_REC | _MS_PRIVATE, None) != 0:
        return _why("mounts could not be made private")
    if libc.mount(b"proc", b"/proc", b"proc", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC, None) != 0:
        return _why("the host's /proc stays visible")
    return None


def drop_capabilities():
    """Empty the bounding, ambient, effective, permitted and inheritable sets; set no_new_privs.

    Returns ``(capabilities_reason, no_new_privs_reason)``: None for each that holds.
    """
    if not sys.platform.startswith("linux"):
        return "Linux only", "Linux only"
    libc = _libc()
    for cap in range(64):  # past the kernel's last capability prctl says EINVAL: harmless
        if libc.prctl(_PR_CAPBSET_READ, cap, 0, 0, 0) == 1:
            libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0)
    libc.prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    header = ctypes.create_string_buffer(struct.pack("<Ii", _CAP_VERSION_3, 0))
    data = ctypes.create_string_buffer(bytes(24))
    refused = libc.capset(header, data) != 0
    libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    nnp = None if libc.prctl(_PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1 else "no_new_privs refused"
    # Held: none. Gainable: none either once no_new_privs holds (no set-user-id or file
    # capabilities on exec), even where the bounding set could not be emptied (no CAP_SETPCAP).
    if libc.capget(header, data) != 0 or any(data.raw) or nnp is not None:
        caps = _why("capset refused") if refused else "capabilities remain"
    else:
        caps = None
    return caps, nnp


def seccomp_offered():
    return sys.platform.startswith("linux") and platform.machine().lower() in _SYSCALLS


def block_unix_sockets():
    """Seccomp: ``socket``/``socketpair`` of AF_UNIX, io_uring and pidfd_getfd fail with EACCES
    (needs no_new_privs)."""
    machine = platform.machine().lower()
    if not sys.platform.startswith("linux") or machine not in _SYSCALLS:
        return f"no socket filter for {sys.platform} {machine}"
    arch, makers, refused = _SYSCALLS[machine]
    ld_w_abs, jeq, jge, ret = 0x20, 0x15, 0x35, 0x06
    allow, deny = 0x7FFF0000, 0x00050000 | 13  # SECCOMP_RET_ERRNO | EACCES

    def op(code, k, jt=0, jf=0):
        return struct.pack("<HBBI", code, jt, jf, k)

    program = [op(ld_w_abs, 4),                      # seccomp_data.arch
               op(jeq, arch, 1, 0), op(ret, deny),  # another ABI (int 0x80): refused
               op(ld_w_abs, 0),                      # seccomp_data.nr
               op(jge, 0x40000000, 0, 1), op(ret, deny)]
    for nr in refused:
        program += [op(jeq, nr, 0, 1), op(ret, deny)]
    for nr in makers:  # socket and socketpair: refused for AF_UNIX
        program += [op(jeq, nr, 0, 4),                   # another call: the next check
                    op(ld_w_abs, 16),                    # args[0] (low half): the address family
                    op(jeq, 1, 0, 1), op(ret, deny),     # AF_UNIX
                    op(ret, allow)]
    program.append(op(ret, allow))
    filters = ctypes.create_string_buffer(b"".join(program))
    fprog = struct.pack("<HxxxxxxQ", len(program), ctypes.addressof(filters))
    fprog_buf = ctypes.create_string_buffer(fprog)
    libc = _libc()
    if libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, fprog_buf, 0, 0) != 0:
        return _why("seccomp filter refused")
    return None
