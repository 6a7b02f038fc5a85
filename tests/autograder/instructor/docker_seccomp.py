"""``python docker_seccomp.py [--no-landlock] COMMAND...``: run COMMAND under a seccomp filter
that refuses what Docker's default profile refuses of namespaces, then exec it.

Docker's default profile (for a container without CAP_SYS_ADMIN, as Gradescope's) makes
``unshare``, ``setns``, ``mount``, ``umount2``, ``pivot_root`` and ``clone`` with any namespace
flag fail with EPERM, and ``clone3`` with ENOSYS (so that the C library falls back to ``clone``,
whose flags a filter can read). ``--no-landlock`` also answers ENOSYS to Landlock's system calls,
as Docker profiles before Landlock was allowed (and kernels without it) do. Standard library
only (``ctypes``); x86-64 and AArch64.
"""
import ctypes
import os
import platform
import struct
import sys

# audit architecture; (unshare, setns, mount, umount2, pivot_root, clone, clone3)
MACHINES = {"x86_64": (0xC000003E, (272, 308, 165, 166, 155, 56, 435)),
            "aarch64": (0xC00000B7, (97, 268, 40, 39, 41, 220, 435))}
LANDLOCK = (444, 445, 446)  # create_ruleset, add_rule, restrict_self: the same everywhere
# CLONE_NEWTIME, NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET
NAMESPACE_FLAGS = 0x80 | 0x20000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 \
    | 0x20000000 | 0x40000000
EPERM, ENOSYS = 1, 38
_PR_SET_NO_NEW_PRIVS, _PR_SET_SECCOMP, _SECCOMP_MODE_FILTER = 38, 22, 2


def supported():
    return sys.platform.startswith("linux") and platform.machine().lower() in MACHINES


def program(no_landlock=False):
    arch, (unshare, setns, mount, umount2, pivot_root, clone, clone3) = \
        MACHINES[platform.machine().lower()]
    ld_w_abs, jeq, jset, ret = 0x20, 0x15, 0x45, 0x06
    allow = 0x7FFF0000

    def errno(n):
        return 0x00050000 | n  # SECCOMP_RET_ERRNO

    def op(code, k, jt=0, jf=0):
        return struct.pack("<HBBI", code, jt, jf, k)

    out = [op(ld_w_abs, 4), op(jeq, arch, 1, 0), op(ret, errno(EPERM)),  # another ABI
           op(ld_w_abs, 0)]
    refused = [(nr, EPERM) for nr in (unshare, setns, mount, umount2, pivot_root)]
    refused.append((clone3, ENOSYS))
    if no_landlock:
        refused += [(nr, ENOSYS) for nr in LANDLOCK]
    for nr, code in refused:
        out += [op(jeq, nr, 0, 1), op(ret, errno(code))]
    out += [op(jeq, clone, 0, 3),
            op(ld_w_abs, 16),                          # args[0] (low half): clone's flags
            op(jset, NAMESPACE_FLAGS, 0, 1), op(ret, errno(EPERM)),
            op(ret, allow)]
    return b"".join(out), len(out)


def install(no_landlock=False):
    code, count = program(no_landlock)
    filters = ctypes.create_string_buffer(code)
    fprog = ctypes.create_string_buffer(struct.pack("<HxxxxxxQ", count,
                                                    ctypes.addressof(filters)))
    libc = ctypes.CDLL(None, use_errno=True)
    if os.geteuid() != 0:  # root may install a filter without it, as Docker's runtime does
        libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    if libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, fprog, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "seccomp filter refused")


def main(argv):
    no_landlock = argv[:1] == ["--no-landlock"]
    command = argv[1:] if no_landlock else argv
    if not command:
        sys.exit("usage: docker_seccomp.py [--no-landlock] COMMAND...")
    install(no_landlock)
    os.execvp(command[0], command)


if __name__ == "__main__":
    main(sys.argv[1:])
