"""The ``requirements.txt`` shipped in the handout and the Gradescope zip: pyproject's own list."""
from . import PROJECT_ROOT

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib


def requirements_txt(root=PROJECT_ROOT):
    """The project's run-time dependencies, one per line, exactly as pyproject.toml declares them."""
    with open(root / "pyproject.toml", "rb") as fh:
        dependencies = tomllib.load(fh)["project"]["dependencies"]
    return "".join(f"{dep}\n" for dep in dependencies)
