"""Nothing of the hidden phase reaches what a student sees before grades are published.

The leaker (``tests/submissions/leakers.py``) records every number the grader sends it and, in the
hidden phase's worker, shows them every way student code can: exceptions, frame names, prints, and a
module that fails to import. Graded as Gradescope grades (``--hidden``), none of the hidden cases'
numbers may appear in the visible part of results.json (``student_view``) or above the console's
table; they do appear in the hidden rows, which shows the attack is real.
"""
import json

import pytest

from autograder.grading.assignment import find
from autograder.instructor.gradescope import student_view
from autograder.instructor.hidden import hidden_cases
from tests.autograder.grader_runs import REPO, run_grader
from tests.submissions import leakers

pytestmark = pytest.mark.slow  # the grader end to end: see pyproject's markers

SECRET = "leak-test-secret-7"
HW1 = find("hw1")


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("leaks")
    folder = leakers.leaker(REPO, root / "leaker")
    (root / "secret.txt").write_text(SECRET + "\n")
    run = run_grader(folder, root / "results.json", ("--hidden", "--secret-file",
                                                     str(root / "secret.txt")))
    assert run.returncode in (0, 1) and run.results is not None, run.describe()
    return run, folder


def hidden_tokens(components=None):
    out = set()
    for component, cases in hidden_cases(SECRET).items():
        if components is None or component in components:
            for case in cases:
                for value in case.values():
                    out |= leakers.tokens(value)
    return out


def test_the_leaker_saw_hidden_inputs_and_showed_them_in_the_hidden_rows(graded):
    run, folder = graded
    linear = hidden_tokens({"linear"})
    assert linear & {t for x in leakers.logged(folder) for t in leakers.tokens(x)}
    published = json.dumps(student_view(run.results, published=True))
    assert linear & {t for t in hidden_tokens() if t in published}  # the attack is real
    sgd_rows = [t for t in run.results["tests"] if t["number"] == "4.1"
                and t["visibility"] != "visible"]
    assert any("importing mytorch.optim.sgd saw:" in t["output"] for t in sgd_rows), sgd_rows


def test_nothing_of_the_hidden_phase_is_visible_before_publication(graded):
    run, _ = graded
    shown = json.dumps(student_view(run.results))
    leaked = {t for t in hidden_tokens() if t in shown}
    assert not leaked, sorted(leaked)[:10]
    assert "importing mytorch.optim.sgd" not in shown and "Importing your code failed" not in shown
    # the console above the table (what `check` prints first: the submission's problems)
    head = run.stdout.split("\nTask ", 1)[0]
    assert not {t for t in hidden_tokens() if t in head}
    # the top line tells the visible phase's story (what is graded now, what after the deadline)
    assert run.results["output"].startswith("Graded now: ")
