"""The rubric's ``allowed_imports``: what a submission may import besides the standard library.
An instructor who allows SciPy gets it into the handout's and the Gradescope bundle's
requirements.txt, and submissions using it are graded normally."""
import shutil
from pathlib import Path

import pytest

from autograder.grading.assignment import find
from autograder.grading.rubric import RubricError, allowed_imports
from autograder.grading.runner import grade
from autograder.instructor.requirements import requirements_txt
from tests.submissions.buggy import ACT, Variant, apply_variant, edit

HW1 = find("hw1")

REPO = Path(__file__).resolve().parents[3]

pytestmark = pytest.mark.slow  # the grader end to end: see pyproject's markers


def project_with(tmp_path, allowed_line):
    rubric = tmp_path / HW1.rubric_path.relative_to(REPO)
    rubric.parent.mkdir(parents=True)
    shutil.copy(REPO / "pyproject.toml", tmp_path)
    text = HW1.rubric_path.read_text()
    assert text.count('allowed_imports = ["numpy"]\n') == 1
    rubric.write_text(
        text.replace('allowed_imports = ["numpy"]\n', allowed_line + "\n"))
    return tmp_path


def test_the_default_is_numpy_and_requirements_are_pyprojects(tmp_path):
    assert allowed_imports(HW1.rubric_path) == ("numpy",)
    root = project_with(tmp_path, "")
    assert allowed_imports(root / HW1.rubric_path.relative_to(REPO)) == ("numpy",)
    assert requirements_txt(root) == requirements_txt(REPO)
    assert "scipy" not in requirements_txt(REPO)


def test_an_allowed_package_joins_the_requirements(tmp_path):
    root = project_with(tmp_path, 'allowed_imports = ["numpy", "scipy", "sklearn"]')
    lines = requirements_txt(root).splitlines()
    assert lines[-2:] == ["scipy", "scikit-learn"]
    assert sum(line.startswith("numpy") for line in lines) == 1


@pytest.mark.parametrize("value", ['"numpy"', '["numpy", 3]', '["not a name"]'])
def test_a_malformed_list_is_a_clear_error(tmp_path, value):
    root = project_with(tmp_path, f"allowed_imports = {value}")
    with pytest.raises(RubricError, match="allowed_imports must be a list"):
        allowed_imports(root / HW1.rubric_path.relative_to(REPO))


def test_a_submission_using_an_allowed_package_is_graded_normally(tmp_path):
    pytest.importorskip("scipy", reason="SciPy is not installed here: nothing to allow")
    root = project_with(tmp_path / "project", 'allowed_imports = ["numpy", "scipy"]')
    rubric = root / HW1.rubric_path.relative_to(REPO)
    scipy_gelu = Variant("scipy", "GELU with SciPy's erf", (
        edit(ACT, "import numpy as np\n", "import numpy as np\nfrom scipy.special import erf\n"),
        edit(ACT, "        self.A = 0.5 * Z * (1.0 + _erf(Z / math.sqrt(2.0)))\n",
             "        self.A = 0.5 * Z * (1.0 + erf(Z / math.sqrt(2.0)))\n")))
    folder = apply_variant(scipy_gelu, REPO, tmp_path / "submission")
    allowed = grade(folder, keyword="task2_4", rubric_path=rubric)
    assert not allowed.problems and allowed.score == allowed.max_score == 3
    refused = grade(folder, keyword="task2_4")
    assert refused.score == 0 and "imports scipy" in refused.problems[0]
