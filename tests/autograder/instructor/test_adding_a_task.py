"""docs/writing-tests.md adds Adam to HW1 end to end; this applies its steps, as written there, to a
copy of the repository: the reference earns the new task's points, the handout's starter none, and
regenerating the new component's cases leaves every other case file as it was."""
import re
import shutil
import subprocess
import sys

import pytest

from tests.autograder.grader_runs import REPO

pytestmark = pytest.mark.slow  # the grader end to end: see pyproject's markers

DOC = REPO / "docs" / "writing-tests.md"
STEP = re.compile(r"<!-- adam-(?P<kind>step|command)(?::\s*(?P<how>new|append)\s+(?P<path>\S+))?"
                  r"\s*-->\s*\n```\w*\n(?P<body>.*?)\n```", re.S)


def steps():
    found = [m.groupdict() for m in STEP.finditer(DOC.read_text(encoding="utf-8"))]
    assert len([s for s in found if s["kind"] == "step"]) >= 5, "the walkthrough lost its steps"
    return found


def copy_of_the_repo(dest):
    for name in ("mytorch", "autograder", "handout"):
        shutil.copytree(REPO / name, dest / name,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".hypothesis"))
    shutil.copy(REPO / "pyproject.toml", dest)
    return dest


def run(args, cwd):
    proc = subprocess.run([sys.executable, "-m", "autograder", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=600,
                          env={**__import__("os").environ, "PYTHONPATH": str(cwd)})
    return proc


def test_the_walkthrough_adds_adam(tmp_path):
    kit = copy_of_the_repo(tmp_path / "kit")
    cases_dir = kit / "autograder" / "assignments" / "hw1" / "public_cases"
    before = {p.name: p.read_bytes() for p in cases_dir.iterdir()}
    commands = []
    for step in steps():
        if step["kind"] == "command":
            commands.append(step["body"].strip())
            continue
        path = kit / step["path"]
        if step["how"] == "new":
            assert not path.exists(), f"the walkthrough overwrites {step['path']}"
            path.write_text(step["body"] + "\n", encoding="utf-8")
        else:
            path.write_text(path.read_text(encoding="utf-8") + "\n" + step["body"] + "\n",
                            encoding="utf-8")
    assert commands[0] == "python -m autograder cases --component adam"
    proc = run(commands[0].split()[3:], kit)
    assert proc.returncode == 0, proc.stderr
    after = {p.name: p.read_bytes() for p in cases_dir.iterdir()}
    assert set(after) - set(before) == {"adam.npz"}
    assert {name: data for name, data in after.items() if name != "adam.npz"} == before

    proc = run(commands[1].split()[3:], kit)  # the reference: every point of Task 4.2
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"^4\.2\s+Adam\s+5 / 5\s+passed", proc.stdout, re.M), proc.stdout

    proc = run(["handout", "--out", str(tmp_path / "handout"), "--no-zip"], kit)
    assert proc.returncode == 0, proc.stderr
    starter = (tmp_path / "handout" / "mytorch" / "optim" / "adam.py").read_text()
    assert 'raise NotImplementedError("4.2: Adam")' in starter and "m_hat" not in starter
    proc = run(["-k", "task4_2"], tmp_path / "handout")
    assert re.search(r"^4\.2\s+Adam\s+0 / 5\s+not implemented", proc.stdout, re.M), proc.stdout
