"""What a student meets at the edges: code that does not import, imports what it may not, hangs at
import time or uses up its time budget; Ctrl-C; a ``-k`` that selects nothing; ``submit`` after a
self-check that could not import the code or scored 0.

The import problems are told once, above the table (file, line, the student's own traceback), and
each failing test points there in one line; an import that hangs costs the time limit once, not
once per test.
"""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import zipfile

import pytest

from autograder.intake import imports
from tests.autograder.grader_runs import REPO, grader_env, rubric_points, run_grader
from tests.submissions.buggy import ACT, LINEAR, SGD, Variant, apply_variant, edit

pytestmark = pytest.mark.slow  # the grader end to end: see pyproject's markers

SYNTAX = edit(ACT, "    def forward(self, Z):\n        # BEGIN SOLUTION\n        self.A = "
                   "np.tanh(Z)",
              "    def forward(self, Z)\n        # BEGIN SOLUTION\n        self.A = np.tanh(Z)")
LINEAR_FORWARD = "        Z = A @ self.W.T\n"


def make(tmp_path, name, *edits):
    return apply_variant(Variant(name, name, tuple(edits)), REPO, tmp_path / name)


def line_of(folder, path, text):
    lines = (folder / path).read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if line.strip() == text)


def task_outputs(run):
    return {t["number"]: t["output"] for t in run.results["tests"]}


# --------------------------------------------------------------------------- the static scan

def write(folder, files):
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return folder


def test_scan_finds_a_syntax_error_with_its_line_and_column(tmp_path, monkeypatch):
    write(tmp_path, {"mytorch/__init__.py": "", "mytorch/a.py": "x = 1\ndef f(:\n    pass\n"})
    # a file of the same relative name in the current folder must not lend its line (linecache)
    write(tmp_path / "elsewhere", {"mytorch/a.py": "x = 1\nsomething else entirely\n"})
    monkeypatch.chdir(tmp_path / "elsewhere")
    [problem] = imports.scan(tmp_path).problems
    assert (problem.kind, problem.path, problem.line) == ("syntax", "mytorch/a.py", 2)
    assert problem.source == "def f(:"
    rendered = problem.render().splitlines()
    assert rendered[0].startswith("mytorch/a.py, line 2: SyntaxError")
    assert rendered[2].index("^") == rendered[1].index("(") + 1


def test_scan_refuses_imports_outside_the_policy_wherever_they_are(tmp_path):
    write(tmp_path, {"mytorch/__init__.py": "from . import nn\n",
                     "mytorch/nn.py": """\
                        import math, os.path
                        import numpy as np
                        from scipy.special import erf
                        from .helpers import thing

                        def later():
                            import torch
                            return torch
                        """,
                     "mytorch/helpers.py": "thing = 1\n"})
    scan = imports.scan(tmp_path)
    refused = {(p.line, p.message) for p in scan.refused_imports}
    assert refused == {(3, "imports scipy, which the course does not allow"),
                       (7, "imports torch, which the course does not allow")}
    scipy = next(p for p in scan.refused_imports if p.line == 3)
    assert "math.erf" in scipy.advice and "np.vectorize" in scipy.advice
    assert "allowed_imports" in scipy.advice
    # what runs at import time: the relative import, not the one inside the function
    assert scan.requires["mytorch.nn"] == {"mytorch", "mytorch.helpers"}
    assert scan.closure("mytorch") == {"mytorch", "mytorch.nn", "mytorch.helpers"}
    assert not imports.scan(tmp_path, allowed=("numpy", "scipy", "torch")).problems


# --------------------------------------------------------------------------- import failures

def test_a_syntax_error_is_told_once_at_the_top(tmp_path):
    folder = make(tmp_path, "syntax", SYNTAX)
    line = line_of(folder, ACT, "def forward(self, Z)")
    run = run_grader(folder, folder / "results.json", ["-v"])
    assert run.returncode == 0, run.describe()
    top = run.stdout.split("Task  Title")[0]
    assert f"mytorch/nn/activation.py, line {line}: SyntaxError" in top, run.describe()
    assert "    def forward(self, Z)\n" in top and "^" in top
    # the source line and its caret are shown once; each failing test says one line
    assert run.stdout.count("    def forward(self, Z)\n") == 1
    blocks = [b for b in run.stdout.split("\n== ")[1:]]
    assert len(blocks) > 50
    for block in blocks:
        body = block.splitlines()[1:]
        assert body[0].strip().startswith("see the import error at the top"), block
        assert not any("Traceback" in line or "def forward" in line for line in body), block
    assert len(run.stdout) < 24 * 1024
    assert run.results["output"].startswith("Your code does not parse")
    assert all(out.count("see the import error at the top") == out.count("[failed]")
               for out in task_outputs(run).values())


def test_an_exception_at_import_is_told_once_with_the_students_traceback(tmp_path):
    folder = make(tmp_path, "raises", edit(SGD, "import numpy as np\n",
                                           "import numpy as np\n\n\ndef boom():\n"
                                           "    return {}['missing']\n\n\nboom()\n"))
    run = run_grader(folder, folder / "results.json", ["-k", "task4_1"])
    assert run.returncode == 0, run.describe()
    top = run.stdout.split("Task  Title")[0]
    assert "importing mytorch.optim raised KeyError: 'missing'" in top, run.describe()
    assert 'File "mytorch/optim/sgd.py", line' in top and "in boom" in top
    assert run.stdout.count('File "mytorch/optim/sgd.py"') == 2  # boom() and its caller, once
    assert "see the import error at the top" in task_outputs(run)["4.1"]


def test_a_refused_import_is_told_once_with_what_to_do(tmp_path):
    folder = make(tmp_path, "scipy",
                  edit(ACT, "import numpy as np\n", "import numpy as np\nfrom scipy.special import "
                                                    "erf\n"))
    line = line_of(folder, ACT, "from scipy.special import erf")
    run = run_grader(folder, folder / "results.json", ["-k", "task2_4 or task2_1"])
    assert run.returncode == 0, run.describe()
    assert f"mytorch/nn/activation.py, line {line}: imports scipy" in run.stdout, run.describe()
    assert run.stdout.count("math.erf computes") == 1 and "allowed: numpy" in run.stdout
    assert "math.erf" in run.results["output"]
    assert all("math.erf" not in out for out in task_outputs(run).values())
    assert run.results["score"] == 0


def test_an_import_that_hangs_costs_the_time_limit_once(tmp_path):
    """The infinite loop at import time of mytorch/nn/linear.py: every test needing mytorch.nn or
    mytorch.models (which imports it) fails, and only the first one waited for it."""
    timeout = 4
    folder = make(tmp_path, "hang", edit(LINEAR, "import numpy as np\n",
                                         "import numpy as np\n\nwhile True:\n    pass\n"))
    run = run_grader(folder, folder / "results.json", ["--timeout", str(timeout)])
    assert run.returncode == 0, run.describe()
    assert f"importing mytorch.nn did not finish within {timeout:g} s" in run.stdout
    assert run.results["output"].count("did not finish") == 1
    outputs = task_outputs(run)
    assert all(out.count("see the import error at the top") == out.count("[crashed]") > 0
               for out in outputs.values()), run.describe()
    assert "importing mytorch.models needs mytorch.nn" in outputs["6.1"]
    # (22 constructors waited for the limit each before: 22 x 4 s)
    assert run.seconds < 2 * timeout + 25, run.describe()


# --------------------------------------------------------------------------- the time budget

def test_the_time_budget_bounds_a_grade(tmp_path):
    budget = 3
    hang = "        while True:\n            pass\n" + LINEAR_FORWARD
    folder = make(tmp_path, "slow", edit(LINEAR, LINEAR_FORWARD, hang))
    run = run_grader(folder, folder / "results.json",
                     ["--timeout", "100", "--budget", str(budget)])
    assert run.returncode == 0, run.describe()
    top = run.stdout.split("Task  Title")[0]
    assert f"used up its time budget of {budget} s" in top, run.describe()
    assert "--budget SECONDS" in top
    outputs = task_outputs(run)
    assert "was stopped: your code used up its time budget" in outputs["1.1"]
    assert "not run: your code used up its time budget" in outputs["3.1"]  # after test_linear
    # test_activation.py and test_batchnorm.py ran before test_linear.py: their tasks are whole
    points = rubric_points()
    ran = [t for t in points if t[0] in "25"]
    assert all(outputs[t] == "All checks passed." for t in ran)
    assert run.results["score"] == pytest.approx(sum(points[t] for t in ran))
    assert run.seconds < budget + 25, run.describe()


# --------------------------------------------------------------------------- the command line

def test_ctrl_c_writes_no_score_and_exits_130(tmp_path):
    folder = make(tmp_path, "interrupt", edit(LINEAR, LINEAR_FORWARD,
                                              "        import time\n"
                                              "        open('started', 'w').close()\n"
                                              "        time.sleep(60)\n" + LINEAR_FORWARD))
    results = folder / "results.json"
    proc = subprocess.Popen([sys.executable, "-m", "autograder", "--submission", str(folder),
                             "--json", str(results), "--timeout", "100"], cwd=REPO,
                            env=grader_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not (folder / "started").exists():
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.1)
        os.kill(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, (out, err)
    assert err.strip() == "interrupted" and "Total" not in out
    assert not results.exists()


def test_k_matching_nothing_is_an_error_naming_what_exists(tmp_path):
    run = run_grader(REPO, tmp_path / "results.json", ["-k", "no_such_test"])
    assert run.returncode == 2, run.describe()
    assert "-k 'no_such_test' matches no test" in run.stderr
    for name in ("task1_1", "task6_3", "test_forward_without_bias", "test_softmax_large_inputs"):
        assert name in run.stderr
    assert "Total" not in run.stdout and not (tmp_path / "results.json").exists()


def test_k_with_the_task_number_the_table_shows(tmp_path):
    """The table says "1.2": -k task1.2 selects that task, as -k task1_2 does."""
    dotted = run_grader(REPO, tmp_path / "a.json", ["-k", "task1.2"])
    assert dotted.returncode == 0, dotted.describe()
    assert [t["number"] for t in dotted.results["tests"]] == ["1.2"]
    underscored = run_grader(REPO, tmp_path / "b.json", ["-k", "task1_2"])
    assert [t["number"] for t in underscored.results["tests"]] == ["1.2"]
    assert dotted.results["score"] == underscored.results["score"] > 0


def submit(folder, *args):
    return subprocess.run([sys.executable, "-m", "autograder", "submit", "--folder", str(folder),
                           "--out", str(folder / "handin.zip"), *args], cwd=REPO,
                          env=grader_env(), capture_output=True, text=True, timeout=600)


def test_submit_refuses_code_that_does_not_import_unless_told(tmp_path):
    folder = make(tmp_path, "syntax", SYNTAX)
    proc = submit(folder)
    assert proc.returncode == 2, proc
    assert "could not import your code" in proc.stderr and "--anyway" in proc.stderr
    assert not (folder / "handin.zip").exists()
    proc = submit(folder, "--anyway")
    assert proc.returncode == 0, proc
    assert zipfile.ZipFile(folder / "handin.zip").namelist()


def test_submit_asks_for_anyway_when_the_score_is_0(tmp_path):
    from autograder.instructor.handout import build_tree

    folder = build_tree(tmp_path / "handout")
    proc = submit(folder)
    assert proc.returncode == 2, proc
    assert "self-check: 0 / 100" in proc.stdout
    assert "scored 0 / 100" in proc.stderr and "--anyway" in proc.stderr
    assert not (folder / "handin.zip").exists()
    assert submit(folder, "--anyway").returncode == 0
    manifest = json.loads(zipfile.ZipFile(folder / "handin.zip").read("MANIFEST.json"))
    assert manifest["self_check"]["score"] == 0
