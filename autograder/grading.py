"""Grade one submission: run the graded suite under pytest with the grader plugin."""
import contextlib
import importlib.util
import io
import os
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from .hypothesis_profile import load_profile
from .plugin import GraderPlugin
from .proxy import Submission
from .report import build_grade
from .rubric import RUBRIC_PATH, load_rubric
from .transport import Limits

SUITE_DIR = Path(__file__).resolve().parent / "suite"


class SubmissionError(ValueError):
    """The submission folder cannot be graded at all (it does not exist, or has no mytorch/)."""


@contextlib.contextmanager
def _environment(**values):
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def check_submission_folder(path):
    path = Path(path)
    if not path.is_dir():
        raise SubmissionError(f"submission folder {path} does not exist")
    if not (path / "mytorch").is_dir():
        raise SubmissionError(f"{path} has no mytorch/ folder: run the grader from your handout "
                              "folder (the one holding mytorch/), or pass --submission PATH")
    return path.resolve()


def grade(submission, keyword=None, limits=None, rubric_path=RUBRIC_PATH, hidden_cases=None,
          user=None, pytest_args=(), submission_factory=Submission):
    """Run the suite against ``submission`` and return a ``report.Grade``."""
    start = time.perf_counter()
    submission = check_submission_folder(submission)
    tasks = load_rubric(rubric_path)
    if hidden_cases is None:
        tasks = [t for t in tasks if t.visibility == "visible"]
    load_profile("mytorch-grader")
    plugin = GraderPlugin(submission, tasks, limits or Limits(), hidden_cases, user,
                          submission_factory)
    args = [str(SUITE_DIR), "-c", str(SUITE_DIR / "grader.ini"), "--rootdir", str(SUITE_DIR),
            "-p", "no:cacheprovider", "-p", "no:stepwise", "-p", "no:unraisableexception",
            "-q", "--no-header",
            "--continue-on-collection-errors", "-o",
            "python_files=test_*.py", "--tb=no"]
    if keyword:
        args += ["-k", keyword]
    args += list(pytest_args)
    # Other pytest plugins installed beside the grader have no say in a grade (pytest-randomly
    # would reorder and reseed, xdist fork): only hypothesis's own is loaded. This also skips the
    # scan of every installed package's entry points (~40 ms).
    if importlib.util.find_spec("_hypothesis_pytestplugin") is not None:  # its name, since 3.x
        args += ["-p", "_hypothesis_pytestplugin"]
    log = io.StringIO()
    plugin.start()  # the worker boots meanwhile pytest starts up and collects
    try:
        with redirect_stdout(log), redirect_stderr(log), \
                _environment(PYTEST_DISABLE_PLUGIN_AUTOLOAD="1"):
            code = pytest.main(args, plugins=[plugin])
    finally:
        plugin.close()
    if code not in (0, 1, 5):  # 5: nothing selected
        plugin.state.errors.append(f"pytest exited with code {int(code)}:\n{log.getvalue()[-3000:]}")
    plugin.settle()
    result = build_grade(tasks, plugin.state, submission, time.perf_counter() - start)
    missing = plugin.state.worker_info.get("limits_missing")
    if missing:
        result.notes.append("limits not enforced on this platform: " + ", ".join(missing))
    sandbox = plugin.state.worker_info.get("sandbox")
    if (limits is None or limits.sandbox) and isinstance(sandbox, str) and sandbox:
        result.notes.append(f"no sandbox around the submission's code: {sandbox} (it could read, "
                            "write and signal whatever its user can)")
    return result
