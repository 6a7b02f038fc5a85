"""The score's integrity: points only for work done, final grades from the secret, hidden results
that stay hidden (see autograder/grading/plugin.py and the `self_consistency` entries of
rubric.toml).

Each attack is written for real in ``tests/submissions/forgers.py`` and graded by the real grader.
"""
import re

import numpy as np
import pytest

from autograder.grading.assignment import find
from autograder.grading.plugin import GraderPlugin
from autograder.grading.rubric import RubricError, load_rubric
from autograder.instructor.gradescope import student_view
from autograder.instructor.handout import build_handout
from tests.autograder.grader_runs import item_results, run_grader
from tests.submissions import forgers

HW1 = find("hw1")

pytestmark = pytest.mark.slow  # the grader end to end: see pyproject's markers

SECRETS = ("integrity-test-secret-4", "integrity-test-secret-12")


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """grade(kind, secret index or None, *args) -> (results.json, submission folder), cached."""
    root = tmp_path_factory.mktemp("integrity")
    starter = build_handout(root / "build" / "handout") / "mytorch"
    makers = {"starter": lambda dest: forgers.copy_of(starter, dest),
              "zeros": lambda dest: forgers.zeros(starter, dest),
              "lookup": lambda dest: forgers.lookup(starter, dest),
              "recorder": lambda dest: forgers.recorder(forgers.REPO, dest),
              "bn_recorder": lambda dest: forgers.bn_recorder(forgers.REPO, dest),
              "reference": lambda dest: forgers.copy_of(forgers.REPO / "mytorch", dest)}
    secret_files = []
    for n, secret in enumerate(SECRETS):
        secret_files.append(root / f"secret{n}.txt")
        secret_files[-1].write_text(secret + "\n")
    cache = {}

    def grade(kind, secret=None, *args):
        key = (kind, secret, args)
        if key not in cache:
            dest = root / f"{kind}-{secret}-{len(cache)}"
            makers[kind](dest)
            extra = ("--hidden", "--secret-file", str(secret_files[secret])) \
                if secret is not None else ()
            run = run_grader(dest, dest.parent / f"{dest.name}.json", extra + args)
            assert run.returncode in (0, 1) and run.results is not None, run.describe()
            cache[key] = (run.results, dest)
        return cache[key]
    return grade


def statuses(results):
    return {name: record["status"] for records in item_results(results).values()
            for name, record in records.items()}


# -- points only for work done --------------------------------------------------------------------
def test_zeros_score_nothing_and_are_told_why(graded):
    results, _ = graded("zeros")
    assert results["score"] == 0, [(t["name"], t.get("score")) for t in results["tests"]
                                   if t.get("score")]
    status = statuses(results)
    # the gradient checks pass on their own (zeros agree with zeros) and are withheld, with why
    assert status["test_linear.py::test_gradient_check"] == "withheld"
    assert status["test_activation.py::test_tanh_gradient_check"] == "withheld"
    linear = next(t for t in results["tests"] if t["number"] == "1.2")
    # gated quantity by quantity: each gradient behind the reference-output check of the same one
    assert "withheld: dLdA is right even for code that does nothing" in linear["output"]
    assert "test_linear.py::test_backward (dLdA) does not pass on case0" in linear["output"]
    # a quantity that doing nothing leaves right (eval mode keeps the running statistics)
    eval_items = [r for n, r in item_results(results)["5.1"].items() if "forward_eval" in n]
    assert eval_items and all(q["passed"] is False and q.get("withheld")
                              for r in eval_items for q in r["quantities"]
                              if q["name"].startswith("self.running"))


def test_zeros_score_nothing_on_hidden_cases(graded):
    results, _ = graded("zeros", 0)
    assert results["score"] == 0, [(t["name"], t.get("score")) for t in results["tests"]
                                   if t.get("score")]


def test_a_table_of_the_public_cases_earns_only_what_the_starter_earns(graded):
    starter, _ = graded("starter", 0)
    lookup, _ = graded("lookup", 0)
    assert lookup["score"] == starter["score"] == 0
    # the public cases are still run and reported, for no points
    records = [r for t in lookup["tests"] for r in t["extra_data"]["tests"]]
    secret_drawn = {r["name"].split("[")[0] for r in records if "[hidden-case" in r["name"]}
    public = [r for r in records if r["name"].split("[")[0] in secret_drawn
              and "[hidden-case" not in r["name"]]
    assert len(secret_drawn) >= 15 and public and all(r["max_score"] == 0 for r in public)
    # the attack is real: without --hidden, every handout case of those tests is answered (but
    # what Linear.forward stores, which the table does not give, and the MLP tasks', which compare
    # the model with the submission's own layers one by one: no table of model outputs answers that)
    local, _ = graded("lookup")
    answered = [r for t in local["tests"] for r in t["extra_data"]["tests"]
                if r["name"].split("[")[0] in secret_drawn
                and not r["name"].startswith(("test_mlp", "test_linear.py::test_forward_stores"))]
    assert len(answered) >= 40 and all(r["status"] == "passed" for r in answered), [
        r["name"] for r in answered if r["status"] != "passed"]


@pytest.mark.parametrize("secret", [None, 0])
def test_batchnorm_state_the_grader_sets_answers_no_check(graded, secret):
    # BatchNorm's backward tests once set the reference's forward results on the student's object
    # after its forward on a checked input: a table of them earned Task 5.1 with no arithmetic
    from autograder.grading.case_store import load_cases
    from autograder.instructor.hidden import hidden_cases

    results, folder = graded("bn_recorder", secret)
    scores = {t["number"]: t.get("score", 0) for t in results["tests"]}
    tasks = {t["number"] for t in results["tests"]}
    assert {"5.1", "5.2"} <= tasks and all(
        score == 0 for number, score in scores.items() if number in ("5.1", "5.2")), scores
    if secret is not None:  # the hidden rows too
        assert [t for t in results["tests"] if t["number"] == "5.1"
                and t["visibility"] != "visible"]
    seen = forgers.read_bn_log(folder)
    sets = [(what, a) for what, a in seen if what.startswith("set ")]
    assert {"set NZ", "set BZ", "set running_M"} <= {what for what, _ in sets}  # it was there
    cases = load_cases("batchnorm", HW1.cases_dir)
    if secret is not None:
        cases = cases + hidden_cases(SECRETS[secret])["batchnorm"]
    outputs = [(key, c[key]) for c in cases for key in
               ("BZ", "NZ", "running_M", "running_V", "BZ_eval", "NZ_eval")]
    leaks = {(what, key) for what, a in seen for key, e in outputs
             if a.shape == e.shape and np.allclose(a, e, rtol=0, atol=1e-12)}
    assert len(seen) > 100 and not leaks, leaks


def test_the_reference_scores_full_marks_and_gates_run_under_k(graded):
    results, _ = graded("reference", 0)
    assert results["score"] == 100
    hidden = [t for t in results["tests"] if t["visibility"] != "visible"]
    assert hidden and sum(t.get("score", 0) for t in hidden) == pytest.approx(100 - sum(
        t.get("score", 0) for t in results["tests"] if t["visibility"] == "visible"))
    # -k task1_2 leaves test_forward (task 1.1, the gate) out of the report, not out of the run
    only, _ = graded("reference", None, "-k", "task1_2")
    assert [t["number"] for t in only["tests"]] == ["1.2"] and only["score"] == 10
    zeros, _ = graded("zeros", None, "-k", "task1_2")
    assert statuses(zeros)["test_linear.py::test_gradient_check"] == "withheld"


# -- hidden results stay hidden --------------------------------------------------------------------
def test_hidden_cases_run_last_in_a_worker_of_their_own(graded):
    from autograder.instructor.hidden import hidden_cases

    _, folder = graded("recorder", 0)
    seen = forgers.read_seen_log(folder)
    secret_inputs = {forgers.digest(case["Z"]) for case in hidden_cases(SECRETS[0])["tanh"]}
    is_hidden = [digest in secret_inputs for _, digest in seen]
    assert secret_inputs <= {digest for _, digest in seen}
    first_hidden = is_hidden.index(True)
    assert not any(is_hidden[:first_hidden]) and all(is_hidden[first_hidden:])
    assert {pid for pid, _ in seen[:first_hidden]}.isdisjoint(
        pid for pid, _ in seen[first_hidden:])


def test_what_students_see_does_not_depend_on_the_secret(graded):
    one, _ = graded("recorder", 0)
    two, _ = graded("recorder", 1)
    assert one["score"] != 0 and any(t["visibility"] != "visible" for t in one["tests"])
    # the recorder leaks what it saw through MSELoss's visible feedback: the visible tests only
    mse = next(t for t in one["tests"] if t["number"] == "3.1" and t["visibility"] == "visible")
    assert "seen in memory: ['" in mse["output"]
    assert student_view(one) == student_view(two)
    assert "score" not in student_view(one) and "stdout" not in student_view(one)
    # once published, everything is there, hidden rows and total included
    assert student_view(one, published=True)["score"] == one["score"]
    assert len(student_view(one, published=True)["tests"]) == len(one["tests"])


def test_the_visible_text_gives_the_visible_rows_only(graded):
    for kind in ("recorder", "lookup"):
        results, _ = graded(kind, 0)
        visible = [t for t in results["tests"] if t["visibility"] == "visible"]
        shown = re.findall(r"(\d+(?:\.\d+)?) / (\d+(?:\.\d+)?)", results["output"])
        assert shown == [(f"{sum(t.get('score', 0) for t in visible):g}",
                          f"{sum(t.get('max_score', 0) for t in visible):g}")], results["output"]


def test_grader_problems_of_the_hidden_phase_go_with_the_hidden_rows():
    tasks = load_rubric(HW1.rubric_path)
    plugin = GraderPlugin(".", tasks, hidden_cases={})
    plugin.state.errors.append("visible problem")
    plugin.begin_hidden_phase()
    plugin.state.errors.append("Traceback ... ValueError: hidden input [[0.25, 1.5]]")
    plugin.settle()
    assert plugin.state.hidden_errors == ["Traceback ... ValueError: hidden input [[0.25, 1.5]]"]
    assert plugin.state.errors[0] == "visible problem"
    assert "0.25" not in "".join(plugin.state.errors) and len(plugin.state.errors) == 2


# -- the rubric's rules ----------------------------------------------------------------------------
def test_every_gradient_check_is_gated():
    # gated as a whole, or quantity by quantity (Linear's: dLdA, dLdW, dLdb each behind its own)
    tasks = load_rubric(HW1.rubric_path)
    gated = {test for task in tasks for test, q in task.self_consistency.items() if q}
    checks = {test for task in tasks for test in task.tests if "gradient_check" in test}
    assert checks and checks <= gated


@pytest.mark.parametrize("entry, problem", [
    ('hidden_tests = ["test_linear.py::test_forward"]', "'hidden_tests' is gone"),
    ('[task.self_consistency]\n"test_linear.py::test_other" = ["test_linear.py::test_forward"]',
     "is not in this task's tests"),
    ('[task.self_consistency]\n"test_linear.py::test_forward" = []', "non-empty list"),
])
def test_rubric_mistakes_are_named(tmp_path, entry, problem):
    path = tmp_path / "rubric.toml"
    path.write_text('[[task]]\nid = "1.1"\ntitle = "t"\npoints = 1\n'
                    f'tests = ["test_linear.py::test_forward"]\n{entry}\n')
    with pytest.raises(RubricError, match=re.escape(problem)):
        load_rubric(path)
