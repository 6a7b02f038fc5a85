"""What a submission imports, read from its source with ``ast`` on the grader's side (never by
importing it), before any of its code runs.

``scan(folder, allowed)`` finds the two problems a student should read once, at the top of the
report, instead of in every failing test: a file that does not parse (file, line, the line
itself), and an import outside what the course allows (the rubric's ``allowed_imports``: NumPy
and the standard library unless the instructor adds more). The worker enforces the same policy when
the code runs (an import from the submission of anything else raises ``ImportError``), so a grade
never depends on what happens to be installed.

It also records which of the submission's own modules each module imports when it is imported
(``ImportScan.requires``): when importing one hangs or kills the worker, every module that needs
it is known to fail too, without another worker paying the time limit to find out.
"""
import ast
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

PACKAGE = "mytorch"
DEFAULT_ALLOWED = ("numpy",)
SYNTAX_ERRORS = ("SyntaxError", "IndentationError", "TabError")
# The worker's refusal of an import outside the policy says this; ``report`` shows the static
# finding (with file and line) instead of that message.
REFUSED = "is not allowed in this course"

# Imports with a standard-library replacement worth naming in the message.
ALTERNATIVES = {
    ("scipy.special", "erf"): "math.erf computes erf of one number; for an array use "
                              "np.vectorize(math.erf, otypes=[float]) (the handout's "
                              "activation.py defines it as `_erf`)",
    ("scipy.special", "expit"): "write the sigmoid with np.exp",
    ("scipy.special", "softmax"): "write it with np.exp and a row-wise sum",
    ("scipy.special", "logsumexp"): "write it with np.max, np.exp and np.log",
}


def stdlib_names():
    return frozenset(sys.stdlib_module_names) | {"__future__"}


def describe_allowed(allowed):
    extra = [name for name in allowed if name != PACKAGE]
    return ", ".join(extra + ["the Python standard library"]) if extra else \
        "the Python standard library"


@dataclass
class Problem:
    """One finding: a file that does not parse, or an import the policy refuses."""

    path: str       # relative to the submission folder, with "/"
    line: int
    source: str     # the offending line, stripped
    message: str
    kind: str       # "syntax" | "import"
    column: int = 0
    advice: str = ""

    def render(self):
        lines = [f"{self.path}, line {self.line}: {self.message}"]
        if self.source:
            lines.append(f"    {self.source}")
            if self.kind == "syntax" and self.column > 0:
                lines.append("    " + " " * (self.column - 1) + "^")
        if self.advice:
            lines += textwrap.wrap(self.advice, 94, initial_indent="  ", subsequent_indent="  ")
        return "\n".join(lines)


@dataclass
class ImportScan:
    problems: list = field(default_factory=list)
    requires: dict = field(default_factory=dict)  # module -> set of own modules run on import

    def closure(self, module):
        """The submission's modules importing ``module`` runs (itself and its packages too)."""
        seen, todo = set(), list(_prefixes(module))
        while todo:
            name = todo.pop()
            if name not in seen:
                seen.add(name)
                todo.extend(self.requires.get(name, ()))
        return seen

    @property
    def syntax_errors(self):
        return [p for p in self.problems if p.kind == "syntax"]

    @property
    def refused_imports(self):
        return [p for p in self.problems if p.kind == "import"]


def scan(folder, allowed=DEFAULT_ALLOWED):
    """Read every ``.py`` of ``folder/mytorch``; return an ``ImportScan``."""
    folder = Path(folder)
    allowed_names = set(allowed) | {PACKAGE}
    stdlib = stdlib_names()
    result = ImportScan()
    for path in sorted((folder / PACKAGE).rglob("*.py")):
        if "__pycache__" in path.parts or not path.is_file():
            continue
        relative = path.relative_to(folder)
        module = ".".join(relative.with_suffix("").parts)
        is_package = relative.name == "__init__.py"
        if is_package:
            module = module.rsplit(".", 1)[0]
        try:
            source = path.read_text(encoding="utf-8")
            tree = ast.parse(source, filename=f"<{relative.as_posix()}>")
        except SyntaxError as exc:
            # the line from the text itself: exc.text may be read from a file of that name
            # relative to the current folder (linecache), which is not this one
            lines = source.splitlines()
            text = lines[exc.lineno - 1].rstrip() if exc.lineno and exc.lineno <= len(lines) else ""
            result.problems.append(Problem(relative.as_posix(), exc.lineno or 0, text,
                                           f"{type(exc).__name__}: {exc.msg}", "syntax",
                                           exc.offset or 0))
            continue
        except (UnicodeDecodeError, ValueError) as exc:  # not UTF-8, or a NUL byte
            result.problems.append(Problem(relative.as_posix(), 0, "",
                                           f"cannot be read as Python source ({exc})", "syntax"))
            continue
        package = module if is_package else module.rpartition(".")[0]
        source_lines = source.splitlines()
        requires = result.requires.setdefault(module, set())
        for node, at_import in _imports(tree):
            for target, names in _targets(node, package):
                top = target.partition(".")[0]
                if top == PACKAGE:
                    if at_import:
                        requires.update(_prefixes(target))
                        requires.update(f"{target}.{n}" for n in names
                                        if _module_file(folder, f"{target}.{n}"))
                elif top and top not in allowed_names and top not in stdlib:
                    text = source_lines[node.lineno - 1].strip() \
                        if node.lineno <= len(source_lines) else ""
                    result.problems.append(Problem(
                        relative.as_posix(), node.lineno, text,
                        f"imports {top}, which the course does not allow", "import",
                        advice=advice(target, names)))
        requires.discard(module)
    return result


def advice(target, names):
    """What to do about an import of ``target`` (``from target import names``) that is refused."""
    text = "Every test that needs this file fails."
    hints = [ALTERNATIVES[(target, n)] for n in names if (target, n) in ALTERNATIVES]
    if hints:
        text += " Instead: " + "; ".join(hints) + "."
    top = target.partition(".")[0]
    text += (f" (If your course allows {top}, the instructor adds it to allowed_imports in the "
             f"rubric.)")
    return text


def _imports(tree):
    """(node, runs at import time) for every import statement: the bodies of functions run later."""
    stack = [(tree, True)]
    while stack:
        node, at_import = stack.pop()
        for child in ast.iter_child_nodes(node):
            inside = at_import and not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                          ast.Lambda))
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                yield child, at_import
            stack.append((child, inside))


def _targets(node, package):
    """(module imported, names taken from it) for one import statement."""
    if isinstance(node, ast.Import):
        return [(alias.name, ()) for alias in node.names]
    if node.level:
        parts = package.split(".") if package else []
        if node.level - 1 > len(parts):
            return []  # beyond the top package: Python refuses it itself
        parts = parts[:len(parts) - (node.level - 1)]
        base = ".".join(parts + ([node.module] if node.module else []))
    else:
        base = node.module or ""
    return [(base, tuple(alias.name for alias in node.names))]


def _prefixes(module):
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def _module_file(folder, module):
    path = Path(folder, *module.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()
