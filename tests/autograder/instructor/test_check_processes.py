"""A batch's check processes: forked from the preloaded server, they behave as the subprocess."""
import os
import signal
import sys
import time

import pytest

from autograder.instructor import PROJECT_ROOT
from autograder.instructor.check_processes import (
    SUBPROCESS_ENV,
    ForkedCheck,
    fork_server_usable,
    start_check,
)
from autograder.instructor.one_student import kill_tree

pytestmark = pytest.mark.skipif(not fork_server_usable(sys.executable),
                                reason="checks are forked on Linux only (elsewhere: subprocesses)")
COMMAND = [sys.executable, "-m", "autograder"]


def run(cmd, tmp_path, name="forked"):
    work = tmp_path / name
    work.mkdir()
    proc = start_check(cmd, PROJECT_ROOT, {**os.environ, "PYTHONIOENCODING": "utf-8"}, work)
    out, err = proc.communicate(timeout=120)
    return proc, out.decode(), err.decode()


def test_a_forked_check_prints_and_exits_as_the_subprocess_does(tmp_path, monkeypatch):
    forked, out, err = run(COMMAND + ["--list-assignments"], tmp_path)
    monkeypatch.setenv(SUBPROCESS_ENV, "1")  # the batch's own environment chooses
    plain, plain_out, plain_err = run(COMMAND + ["--list-assignments"], tmp_path, "subprocess")
    assert isinstance(forked, ForkedCheck) and not isinstance(plain, ForkedCheck)
    assert (forked.returncode, out, err) == (plain.returncode, plain_out, plain_err)
    assert forked.returncode == 0 and "hw1" in out


def test_a_forked_check_gets_its_own_arguments_environment_and_folder(tmp_path):
    proc, out, err = run(COMMAND + ["check", "--submission", str(tmp_path / "nowhere")],
                         tmp_path)
    assert proc.returncode == 2 and "does not exist" in err, (out, err)


def test_another_interpreter_runs_as_a_subprocess(tmp_path):
    assert not fork_server_usable(str(tmp_path / "python"))


def test_a_stuck_forked_check_is_killed_with_its_group(tmp_path):
    work = tmp_path / "stuck"
    work.mkdir()
    proc = ForkedCheck(["--list-assignments"], PROJECT_ROOT, dict(os.environ), work)
    proc.wait(timeout=120)  # a fork that finished: killing it again changes nothing
    kill_tree(proc)
    assert proc.returncode == 0
    # a process that never ends: a fork whose session is killed as a whole
    sleeper = ForkedCheck(["--list-assignments"], PROJECT_ROOT, dict(os.environ), work)
    os.kill(sleeper.pid, signal.SIGSTOP)  # stopped before it can finish: it would never exit
    with pytest.raises(Exception, match="timed out"):
        sleeper.wait(timeout=0.5)
    started = time.monotonic()
    kill_tree(sleeper)
    assert sleeper.returncode == -signal.SIGKILL and time.monotonic() - started < 10
