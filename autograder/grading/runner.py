"""Grade one submission: run the graded suite under pytest with the grader plugin."""
import atexit
import contextlib
import functools
import importlib.util
import io
import os
import tempfile
import time
import warnings
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from ..channel.cleanup import remove_tree
from ..channel.proxy import Submission
from ..channel.transport import Limits, describe_sandbox
from ..intake import imports
from .assignment import Assignment, find
from .hypothesis_profile import load_profile
from .outcomes import grader_warning
from .plugin import GraderPlugin, task_keyword
from .report import build_grade, submission_problems
from .rubric import allowed_imports, load_rubric, test_key


class SubmissionError(ValueError):
    """The submission folder cannot be graded at all (it does not exist, or has no mytorch/)."""


class SelectionError(SubmissionError):
    """``-k`` selected no test: nothing was graded."""


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


@functools.cache
def _unpacked(archive):
    """The folder holding mytorch/ in a safe copy of ``archive`` (removed when the process ends)."""
    from ..intake.archive import SubmissionArchiveError, extract_submission
    work = tempfile.mkdtemp(prefix="mytorch-check-")
    atexit.register(remove_tree, work)  # the student's code writes into its copy
    os.chmod(work, 0o755)  # the worker may run as an unprivileged user
    try:
        return extract_submission(archive, Path(work) / "submission").root
    except SubmissionArchiveError as exc:
        raise SubmissionError(f"cannot grade {archive}: {exc.problem}") from None


def check_submission_folder(path):
    """The folder to grade: ``path`` itself, or a safe copy of it when it is an archive (a student's
    handin.zip)."""
    path = Path(path)
    if path.is_file():
        return _unpacked(path.resolve())
    if not path.is_dir():
        raise SubmissionError(f"submission folder {path} does not exist")
    if not (path / "mytorch").is_dir():
        raise SubmissionError(f"{path} has no mytorch/ folder: run the grader from your handout "
                              "folder (the one holding mytorch/), or pass --submission PATH")
    return path.resolve()


def grade(submission, keyword=None, limits=None, assignment=None, hidden_cases=None,
          user=None, pytest_args=(), submission_factory=Submission, rubric_path=None):
    """Run ``assignment``'s suite (an ``Assignment``, its name, or None: the course's default)
    against ``submission`` and return a ``report.Grade``. ``rubric_path`` replaces its rubric.

    A warning of the grader's own code raised in this process while grading (the student's code
    runs in the worker) is a grader problem (``Grade.errors``), as is anything the tests recorded;
    see ``outcomes.grader_warning``.
    """
    with warnings.catch_warnings(record=True) as caught:
        if not isinstance(assignment, Assignment):
            assignment = find(assignment)
        result = _grade(submission, keyword, limits, assignment, rubric_path, hidden_cases, user,
                        pytest_args, submission_factory)
    result.errors += [problem for problem in map(grader_warning, caught) if problem]
    return result


def _grade(submission, keyword, limits, assignment, rubric_path, hidden_cases, user, pytest_args,
           submission_factory):
    start = time.perf_counter()
    shown = f"{submission} (unpacked)" if Path(submission).is_file() else None
    submission = check_submission_folder(submission)
    rubric_path = rubric_path or assignment.rubric_path
    tasks = load_rubric(rubric_path)
    if hidden_cases is None:
        tasks = [t for t in tasks if t.visibility == "visible"]
    load_profile("mytorch-grader")
    allowed = allowed_imports(rubric_path)
    scan = imports.scan(submission, allowed)  # from the source, before any of it runs
    limits = limits or Limits()
    plugin = GraderPlugin(submission, tasks, limits, hidden_cases, user,
                          submission_factory, allowed_imports=allowed,
                          cases_dir=assignment.cases_dir, assignment=assignment.name,
                          source_scan=scan)
    suite = assignment.suite_dir
    args = [str(suite), "-c", str(suite / "grader.ini"), "--rootdir", str(suite),
            "-p", "no:cacheprovider", "-p", "no:stepwise", "-p", "no:unraisableexception",
            "-q", "--no-header",
            "--continue-on-collection-errors", "-o",
            "python_files=test_*.py", "--tb=no",
            # the suite reports through checks, never a bare assert: no rewriting on import
            "--assert=plain"]
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
    if plugin.state.interrupted:  # Ctrl-C: pytest stopped early; what ran is no grade
        raise KeyboardInterrupt
    if keyword and not plugin.state.results and code == pytest.ExitCode.NO_TESTS_COLLECTED:
        raise SelectionError(_no_match(keyword, tasks, plugin))
    if code not in (0, 1, 5):  # 5: nothing selected
        plugin.state.errors.append(f"pytest exited with code {int(code)}:\n"
                                   f"{log.getvalue()[-3000:]}")
    plugin.settle()
    result = build_grade(tasks, plugin.state, shown or submission, time.perf_counter() - start)
    result.assignment = assignment.name
    result.problems = submission_problems(scan, plugin.state.import_failures, allowed,
                                          limits.budget_seconds, plugin.state.budget_hit)
    result.unimportable = sorted({p.path for p in scan.syntax_errors}
                                 | set(plugin.state.import_failures))
    # one line per file, from the source or the module's name alone: what the worker raised may
    # quote a hidden case, and this summary is data in results.json
    result.import_summary = [f"{p.path}, line {p.line}: {p.message}" for p in scan.syntax_errors]
    if not scan.syntax_errors:  # (a file that does not parse stops the modules importing it)
        roots = {f.via or f.module for f in plugin.state.import_failures.values()}
        result.import_summary += [f"{m} failed when imported" for m in sorted(roots)]
    missing = plugin.state.worker_info.get("limits_missing")
    if missing:
        result.notes.append("limits not enforced on this platform: " + ", ".join(missing))
    sandbox = plugin.state.worker_info.get("sandbox")
    if isinstance(sandbox, dict):
        result.notes.append(describe_sandbox(sandbox))
    return result


def _no_match(keyword, tasks, plugin):
    """The error for a ``-k`` that selects nothing: every task's keyword and its tests."""
    tests = {}
    for name, (task, _) in plugin.test_to_task.items():
        tests.setdefault(task.id, []).append(test_key(name).split("::")[-1])
    lines = [f"-k {keyword!r} matches no test. Each task is selected by its id, and each test by "
             "its name (or part of it):"]
    for task in tasks:
        names = ", ".join(dict.fromkeys(tests.get(task.id, [])))
        lines.append(f"  {task_keyword(task.id):<9} {task.title}: {names}")
    lines.append("For example: -k task1.2 (or task1_2), -k softmax, -k \"relu or gelu\".")
    return "\n".join(lines)
