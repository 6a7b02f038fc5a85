"""Build the student handout from the reference: ``python -m autograder handout --out DIR``.

* ``mytorch/``: every ``# BEGIN SOLUTION`` … ``# END SOLUTION`` region becomes a TODO comment and
  ``raise NotImplementedError("<task id>: <title>")``, the task found through the rubric's
  ``regions`` (``file:Class.method``); everything else is copied unchanged.
* ``autograder/``: the local grader with the public suite and public fixtures only — no hidden
  tests, no reference loader, no case generators, no instructor commands.
* the contents of ``handout/`` (student README, writeup, figures, ``train_mnist.py``) and
  ``requirements.txt``.
The build is deterministic (two builds are byte-identical, the ``.zip`` included) and checks itself:
it fails if any line of any solution region appears in the handout.
"""
import ast
import re
import shutil
import zipfile
from pathlib import Path

from ..grading.assignment import COURSE_FILE, course, find
from ..grading.plugin import task_keyword
from ..grading.rubric import load_rubric
from ..intake.files import OutputDirError, atomic_path, prepare_output_dir, zip_entry
from . import PROJECT_ROOT
from .requirements import requirements_txt

BEGIN = re.compile(r"^(\s*)# BEGIN SOLUTION\s*$")
END = re.compile(r"^\s*# END SOLUTION\s*$")
SKIP_DIRS = {"__pycache__", ".pytest_cache", ".hypothesis"}
# What of the grader stays with the instructor: their tools (hidden cases included).
INSTRUCTOR_PARTS = ("autograder/instructor",)
# Written into every handout folder the build makes: only a folder holding it is ever replaced.
MARKER = ".mytorch-handout-build"
# What of an assignment's folder is its writeup (shipped at the handout's top level).
WRITEUP_PARTS = ("writeup.md", "figures")


class HandoutError(RuntimeError):
    pass


def _functions(source):
    """[(qualified name, first line, last line)] of every function, 1-based lines."""
    out = []

    def visit(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                visit(child, prefix + child.name + ".")
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                out.append((prefix + child.name, child.lineno, child.end_lineno))
                visit(child, prefix + child.name + ".")
    visit(ast.parse(source), "")
    return out


def solution_regions(path, rel):
    """[(qualname, begin index, end index, indent)] of the regions in one file (0-based lines)."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    funcs = _functions("\n".join(lines))
    regions, start = [], None
    for i, line in enumerate(lines):
        if BEGIN.match(line):
            if start is not None:
                raise HandoutError(f"{rel}:{i + 1}: BEGIN SOLUTION inside another region")
            start, indent = i, BEGIN.match(line).group(1)
        elif END.match(line):
            if start is None:
                raise HandoutError(f"{rel}:{i + 1}: END SOLUTION without BEGIN")
            inside = [f for f in funcs if f[1] <= start + 1 <= f[2]]
            if not inside:
                raise HandoutError(f"{rel}:{start + 1}: a solution region outside any function")
            qualname = max(inside, key=lambda f: f[1])[0]
            regions.append((qualname, start, i, indent))
            start = None
    if start is not None:
        raise HandoutError(f"{rel}:{start + 1}: BEGIN SOLUTION without END")
    return lines, regions


def region_tasks(tasks):
    return {region: task for task in tasks for region in task.regions}


def stub_file(path, rel, owners, used):
    """The file with each solution region replaced by a TODO naming its task (``owners``: region
    key -> task, or None to keep the reference's code without the markers)."""
    lines, regions = solution_regions(path, rel)
    out, last = [], 0
    for qualname, begin, end, indent in regions:
        key = f"{rel}:{qualname}"
        if key not in owners:
            raise HandoutError(f"solution region in {key} is not listed in any assignment's "
                               "rubric (its task's regions)")
        task = owners[key]
        used.add(key)
        out += lines[last:begin]
        if task is None:
            out += lines[begin + 1:end]
            last = end + 1
            continue
        out += [f"{indent}# TODO (Task {task.id}, {task.title}): write this step. The docstring "
                "gives every shape;",
                f"{indent}# the writeup derives the math. Check it with: python -m autograder -k "
                f"{task_keyword(task.id)}",
                f'{indent}raise NotImplementedError("{task.id}: {task.title}")']
        last = end + 1
    out += lines[last:]
    return "\n".join(out) + "\n"


def _prepare(out_dir, force):
    """Check ``out_dir`` (see ``files.prepare_output_dir``) and empty it when it is a previous build
    and ``force`` says so; return it resolved."""
    out_dir = Path(out_dir)
    previous = (out_dir / MARKER).is_file()
    if previous and not force:
        raise HandoutError(f"{out_dir} holds a previous handout build; pass --force to replace it")
    try:
        return prepare_output_dir(out_dir, MARKER, replace=True)
    except OutputDirError as exc:
        raise HandoutError(str(exc)) from None


def region_owners(assignment, earlier):
    """{region key: task to stub it with, or None to keep the reference's code}: the assignment's
    own regions are stubbed; earlier assignments' are kept (``earlier="solved"``) or stubbed
    (``"bring-your-own"``); later assignments' are always stubbed."""
    owners, position = {}, None
    for i, other in enumerate(course()):
        if other.name == assignment.name:
            position = i
    for i, other in enumerate(course()):
        keep = position is not None and i < position and earlier == "solved"
        rubric = assignment.rubric_path if other.name == assignment.name else other.rubric_path
        for task in load_rubric(rubric):
            for region in task.regions:
                owners[region] = None if keep else task
    return owners


def build_tree(out_dir, assignment=None, root=PROJECT_ROOT, force=False, earlier="solved"):
    """The handout of ``assignment`` (default: the course's default) in ``out_dir``."""
    root = Path(root)
    assignment = assignment or find()
    owners, used = region_owners(assignment, earlier), set()
    out_dir = _prepare(out_dir, force)
    for src in sorted((root / "mytorch").rglob("*.py")):
        if SKIP_DIRS & set(src.relative_to(root).parts):
            continue
        rel = src.relative_to(root).as_posix()
        dest = out_dir / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(stub_file(src, rel, owners, used), encoding="utf-8", newline="\n")
    missing = sorted(set(owners) - used)
    if missing:
        raise HandoutError(f"rubric regions not found in the reference: {', '.join(missing)}")
    grader = root / "autograder"
    own = assignment.root.relative_to(root)
    for src in sorted(grader.rglob("*")):
        rel = src.relative_to(root)
        if src.is_dir() or SKIP_DIRS & set(rel.parts) or src.suffix in (".pyc", ".tmp") \
                or any(rel.is_relative_to(part) for part in INSTRUCTOR_PARTS) \
                or _not_shipped(rel, own):
            continue
        dest = out_dir / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        if src == assignment.rubric_path:
            dest.write_text(visible_rubric(src.read_text(encoding="utf-8")), encoding="utf-8",
                            newline="\n")
        else:
            shutil.copyfile(src, dest)
    (out_dir / own.parent / COURSE_FILE).write_text(
        f"# This handout's assignment.\nassignments = [\"{assignment.name}\"]\n"
        f"default = \"{assignment.name}\"\n", encoding="utf-8", newline="\n")
    for docs in (root / "handout", assignment.root):  # the student guide, then the writeup
        for src in sorted(docs.rglob("*")):
            rel = src.relative_to(docs)
            if src.is_dir() or SKIP_DIRS & set(rel.parts) or src.name == "make_figures.py" \
                    or (docs == assignment.root and rel.parts[0] not in WRITEUP_PARTS):
                continue
            dest = out_dir / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dest)
    (out_dir / "requirements.txt").write_text(requirements_txt(root, assignment),
                                              encoding="utf-8", newline="\n")
    kept = {key for key, task in owners.items() if task is None}
    leaks = find_solution_leaks(out_dir, root, kept)
    if leaks:
        shown = "\n".join(f"  {f}: {line}" for f, line in leaks[:10])
        raise HandoutError(f"solution lines found in the handout:\n{shown}")
    return out_dir


def _not_shipped(rel, own):
    """Parts of ``autograder/assignments/`` a handout leaves out: other assignments, the course
    list (rewritten), the case generators and the audit's named and equivalent mutants
    (instructor-only), the writeup (shipped at the top)."""
    assignments = own.parent
    if not rel.is_relative_to(assignments):
        return False
    if not rel.is_relative_to(own):
        return rel.name != "__init__.py" or rel.parent != assignments
    inner = rel.relative_to(own).parts
    return inner[0] in WRITEUP_PARTS or inner[0] in (
        "generators.py", "mutants.py", "equivalent_mutants.toml")


def visible_rubric(text):
    """The rubric without its hidden tasks (students never see hidden test names)."""
    head, *blocks = text.split("[[task]]")
    kept = [b for b in blocks if not re.search(r'^visibility\s*=\s*"hidden"', b, re.M)]
    return head + "".join("[[task]]" + b for b in kept)


def solution_lines(root=PROJECT_ROOT, kept=()):
    """Every non-blank line inside a solution region that never occurs outside one (nor in a
    region in ``kept``, the keys of regions a handout ships solved)."""
    inside, outside = set(), set()
    for src in sorted((Path(root) / "mytorch").rglob("*.py")):
        rel = src.relative_to(root).as_posix()
        lines, regions = solution_regions(src, rel)
        in_region = set()
        for qualname, begin, end, _ in regions:
            if f"{rel}:{qualname}" not in kept:
                in_region.update(range(begin + 1, end))
        for i, line in enumerate(lines):
            (inside if i in in_region else outside).add(line.strip())
    return {s for s in inside - outside if s and not s.startswith("#")}


def find_solution_leaks(folder, root=PROJECT_ROOT, kept=()):
    """[(file, line)] for each solution line found in any text file under ``folder``."""
    secret = solution_lines(root, kept)
    leaks = []
    for path in sorted(Path(folder).rglob("*")):
        if not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        for line in text.splitlines():
            if line.strip() in secret:
                leaks.append((path.relative_to(folder).as_posix(), line.strip()))
    return leaks


def write_zip(folder, zip_path):
    """A deterministic zip of ``folder`` (sorted names, fixed dates and permissions)."""
    folder = Path(folder)
    with atomic_path(zip_path) as tmp, zipfile.ZipFile(tmp, "w") as zf:
        for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MARKER):
            name = f"{folder.name}/{path.relative_to(folder).as_posix()}"
            zf.writestr(zip_entry(name), path.read_bytes())
    return Path(zip_path)


def build_handout(out_dir, assignment=None, root=PROJECT_ROOT, make_zip=True, force=False,
                  earlier="solved"):
    """Build the handout into ``out_dir`` (and ``out_dir``.zip). A non-empty ``out_dir`` is replaced
    only when a previous build made it and ``force`` is given; the zip beside it only when it
    belongs to such a build."""
    resolved = Path(out_dir).resolve()
    zip_path = resolved.with_suffix(".zip") if resolved.name else None  # "/": refused below
    if make_zip and zip_path and zip_path.exists() and not (resolved / MARKER).is_file():
        raise HandoutError(f"refusing to overwrite {zip_path}: it was not written by a handout "
                           f"build into {out_dir}; move it away or choose another --out")
    out_dir = build_tree(out_dir, assignment, root, force=force, earlier=earlier)
    if make_zip:
        write_zip(out_dir, out_dir.with_suffix(".zip"))
    return out_dir
