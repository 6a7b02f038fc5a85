"""The grader on the reference solution, its command line, and the committed fixtures.

The gradings run as subprocesses (``python -m autograder``, as students and Gradescope run it), all
of this module's at once, two at a time.
"""
import concurrent.futures
import json
import os
import re
import shlex

import numpy as np
import pytest

from autograder.grading.assignment import find
from tests.autograder.grader_runs import REPO, TASK_IDS, rubric_points, run_grader
from tests.submissions.buggy import BUGS, apply_variant

HW1 = find("hw1")

pytestmark = pytest.mark.slow  # the grader end to end: see pyproject's markers

PARALLEL = max(1, min(2, os.cpu_count() or 1))
GRADESCOPE_VISIBILITY = {"hidden", "after_due_date", "after_published", "visible"}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("reference-runs")
    buggy = apply_variant(next(v for v in BUGS if v.name == "linear_dLdb_averaged"), REPO,
                          tmp / "buggy")
    (tmp / "no-mytorch").mkdir()
    plan = {
        "full": (REPO, True, ()),
        "full_again": (REPO, True, ("--fail-under", "100")),
        # warnings as errors in the grader's process: none may come from the grader's own code
        "warnings_error_flag": (REPO, True, (), {"python_args": ("-W", "error")}),
        "warnings_error_env": (REPO, True, (), {"env": {"PYTHONWARNINGS": "error"}}),
        "softmax_only": (REPO, True, ("-k", "task2_5")),
        "linear_only": (REPO, True, ("-k", "linear")),
        "under": (REPO, True, ("-k", "task2_1", "--fail-under", "100.5")),  # 2 of 2 = 100 %
        "buggy": (buggy, True, ("-k", "task1_2")),
        "buggy_again": (buggy, True, ("-k", "task1_2")),
        "buggy_rerun": (buggy, True, RERUN_LINEAR_GRADIENT_CHECK),
        "missing": (tmp / "does-not-exist", False, ()),
        "no_mytorch": (tmp / "no-mytorch", False, ()),
    }

    def go(name):
        folder, want_json, args, *options = plan[name]
        return name, run_grader(folder, tmp / f"{name}.json" if want_json else None, args,
                                **(options[0] if options else {}))

    with concurrent.futures.ThreadPoolExecutor(PARALLEL) as pool:
        return dict(pool.map(go, plan))


def test_reference_gets_full_marks(runs):
    run = runs["full"]
    assert run.returncode == 0, run.describe()
    assert run.results["score"] == 100
    assert re.search(r"^Total\s+100 / 100$", run.stdout, re.M), run.stdout
    assert "grader problem" not in run.stdout
    for task in TASK_IDS:
        assert re.search(rf"^{re.escape(task)} .* passed$", run.stdout, re.M), run.stdout


@pytest.mark.parametrize("name", ["warnings_error_flag", "warnings_error_env"])
def test_warnings_as_errors_change_nothing(runs, name):
    """`python -W error` / PYTHONWARNINGS=error: the grader's own code warns about nothing."""
    run = runs[name]
    assert run.returncode == 0, run.describe()
    assert run.results["score"] == 100
    assert "grader problem" not in run.stdout + run.stderr
    assert scores(run) == scores(runs["full"])


def test_results_json_schema(runs):
    results = runs["full"].results
    for key, kind in [("score", (int, float)), ("execution_time", (int, float)),
                      ("output", str), ("tests", list)]:
        assert isinstance(results[key], kind), key
    assert results["execution_time"] > 0
    points = rubric_points()
    assert [t["number"] for t in results["tests"]] == TASK_IDS
    for test in results["tests"]:
        assert {"name", "number", "score", "max_score", "status", "output",
                "visibility"} <= test.keys()
        assert re.fullmatch(r"\d+\.\d+", test["number"])
        assert test["name"].startswith(test["number"] + " ")
        assert test["max_score"] == points[test["number"]]
        assert test["score"] == test["max_score"] and test["status"] == "passed"
        assert test["visibility"] in GRADESCOPE_VISIBILITY
        assert isinstance(test["output"], str)
    assert sum(t["score"] for t in results["tests"]) == pytest.approx(results["score"])
    assert results.get("output_format", "text") in {"text", "html", "simple_format", "md", "ansi"}
    # what the console notes (no privilege drop as root, a missing sandbox) describes the machine:
    # data for the instructor's tools, never the text students read
    for note in re.findall(r"^note: (.*)$", runs["full"].stdout, re.M):
        assert note in results["extra_data"]["notes"] and note not in results["output"]


def scores(run):
    return [(t["number"], t["score"], t["status"], t["output"]) for t in run.results["tests"]]


def test_deterministic(runs):
    """Same submission, same result — also the failing property-based checks' examples."""
    assert runs["full_again"].returncode == 0  # --fail-under 100 with 100 points
    assert scores(runs["full"]) == scores(runs["full_again"])
    first, second = runs["buggy"], runs["buggy_again"]
    assert first.results["score"] < 10, first.describe()
    assert scores(first) == scores(second)


FAILING_EXAMPLE = re.compile(r"^ +Failing example: (test_gradient_check\(shape=\(\d, \d\), "
                             r"c_out=\d, seed=\d+\))$", re.M)
RERUN_LINEAR_GRADIENT_CHECK = ("-k", "test_linear and test_gradient_check", "-v")


def gradient_check_feedback(run):
    return run.results["tests"][0]["output"].split("::test_gradient_check ")[1].split("\n\n")[0]


def test_failing_example_is_shown_with_the_command_that_repeats_it(runs):
    """The grader records the drawn arguments itself and says how to run that check again; the
    command it prints meets the same example."""
    feedback = gradient_check_feedback(runs["buggy"])
    example = FAILING_EXAMPLE.search(feedback)
    assert example, feedback
    command = 'python -m autograder -k "test_linear and test_gradient_check" -v'
    assert f"Run it again: {command}" in feedback
    assert shlex.split(command)[3:] == list(RERUN_LINEAR_GRADIENT_CHECK)  # what buggy_rerun ran
    rerun = runs["buggy_rerun"]
    # only that check runs; dLdA and dLdW are right, so it earns their share and loses dLdb's
    [row] = rerun.results["tests"]
    assert row["number"] == "1.2" and 0 < row["score"] < row["max_score"], rerun.describe()
    assert re.findall(r"^== .*\[(?:failed|partial)\]$", rerun.stdout, re.M) == \
        ["== 1.2 Linear: backward: test_linear.py::test_gradient_check [partial]"], rerun.stdout
    assert FAILING_EXAMPLE.search(gradient_check_feedback(rerun)).group(1) == example.group(1)


def test_keyword_selection(runs):
    softmax = runs["softmax_only"]
    assert softmax.returncode == 0, softmax.describe()
    assert [t["number"] for t in softmax.results["tests"]] == ["2.5"]
    assert softmax.results["score"] == 5
    assert re.search(r"^Total\s+5 / 5$", softmax.stdout, re.M)
    assert not re.search(r"^1\.1 ", softmax.stdout, re.M)
    linear = runs["linear_only"]
    assert [t["number"] for t in linear.results["tests"]] == ["1.1", "1.2"]
    assert linear.results["score"] == 15


def test_fail_under_exit_codes(runs):
    under = runs["under"]
    assert under.results["score"] == 2  # Sigmoid is worth 2 points
    assert under.returncode == 1, under.describe()
    assert runs["full_again"].returncode == 0


@pytest.mark.parametrize("name,message", [("missing", "does not exist"),
                                          ("no_mytorch", "has no mytorch/ folder")])
def test_unusable_submission_folder_is_a_clear_error(runs, name, message):
    run = runs[name]
    assert run.returncode == 2, run.describe()
    assert run.stderr.startswith("error: ") and message in run.stderr
    assert "Traceback" not in run.stderr + run.stdout


def test_committed_fixtures_equal_a_fresh_generation(tmp_path):
    from autograder.grading.case_store import load_cases
    from autograder.instructor.case_writer import DEFAULT_SEED, write_public_cases
    from autograder.instructor.reference import load_reference

    written = write_public_cases(load_reference(), HW1, out_dir=tmp_path)
    fresh_names = sorted(p.name for p in written)
    committed = sorted(p.name for p in HW1.cases_dir.glob("*.npz"))
    assert fresh_names == committed
    assert json.loads((HW1.cases_dir / "meta.json").read_text())["seed"] == DEFAULT_SEED
    for name in committed:
        component = name[:-len(".npz")]
        fresh, stored = load_cases(component, tmp_path), load_cases(component, HW1.cases_dir)
        assert len(fresh) == len(stored), component
        for i, (f, s) in enumerate(zip(fresh, stored)):
            assert f.keys() == s.keys(), (component, i)
            for key in f:
                assert f[key].shape == s[key].shape, (component, i, key)
                # BLAS may round differently on another machine; a real change is O(1)
                np.testing.assert_allclose(f[key], s[key], rtol=1e-12, atol=1e-13,
                                           err_msg=f"{component} case {i} {key}: the committed "
                                           "fixtures differ from `python -m autograder cases`")


def test_two_generations_on_one_machine_are_byte_identical(tmp_path):
    """Seeded, with fixed zip dates (np.savez writes 1980-01-01): the same machine writes the same
    bytes. (Another machine may differ in the last bit: see the README.)"""
    from autograder.instructor.case_writer import write_public_cases
    from autograder.instructor.reference import load_reference

    first = write_public_cases(load_reference(), HW1, out_dir=tmp_path / "first")
    second = write_public_cases(load_reference(), HW1, out_dir=tmp_path / "second")
    assert [p.name for p in first] == [p.name for p in second]
    for a, b in zip(first + [tmp_path / "first" / "meta.json"],
                    second + [tmp_path / "second" / "meta.json"]):
        assert a.read_bytes() == b.read_bytes(), a.name
