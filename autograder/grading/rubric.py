"""Load and validate ``rubric.toml``; map pytest items to tasks and points."""
from dataclasses import dataclass, field
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

VISIBILITIES = ("visible", "hidden")


class RubricError(ValueError):
    pass


@dataclass
class Task:
    id: str
    title: str
    points: float
    tests: dict  # "module.py::test_name" -> weight
    regions: list = field(default_factory=list)
    visibility: str = "visible"
    # test -> {quantity ("": the whole test) -> the gates its points need: [(reference-output
    # test, its quantity or "")]}; see rubric.toml
    self_consistency: dict = field(default_factory=dict)


def load_rubric(path):
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise RubricError(f"{path}: {exc}") from None
    tasks, seen = [], set()
    for n, raw in enumerate(data.get("task", []), 1):
        where = f"{path.name}, task #{n}"
        for key in ("id", "title", "points", "tests"):
            if key not in raw:
                raise RubricError(f"{where}: missing field '{key}'")
        if raw["id"] in seen:
            raise RubricError(f"{where}: duplicate id {raw['id']!r}")
        seen.add(raw["id"])
        visibility = raw.get("visibility", "visible")
        if visibility not in VISIBILITIES:
            raise RubricError(f"{where}: visibility must be one of {VISIBILITIES}, "
                              f"got {visibility!r}")
        if not isinstance(raw["points"], (int, float)) or raw["points"] < 0:
            raise RubricError(f"{where}: points must be a non-negative number")
        if "hidden_tests" in raw:
            raise RubricError(f"{where}: 'hidden_tests' is gone: in instructor mode every "
                              "reference-output test runs on hidden cases by itself")
        tests = _weights(raw["tests"], where)
        gates = _gates(raw.get("self_consistency", {}), tests, where)
        tasks.append(Task(str(raw["id"]), raw["title"], float(raw["points"]), tests,
                          list(raw.get("regions", [])), visibility, gates))
    if not tasks:
        raise RubricError(f"{path}: no [[task]] entries")
    return tasks


def allowed_imports(path):
    """The top-level packages a submission may import besides the standard library (the rubric's
    ``allowed_imports``; NumPy when it does not say)."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise RubricError(f"{path}: {exc}") from None
    names = data.get("allowed_imports", ["numpy"])
    if not isinstance(names, list) or not all(isinstance(n, str) and n.isidentifier()
                                              for n in names):
        raise RubricError(f"{path.name}: allowed_imports must be a list of top-level package "
                          f"names, like [\"numpy\", \"scipy\"]; got {names!r}")
    return tuple(names)


def _weights(specs, where):
    tests = {}
    for spec in specs:
        name, _, weight = spec.partition("@")
        if "::" not in name:
            raise RubricError(f"{where}: test {spec!r} must look like 'module.py::test_name'")
        try:
            tests[name] = float(weight) if weight else 1.0
        except ValueError:
            raise RubricError(f"{where}: bad weight in {spec!r}") from None
    return tests


def _gates(table, tests, where):
    """{test: {quantity or "": [(gate test, gate quantity or "")]}} from the rubric's table."""
    if not isinstance(table, dict):
        raise RubricError(f"{where}: self_consistency must be a table {{test = [gate, ...]}}")
    gates = {}
    for name, specs in table.items():
        test, _, quantity = name.partition("#")
        if test not in tests:
            raise RubricError(f"{where}: self-consistency test {test!r} "
                              "is not in this task's tests")
        if isinstance(specs, str):
            specs = [specs]
        if not specs or not all(isinstance(s, str) and "::" in s for s in specs):
            raise RubricError(f"{where}: the gates of {name!r} must be a non-empty list of "
                              "'module.py::test_name' or 'module.py::test_name#quantity'")
        gates.setdefault(test, {})[quantity] = [tuple(s.partition("#")[::2]) for s in specs]
    return gates


def test_key(nodeid):
    """'test_linear.py::test_forward[hidden-case0]' -> 'test_linear.py::test_forward'."""
    return nodeid.split("[", 1)[0]
