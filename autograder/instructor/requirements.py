"""The ``requirements.txt`` shipped in the handout and the Gradescope zip: pyproject's own list,
plus what the rubric lets submissions import (``allowed_imports``) beyond it."""
import re
from pathlib import Path

from ..grading.assignment import find
from ..grading.rubric import allowed_imports
from . import PROJECT_ROOT

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

# import name -> the distribution pip installs it from, where the two differ
DISTRIBUTIONS = {"sklearn": "scikit-learn", "PIL": "pillow", "yaml": "pyyaml",
                 "cv2": "opencv-python", "skimage": "scikit-image"}


def requirements_txt(root=PROJECT_ROOT, assignment=None):
    """The project's run-time dependencies, one per line, exactly as pyproject.toml declares them,
    then each package the rubric allows submissions to import that they do not already name."""
    with open(root / "pyproject.toml", "rb") as fh:
        dependencies = tomllib.load(fh)["project"]["dependencies"]
    declared = {re.split(r"[\s<>=!~;\[]", dep, maxsplit=1)[0].lower() for dep in dependencies}
    assignment = assignment or find()
    rubric = Path(root) / assignment.rubric_path.relative_to(PROJECT_ROOT)
    extra = [DISTRIBUTIONS.get(name, name) for name in allowed_imports(rubric)]
    extra = [name for name in dict.fromkeys(extra) if name.lower() not in declared]
    return "".join(f"{dep}\n" for dep in list(dependencies) + extra)
