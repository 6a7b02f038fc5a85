"""The proxy (autograder/channel/proxy.py, autograder/channel/transport.py) and the worker
(autograder/channel/sandbox/worker.py), end to end.

Each test talks to a real worker process serving a small throwaway submission written into a temp
folder: a ``mytorch/`` package whose ``toy.py`` misbehaves in every way a student's code can.
"""
import collections
import os
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from autograder.channel.errors import (
    BudgetExhausted,
    ImportFailed,
    NotImplementedYet,
    StudentError,
    WorkerCrashed,
)
from autograder.channel.proxy import Remote, Submission
from autograder.channel.sandbox.wire import TaggedArray
from autograder.channel.transport import Limits

pytestmark = pytest.mark.slow  # the grader end to end: see pyproject's markers

REPO = Path(__file__).resolve().parents[2]
POSIX = os.name == "posix"

TOY = '''
import os
import signal
import sys
import time

import numpy as np

print("toy imported")


def divide(a, b):
    return a / b


class Inner:
    def __init__(self, value):
        self.value = value

    def double(self):
        return 2 * self.value


class LyingArray(np.ndarray):
    def __eq__(self, other):
        return True


class BadMessage(Exception):
    def __str__(self):
        raise RuntimeError("no message for you")


class Toy:
    def __init__(self, n=3, scale=1.0):
        self.n, self.scale = n, scale
        self.arr = np.arange(n, dtype=np.float64)

    def add(self, x, y=0):
        return x + y

    def times(self, A):
        return A * self.scale

    def is_same(self, other):
        return other is self

    def inner(self, value):
        return Inner(value)

    def fail(self):
        return divide(1, 0)

    def todo(self):
        raise NotImplementedError("implement Task 9.9")

    def exit(self, code=3):
        sys.exit(code)

    def hard_exit(self):
        os._exit(7)

    def segfault(self):
        os.kill(os.getpid(), signal.SIGSEGV)

    def spin(self):
        while True:
            pass

    def sleep(self):
        time.sleep(60)

    def talk(self, n, char="x"):
        print(char * n)
        return n

    def raw_write(self):
        os.write(1, b"MTW1" + b"\\xff" * 12 + b"forged frame on fd 1")
        sys.stdout.buffer.write(b"MTW1 forged frame on sys.stdout")
        sys.stdout.flush()
        return "still fine"

    def as_list(self):
        return [1.0, 2.0]

    def lying(self):
        return np.zeros(3).view(LyingArray)

    def too_deep(self):
        v = 0
        for _ in range(100):
            v = [v]
        return v

    def interrupt(self):
        raise KeyboardInterrupt

    def bad_message(self):
        raise BadMessage()

    def draw(self):
        return float(np.random.rand())

    def memory_bomb(self):
        return np.ones(2**34).sum()

    @property
    def guarded(self):
        return self.n

    @guarded.setter
    def guarded(self, value):
        raise ValueError("guarded is read-only")


class Stuck(Toy):
    def __init__(self, n=3):
        while n:  # never ends
            pass


class Chatty(Toy):
    def __init__(self, n=3):
        super().__init__(n)
        print("c" * 300_000)  # more than a pipe holds: the grader must read while it sends
'''


def write_submission(root, files):
    for rel, text in files.items():
        path = Path(root) / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return Path(root)


@pytest.fixture(scope="module")
def toy_dir(tmp_path_factory):
    return write_submission(tmp_path_factory.mktemp("toy"),
                            {"mytorch/__init__.py": "", "mytorch/toy.py": TOY})


@pytest.fixture(scope="module")
def module_sub(toy_dir):
    sub = Submission(toy_dir, Limits(call_seconds=20, memory_mb=1024))
    yield sub
    sub.close()


@pytest.fixture
def sub(module_sub):
    """The shared toy submission, reset (as the grader does before every test)."""
    module_sub.reset()
    module_sub.take_output()
    return module_sub


def starts(sub):
    return sub.events["worker_starts"]


# --------------------------------------------------------------------------- normal use

def test_construct_get_set_and_call(sub):
    toy = sub.new("mytorch.toy.Toy", 4, scale=2.0)
    assert isinstance(toy, Remote) and "Toy" in repr(toy)
    assert toy.n == 4 and toy.scale == 2.0
    arr = toy.arr
    assert type(arr) is np.ndarray
    np.testing.assert_array_equal(arr, np.arange(4.0))
    arr[0] = 99.0  # a copy: the worker's array is untouched
    assert toy.arr[0] == 0.0
    toy.n = 7
    toy.arr = np.ones((2, 2))
    assert toy.n == 7
    np.testing.assert_array_equal(toy.arr, np.ones((2, 2)))
    assert toy.add(2, y=3) == 5
    assert toy.add((1,), y=(2,)) == (1, 2)
    np.testing.assert_array_equal(toy.times(np.eye(2)), 2 * np.eye(2))
    assert toy.as_list() == [1.0, 2.0]


def test_objects_stay_in_the_worker(sub):
    toy = sub.new("mytorch.toy.Toy")
    other = sub.new("mytorch.toy.Toy")
    assert toy.is_same(toy) is True and toy.is_same(other) is False
    inner = toy.inner(21)
    assert isinstance(inner, Remote)
    assert inner.double() == 42 and inner.value == 21
    divide = sub.function("mytorch.toy.divide")
    assert divide(1, 4) == 0.25


def test_call_many(sub):
    toy = sub.new("mytorch.toy.Toy")
    out = sub.call_many(toy, "times", [(np.ones(2),), (np.ones(2),)],
                        [{"scale": 3.0}, {"scale": -1.0}])
    np.testing.assert_array_equal(out[0], [3.0, 3.0])
    np.testing.assert_array_equal(out[1], [-1.0, -1.0])


def test_worker_reports_no_missing_limits_on_posix(sub):
    sub.new("mytorch.toy.Toy")
    if POSIX:
        assert sub.worker.info["limits_missing"] == []


def test_reset_reseeds_and_forgets(sub):
    toy = sub.new("mytorch.toy.Toy")
    first = toy.draw()
    sub.reset()
    with pytest.raises(WorkerCrashed, match="lost"):
        toy.draw()
    again = sub.new("mytorch.toy.Toy").draw()
    assert first == again


# --------------------------------------------------------------------------- student errors

def test_student_error_shows_only_the_students_frames(sub, toy_dir):
    toy = sub.new("mytorch.toy.Toy")
    with pytest.raises(StudentError) as exc:
        toy.fail()
    err = exc.value
    assert not isinstance(err, NotImplementedYet)
    assert err.type == "ZeroDivisionError" and err.kind == "exception"
    assert [(f[0], f[2]) for f in err.frames] == [(os.path.join("mytorch", "toy.py"), "fail"),
                                                  (os.path.join("mytorch", "toy.py"), "divide")]
    assert err.frames[-1][3] == "return a / b"
    text = err.feedback()
    assert text.startswith("Toy.fail() raised ZeroDivisionError: division by zero")
    assert "Traceback (your code" in text
    for leak in ("worker.py", "wire.py", "autograder", "importlib", "<frozen", str(REPO)):
        assert leak not in text
    assert toy.add(1, 1) == 2  # the worker survives


def test_import_errors_show_no_grader_frames(tmp_path):
    sub = Submission(write_submission(tmp_path, {
        "mytorch/__init__.py": "from .broken import thing\n",
        "mytorch/broken.py": "import numpy as np\n\nthing = np.nonexistent_function()\n"}),
        Limits(call_seconds=20))
    try:
        toy = sub.new("mytorch.toy.Toy")  # not waited for: the error comes with the next reply
        with pytest.raises(ImportFailed) as exc:
            _ = toy.n  # the read is a request to the worker
        assert exc.value.module == "mytorch"
        err = exc.value.cause
        assert err.type == "AttributeError"
        assert [f[0] for f in err.frames] == [os.path.join("mytorch", "__init__.py"),
                                              os.path.join("mytorch", "broken.py")]
        assert "<frozen" not in err.feedback() and "importlib" not in err.feedback()
    finally:
        sub.close()


def test_an_import_failure_is_found_once_and_charged_to_every_later_test(tmp_path):
    sub = Submission(write_submission(tmp_path, {
        "mytorch/__init__.py": "",
        "mytorch/slow/__init__.py": "while True:\n    pass\n",
        "mytorch/needs_slow.py": "from .slow import x\n\nclass Toy:\n    pass\n",
        "mytorch/fine.py": "class Toy:\n    n = 3\n"}), Limits(call_seconds=2))
    try:
        start = time.monotonic()
        with pytest.raises(ImportFailed, match="importing mytorch.slow did not finish"):
            _ = sub.new("mytorch.slow.Toy").n  # the read is a request to the worker
        sub.reset()  # the next test
        with pytest.raises(ImportFailed) as exc:  # read from the source: it needs mytorch.slow
            sub.new("mytorch.needs_slow.Toy")
        assert exc.value.via == "mytorch.slow" and "see the import error" in exc.value.feedback()
        sub.reset()
        with pytest.raises(ImportFailed):
            sub.new("mytorch.slow.Toy")
        assert time.monotonic() - start < 2 * 2  # the limit was waited for once
        sub.reset()
        assert sub.new("mytorch.fine.Toy").n == 3  # what does not need it still works
        assert set(sub.import_failures) == {"mytorch.slow", "mytorch.needs_slow"}
    finally:
        sub.close()


def test_the_time_budget_stops_a_request_and_fails_the_later_ones_at_once(tmp_path):
    sub = Submission(write_submission(tmp_path, {
        "mytorch/__init__.py": "",
        "mytorch/toy.py": "import time\n\nclass Toy:\n    def wait(self, s):\n"
                           "        time.sleep(s)\n        return s\n"}),
        Limits(call_seconds=30, budget_seconds=1.5))
    try:
        toy = sub.new("mytorch.toy.Toy")
        assert toy.wait(0.1) == 0.1
        start = time.monotonic()
        with pytest.raises(BudgetExhausted, match="was stopped"):
            toy.wait(20)
        assert time.monotonic() - start < 5
        sub.reset()
        with pytest.raises(BudgetExhausted, match="not run"):
            sub.new("mytorch.toy.Toy").wait(0)
        assert sub.budget_hit
    finally:
        sub.close()


def test_missing_attribute_and_missing_class(sub):
    toy = sub.new("mytorch.toy.Toy")
    with pytest.raises(StudentError) as exc:
        _ = toy.no_such_thing  # the read is a request to the worker
    assert exc.value.type == "AttributeError"
    assert "reading Toy.no_such_thing" in exc.value.feedback()
    sub.reset()
    sub.new("mytorch.toy.NoSuchClass")
    with pytest.raises(StudentError) as exc:
        sub.sync()
    assert exc.value.type == "AttributeError" and exc.value.action == "NoSuchClass()"
    sub.reset()
    sub.new("mytorch.nope.Thing")  # a module that is not there fails its import
    with pytest.raises(ImportFailed) as exc:
        sub.sync()
    assert exc.value.cause.type == "ModuleNotFoundError"
    assert exc.value.cause.action == "importing mytorch.nope"


def test_not_implemented(sub):
    toy = sub.new("mytorch.toy.Toy")
    with pytest.raises(NotImplementedYet) as exc:
        toy.todo()
    assert exc.value.kind == "not_implemented"
    assert exc.value.feedback() == ("not implemented yet (Toy.todo() raised NotImplementedError: "
                                    "implement Task 9.9)")


def test_sys_exit_inside_a_method_is_a_student_error(sub):
    toy = sub.new("mytorch.toy.Toy")
    before = starts(sub)
    with pytest.raises(StudentError) as exc:
        toy.exit(3)
    assert exc.value.kind == "exit" and exc.value.type == "SystemExit"
    assert exc.value.feedback().startswith("Toy.exit() called sys.exit(3)")
    assert toy.add(1, 2) == 3 and starts(sub) == before  # same worker, same objects


def test_keyboard_interrupt_and_unprintable_exceptions(sub):
    toy = sub.new("mytorch.toy.Toy")
    with pytest.raises(StudentError) as exc:
        toy.interrupt()
    assert exc.value.type == "KeyboardInterrupt"
    with pytest.raises(StudentError) as exc:
        toy.bad_message()
    assert exc.value.type == "BadMessage" and "could not be turned into text" in exc.value.message
    assert toy.add(1, 2) == 3


def test_values_that_cannot_cross_the_wire_are_student_errors(sub):
    toy = sub.new("mytorch.toy.Toy")
    with pytest.raises(StudentError) as exc:
        toy.too_deep()
    assert exc.value.type == "WireError" and "nested too deeply" in exc.value.message
    assert toy.add(1, 2) == 3


def test_ndarray_subclass_arrives_tagged(sub):
    value = sub.new("mytorch.toy.Toy").lying()
    assert isinstance(value, TaggedArray) and value.pytype == "mytorch.toy.LyingArray"
    assert type(value.array) is np.ndarray


@pytest.mark.skipif(not POSIX, reason="RLIMIT_AS is POSIX-only")
def test_memory_bomb_is_a_memory_error(sub):
    toy = sub.new("mytorch.toy.Toy")
    with pytest.raises(StudentError) as exc:
        toy.memory_bomb()
    assert exc.value.kind == "memory"


# --------------------------------------------------------------------------- crashes

def test_os_exit_crashes_only_the_test_in_flight(sub):
    toy = sub.new("mytorch.toy.Toy")
    before = starts(sub)
    with pytest.raises(WorkerCrashed) as exc:
        toy.hard_exit()
    assert "exited with code 7" in exc.value.reason
    assert "restarted your code" in exc.value.feedback()
    with pytest.raises(WorkerCrashed):
        toy.add(1, 2)  # the rest of this test fails at once (the object died with its worker)
    sub.reset()  # the next test
    with pytest.raises(WorkerCrashed, match="lost when your code was restarted"):
        toy.add(1, 2)
    fresh = sub.new("mytorch.toy.Toy", 5)
    assert fresh.n == 5 and starts(sub) == before + 1
    assert sub.events["crashes"] >= 1


def test_failures_repeat_within_a_test_and_clear_for_the_next(sub):
    toy = sub.new("mytorch.toy.Toy")
    with pytest.raises(NotImplementedYet):
        toy.todo()
    with pytest.raises(NotImplementedYet) as exc:  # no round trip, same feedback
        toy.add(1, 2)
    assert "implement Task 9.9" in exc.value.feedback()
    sub.reset()
    assert sub.new("mytorch.toy.Toy").add(1, 2) == 3


@pytest.mark.skipif(not POSIX, reason="signals are POSIX-only")
def test_segfault(sub):
    with pytest.raises(WorkerCrashed, match="segmentation fault"):
        sub.new("mytorch.toy.Toy").segfault()
    sub.reset()
    assert sub.new("mytorch.toy.Toy").add(1, 1) == 2


@pytest.mark.parametrize("method", ["spin", "sleep"])
def test_infinite_loop_hits_the_call_limit(toy_dir, method):
    sub = Submission(toy_dir, Limits(call_seconds=1))
    try:
        toy = sub.new("mytorch.toy.Toy")
        start = time.monotonic()
        with pytest.raises(WorkerCrashed) as exc:
            getattr(toy, method)()
        assert time.monotonic() - start < 8
        assert "did not finish within 1 s" in exc.value.reason
        assert f"Toy.{method}()" in exc.value.feedback()
        sub.reset()
        toy = sub.new("mytorch.toy.Toy", 2)
        assert toy.n == 2 and starts(sub) == 2  # a fresh worker serves the next test
        start = time.monotonic()
        with pytest.raises(WorkerCrashed):  # a call that hung is not waited for again
            getattr(toy, method)()
        assert time.monotonic() - start < 0.5
    finally:
        sub.close()


def test_a_constructor_that_hangs_is_blamed_though_nobody_waited_for_it(toy_dir):
    sub = Submission(toy_dir, Limits(call_seconds=1))
    try:
        stuck = sub.new("mytorch.toy.Stuck", 3)  # returns at once: its reply is not awaited
        stuck.scale = 2.0
        with pytest.raises(WorkerCrashed) as exc:
            stuck.add(1, 2)  # the first request that waits
        assert exc.value.action == "Stuck(3)" and "did not finish within 1 s" in exc.value.reason
        sub.reset()
        start = time.monotonic()
        with pytest.raises(WorkerCrashed, match="not retried"):  # hung once: not sent again
            sub.new("mytorch.toy.Stuck", 3)
        assert time.monotonic() - start < 0.5
        assert sub.new("mytorch.toy.Toy", 2).n == 2
    finally:
        sub.close()


# --------------------------------------------------------------------------- output

def test_prints_are_captured(sub):
    toy = sub.new("mytorch.toy.Toy")
    assert toy.talk(5, "y") == 5
    out = sub.take_output()
    assert "yyyyy" in out
    assert sub.take_output() == ""


def test_import_time_prints_are_captured(tmp_path):
    sub = Submission(write_submission(tmp_path, {"mytorch/__init__.py": "",
                                                 "mytorch/toy.py": TOY}), Limits(call_seconds=20))
    try:
        sub.new("mytorch.toy.Toy")
        sub.sync()
        assert "toy imported" in sub.take_output()
    finally:
        sub.close()


def test_output_is_bounded(toy_dir):
    sub = Submission(toy_dir, Limits(call_seconds=20, output_bytes=1000))
    try:
        toy = sub.new("mytorch.toy.Toy")
        sub.sync()
        sub.take_output()
        assert toy.talk(200_000) == 200_000
        deadline = time.monotonic() + 10
        text = ""
        while "more bytes of output not shown" not in text and time.monotonic() < deadline:
            text += sub.take_output()  # the reader thread may lag behind the reply
            time.sleep(0.05)
        kept, _, note = text.partition("\n[...")
        assert len(kept) <= 1000 and set(kept) == {"x"}
        assert "more bytes of output not shown" in note
    finally:
        sub.close()


def test_printing_cannot_forge_replies(sub):
    toy = sub.new("mytorch.toy.Toy")
    assert toy.raw_write() == "still fine"
    assert toy.add(2, 2) == 4
    time.sleep(0.1)
    assert "forged frame" in sub.take_output()


# --------------------------------------------------------------------------- pipelined requests

def test_requests_not_waited_for_report_errors_under_their_own_name(sub):
    toy = sub.new("mytorch.toy.Toy", 4)
    toy.guarded = 5  # a setter that raises: nothing is waited for here...
    toy.scale = 2.0
    with pytest.raises(StudentError) as exc:
        toy.add(1, 1)  # ...so the error arrives with the next reply, under the setter's name
    assert exc.value.action == "setting Toy.guarded" and "read-only" in exc.value.message
    sub.reset()
    toy = sub.new("mytorch.toy.Toy", 4)
    toy.scale = 2.0
    assert toy.times(np.ones(2)).tolist() == [2.0, 2.0]  # later requests were still served


def test_methods_are_called_in_one_round_trip(sub):
    toy = sub.new("mytorch.toy.Toy")
    assert toy.add(1, 2) == 3
    starts = sub.events["worker_starts"]
    sent = []
    original = sub.worker.send
    sub.worker.send = lambda message, *a: (sent.append(message["op"]), original(message, *a))[1]
    assert toy.add(2, 3) == 5 and toy.n == 3
    assert sent == ["callmethod", "getattr"] and sub.events["worker_starts"] == starts


def test_submitted_calls_are_answered_together_and_keep_their_own_errors(sub):
    toy = sub.new("mytorch.toy.Toy", 3, 2.0)
    doubled = toy.times.submit(np.arange(3.0))
    failing = toy.fail.submit()
    arr, n = sub.read(toy, "arr", "n", wait=False).result()  # one wait collects all three replies
    assert sub.worker.pending == collections.deque()
    assert doubled.result().tolist() == [0.0, 2.0, 4.0]  # not the ZeroDivisionError of the next
    assert arr.tolist() == [0.0, 1.0, 2.0] and n == 3
    with pytest.raises(StudentError) as exc:
        failing.result()
    assert exc.value.type == "ZeroDivisionError" and exc.value.action == "Toy.fail()"
    many = sub.call_many(toy, "add", [(1, 1), (2, 2)], wait=False)
    assert many.result() == [2, 4]


def test_an_unclaimed_error_is_not_swallowed(sub):
    toy = sub.new("mytorch.toy.Toy")
    assert toy.n == 3  # (from here on the class's methods are known without asking)
    toy.guarded = 1  # its error belongs to no Pending...
    total = toy.add.submit(1, 2)
    with pytest.raises(StudentError, match="read-only"):
        total.result()  # ...so the Pending that collected it raises it


def test_start_boots_the_worker_without_waiting(toy_dir):
    sub = Submission(toy_dir, Limits(call_seconds=20))
    try:
        sub.start()
        assert sub.worker is not None and sub.worker.info is None  # greeting not read yet
        assert sub.new("mytorch.toy.Toy", 2).n == 2
        assert sub.worker.info["ready"] and sub.events["worker_starts"] == 1
    finally:
        sub.close()


def test_a_worker_that_cannot_start_fails_the_first_request(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    sub = Submission(tmp_path, Limits(call_seconds=20), python=sys.executable + "-missing")
    sub.start()  # the interpreter does not exist: not an error yet
    with pytest.raises((WorkerCrashed, OSError)):
        _ = sub.new("mytorch.toy.Toy").n  # the read is a request to the worker
    sub.close()
    assert list((tmp_path / "tmp").iterdir()) == []  # no worker folder left behind


def test_a_printing_worker_cannot_deadlock_the_sender(sub):
    chatty = sub.new("mytorch.toy.Chatty")  # prints 300 kB while the grader keeps sending
    chatty.arr = np.ones(2**18)  # 2 MB: more than both pipes hold
    chatty.arr2 = np.ones(2**18)
    assert chatty.times(np.ones(3)).tolist() == [1.0, 1.0, 1.0]
    out = sub.take_output()
    assert out.startswith("c" * 1000) and "more bytes of output not shown" in out


# --------------------------------------------------------------------------- where code comes from

def test_a_submission_without_mytorch_gets_no_reference(tmp_path):
    """The worker must not fall back on the grader's own (reference) mytorch."""
    (tmp_path / "empty").mkdir()
    sub = Submission(tmp_path / "empty", Limits(call_seconds=20))
    try:
        with pytest.raises(ImportFailed) as exc:
            _ = sub.new("mytorch.nn.Linear", 2, 3).forward  # the read is a request to the worker
        cause = exc.value.cause
        assert cause.type in ("ModuleNotFoundError", "ImportError")
        assert str(REPO / "mytorch") not in cause.feedback() or \
            "not found in the submission" in cause.feedback()
    finally:
        sub.close()


def test_modules_from_outside_the_submission_are_refused(tmp_path):
    """A package that borrows the reference's modules (here via __path__) is caught by origin."""
    sub = Submission(write_submission(tmp_path, {
        "mytorch/__init__.py": f"__path__[:] = [{str(REPO / 'mytorch')!r}]\n"}),
        Limits(call_seconds=20))
    try:
        with pytest.raises(ImportFailed) as exc:
            _ = sub.new("mytorch.nn.Linear", 2, 3).forward  # the read is a request to the worker
        assert exc.value.cause.type == "ImportError"
        assert "was not found in the submission folder" in exc.value.cause.message
    finally:
        sub.close()


def test_worker_cannot_see_grader_environment(tmp_path):
    sub = Submission(write_submission(tmp_path, {
        "mytorch/__init__.py": "",
        "mytorch/env.py": "import os, sys\n"
                          "def env():\n    return sorted(os.environ)\n"
                          "def modules():\n    return sorted(sys.modules)\n"}),
        Limits(call_seconds=20))
    try:
        env = sub.function("mytorch.env.env")()
        assert not any(k.startswith(("PYTEST", "HYPOTHESIS", "MYTORCH")) for k in env)
        modules = sub.function("mytorch.env.modules")()
        assert not any("autograder" in m or m == "pytest" for m in modules)
    finally:
        sub.close()
