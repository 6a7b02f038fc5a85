"""The folders keep their promises (docs/architecture.md), read from the imports themselves.

* nothing of the student's grader (``autograder/`` outside ``instructor/``) imports the instructor's
  tools, so the handout, which drops ``instructor/`` whole, misses nothing it needs;
* ``autograder/channel/sandbox/`` — the only code that runs beside student code — imports nothing
of the
  trusted side, only the standard library, NumPy and its own modules;
* ``mytorch/`` imports NumPy and the standard library only;
* the worker serves exactly the operations of ``sandbox/protocol.py``.
"""
import ast
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
AUTOGRADER = REPO / "autograder"
SANDBOX = AUTOGRADER / "channel" / "sandbox"
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
    sandbox = SANDBOX
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
    sys.path.insert(0, str(SANDBOX))
    try:
        import protocol
    finally:
        sys.path.remove(str(SANDBOX))
    tree = ast.parse((SANDBOX / "worker.py").read_text(encoding="utf-8"))
    server = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Server")
    handled = {f.name[3:] for f in server.body
               if isinstance(f, ast.FunctionDef) and f.name.startswith("op_")}
    assert handled == set(protocol.OPERATIONS)


def test_no_module_of_the_grader_is_over_450_lines():
    long = {str(p.relative_to(REPO)): n for p in AUTOGRADER.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 450}
    assert long == {}


# -- the rooms ------------------------------------------------------------------------------------
ROOMS = ("grading", "checking", "channel", "intake", "assignments", "instructor")
ROOT_MODULES = {"__init__.py", "__main__.py", "submit.py"}


def grader_modules():
    return sorted(p for p in AUTOGRADER.rglob("*.py") if "__pycache__" not in p.parts)


def test_every_module_of_the_grader_lives_in_a_room():
    homeless = [str(p.relative_to(REPO)) for p in grader_modules()
                if p.parent == AUTOGRADER and p.name not in ROOT_MODULES
                or p.parent != AUTOGRADER and p.relative_to(AUTOGRADER).parts[0] not in ROOMS]
    assert homeless == []


def test_the_grader_knows_no_assignment_by_name():
    """What an assignment adds is data in its folder: no code outside it names one."""
    names = {p.name for p in (AUTOGRADER / "assignments").iterdir() if p.is_dir()
             and (p / "rubric.toml").is_file()}
    offenders = [f"{p.relative_to(REPO)} names {name}" for p in grader_modules()
                 if "assignments" not in p.relative_to(AUTOGRADER).parts
                 for name in names if re.search(rf"\b{name}\b", p.read_text(encoding="utf-8"))]
    assert names and offenders == []


def module_graph():
    """{module: {modules it imports, at any depth of the file (functions included)}} over the
    grader's own modules (sandbox/ aside: it imports its siblings by bare name)."""
    modules = {}
    for path in grader_modules():
        rel = path.relative_to(REPO).with_suffix("")
        parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
        modules[".".join(parts)] = path
    graph = {}
    for name, path in modules.items():
        edges = set()
        for module, level in imports(path):
            if path.name == "__init__.py" and level:
                level -= 1  # a package's own relative imports start from itself
                target = ".".join(name.split(".")[:len(name.split(".")) - level]
                                  + ([module] if module else []))
            else:
                target = resolve(path, module, level, AUTOGRADER)
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                edges.add(target)
        graph[name] = edges
    return graph


def test_no_import_cycles():
    """Not even through imports inside functions, which hide a cycle from Python but not from
    a reader."""
    graph = module_graph()
    cycles, state = [], {}

    def visit(node, stack):
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycles.append(" -> ".join(stack[stack.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    # a package importing its own modules (an __init__ re-exporting) is not a cycle of jobs
    cycles = [c for c in cycles if not all(p.startswith(c.split(" -> ")[0]) for p in
                                          c.split(" -> ")) or c.count(" -> ") > 1]
    assert cycles == []


def test_the_architecture_page_names_every_module_and_only_those():
    """docs/architecture.md's folder map is checked against the tree: every module of the grader
    is named under its folder, and every name it gives exists."""
    text = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    block = text.split("```", 2)[1]
    named, folder_stack = set(), []
    for line in block.splitlines()[1:]:
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        first = line.split()[0]
        while folder_stack and folder_stack[-1][0] >= indent:
            folder_stack.pop()
        if first.endswith("/"):
            folder_stack.append((indent, first))
            continue
        here = "".join(f for _, f in folder_stack)
        for word in line.split():
            if word.endswith(".py"):
                named.add(here + word)
            else:
                break
    actual = {str(p.relative_to(REPO)) for p in grader_modules()
              if p.name != "__init__.py" and "suite" not in p.parts}
    actual = {a for a in actual if not a.startswith("autograder/assignments/")}
    named = {n for n in named if n.startswith("autograder/")
             and not n.startswith("autograder/assignments/")}
    assert sorted(actual - named) == [], "modules missing from docs/architecture.md"
    assert sorted(named - actual) == [], "docs/architecture.md names modules that do not exist"
