"""The mutants of ``python -m autograder audit``: the reference ``mytorch/`` with one realistic
mistake put into one solution region (``# BEGIN SOLUTION`` … ``# END SOLUTION``) by rewriting its
syntax tree — a dropped transpose, a flipped sign, a sum for a mean, the other axis, a dropped
factor or term, the wrong cached tensor, a missing store, the input modified in place, eps outside
the square root, a branch always or never taken, the layers in the other order, ..."""
import ast
import copy
import difflib
import importlib
from dataclasses import dataclass, field
from pathlib import Path

from ..grading.assignment import find
from ..grading.rubric import load_rubric
from . import PROJECT_ROOT
from .handout import region_tasks, solution_regions


# -- the solution regions ---------------------------------------------------------------------
@dataclass(frozen=True)
class Region:
    path: str       # "mytorch/nn/linear.py"
    qualname: str   # "Linear.forward"
    first: int      # first line inside the region (1-based)
    last: int       # last line inside the region
    task: str


def find_regions(root=PROJECT_ROOT, assignment=None):
    """Every solution region of ``root/mytorch`` that ``assignment``'s rubric names (default: the
    course's default assignment), with its task."""
    by_region = region_tasks(load_rubric((assignment or find()).rubric_path))
    out = []
    for path in sorted(Path(root, "mytorch").rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        _, regions = solution_regions(path, rel)
        for qualname, begin, end, _ in regions:
            task = by_region.get(f"{rel}:{qualname}")
            if task is not None:
                out.append(Region(rel, qualname, begin + 2, end, task.id))
    return out


# -- mutation operators -----------------------------------------------------------------------
def _np_call(name, *args):
    return ast.Call(ast.Attribute(ast.Name("np", ast.Load()), name, ast.Load()), list(args), [])


def _is_self_attr(node, ctx=ast.Load):
    return (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
            and node.value.id == "self" and isinstance(node.ctx, ctx))


class Mutator:
    """The mistakes that apply to one node: ``sites(node, scope)`` yields (operator, description,
    replacement); a replacement is a node, or a list of statements for a statement."""

    def __init__(self, cached):
        self.cached = cached  # class name -> attributes its forward regions store on self

    def sites(self, node, scope):
        yield from self._expression(node, scope)
        yield from self._statement(node, scope)

    def _expression(self, node, scope):
        if isinstance(node, ast.Attribute) and node.attr == "T" and isinstance(node.ctx, ast.Load):
            yield "transpose", "dropped a transpose", node.value
        if isinstance(node, ast.BinOp):
            swap = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult}
            if type(node.op) in (ast.Add, ast.Sub):
                yield "sign", "flipped a sign", ast.BinOp(node.left, swap[type(node.op)](),
                                                          node.right)
                yield "dropped term", "dropped a term", node.left
                if isinstance(node.op, ast.Add):
                    yield "dropped term", "dropped a term", node.right
            if type(node.op) in (ast.Mult, ast.Div):
                yield "dropped factor", "dropped a factor", node.left
                if isinstance(node.op, ast.Mult):
                    yield "dropped factor", "dropped a factor", node.right
                yield "inverted factor", "multiplied where it divides (or the reverse)", \
                    ast.BinOp(node.left, swap[type(node.op)](), node.right)
            if isinstance(node.op, ast.MatMult):
                yield "operand order", "swapped a matrix product's operands", \
                    ast.BinOp(node.right, ast.MatMult(), node.left)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            yield "sign", "dropped a minus", node.operand
        if isinstance(node, ast.Call):
            func = node.func
            other = {"sum": "mean", "mean": "sum", "max": "min", "min": "max",
                     "maximum": "minimum", "minimum": "maximum"}
            if isinstance(func, ast.Attribute) and func.attr in other:
                new = copy.copy(node)
                new.func = ast.Attribute(func.value, other[func.attr], ast.Load())
                yield "sum/mean", f"{func.attr} where {other[func.attr]} belongs", new
            for i, kw in enumerate(node.keywords):
                if kw.arg == "axis" and isinstance(kw.value, ast.Constant) \
                        and kw.value.value in (0, 1):
                    new = copy.copy(node)
                    new.keywords = list(node.keywords)
                    new.keywords[i] = ast.keyword("axis", ast.Constant(1 - kw.value.value))
                    yield "axis", "the other axis", new
                if kw.arg == "keepdims":
                    new = copy.copy(node)
                    new.keywords = node.keywords[:i] + node.keywords[i + 1:]
                    yield "keepdims", "dropped keepdims", new
            if isinstance(func, ast.Attribute) and func.attr == "sqrt" and len(node.args) == 1 \
                    and isinstance(node.args[0], ast.BinOp) and isinstance(node.args[0].op,
                                                                           ast.Add):
                inner = node.args[0]
                yield "eps misplaced", "eps outside the square root", \
                    ast.BinOp(_np_call("sqrt", inner.left), ast.Add(), inner.right)
            if isinstance(func, ast.Name) and func.id == "reversed" and len(node.args) == 1:
                yield "order", "forgot to reverse the order", node.args[0]
        if isinstance(node, ast.Compare) and len(node.ops) == 1:
            swap = {ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Lt: ast.LtE, ast.LtE: ast.Lt}
            if type(node.ops[0]) in swap:
                yield "boundary", "< for <= (or the reverse)", \
                    ast.Compare(node.left, [swap[type(node.ops[0])]()], node.comparators)
        if isinstance(node, ast.IfExp):
            yield "branch", "the condition's 'else' value always", node.orelse
            yield "branch", "the condition's value always", node.body
        if _is_self_attr(node) and node.attr in self.cached.get(scope.cls, ()):
            for other in sorted(self.cached[scope.cls]):
                if other != node.attr and other in scope.read:
                    yield "cached tensor", f"self.{other} where self.{node.attr} belongs", \
                        ast.Attribute(ast.Name("self", ast.Load()), other, ast.Load())

    def _statement(self, node, scope):
        if isinstance(node, ast.For) and isinstance(node.iter, (ast.Name, ast.Attribute)):
            yield "order", "ran the loop in reverse order", [ast.For(
                node.target, ast.Call(ast.Name("reversed", ast.Load()), [node.iter], []),
                node.body, node.orelse)]
        if isinstance(node, ast.Assign) and len(node.targets) == 1 \
                and isinstance(node.targets[0], ast.Name) and isinstance(node.value, (ast.Call,
                                                                                     ast.IfExp)):
            yield "dropped output", f"dropped a result instead of keeping it in " \
                f"{node.targets[0].id}", [ast.Expr(node.value)]
        if isinstance(node, ast.If):
            yield "branch", "a branch never taken (e.g. momentum skipped)", \
                node.orelse or [ast.Pass()]
            yield "branch", "a branch always taken", node.body
        if isinstance(node, ast.AugAssign) and type(node.op) in (ast.Add, ast.Sub):
            flip = ast.Sub() if isinstance(node.op, ast.Add) else ast.Add()
            yield "sign", "flipped a sign", [ast.AugAssign(node.target, flip, node.value)]
            yield "assign", "= where an update (+=, -=) belongs", \
                [ast.Assign([node.target], node.value)]
        if isinstance(node, ast.AugAssign) and isinstance(node.op, ast.Mult):
            yield "dropped factor", "skipped a decay (e.g. the momentum factor)", [ast.Pass()]
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if _is_self_attr(target, ast.Store):
                yield "missing store", f"kept self.{target.attr} in a local only", \
                    [ast.Assign([ast.Name(target.attr, ast.Store())], node.value)]
                yield "accumulate", f"self.{target.attr} += where = belongs", \
                    [ast.AugAssign(copy.copy(target), ast.Add(), node.value)]
            value = node.value
            # (only in forward: an input there may be what the previous layer cached, e.g. ReLU's
            # self.A; backward's dLdA is the next layer's result, which nothing reads again)
            if scope.method == "forward" and isinstance(value, ast.BinOp) \
                    and isinstance(value.left, ast.Name) \
                    and value.left.id in scope.params and type(value.op) in (ast.Add, ast.Sub,
                                                                              ast.Mult, ast.Div):
                name = value.left.id
                yield "in-place input", f"modified the input {name} in place", \
                    [ast.AugAssign(ast.Name(name, ast.Store()), type(value.op)(), value.right),
                     ast.Assign(node.targets, ast.Name(name, ast.Load()))]


@dataclass
class Scope:
    cls: str
    method: str
    params: set
    read: set  # self attributes this method reads


@dataclass
class Mutant:
    id: int
    region: str     # "mytorch/nn/linear.py:Linear.forward"
    task: str
    operator: str
    description: str
    line: int
    diff: str
    source: str = field(repr=False, default="")
    path: str = ""
    expects: str = ""  # a named mutant's catalogue id, which its task's hint must name


def _cached_attributes(tree, regions):
    """class -> attributes stored on self inside its forward regions (what backward may read)."""
    out = {}
    for cls in [n for n in tree.body if isinstance(n, ast.ClassDef)]:
        for fn in [n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "forward"]:
            for node in ast.walk(fn):
                if isinstance(node, ast.Assign):
                    for t in node.targets:
                        if _is_self_attr(t, ast.Store) and any(
                                r.first <= node.lineno <= r.last for r in regions):
                            out.setdefault(cls.name, set()).add(t.attr)
    return out


def _parents(tree):
    for parent in ast.walk(tree):
        for name, value in ast.iter_fields(parent):
            if isinstance(value, list):
                for i, child in enumerate(value):
                    if isinstance(child, ast.AST):
                        yield child, parent, name, i
            elif isinstance(value, ast.AST):
                yield value, parent, name, None


def generate_mutants(root=PROJECT_ROOT, assignment=None):
    """Every mutant of every solution region of ``assignment`` (duplicates and no-ops dropped), in
    a stable order."""
    regions = find_regions(root, assignment)
    mutants, seen = [], set()
    for path in sorted({r.path for r in regions}):
        text = Path(root, path).read_text(encoding="utf-8")
        tree = ast.parse(text)
        in_file = [r for r in regions if r.path == path]
        original = ast.unparse(tree)
        seen.add(original)
        mutator = Mutator(_cached_attributes(tree, in_file))
        scopes = {}
        for cls in [n for n in tree.body if isinstance(n, ast.ClassDef)]:
            for fn in [n for n in cls.body if isinstance(n, ast.FunctionDef)]:
                read = {n.attr for n in ast.walk(fn) if _is_self_attr(n)}
                scope = Scope(cls.name, fn.name, {a.arg for a in fn.args.args[1:]}, read)
                for node in ast.walk(fn):
                    scopes[id(node)] = scope
        for node, parent, name, index in list(_parents(tree)):
            line = getattr(node, "lineno", None)
            region = next((r for r in in_file if line and r.first <= line <= r.last
                           and getattr(node, "end_lineno", line) <= r.last), None)
            if region is None or id(node) not in scopes:
                continue
            for operator, description, replacement in mutator.sites(node, scopes[id(node)]):
                source = _replaced(tree, parent, name, index, replacement)
                if source is None or source in seen:
                    continue
                seen.add(source)
                diff = "".join(difflib.unified_diff(
                    original.splitlines(True), source.splitlines(True), path, path, n=1))
                mutants.append(Mutant(len(mutants), f"{path}:{region.qualname}", region.task,
                                      operator, description, line, diff, source, path))
    return mutants + named_mutants(root, assignment, regions, start=len(mutants))


class NamedMutantError(ValueError):
    """An entry of an assignment's ``mutants.py`` that no longer fits the reference."""


def named_mutants(root=PROJECT_ROOT, assignment=None, regions=None, start=0):
    """The assignment's named mutants (``mutants.py`` ``NAMED``: real students' mistakes no
    rewrite makes, each with the catalogue id its hint must name), numbered from ``start``."""
    assignment = assignment or find()
    try:
        named = importlib.import_module(f"{assignment.package}.mutants").NAMED
    except ModuleNotFoundError:
        return []
    regions = regions if regions is not None else find_regions(root, assignment)
    out = []
    for path, old, new, description, expects in named:
        text = Path(root, path).read_text(encoding="utf-8")
        if text.count(old) != 1:
            raise NamedMutantError(f"named mutant {description!r}: its text occurs "
                                   f"{text.count(old)} times in {path}, not once")
        line = text[:text.index(old)].count("\n") + 1
        region = next((r for r in regions if r.path == path and r.first <= line <= r.last), None)
        if region is None:
            raise NamedMutantError(f"named mutant {description!r}: line {line} of {path} is in "
                                   "no solution region")
        source = text.replace(old, new)
        diff = "".join(difflib.unified_diff(text.splitlines(True), source.splitlines(True),
                                            path, path, n=1))
        out.append(Mutant(start + len(out), f"{path}:{region.qualname}", region.task, "named",
                          description, line, diff, source, path, expects))
    return out


def _replaced(tree, parent, name, index, replacement):
    """The module's source with one child replaced (then put back), or None if it does not parse."""
    old = getattr(parent, name)
    if index is None:
        if isinstance(replacement, list):
            return None  # a statement replacement where an expression stands
        setattr(parent, name, replacement)
    else:
        new = list(old)
        new[index:index + 1] = replacement if isinstance(replacement, list) else [replacement]
        setattr(parent, name, new)
    try:
        ast.fix_missing_locations(tree)
        source = ast.unparse(tree)
        compile(source, "<mutant>", "exec")
    except (SyntaxError, ValueError, TypeError):
        source = None
    finally:
        setattr(parent, name, old)
    return source
