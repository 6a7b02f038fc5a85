"""Print pip constraints pinning every runtime dependency of pyproject.toml to its lower bound.

``numpy>=1.23`` becomes ``numpy==1.23``; an environment marker stays, so pip applies the pin only
where the dependency applies (``tomli`` on Python 3.10). A dependency without a lower bound is an
error: the oldest leg of .ci/run could not say what it tests.

    python .ci/lower_bounds.py pyproject.toml > constraints.txt
"""
import re
import sys

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

NAME = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
LOWER_BOUND = re.compile(r">=\s*([^,;\s]+)")


def lower_bound_pins(dependencies):
    pins = []
    for requirement in dependencies:
        spec, _, marker = requirement.partition(";")
        name, bound = NAME.match(spec), LOWER_BOUND.search(spec)
        if name is None or bound is None:
            raise SystemExit(f"lower_bounds.py: {requirement!r} has no lower bound (>=)")
        pin = f"{name.group(1)}=={bound.group(1)}"
        pins.append(f"{pin}; {marker.strip()}" if marker.strip() else pin)
    return pins


def main(path):
    with open(path, "rb") as fh:
        project = tomllib.load(fh)["project"]
    print("\n".join(lower_bound_pins(project["dependencies"])))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "pyproject.toml")
