"""How a graded test ended, in the student's words: their failure (with the failing example of a
property check and the command that shows it again), or a problem of the grader's own.

The line between the two is drawn here: the student's code raising, crashing or giving a wrong value
is theirs; anything else raised while checking it, and any warning from the grader's own code, is a
grader problem (exit 3, no score).
"""
import traceback
from pathlib import Path

import pytest
from hypothesis.errors import HypothesisWarning

from ..channel.errors import (
    BudgetExhausted,
    ImportFailed,
    NotImplementedYet,
    StudentError,
    WorkerCrashed,
)
from ..checking.checks import Mismatch, NotGradable, failing_example
from ..checking.quantities import ExampleFailed

STUDENT_FAILURES = (ImportFailed, BudgetExhausted, NotImplementedYet, StudentError, WorkerCrashed,
                    Mismatch, ExampleFailed, AssertionError)


def describe_failure(exc, test=None):
    """(status, feedback) for an exception that failed a test phase.

    The student's failures (an exception of theirs, a crash, a wrong value, a property that does
    not hold) get their feedback, with the failing example of a property check and the command
    that shows it again. Anything else is an error of the grader: status "error".
    """
    exc = _student_failure(exc) or exc
    if isinstance(exc, ImportFailed):  # the whole story is told once, at the top
        return ("crashed" if exc.crashed else "failed"), exc.feedback()
    if isinstance(exc, BudgetExhausted):
        return "failed", exc.feedback()
    if isinstance(exc, NotImplementedYet):
        status, text = "not implemented", exc.feedback()
    elif isinstance(exc, (StudentError, WorkerCrashed, Mismatch)):
        status = "crashed" if isinstance(exc, WorkerCrashed) else "failed"
        text = exc.feedback()
    elif isinstance(exc, ExampleFailed):  # the failing quantities' own feedback says what
        status, text = "failed", ""
    elif isinstance(exc, AssertionError):
        status, text = "failed", str(exc) or "an expected property does not hold"
    else:
        return "error", f"grader error while checking your code: {describe_exception(exc)}"
    example = failing_example(exc)
    if example is not None:
        text += f"\n  Failing example: {example.call()}"
        if test is not None:
            module, function = test.split("::")[0], example.test
            text += (f"\n    (the graded suite's {module} builds the test's arrays from these "
                     f"arguments)\n  Run it again: {reproduce_command(module, function)}")
    return status, text


NOT_GRADED = "not graded"  # a TestResult status: another task's code is wrong (NotGradable)


def not_gradable(exc):
    """True when ``exc`` (or the student failure it wraps) says the check cannot be graded."""
    return isinstance(_student_failure(exc) or exc, NotGradable)


def reproduce_command(module, function):
    """The command that runs only ``function`` of suite file ``module``, with full feedback (the
    examples are drawn the same way every run, so it meets the same failing one)."""
    return f'python -m autograder -k "{Path(module).stem} and {function}" -v'


def _student_failure(exc):
    """``exc`` or, for an exception that wraps others (a group of failures, or one raised ``from``
    another, as when a failure could not be repeated), the first student failure inside it; None if
    there is none. (An exception raised while handling another is not wrapping it.)"""
    seen = set()
    pending = [exc]
    while pending:
        current = pending.pop(0)
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, STUDENT_FAILURES):
            return current
        pending += list(getattr(current, "exceptions", ()) or ())
        pending.append(current.__cause__)
    return None


GRADER_DIR = Path(__file__).resolve().parent.parent  # autograder/


def grader_warning(message, where=""):
    """The grader problem a ``warnings.WarningMessage`` caught in the grader's process is, or None.

    The student's code runs in the worker, so a warning here is the grader's own when it is raised
    in the grader's package (the suite, the checks) or is pytest's or hypothesis's complaint about
    how the grader uses them. A library warning about its own internals (one library deprecating
    another's API, say) is not, and is left alone.
    """
    category = message.category
    own = Path(message.filename).resolve().is_relative_to(GRADER_DIR) or \
        issubclass(category, pytest.PytestWarning) or issubclass(category, HypothesisWarning)
    if not own:
        return None
    return (f"warning from the grader's own code{where}: {category.__name__}: {message.message} "
            f"({message.filename}:{message.lineno})")


def root_cause(exc):
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return exc


def describe_exception(exc):
    """"ValueError: message (file.py:12)", at the innermost frame that raised it."""
    text = f"{type(exc).__name__}: {exc}"
    frames = traceback.extract_tb(exc.__traceback__)
    if frames:
        text += f" ({frames[-1].filename}:{frames[-1].lineno})"
    return text


def diagnoses_of(errors):
    """The diagnosis ids (``Mismatch.diagnosis``) of these failures, in order, once each."""
    ids = [getattr(e, "diagnosis", None) for e in errors]
    return list(dict.fromkeys(i for i in ids if i))
