"""Running ``python -m autograder`` as a subprocess and reading what it reports, for the tests of
the grader (``from tests.autograder.grader_runs import run_grader``)."""
import json
import os
import re
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

from autograder.grading.assignment import find

HW1 = find("hw1")

REPO = Path(__file__).resolve().parents[2]


def _visible_task_ids():
    from autograder.grading.rubric import load_rubric

    return [t.id for t in load_rubric(HW1.rubric_path) if t.visibility == "visible"]


TASK_IDS = _visible_task_ids()


@dataclass
class GraderRun:
    args: list
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    results: dict | None

    def describe(self):
        return (f"$ {' '.join(map(str, self.args))}\nexit {self.returncode} after "
                f"{self.seconds:.1f} s\n--- stdout\n{self.stdout[-6000:]}\n--- stderr\n"
                f"{self.stderr[-3000:]}")


def grader_env():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "HYPOTHESIS"))}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    # As root the grader would try to run student code as `nobody` when that user can read the
    # submission; these tests want the same behaviour everywhere (tests/instructor covers the drop).
    env["MYTORCH_GRADER_USER"] = "none"
    return env


def run_grader(submission, json_path=None, args=(), timeout=600, env=None, python_args=(),
               cwd=REPO):
    """``python PYTHON_ARGS -m autograder --submission SUBMISSION [--json JSON_PATH] ARGS``, from
    ``cwd`` (the repo: its grader is the one run).

    The grader gets a session of its own, so that a submission signalling the grader's process
    group could never reach the test run. ``env`` adds variables to the grader's environment."""
    cmd = [sys.executable, *python_args, "-m", "autograder", "--submission", str(submission)]
    if json_path is not None:
        cmd += ["--json", str(json_path)]
    cmd += list(args)
    start = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=cwd,
                          env=dict(grader_env(), **(env or {})), stdin=subprocess.DEVNULL,
                          start_new_session=os.name == "posix")
    seconds = time.monotonic() - start
    results = None
    if json_path is not None and Path(json_path).is_file():
        results = json.loads(Path(json_path).read_text(encoding="utf-8"))
    return GraderRun(cmd, proc.returncode, proc.stdout, proc.stderr, seconds, results)


_COLLECT = textwrap.dedent("""
    import json, sys
    import pytest
    from autograder.grading.assignment import find
    HW1 = find("hw1")
    SUITE_DIR = HW1.suite_dir
    from autograder.grading.plugin import GraderPlugin
    from autograder.grading.rubric import load_rubric

    tasks = [t for t in load_rubric(HW1.rubric_path) if t.visibility == "visible"]
    plugin = GraderPlugin(".", tasks)
    code = pytest.main([str(SUITE_DIR), "-c", str(SUITE_DIR / "grader.ini"), "--rootdir",
                        str(SUITE_DIR), "--collect-only", "-q", "-p", "no:cacheprovider",
                        "--ignore", str(SUITE_DIR / "hidden")], plugins=[plugin])
    shares = {r.nodeid.split("suite/")[-1]: [r.task, r.max_score]
              for r in plugin.state.results.values()}
    with open(sys.argv[1], "w") as fh:
        json.dump({"code": int(code), "errors": plugin.state.errors, "shares": shares}, fh)
""")


def collect_item_shares(out_path):
    """{item: (task id, points)} for every graded public test item, as the grader's plugin
    assigns them (rubric weights split equally over a test's cases)."""
    subprocess.run([sys.executable, "-c", _COLLECT, str(out_path)], cwd=REPO, env=grader_env(),
                   capture_output=True, text=True, timeout=300, check=True)
    data = json.loads(Path(out_path).read_text())
    assert data["code"] == 0 and not data["errors"], data
    return {item: (task, points) for item, (task, points) in data["shares"].items()}


def item_results(results):
    """{task id: {item: its record}} from the data a results.json carries (never its text)."""
    return {entry["number"]: {test["name"]: test for test in entry["extra_data"]["tests"]}
            for entry in results["tests"]}


def failing_items(results):
    """{task id: {item: status}} of the items that did not pass, from a results.json."""
    return {task: {name: test["status"] for name, test in tests.items()
                   if test["status"] not in ("passed", "skipped", "not graded")}
            for task, tests in item_results(results).items()}


SHAPE = ":shape"  # a corpus quantity "self.dLdBW:shape": right values, wrong shape (a share lost)


def failed_quantities(record):
    """The names of the quantities an item's record says failed (empty for a test without any);
    one whose values are right but shape is not is named ``name + SHAPE``."""
    return {q["name"] + (SHAPE if q["passed"] else "") for q in record.get("quantities", [])
            if (not q["passed"] or q.get("credit", 1.0) < 1) and not q.get("not_graded")}


def expand(fails, shares):
    """{task: {item: failing quantities}} from a corpus ``fails`` spec (ALL, whole tests, single
    cases; an entry ``(test, quantity, ...)`` fails only those quantities of the test, and a plain
    name fails all of them: its quantities are ``None``)."""
    out = {}
    for task, spec in fails.items():
        task_items = {item for item, (t, _) in shares.items() if t == task}
        if spec == "*":
            out[task] = dict.fromkeys(task_items)
            continue
        chosen = {}
        for entry in spec:
            name, quantities = (entry, None) if isinstance(entry, str) else (entry[0],
                                                                             set(entry[1:]))
            matched = {item for item in task_items
                       if item == name or ("[" not in name and item.split("[")[0] == name)}
            assert matched, f"the corpus names {name!r}, which task {task} does not grade"
            chosen.update(dict.fromkeys(matched, quantities))
        out[task] = chosen
    return out


def lost_share(record, quantities):
    """The share of an item's points lost when ``quantities`` fail (None: all of the item)."""
    if quantities is None or not record.get("quantities"):
        return 1.0
    total = sum(q["weight"] for q in record["quantities"] if not q.get("not_graded"))
    return sum(q["weight"] * (1 - q.get("credit", 0.0 if not q["passed"] else 1.0))
               for q in record["quantities"]
               if q["name"] in quantities or q["name"] + SHAPE in quantities) / total


def rubric_points():
    from autograder.grading.rubric import load_rubric

    return {t.id: t.points for t in load_rubric(HW1.rubric_path) if t.visibility == "visible"}


def check_scores(variant, run, item_shares):
    """Assert what a corpus variant (``tests/submissions``) must get: the full table of the tasks
    graded, exactly the expected items failing, every task's score from the rubric's weights, the
    total, and the hints in the feedback."""
    import pytest

    assert run.returncode == 0, run.describe()  # 3 would mean "grader problem", 1 a low score
    results = run.results
    assert results is not None, run.describe()

    graded_tasks = [t for t in TASK_IDS if not variant.tasks or t in variant.tasks]
    assert [t["number"] for t in results["tests"]] == graded_tasks, run.describe()
    for task in graded_tasks:
        assert re.search(rf"^{re.escape(task)} ", run.stdout, re.M), run.describe()
    assert re.search(r"^Total\s", run.stdout, re.M)

    expected = expand(variant.fails, item_shares)
    got = {task: set(items) for task, items in failing_items(results).items() if items}
    # checks another task's bug made impossible to grade: they cost nothing, and the task's other
    # items carry their points
    not_graded = expand(getattr(variant, "not_graded", {}), item_shares)
    got_not_graded = {task: {name for name, test in tests.items()
                             if test["status"] == "not graded"}
                      for task, tests in item_results(results).items()}
    for task in graded_tasks:
        assert got_not_graded.get(task, set()) == set(not_graded.get(task, {})), \
            (variant.name, task, got_not_graded.get(task))
    assert set(expected) <= set(graded_tasks)
    assert got == {task: set(items) for task, items in expected.items()}, \
        f"{variant.name}: {variant.description}\n\n{run.describe()}"

    records = item_results(results)
    points = rubric_points()
    total_lost = 0.0
    for entry in results["tests"]:
        task = entry["number"]
        lost = 0.0
        for item, quantities in expected.get(task, {}).items():
            record = records[task][item]
            if quantities is not None:
                assert failed_quantities(record) == quantities, (variant.name, item, record)
            elif record.get("quantities"):
                assert all(not q["passed"] for q in record["quantities"]), (variant.name, record)
            lost += item_shares[item][1] * lost_share(record, quantities)
        out = sum(item_shares[item][1] for item in not_graded.get(task, {}))
        lost *= points[task] / (points[task] - out) if out < points[task] else 0.0
        total_lost += lost
        assert entry["max_score"] == pytest.approx(points[task])
        assert entry["score"] == pytest.approx(points[task] - lost, abs=1e-3), (task, entry)
        assert entry["status"] == ("failed" if task in expected else "passed")
    total = sum(points[t] for t in graded_tasks) - total_lost
    assert results["score"] == pytest.approx(total, abs=0.01)

    outputs = {t["number"]: t["output"] for t in results["tests"]}
    for task, hint in variant.hints.items():
        assert hint in outputs[task], f"{variant.name}: {hint!r} not in the feedback of {task}:\n" \
                                      f"{outputs[task]}"
    # one bug, one diagnosis: every failing item of the task records exactly these ids (as data);
    # a withheld check was not judged (its gates failed), so it names no mistake
    for task, ids in getattr(variant, "diagnoses", {}).items():
        for item, record in records[task].items():
            judged = [q for q in record.get("quantities", []) if not q["passed"]
                      and not q.get("withheld")] or not record.get("quantities")
            if record["status"] not in ("passed", "skipped", "withheld") and judged:
                assert set(record["diagnoses"]) == set(ids), (variant.name, item, record)
