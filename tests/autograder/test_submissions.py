"""The grader against a corpus of buggy, differently-correct and hostile submissions.

Every submission is a copy of the reference with a few text edits (``tests/submissions/buggy.py``),
graded by ``python -m autograder`` in a subprocess exactly as a student would run it. For each one
the exact set of failing test items, every task's score (from the rubric's weights) and the hint in
the feedback are checked. Faults and correct variants are graded in full (the table must list every
task); a bug is graded on the tasks its edit can reach (``-k``), to keep the run short.

The gradings run two at a time, once per session, for the variants selected.
"""
import concurrent.futures
import json
import os

import pytest

from tests.autograder.grader_runs import (
    REPO,
    TASK_IDS,
    check_scores,
    collect_item_shares,
    run_grader,
)
from tests.submissions.buggy import BUGS, CORRECT, FAULTS, apply_variant
from tests.submissions.real import REAL
from tests.submissions.verdicts import VERDICT_CASES

pytestmark = pytest.mark.slow  # the grader end to end: see pyproject's markers

VARIANTS = BUGS + CORRECT + FAULTS + REAL + VERDICT_CASES
BY_NAME = {v.name: v for v in VARIANTS}
assert len(BY_NAME) == len(VARIANTS), "variant names must be unique"
PARALLEL = max(1, min(2, os.cpu_count() or 1))


@pytest.fixture(scope="session")
def item_shares(tmp_path_factory):
    return collect_item_shares(tmp_path_factory.mktemp("collect") / "shares.json")


class Gradings:
    """name -> (folder, GraderRun); the first lookup grades every selected variant, 2 at a time."""

    def __init__(self, names, root):
        self.names, self.root, self.done = names, root, {}

    def grade(self, name):
        folder = apply_variant(BY_NAME[name], REPO, self.root / name)
        return name, (folder, run_grader(folder, folder / "results.json",
                                        BY_NAME[name].grader_args()))

    def __getitem__(self, name):
        if not self.done:
            todo = sorted(set(self.names) | {name},  # full runs (the hang first), then -k runs
                          key=lambda n: (bool(BY_NAME[n].tasks),
                                         "--timeout" not in BY_NAME[n].args, n))
            with concurrent.futures.ThreadPoolExecutor(PARALLEL) as pool:
                self.done.update(pool.map(self.grade, todo))
        if name not in self.done:
            self.done.update([self.grade(name)])
        return self.done[name]


@pytest.fixture(scope="session")
def graded(request, tmp_path_factory):
    names = {item.callspec.params["variant"].name for item in request.session.items
             if "variant" in getattr(getattr(item, "callspec", None), "params", {})}
    return Gradings(names, tmp_path_factory.mktemp("submissions"))


def test_every_edit_applies_to_the_reference(tmp_path):
    """Each edit's old text occurs exactly once in the reference (checked without grading)."""
    for variant in VARIANTS:
        folder = apply_variant(variant, REPO, tmp_path / variant.name)
        for e in variant.edits:
            assert e.new in (folder / e.path).read_text()


@pytest.mark.parametrize("variant", VARIANTS, ids=[v.name for v in VARIANTS])
def test_submission(variant, graded, item_shares):
    folder, run = graded[variant.name]
    check_scores(variant, run, item_shares)


def test_hang_costs_seconds_not_minutes(graded):
    _, run = graded["infinite_loop_in_method"]
    # 3 cases + a gradient check at 1 s each, plus restarts; a hang must not multiply by examples
    assert run.seconds < 45, run.describe()


def test_forged_results_and_prints_change_nothing(graded):
    folder, run = graded["forged_results_and_prints"]
    results = json.loads((folder / "results.json").read_text())
    assert results["score"] == 100 and len(results["tests"]) == len(TASK_IDS)
    assert "PASSED" not in run.stdout


def test_crash_feedback_says_what_happened(graded):
    _, run = graded["os_exit_in_method"]
    output = {t["number"]: t["output"] for t in run.results["tests"]}["2.2"]
    assert "restarted your code" in output
    assert "crashed" in run.stdout
