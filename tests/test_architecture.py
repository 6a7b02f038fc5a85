"""The folders keep their promises (docs/architecture.md), read from the imports themselves.

* nothing of the student's grader (``autograder/`` outside ``instructor/``) imports the instructor's
  tools, so the handout, which drops ``instructor/`` whole, misses nothing it needs;
* ``autograder/sandbox/`` — the only code that runs beside student code — imports nothing of the
  trusted side, only the standard library, NumPy and its own modules;
* ``mytorch/`` imports NumPy and the standard library only;
* the worker serves exactly the operations of ``sandbox/protocol.py``.
"""
import ast
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
AUTOGRADER = REPO / "autograder"
STDLIB = set(sys.stdlib_module_names)


def imports(path):
    """(module, level) of every import in a file; a relative import keeps its dots as level."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, 0
        elif isinstance(node, ast.ImportFrom):
            yield node.module or "", node.level


def resolve(path, module, level, package_root):
    """The absolute dotted name an import in ``path`` refers to."""
    if level == 0:
        return module
    parts = list(path.relative_to(package_root.parent).with_suffix("").parts)[:-level]
    return ".".join(parts + ([module] if module else []))


def test_the_students_grader_never_imports_the_instructors_tools():
    offenders = []
    for path in AUTOGRADER.rglob("*.py"):
        if "instructor" in path.relative_to(AUTOGRADER).parts:
            continue
        for module, level in imports(path):
            target = resolve(path, module, level, AUTOGRADER)
            if target.startswith("autograder.instructor") or \
                    (target == "autograder" and module == "instructor"):
                offenders.append(f"{path.relative_to(REPO)} imports {target}")
    assert offenders == []


def test_the_sandbox_imports_nothing_of_the_trusted_side():
    sandbox = AUTOGRADER / "sandbox"
    own = {p.stem for p in sandbox.glob("*.py")}
    offenders = []
    for path in sandbox.glob("*.py"):
        for module, level in imports(path):
            top = module.split(".")[0]
            if level or not (top in STDLIB or top == "numpy" or top in own):
                offenders.append(f"{path.name} imports {'.' * level}{module}")
    assert offenders == []


def test_mytorch_imports_numpy_and_the_standard_library_only():
    offenders = []
    for path in (REPO / "mytorch").rglob("*.py"):
        for module, level in imports(path):
            top = module.split(".")[0]
            if level == 0 and not (top in STDLIB or top in ("numpy", "mytorch")):
                offenders.append(f"{path.relative_to(REPO)} imports {module}")
    assert offenders == []


def test_the_worker_serves_exactly_the_protocols_operations():
    sys.path.insert(0, str(AUTOGRADER / "sandbox"))
    try:
        import protocol
    finally:
        sys.path.remove(str(AUTOGRADER / "sandbox"))
    tree = ast.parse((AUTOGRADER / "sandbox" / "worker.py").read_text(encoding="utf-8"))
    server = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Server")
    handled = {f.name[3:] for f in server.body
               if isinstance(f, ast.FunctionDef) and f.name.startswith("op_")}
    assert handled == set(protocol.OPERATIONS)


def test_no_module_of_the_grader_is_over_450_lines():
    long = {str(p.relative_to(REPO)): n for p in AUTOGRADER.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 450}
    assert long == {}
