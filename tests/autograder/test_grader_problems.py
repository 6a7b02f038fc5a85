"""A problem of the grader's own is never the student's zero: exit status 3, "grader problem: ...",
and no score anywhere (not in the table, not in results.json).

The broken graders are copies of this one (``autograder/`` and ``mytorch/`` in a temporary folder)
with one thing broken; they grade the reference solution, which deserves full marks.
"""
import ast
import builtins
import concurrent.futures
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from autograder.channel.errors import WorkerCrashed
from autograder.checking.checks import FailingExample, Mismatch, failing_example, property_check
from autograder.grading.assignment import find
from autograder.grading.outcomes import describe_failure
from tests.autograder.grader_runs import REPO, grader_env, run_grader

HW1 = find("hw1")

pytestmark = pytest.mark.slow  # the grader end to end: see pyproject's markers

PARALLEL = max(1, min(2, os.cpu_count() or 1))
EXPECT_CLOSE = ("def expect_close(actual, expected, name, rtol=RTOL, atol=ATOL, alternatives=None, "
                "batch=None,\n                 key=None, diagnoses=(), computed_in=None):\n")


def corrupt_fixture(root):
    case_file = root / HW1.cases_dir.relative_to(REPO) / "linear.npz"
    case_file.write_bytes(b"PK\x03\x04 not a zip file")


def grader_raises(root):
    _insert_into_expect_close(root, 'raise KeyError("a bug of the grader")')


def grader_warns(root):
    _insert_into_expect_close(root, 'import warnings; warnings.warn("the grader warns", '
                                    'UserWarning)')


def _insert_into_expect_close(root, line):
    checks = root / "autograder" / "checking" / "checks.py"
    text = checks.read_text(encoding="utf-8")
    assert EXPECT_CLOSE in text
    checks.write_text(text.replace(EXPECT_CLOSE, EXPECT_CLOSE + f"    {line}\n", 1),
                      encoding="utf-8")


BREAKAGES = {  # name: (how the copy is broken, python flags, what the problem line says)
    "corrupt_fixture": (corrupt_fixture, (), "the case file of 'linear' cannot be read"),
    "grader_raises": (grader_raises, (), "KeyError: 'a bug of the grader'"),
    "grader_warns": (grader_warns, (), "UserWarning: the grader warns"),
    "grader_warns_W_error": (grader_warns, ("-W", "error"), "UserWarning: the grader warns"),
}


@pytest.fixture(scope="module")
def broken_runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("broken-graders")

    def go(name):
        breakage, python_args, _ = BREAKAGES[name]
        root = tmp / name
        for package in ("autograder", "mytorch"):
            shutil.copytree(REPO / package, root / package,
                            ignore=shutil.ignore_patterns("__pycache__"))
        breakage(root)
        json_path = tmp / f"{name}.json"
        json_path.write_text('{"score": 100}')  # a stale file must not survive as a score
        return name, run_grader(REPO, json_path, ("-k", "task1_1"), cwd=root,
                                python_args=python_args)

    with concurrent.futures.ThreadPoolExecutor(PARALLEL) as pool:
        return dict(pool.map(go, BREAKAGES))


@pytest.mark.parametrize("name", list(BREAKAGES))
def test_grader_problem_gives_no_score(broken_runs, name):
    run = broken_runs[name]
    assert run.returncode == 3, run.describe()
    problems = [line for line in run.stdout.splitlines() if line.startswith("grader problem: ")]
    assert problems and any(BREAKAGES[name][2] in line for line in problems), run.describe()
    assert "Could not grade" in run.stdout and "Total" not in run.stdout, run.describe()
    assert run.stderr.startswith("grader problem: ") and "Traceback" not in run.stderr
    assert "score" not in run.results and run.results["tests"] == [], run.results
    assert any(BREAKAGES[name][2] in p for p in run.results["grader_problems"])


def test_exception_outside_the_tests_is_a_grader_problem(tmp_path):
    """An exception escaping the grade itself (here: the rubric cannot be read) -> exit 3."""
    root = tmp_path / "grader"
    for package in ("autograder", "mytorch"):
        shutil.copytree(REPO / package, root / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    (root / HW1.rubric_path.relative_to(REPO)).write_text("[[task]\nbroken = ", encoding="utf-8")
    run = run_grader(REPO, tmp_path / "results.json", ("-k", "task1_1"), cwd=root)
    assert run.returncode == 3, run.describe()
    assert run.stderr.startswith("grader problem: ") and "Traceback" not in run.stderr
    assert not (tmp_path / "results.json").exists()


# -- the failing example is recorded by the grader itself -----------------------------------------

def test_property_check_attaches_the_failing_arguments():
    from hypothesis import Phase, settings, strategies

    @settings(database=None, derandomize=True, phases=[Phase.generate])
    @property_check(n=strategies.integers(0, 10), word=strategies.sampled_from(["a", "b"]))
    def test_small(n, word):
        if n >= 3:
            raise Mismatch("n", f"{n} is too large")

    with pytest.raises(Mismatch) as caught:
        test_small()
    example = failing_example(caught.value)
    assert isinstance(example, FailingExample) and example.test == "test_small"
    assert example.arguments["n"] >= 3 and example.arguments["word"] in ("a", "b")
    assert example.call() == f"test_small(n={example.arguments['n']!r}, " \
                             f"word={example.arguments['word']!r})"
    assert str(caught.value) == f"n: {example.arguments['n']} is too large"  # it failed that one


def test_describe_failure_tells_the_student_from_the_grader():
    mismatch = Mismatch("dLdW", "wrong values")
    mismatch.mytorch_failing_example = FailingExample("test_gradient_check", {"seed": 3})
    status, text = describe_failure(mismatch, "test_linear.py::test_gradient_check")
    assert status == "failed"
    assert text.splitlines()[1] == "  Failing example: test_gradient_check(seed=3)"
    assert text.splitlines()[-1] == \
        '  Run it again: python -m autograder -k "test_linear and test_gradient_check" -v'
    # a student failure wrapped in a group (several failures) is still the student's
    exception_group = getattr(builtins, "BaseExceptionGroup", None)  # Python 3.11 and later
    if exception_group is not None:
        group = exception_group("two failures", [WorkerCrashed("died", "calling forward"),
                                                 mismatch])
        assert describe_failure(group)[0] == "crashed"
    status, text = describe_failure(TypeError("unsupported operand"))
    assert status == "error" and "TypeError: unsupported operand" in text
    # raised while handling the student's failure: still the grader's own bug
    try:
        try:
            raise mismatch
        except Mismatch:
            # implicit chaining on purpose: `from` would make the handler's bug wrap the failure
            raise TypeError("bug in the grader's handler")  # noqa: B904
    except TypeError as exc:
        assert describe_failure(exc)[0] == "error"


# -- the suite draws its examples through property_check ------------------------------------------

SUITE = HW1.suite_dir


def property_tests():
    """(suite file, test name) of every test decorated with ``property_check``."""
    found = []
    for path in sorted(SUITE.rglob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "hypothesis":
                assert "given" not in [a.name for a in node.names], \
                    f"{path.name}: graded tests use checks.property_check, not given"
            if isinstance(node, ast.FunctionDef) and any(
                    isinstance(d, ast.Call) and getattr(d.func, "id", "") == "property_check"
                    for d in node.decorator_list):
                found.append((path.relative_to(SUITE).as_posix(), node.name))
    return found


_SELECTED = textwrap.dedent("""
    import json, shlex, sys
    import pytest
    from autograder.grading.assignment import find
    HW1 = find("hw1")
    SUITE_DIR = HW1.suite_dir
    from autograder.grading.outcomes import reproduce_command
    from autograder.grading.plugin import GraderPlugin
    from autograder.grading.rubric import load_rubric

    class Selected:  # what the run reports: a gate it runs unreported is not selected
        def pytest_collection_finish(self, session):
            self.items = [item.nodeid.split("suite/")[-1] for item in session.items
                          if not plugin.state.results[item.nodeid].gate_only]

    out = {}
    for module, function in json.loads(sys.argv[1]):
        keyword = shlex.split(reproduce_command(module, function))[4]
        selected = Selected()
        plugin = GraderPlugin(".", [t for t in load_rubric(HW1.rubric_path)
                                    if t.visibility == "visible"])
        pytest.main([str(SUITE_DIR), "-c", str(SUITE_DIR / "grader.ini"), "--rootdir",
                     str(SUITE_DIR), "--collect-only", "-q", "-p", "no:cacheprovider",
                     "-k", keyword],
                    plugins=[plugin, selected])
        out[f"{module}::{function}"] = selected.items
    print(json.dumps(out))
""")


def test_every_reproduce_command_selects_its_test_only():
    import json

    tests = property_tests()
    assert len(tests) >= 9  # Linear, five activations, BatchNorm, two losses, MLP4
    proc = subprocess.run([sys.executable, "-c", _SELECTED, json.dumps(tests)], cwd=REPO,
                          env=grader_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    selected = json.loads(proc.stdout.strip().splitlines()[-1])
    for name, items in selected.items():
        assert items == [name], (name, items)
