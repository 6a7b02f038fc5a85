"""The student documents in ``handout/`` agree with the rubric and with the reference solution.

* every rubric task has exactly one heading ``Task <id> — <title> (<points> point(s))`` in the
  writeup and one row in its rubric summary table (points included, total = 100), and no other
  task id is mentioned anywhere in the writeup or the student README;
* the worked Linear example (a tagged, runnable block) holds the reference's numbers, and its
  shape comments are the arrays' shapes; the gradient-check reproduction recipe runs;
* the figures the writeup shows exist, are small, and ``make_figures.py`` draws them;
* no line of a solution region leaks into the documents (the handout build would refuse them).
"""
import ast
import contextlib
import io
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from autograder.grading.assignment import course, find
from autograder.grading.rubric import load_rubric

HW1 = find("hw1")
COURSE = course()

ROOT = Path(__file__).resolve().parents[2]
HANDOUT = ROOT / "handout"
WRITEUP = HW1.writeup
README = HANDOUT / "README.md"
MAX_PNG_BYTES = 200 * 1024

HEADING = re.compile(r"^#{1,6}\s+Task\s+(?P<id>\S+)\s+—\s+(?P<title>.+?)\s+"
                     r"\((?P<points>\d+(?:\.\d+)?)\s+points?\)\s*$")
TABLE_ROW = re.compile(r"^\|\s*(?P<id>\d+(?:\.\d+)+)\s*\|\s*(?P<title>[^|]+?)\s*\|"
                       r"\s*(?P<points>\d+(?:\.\d+)?)\s*\|\s*$")
TOTAL_ROW = re.compile(r"^\|\s*\|\s*\*\*Total\*\*\s*\|"
                       r"\s*\*\*(?P<points>\d+(?:\.\d+)?)\*\*\s*\|\s*$")
TASK_MENTION = re.compile(r"\b[Tt]asks?\s+(\d+\.\d+)\b")
TASK_KEYWORD = re.compile(r"\btask(\d+)_(\d+)\b")


def points_text(points):
    value = f"{points:g}"
    return f"{value} point" + ("" if points == 1 else "s")


def tagged_block(text, tag):
    """The body of the fenced code block right after ``<!-- tag -->``; exactly one must exist."""
    pattern = re.compile(r"<!--\s*" + re.escape(tag) + r"\s*-->\s*\n```[a-z]*\n(.*?)\n```",
                         re.S)
    found = pattern.findall(text)
    assert len(found) == 1, f"expected one block tagged <!-- {tag} -->, found {len(found)}"
    return found[0]


def section(text, title):
    """The text of the ``## ...title`` section, up to the next level-2 heading."""
    match = re.search(r"^##\s+[^\n]*" + re.escape(title) + r"[^\n]*\n(.*?)(?=^##\s|\Z)", text,
                      re.S | re.M)
    assert match, f"no '## ... {title}' section"
    return match.group(1)


# Every assignment's writeup agrees with its rubric, shows figures its script draws, and leaks
# nothing; the worked examples and the student README's task table are checked one by one below.
@pytest.fixture(scope="module", params=COURSE, ids=lambda a: a.name)
def assignment(request):
    return request.param


@pytest.fixture(scope="module")
def tasks(assignment):
    return load_rubric(assignment.rubric_path)


@pytest.fixture(scope="module")
def writeup(assignment):
    return assignment.writeup.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def hw1_tasks():
    return load_rubric(HW1.rubric_path)


@pytest.fixture(scope="module")
def hw1_writeup():
    return WRITEUP.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def readme():
    return README.read_text(encoding="utf-8")


# ------------------------------------------------------------------------------ rubric agreement

def test_rubric_totals_100_points(tasks):
    assert sum(t.points for t in tasks) == 100


def test_every_task_has_its_heading(tasks, writeup):
    headings = [line for line in writeup.splitlines() if re.match(r"^#{1,6}\s+Task\b", line)]
    parsed = {}
    for line in headings:
        match = HEADING.match(line)
        assert match, f"malformed task heading {line!r}: use 'Task <id> — <title> (<n> points)'"
        assert match["id"] not in parsed, f"task {match['id']} has two headings"
        parsed[match["id"]] = line.lstrip("#").strip()
    for task in tasks:
        expected = f"Task {task.id} — {task.title} ({points_text(task.points)})"
        assert parsed.get(task.id) == expected, (
            f"task {task.id}: expected the heading {expected!r}, found {parsed.get(task.id)!r}")
    assert set(parsed) == {t.id for t in tasks}, "headings for tasks that are not in the rubric"


def test_headings_follow_rubric_order(tasks, writeup):
    order = [HEADING.match(line)["id"] for line in writeup.splitlines() if HEADING.match(line)]
    assert order == [t.id for t in tasks]


def test_summary_table_matches_rubric(tasks, writeup):
    summary = section(writeup, "Rubric summary")
    rows = {}
    total = None
    for line in summary.splitlines():
        if TABLE_ROW.match(line):
            m = TABLE_ROW.match(line)
            assert m["id"] not in rows, f"task {m['id']} appears twice in the summary table"
            rows[m["id"]] = (m["title"], float(m["points"]))
        elif TOTAL_ROW.match(line):
            total = float(TOTAL_ROW.match(line)["points"])
    assert rows == {t.id: (t.title, t.points) for t in tasks}
    assert total == sum(t.points for t in tasks) == 100
    assert [line for line in summary.splitlines() if TABLE_ROW.match(line)] == [
        f"| {t.id} | {t.title} | {t.points:g} |" for t in tasks]


def test_the_course_has_unique_task_ids():
    """Task ids are unique across the course: -k, results.json and grades.csv name one task."""
    ids = [t.id for a in COURSE for t in load_rubric(a.rubric_path)]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)


def test_no_unknown_task_ids(tasks, writeup):
    mentioned = mentioned_ids(writeup)
    ids = {t.id for t in tasks}
    assert mentioned <= ids, f"the writeup mentions tasks not in the rubric: {mentioned - ids}"


def test_the_readme_mentions_no_unknown_task_id(hw1_tasks, readme):
    ids = {t.id for t in hw1_tasks}
    mentioned = mentioned_ids(readme)
    assert mentioned <= ids, f"the README mentions tasks not in the rubric: {mentioned - ids}"


def mentioned_ids(text):
    """Every task id ``text`` names: 'Task 1.2', '-k task1_2', a summary-table row."""
    mentioned = set(TASK_MENTION.findall(text))
    mentioned |= {f"{a}.{b}" for a, b in TASK_KEYWORD.findall(text)}
    return mentioned | {m["id"] for m in map(TABLE_ROW.match, text.splitlines()) if m}


def test_readme_task_table_matches_rubric(hw1_tasks, readme):
    tasks = hw1_tasks
    rows = {}
    for line in readme.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and re.fullmatch(r"\d+\.\d+", cells[0]):
            rows[cells[0]] = cells
    assert set(rows) == {t.id for t in tasks}
    for task in tasks:
        _, title, _, check = rows[task.id]
        assert title == task.title
        assert check == f"`-k task{task.id.replace('.', '_')}`"


# ------------------------------------------------------------------------------ worked examples

def run_block(code, monkeypatch):
    """Execute a documentation block against the reference ``mytorch``; return (namespace, out)."""
    monkeypatch.syspath_prepend(str(ROOT))
    namespace = {"__name__": "__writeup__"}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "<writeup block>", "exec"), namespace)  # noqa: S102 - our own docs
    return namespace, out.getvalue()


def test_linear_example_holds_the_reference_numbers(hw1_writeup, monkeypatch):
    writeup = hw1_writeup
    code = tagged_block(writeup, "worked-example: linear")
    namespace, out = run_block(code, monkeypatch)  # its own asserts check the reference's Linear
    assert "your Linear reproduces the worked example" in out

    import mytorch.nn

    A, W, b, dLdZ = (namespace[k] for k in ("A", "W", "b", "dLdZ"))
    assert A.shape == (2, 3) and W.shape == (2, 3) and b.shape == (2, 1)
    layer = mytorch.nn.Linear(3, 2)
    layer.W, layer.b = W.copy(), b.copy()
    expected = {"Z": layer.forward(A), "dLdA": layer.backward(dLdZ), "dLdW": layer.dLdW,
                "dLdb": layer.dLdb}
    for name, value in expected.items():
        shown = namespace[name]
        assert shown.shape == value.shape, name
        assert np.allclose(shown, value, rtol=0, atol=1e-12), \
            f"{name}: writeup {shown}, ref {value}"


def test_conv1d_example_holds_the_reference_numbers(monkeypatch):
    """HW2's worked Conv1d example (stride 2, padding 1) runs and its arrays are the reference's."""
    code = tagged_block(find("hw2").writeup.read_text(encoding="utf-8"), "worked-example: conv1d")
    namespace, out = run_block(code, monkeypatch)
    assert "your Conv1d reproduces the worked example" in out

    import mytorch.nn

    layer = mytorch.nn.Conv1d(1, 1, 2, stride=2, padding=1)
    layer.W, layer.b = namespace["W"].copy(), namespace["b"].copy()
    expected = {"Z": layer.forward(namespace["A"]), "dLdA": layer.backward(namespace["dLdZ"]),
                "dLdW": layer.dLdW, "dLdb": layer.dLdb}
    for name, value in expected.items():
        assert namespace[name].shape == value.shape, name
        assert np.allclose(namespace[name], value, rtol=0, atol=1e-12), name


def test_linear_example_shape_comments(hw1_writeup):
    """``X = np.array(...)  # (N, C_in) = (2, 3)``: the numbers after '=' are X's shape."""
    code = tagged_block(hw1_writeup, "worked-example: linear")
    tree = ast.parse(code)
    lines = code.splitlines()
    arrays = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) \
                and ast.unparse(node.value.func) == "np.array":
            name = node.targets[0].id
            arrays[name] = np.array(ast.literal_eval(node.value.args[0]))
            comment = lines[node.end_lineno - 1].partition("#")[2]
            match = re.search(r"=\s*\((\d+),\s*(\d+)\)", comment)
            assert match, f"{name}: no '= (rows, cols)' shape in the comment {comment!r}"
            assert arrays[name].shape == tuple(int(g) for g in match.groups()), name
    assert {"A", "W", "b", "dLdZ", "Z", "dLdA", "dLdW", "dLdb"} <= set(arrays)


def test_failing_example_output_is_what_the_grader_prints(hw1_writeup):
    """The lines §7 shows are the grader's own, for the example they name."""
    from autograder.checking.checks import FailingExample, Mismatch
    from autograder.grading.outcomes import describe_failure

    shown = tagged_block(hw1_writeup, "output: failing-example")
    failure = Mismatch("dLdb", "disagrees with the central-difference gradient of your forward")
    failure.mytorch_failing_example = FailingExample(
        "test_gradient_check", {"shape": (3, 1), "c_out": 1, "seed": 0})
    _, feedback = describe_failure(failure, "test_linear.py::test_gradient_check")
    # -v indents each feedback line by three spaces (report.render_table)
    assert shown.splitlines() == ["   " + line for line in feedback.splitlines()[1:]]


def test_gradient_check_recipe_runs(hw1_writeup, monkeypatch):
    code = tagged_block(hw1_writeup, "example: reproduce-gradient-check")
    _, out = run_block(code, monkeypatch)
    assert out.startswith("ok"), out


# ------------------------------------------------------------------------------ figures

def test_referenced_figures_exist_and_are_small(assignment, writeup):
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", writeup)
    assert images, "the writeup shows no figure"
    for rel in images:
        path = assignment.root / rel
        assert path.is_file(), f"{rel} is referenced by the writeup but missing"
        assert path.suffix == ".png"
        assert 0 < path.stat().st_size < MAX_PNG_BYTES, f"{rel}: {path.stat().st_size} bytes"


def test_relative_links_resolve(assignment, writeup, readme):
    # the handout puts the student guide and the writeup side by side: a link may point into either
    for text in (writeup, readme):
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", text):
            assert (HANDOUT / target).exists() or (assignment.root / target).exists(), \
                f"broken link {target}"


def test_make_figures_draws_every_figure(tmp_path, assignment, writeup):
    pytest.importorskip("matplotlib", reason="matplotlib (optional) draws the figures")
    result = subprocess.run([sys.executable, str(assignment.root / "figures" / "make_figures.py"),
                             "--out", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    drawn = {p.name for p in tmp_path.glob("*.png")}
    shown = {Path(rel).name for rel in re.findall(r"!\[[^\]]*\]\((figures/[^)]+)\)", writeup)}
    assert shown <= drawn, f"not drawn by make_figures.py: {shown - drawn}"
    for name in drawn:
        data = (tmp_path / name).read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) < MAX_PNG_BYTES, name


def test_make_figures_without_matplotlib_exits_cleanly(tmp_path, assignment):
    """Blocking the import of matplotlib: a note and status 0, nothing written."""
    blocker = tmp_path / "block"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(
        "import sys\n"
        "class _Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'matplotlib' or name.startswith('matplotlib.'):\n"
        "            raise ImportError('blocked for a test')\n"
        "sys.meta_path.insert(0, _Block())\n", encoding="utf-8")
    out = tmp_path / "out"
    env = {k: v for k, v in __import__("os").environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(blocker)
    result = subprocess.run([sys.executable, str(assignment.root / "figures" / "make_figures.py"),
                             "--out", str(out)],
                            capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    assert "matplotlib is not installed" in result.stdout
    assert not out.exists() or not any(out.iterdir())


# ------------------------------------------------------------------------------ no leaks

def test_documents_leak_no_solution_line(tmp_path, assignment):
    handout = pytest.importorskip("autograder.instructor.handout", reason="the handout builder")
    for doc in (assignment.writeup, README):
        shutil.copyfile(doc, tmp_path / doc.name)
    assert handout.find_solution_leaks(tmp_path) == []
