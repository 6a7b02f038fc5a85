"""The grader's own process is bounded and never fails on what a worker does
(autograder/channel/pipes.py, sandbox/wire.py, cleanup.py).

Each attack runs in a real worker serving a small throwaway submission: a flood of replies while the
grader is sending, replies no grader asked for (an array of shape [0, 2**70], the integer 10**400),
a folder 1500 levels deep in the worker's temporary folder. Each must be the failure of the request
it answers, with its reason, and leave the grader's memory and its ability to clean up intact.
"""
import gc
import os
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from autograder.channel.cleanup import remove_tree
from autograder.channel.errors import ImportFailed, WorkerCrashed
from autograder.channel.proxy import Submission
from autograder.channel.transport import Limits

pytestmark = pytest.mark.slow  # real workers

POSIX = os.name == "posix"
FLOOD_MB = 300

ATTACKS = f'''
import os, stat, struct, sys, time

import numpy as np

FLOOD_LOG = os.path.join(os.path.dirname(__file__), "flooded.txt")


def _pipes():
    for fd in range(3, 64):
        try:
            if stat.S_ISFIFO(os.fstat(fd).st_mode):
                yield fd
        except OSError:
            pass


class Flooder:
    def flood(self):
        """Shrink the request pipe (the grader cannot send), then write {FLOOD_MB} MB of
        well-formed replies nobody asked for on the reply pipe."""
        import fcntl
        frame = sys.modules["wire"].encode({{"ok": None, "seq": 10**9}})
        chunk = frame * (2**20 // len(frame))
        for fd in _pipes():
            try:
                fcntl.fcntl(fd, 1031, 4096)  # F_SETPIPE_SZ
            except OSError:
                pass
        written = 0
        for fd in [fd for fd in _pipes() if fd != 2]:  # (2: the output pipe)
            try:
                while written < {FLOOD_MB} * 2**20:
                    written += os.write(fd, chunk)
                    with open(FLOOD_LOG, "w") as log:
                        log.write(str(written))
            except OSError:  # the read end of a pipe, or the grader closed it
                continue


def _reply_with(old, new):
    """The next reply's header has ``old`` replaced by ``new`` (student code can reach the
    worker's own modules: the grader must not trust what comes back)."""
    wire = sys.modules["wire"]
    original = wire.encode

    def encode(value, to_ref=None):
        wire.encode = original
        frame = original(value, to_ref)
        magic, header_len, payload_len = struct.unpack("<4sIQ", frame[:16])
        header = frame[16:16 + header_len].replace(old, new)
        return struct.pack("<4sIQ", magic, len(header), payload_len) + header \\
            + frame[16 + header_len:]

    wire.encode = encode


def absurd_shape():
    _reply_with(b'"shape":[0,7]', b'"shape":[0,' + str(2**70).encode() + b']')
    return np.empty((0, 7))


def huge_integer():
    return 10**400


def deep_folder(levels):
    os.chdir(os.environ["TMPDIR"])
    for _ in range(levels):
        os.mkdir("d")
        os.chdir("d")
    os.symlink("/proc", "proc")
    return levels
'''


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("bounds")
    (root / "mytorch").mkdir()
    (root / "mytorch" / "__init__.py").write_text("")
    (root / "mytorch" / "attacks.py").write_text(ATTACKS)
    return root


@pytest.fixture
def sub(folder):
    started = Submission(folder, Limits(call_seconds=20))
    yield started
    started.close()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="F_SETPIPE_SZ is Linux's")
def test_a_reply_flood_while_the_grader_sends_is_cut_off_and_bounded(sub, folder):
    flooder = sub.new("mytorch.attacks.Flooder")
    assert "flood" in flooder._ref.methods  # known now: flood.submit() sends without waiting
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        flooder.flood.submit()
        with pytest.raises(WorkerCrashed, match="replies while the grader was still sending"):
            for _ in range(8):  # 32 MB of requests: more than the shrunk pipe holds
                flooder.big = np.ones(2**19)
            sub.sync()
        peak = tracemalloc.get_traced_memory()[1] - base
        assert sub.fatal.__traceback__ is None  # kept without the frames that held the buffer
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    flooded = int((folder / "mytorch" / "flooded.txt").read_text())
    (folder / "mytorch" / "flooded.txt").unlink()
    print(f"flood: worker wrote {flooded / 2**20:.0f} MB; grader peak +{peak / 2**20:.1f} MB, "
          f"kept +{kept / 2**20:.1f} MB")
    assert flooded < FLOOD_MB * 2**20  # cut off early
    assert peak < 64 * 2**20, peak  # requests of 32 MB + two frames of replies at most
    assert kept < 8 * 2**20, kept


def test_an_absurd_array_shape_is_the_requests_failure(sub):
    with pytest.raises(WorkerCrashed, match=r"sent an invalid value \(array shape \[0, about "
                                            r"2\*\*70\] has a dimension beyond"):
        sub.function("mytorch.attacks.absurd_shape")()


def test_an_integer_no_float_holds_is_the_requests_failure(sub):
    with pytest.raises(WorkerCrashed, match="integer of 401 digits is out of range"):
        sub.function("mytorch.attacks.huge_integer")()
    sub.reset()  # the next test: a new worker serves it
    assert sub.function("mytorch.attacks.deep_folder")(1) == 1


def test_a_folder_1500_levels_deep_is_removed_with_the_worker(sub, tmp_path):
    assert sub.function("mytorch.attacks.deep_folder")(1500) == 1500
    worker_dir = Path(sub.worker.dir)
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(200)  # nothing in the clean-up recurses
    try:
        sub.close()
    finally:
        sys.setrecursionlimit(limit)
    assert not worker_dir.exists()


def test_the_remover_is_bounded_follows_no_link_and_never_raises(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("kept")
    tree = tmp_path / "tree"
    try:
        deep_chain(tree, 1500, link_to=outside)
        (tree / "locked").mkdir()
        (tree / "locked" / "f").write_text("x")
        os.chmod(tree / "locked", 0o000)
        (tree / "a").mkdir()
        for n in range(50):
            (tree / "a" / f"f{n}").write_text("x")
        assert remove_tree(tree, max_entries=20) is False  # the bound: stopped, nothing raised
        assert tree.exists()
    finally:
        assert remove_tree(tree) is True and not tree.exists()  # (pytest's clean-up recurses)
    assert (outside / "keep.txt").read_text() == "kept"
    assert remove_tree(tmp_path / "missing") is True
    assert remove_tree(tmp_path / "outside" / "keep.txt") is True


def deep_chain(top, levels, link_to):
    """``top/d/d/.../d`` (``levels`` folders) holding a link to ``link_to``; by descriptors, since
    the path itself is too long for most calls."""
    os.mkdir(top)
    fd = os.open(top, os.O_RDONLY)
    try:
        for _ in range(levels):
            os.mkdir("d", dir_fd=fd)
            inner = os.open("d", os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = inner
        os.symlink(link_to, "link", dir_fd=fd)
    finally:
        os.close(fd)


PLANTS = '''
import os


def plant(target):
    """Replace a module of the submission by a link (to /proc, say), and add one more."""
    here = os.path.dirname(__file__)
    os.symlink(target, os.path.join(here, "planted.py"))
    return "planted"
'''

_OPENED = []  # (path) opened by this process while ``_watching`` holds True
_watching = [False]


def _audit(event, args):
    if _watching[0] and event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
        _OPENED.append(os.fsdecode(args[0]))


def test_once_student_code_ran_the_grader_opens_nothing_in_its_folder(tmp_path):
    outside = tmp_path / "outside.py"
    outside.write_text("import mytorch.crash\n")
    root = tmp_path / "submission"
    (root / "mytorch").mkdir(parents=True)
    (root / "mytorch" / "__init__.py").write_text("")
    (root / "mytorch" / "plants.py").write_text(PLANTS)
    (root / "mytorch" / "crash.py").write_text("import os\nos._exit(3)\n")
    if not getattr(_audit, "added", False):
        sys.addaudithook(_audit)  # (cannot be removed: inert unless watching)
        _audit.added = True
    sub = Submission(root, Limits(call_seconds=20))
    try:
        assert sub.function("mytorch.plants.plant")(str(outside)) == "planted"
        _watching[0] = True
        with pytest.raises(ImportFailed, match="exited with code 3"):
            sub.function("mytorch.crash.anything")
        sub.reset()
        # a module that the crashed one might need: decided from the scan made before any
        # student code ran (on main: the folder was read again, following the planted link)
        with pytest.raises(ImportFailed):
            sub.function("mytorch.planted.anything")
    finally:
        _watching[0] = False
        sub.close()
    inside = [p for p in _OPENED if p.startswith(str(root)) or p == str(outside)]
    assert not inside, inside
