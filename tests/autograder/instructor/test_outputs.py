"""What the instructor commands write, and where: never over what they did not make
(files.prepare_output_dir), and with student-derived text made visible (autograder/grading/text.py)
in every
console line and file a batch writes, CSV cells neutralised."""
import csv
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from autograder.grading.text import one_line, spreadsheet_cell, visible
from autograder.intake.files import OutputDirError, prepare_output_dir
from tests.autograder.instructor.helpers import REPO, copy_reference

pytestmark = pytest.mark.slow  # the grader end to end: see pyproject's markers

ENV = dict(os.environ, MYTORCH_GRADER_USER="none")
RAW_CONTROLS = [chr(c) for c in range(32) if chr(c) not in "\n\t"] + ["\x7f", "\x9b", "\x9d",
                                                                      "\u202e"]


# -- handout --out and every other --out ------------------------------------------------------
def snapshot(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() if p.is_file() else None
            for p in sorted(Path(folder).rglob("*"))}


@pytest.fixture
def repo_copy(tmp_path):
    """A copy of the kit (its own grader, so PROJECT_ROOT is the copy) with a stand-in .git."""
    repo = tmp_path / "kit"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", ".hypothesis")
    for name in ("mytorch", "autograder", "handout"):
        shutil.copytree(REPO / name, repo / name, ignore=ignore)
    shutil.copy(REPO / "pyproject.toml", repo / "pyproject.toml")
    (repo / ".git").mkdir()
    (repo / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    return repo


def handout(repo, *args, cwd=None):
    return subprocess.run([sys.executable, "-m", "autograder", "handout", *map(str, args)],
                          cwd=cwd or repo, capture_output=True, text=True, timeout=300,
                          env=dict(ENV, PYTHONPATH=str(repo)))


def test_handout_out_never_destroys_what_it_did_not_make(tmp_path, repo_copy):
    (tmp_path / "neighbour.txt").write_text("the parent folder's own file")
    thesis = tmp_path / "writing"
    thesis.mkdir()
    (thesis / "thesis.txt").write_text("years of work")
    before, parent_before = snapshot(repo_copy), snapshot(tmp_path)
    for out, words in ((".", "the current folder"), ("..", "the current folder"),
                       ("handout", "not empty"), (thesis, "thesis.txt"),
                       (repo_copy / "mytorch", "not empty")):
        proc = handout(repo_copy, "--out", out, "--no-zip")
        assert proc.returncode == 2, (out, proc.stdout, proc.stderr)
        assert proc.stderr.startswith("error: refusing") and words in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr
        proc = handout(repo_copy, "--out", out, "--no-zip", "--force")  # --force cannot help
        assert proc.returncode == 2 and "refusing" in proc.stderr
    assert snapshot(repo_copy) == before and snapshot(tmp_path) == parent_before

    # a new folder is built; a second build into it needs --force, and replaces only it
    out = tmp_path / "build" / "handout"
    assert handout(repo_copy, "--out", out).returncode == 0
    assert (out / ".mytorch-handout-build").is_file() and (out / "mytorch").is_dir()
    proc = handout(repo_copy, "--out", out)
    assert proc.returncode == 2 and "--force" in proc.stderr
    (out / "stray.txt").write_text("left from an old build")
    assert handout(repo_copy, "--out", out, "--force").returncode == 0
    assert not (out / "stray.txt").exists() and (out / "mytorch").is_dir()
    import zipfile
    with zipfile.ZipFile(out.with_suffix(".zip")) as zf:
        assert not any(".mytorch-handout-build" in n for n in zf.namelist())
    # the zip beside a fresh folder is not overwritten when someone else's
    (tmp_path / "other.zip").write_text("not ours")
    proc = handout(repo_copy, "--out", tmp_path / "other")
    assert proc.returncode == 2 and "other.zip" in proc.stderr
    assert (tmp_path / "other.zip").read_text() == "not ours"


def test_prepare_output_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(OutputDirError, match="current folder"):
        prepare_output_dir(".", ".m")
    with pytest.raises(OutputDirError, match="current folder"):
        prepare_output_dir("..", ".m")
    with pytest.raises(OutputDirError, match="home folder"):
        prepare_output_dir(Path.home(), ".m")
    with pytest.raises(OutputDirError, match="repository"):
        prepare_output_dir(REPO, ".m")
    (tmp_path / "f.txt").write_text("x")
    with pytest.raises(OutputDirError, match="not a folder"):
        prepare_output_dir(tmp_path / "f.txt", ".m")
    out = prepare_output_dir(tmp_path / "new" / "out", ".m")
    assert (out / ".m").is_file()
    (out / "result").write_text("kept")
    assert prepare_output_dir(out, ".m") == out and (out / "result").is_file()   # resume
    prepare_output_dir(out, ".m", replace=True)
    assert not (out / "result").exists() and (out / ".m").is_file()


# -- clean outputs ----------------------------------------------------------------------------
def test_visible_shows_escapes_and_bounds_lines():
    fake = "\x1b[2J\x1b[HTotal 100 / 100\x1b]0;owned\x07\x1b]52;c;ZXZpbA==\x07\r\x9b31m\u202eabc"
    shown = visible(fake)
    assert not any(c in shown for c in RAW_CONTROLS)
    assert "\\x1b]52;c;ZXZpbA==\\x07" in shown and "\\u202e" in shown and "\\x9b" in shown
    assert visible("a\nb\tc") == "a\nb\tc" and one_line("a\nb\tc") == "a\\nb c"
    assert visible(b"\xff\xfe ok") == "\\udcff\\udcfe ok"   # undecodable bytes, shown
    assert visible("\ud800") == "\\ud800"                    # a lone surrogate: no UnicodeError
    long = visible("x" * 5000 + "\nshort", line_chars=100)
    assert long.splitlines()[0] == "x" * 100 + "… (4900 more characters)"
    assert long.splitlines()[1] == "short"
    assert visible("y" * 10**6, max_len=50) == "y" * 50 + "… (cut at 50 characters)"

    class Unprintable:
        def __str__(self):
            raise RuntimeError("no")
    assert visible(Unprintable()) == "<unprintable Unprintable>"


@pytest.mark.parametrize("cell, shown", [
    ("=HYPERLINK(\"http://x\",\"y\")", "'=HYPERLINK(\"http://x\",\"y\")"),
    ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"), ("-2+3", "'-2+3"), ("@SUM(A1)", "'@SUM(A1)"),
    ("\t=1", "' =1"), ("\r=1", "'\\x0d=1"), ("  =1", "'  =1"), ("alice", "alice"), (15.0, "15"),
    (None, ""),
])
def test_csv_cells_are_never_formulas(cell, shown):
    assert spreadsheet_cell(cell) == shown


HOSTILE = r'''
def _shout():
    raise RuntimeError("\x1b[1A\x1b[2KTotal                                       100 / 100"
                       "\x1b]52;c;cm0gLXJmIH4=\x07\x1b]0;graded\x07\n" + "z" * 100000)
_shout.__code__ = _shout.__code__.replace(co_name="\x1b]0;title\x07evil")
print("\x1b[2J\x1b[HTotal 100 / 100\x1b]0;pwned\x07\x1b]52;c;ZXZpbA==\x07\r\x9b31m" + "p" * 50000)
_shout()
'''

GS_METADATA = """\
submission_1:
  :submitters:
  - :name: "=HYPERLINK(\\"http://evil\\",\\"click\\")"
    :email: "@SUM(1+1)"
    :sid: '-2+3'
"""


def strings(value):
    """Every string in a JSON value."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from strings(v)


def test_student_text_never_reaches_the_instructor_raw(tmp_path):
    export = tmp_path / "export"
    mallory = copy_reference(export / "submission_1")
    linear = mallory / "mytorch" / "nn" / "linear.py"
    anchor = "        Z = A @ self.W.T\n"
    text = linear.read_text(encoding="utf-8")
    assert text.count(anchor) == 1
    linear.write_text(text.replace(anchor, textwrap.indent(HOSTILE.strip("\n") + "\n", " " * 8)
                                   + anchor), encoding="utf-8")
    (export / "submission_metadata.yml").write_text(GS_METADATA, encoding="utf-8")
    forged = "eve\nTotal 100 of 100\x1b[31m"
    try:
        (export / forged).mkdir()
    except OSError:
        pytest.skip("this filesystem refuses control characters in names")
    (export / forged / "notes.py").write_text("# no mytorch/\n")
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", str(export), "--out",
                           str(out), "-k", "linear", "--jobs", "1"], cwd=REPO, env=ENV,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    files = {"console": proc.stdout + proc.stderr}
    for path in out.rglob("*"):
        if path.is_file() and path.suffix in (".txt", ".csv", ".json"):
            data = path.read_text(encoding="utf-8")
            files[str(path)] = data
            if path.suffix == ".json":
                files[str(path) + " (strings)"] = "\n".join(strings(json.loads(data)))
    for name, data in files.items():
        assert not any(c in data for c in RAW_CONTROLS), name
    feedback = (out / "students" / "submission_1" / "feedback.txt").read_text(encoding="utf-8")
    assert "\\x1b]52;c;ZXZpbA==\\x07" in feedback            # shown, not acted on
    assert "\\x1b]0;title\\x07evil" in feedback                # the traceback's frame name
    assert "more characters" in feedback                      # lines are bounded
    assert len(feedback) < 120_000
    rows = read_rows(out / "grades.csv")
    assert set(rows) == {"submission_1", "eve_Total 100 of 100_[31m"}
    assert rows["submission_1"]["name"].startswith("'=HYPERLINK")
    assert rows["submission_1"]["email"] == "'@SUM(1+1)" and rows["submission_1"]["sid"] == "'-2+3"
    summary = (out / "summary.txt").read_text(encoding="utf-8")
    assert not any(line.startswith("Total") for line in summary.splitlines())
    results = json.loads((out / "students" / "submission_1" / "results.json").read_text("utf-8"))
    assert float(results["score"]) < 15
    # the instructor's own terminal, grading that student alone
    proc = subprocess.run([sys.executable, "-m", "autograder", "check", "--submission",
                           str(mallory), "-k", "linear", "-v"], cwd=REPO, env=ENV,
                          capture_output=True, text=True, timeout=600)
    assert "Total" in proc.stdout and "\\x1b[2J" in proc.stdout
    assert not any(c in proc.stdout + proc.stderr for c in RAW_CONTROLS)


def read_rows(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return {row["student"]: row for row in csv.DictReader(fh)}
