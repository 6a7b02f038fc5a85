"""The audit tool and what it measures: every branch of every solution region runs under the public
tests (principle 4), the mutation operators reach every region, and the public suite kills the
mutants of a quick sample."""
import ast

import pytest

from autograder.grading.assignment import course, find
from autograder.grading.rubric import load_rubric
from autograder.instructor import audit, audit_report, mutations, region_coverage

pytestmark = pytest.mark.slow  # the grader end to end: see pyproject's markers


@pytest.mark.skipif(not region_coverage.AVAILABLE, reason="branch coverage reads bytecode "
                    "positions (Python 3.11+); the main and newest CI legs measure it")
@pytest.mark.parametrize("name", [a.name for a in course()])
def test_every_line_and_branch_of_the_solution_regions_runs_under_the_public_suite(name):
    cov = region_coverage.measure_coverage(assignment=find(name))
    assert cov.lines > 50 and cov.branches > 10  # (the regions were found)
    assert cov.missing == [], "\n".join(cov.missing)
    assert cov.fraction == 1.0


def test_coverage_sees_a_branch_that_does_not_run(tmp_path):
    """The measurement could fail: a branch no public test takes is reported."""
    tree = ast.parse("def f(x):\n    if x:\n        return 1\n    return 2\n")
    region = mutations.Region("m.py", "f", 2, 3, "0.0")
    kinds = [(d, k) for d, k, _ in region_coverage._branch_points(tree, region)]
    assert ("if at line 2 taken", "lines") in kinds and ("if at line 2 not taken", "skip") in kinds


@pytest.fixture(scope="module")
def mutants():
    return mutations.generate_mutants()


def test_mutants_cover_every_region_and_operator(mutants):
    regions = {f"{r.path}:{r.qualname}" for r in mutations.find_regions()}
    assert {m.region for m in mutants} == regions
    operators = {m.operator for m in mutants}
    for op in ("transpose", "sign", "sum/mean", "axis", "dropped factor", "dropped term",
               "cached tensor", "missing store", "in-place input", "eps misplaced", "branch",
               "order", "keepdims", "accumulate", "dropped output"):
        assert op in operators, op
    assert len({m.source for m in mutants}) == len(mutants)  # no duplicates
    for m in mutants:  # every change is inside the region it is attributed to
        changed = [line for line in m.diff.splitlines()[2:] if line[:1] in "+-"]
        assert changed, m


def test_quick_audit_kills_its_sample(mutants):
    """What CI runs: a sample spread over the operators, graded like submissions."""
    chosen = audit.sample(mutants, 12, seed=1)
    assert len({m.operator for m in chosen}) == 12
    verdicts = audit.run_audit(chosen, jobs=2)
    summary = audit_report.summary(verdicts)
    assert summary["errors"] == 0, [v.error for v in verdicts if v.error]
    assert summary["killed"] >= len(chosen) - summary["equivalent"], audit_report.render(verdicts)
    assert summary["points_charged_elsewhere"] == 0, audit_report.render(verdicts)


@pytest.mark.parametrize("name", [a.name for a in course()])
def test_every_equivalent_entry_names_a_mutant(name):
    """Each assignment's equivalent mutants stay true to the reference: each entry matches one."""
    assignment = find(name)
    mutants = mutations.generate_mutants(assignment=assignment)
    entries = audit_report.equivalent_entries([assignment])
    assert entries  # (the data file was read)
    for entry in entries:
        region, description = entry[:2]
        matched = [m for m in mutants if m.region == region and m.description == description
                   and audit_report.equivalence(m)]
        assert matched, entry


# What the full audit of HW2 (every mutant of its solution regions, graded with its public suite)
# must reach: mutants caught, no point charged outside a mutant's own task, and the share of the
# caught mutants whose own task's feedback names the mistake. Most of the others crash with a
# NumPy shape error, whose traceback is the feedback (no hint is given unless verified).
HW2_GOALS = {"score": 0.98, "hinted": 0.19}


def test_the_hw2_audit_meets_its_goals():
    hw2 = find("hw2")
    mutants = mutations.generate_mutants(assignment=hw2)
    assert {m.task for m in mutants} == {t.id for t in load_rubric(hw2.rubric_path)}
    verdicts = audit.run_audit(mutants, jobs=2, assignment=hw2.name)
    summary = audit_report.summary(verdicts)
    assert summary["errors"] == 0, [v.error for v in verdicts if v.error]
    assert summary["score"] >= HW2_GOALS["score"], audit_report.render(verdicts)
    assert summary["points_charged_elsewhere"] == 0, audit_report.render(verdicts)
    assert summary["hinted"] >= HW2_GOALS["hinted"] * summary["killed"], \
        audit_report.render(verdicts, show_hints=True)
