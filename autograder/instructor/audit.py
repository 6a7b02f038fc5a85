"""``python -m autograder audit``: how well the graded suite sees realistic mistakes.

Each *mutant* is the reference ``mytorch/`` with one realistic mistake put into one solution region
(``# BEGIN SOLUTION`` … ``# END SOLUTION``) by rewriting its syntax tree: a dropped transpose, a
flipped sign, a sum for a mean, the other axis, a dropped factor or term, the wrong cached tensor, a
missing store, the input modified in place, eps outside the square root, a branch always or never
taken (momentum skipped), the layers in the other order, ... Every mutant is graded like a
submission (the real grader: worker process, proxy, public suite; ``--hidden`` adds the hidden
cases), several at a time, and the report gives

* the mutation score: the share of mutants that lose points;
* every surviving mutant, with its diff;
* for every killed mutant, whether the feedback of its own task gives a hint (and which);
* every point charged outside the mutant's own task — split into *charged* (points lost for a
  mistake elsewhere) and *not graded* (a check withheld, the feedback naming the upstream task).

``--coverage`` measures instead which lines and branches of the solution regions the public suite
runs (the reference graded in this process, traced with ``sys.settrace``).
"""
import ast
import concurrent.futures
import copy
import difflib
import json
import os
import random
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..rubric import load_rubric
from . import PROJECT_ROOT
from .handout import region_tasks, solution_regions

NOT_GRADED = "not graded"  # the MLP tasks' wording for a check withheld because of another task


# -- the solution regions ---------------------------------------------------------------------
@dataclass(frozen=True)
class Region:
    path: str       # "mytorch/nn/linear.py"
    qualname: str   # "Linear.forward"
    first: int      # first line inside the region (1-based)
    last: int       # last line inside the region
    task: str


def code_owners():
    """task -> the task whose code it grades: itself, or, for a task with no regions of its own
    (MLP1 and MLP4 grade MLP0's shared Sequential on deeper models), the section's task that has
    them. A mistake in that code is that family's own, not a charge elsewhere."""
    owners, last = {}, {}
    for task in load_rubric():
        section = task.id.split(".")[0]
        if task.regions:
            last[section] = task.id
        owners[task.id] = task.id if task.regions else last.get(section, task.id)
    return owners


def find_regions(root=PROJECT_ROOT):
    """Every solution region of ``root/mytorch`` with its rubric task."""
    by_region = region_tasks(load_rubric())
    out = []
    for path in sorted(Path(root, "mytorch").rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        _, regions = solution_regions(path, rel)
        for qualname, begin, end, _ in regions:
            task = by_region.get(f"{rel}:{qualname}")
            out.append(Region(rel, qualname, begin + 2, end, task.id if task else "?"))
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


# Mutants that change nothing a student could be graded on, found by reading the survivors: each
# entry is (region, operator description, text of a line the mutant removes, text of a line it adds,
# why it is harmless), lines as ``ast.unparse`` prints them. A killed mutant is never equivalent.
EQUIVALENT = [
    ("mytorch/nn/activation.py:Sigmoid.forward", "< for <= (or the reverse)", "Z >= 0", "Z > 0",
     "both branches give 1/2 at Z = 0"),
    ("mytorch/nn/batchnorm.py:BatchNorm1d.forward", "kept self.Z in a local only", "self.Z = Z",
     "Z = Z", "nothing reads self.Z (backward uses NZ and V)"),
    ("mytorch/nn/batchnorm.py:BatchNorm1d.forward", "dropped keepdims",
     "self.M = Z.mean(axis=0, keepdims=True)", "self.M = Z.mean(axis=0)",
     "a (C,) mean broadcasts exactly as a (1, C) one, and running_M stays (1, C)"),
    ("mytorch/nn/batchnorm.py:BatchNorm1d.forward", "dropped keepdims",
     "self.V = Z.var(axis=0, keepdims=True)", "self.V = Z.var(axis=0)",
     "a (C,) variance broadcasts exactly as a (1, C) one, and running_V stays (1, C)"),
    ("mytorch/nn/batchnorm.py:BatchNorm1d.backward", "dropped keepdims", "mean(axis=0, keepdims",
     "mean(axis=0)", "a column mean of shape (C,) broadcasts over the rows as (1, C) does"),
    ("mytorch/nn/linear.py:Linear.backward", "a branch always taken", "if self.b is not None:",
     "self.dLdb = ", "a layer without a bias also storing a dLdb: parameters() does not list "
     "it and nothing reads it"),
    ("mytorch/nn/linear.py:Linear.backward", "the condition's value always",
     "if self.input_grad else None", "dLdA = dLdZ @ self.W",
     "input_grad=False is an optional, ungraded feature"),
    ("mytorch/nn/loss.py:CrossEntropyLoss.forward", "modified the input A in place",
     "shifted = A - A.max(axis=1, keepdims=True)", "A -= A.max(axis=1, keepdims=True)",
     "the loss's input is the last Linear's output, which no layer caches"),
]


def equivalence(mutant):
    """Why ``mutant`` cannot change a grade (an ``EQUIVALENT`` entry), or None."""
    lines = mutant.diff.splitlines()[2:]
    removed = [line[1:].strip() for line in lines if line.startswith("-")]
    added = [line[1:].strip() for line in lines if line.startswith("+")]
    for region, description, old, new, reason in EQUIVALENT:
        if region == mutant.region and description == mutant.description \
                and any(old in line for line in removed) and any(new in line for line in added):
            return reason
    return None


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


def generate_mutants(root=PROJECT_ROOT):
    """Every mutant of every solution region (duplicates and no-ops dropped), in a stable order."""
    regions = find_regions(root)
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
    return mutants


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


# -- grading mutants --------------------------------------------------------------------------
@dataclass
class Verdict:
    mutant: Mutant
    killed: bool
    own_lost: float                   # points lost in the mutant's own task
    charged: dict                     # other task -> points lost there for this mutant
    not_graded: dict                  # other task -> points withheld, naming another task
    hints: list                       # the hints the own task's feedback gave
    seconds: float
    error: str = ""


def _grade_mutant(args):
    mutant, root, hidden_secret = args
    from ..grading import grade
    from ..transport import Limits

    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="audit-") as tmp:
        shutil.copytree(Path(root, "mytorch"), Path(tmp, "mytorch"),
                        ignore=shutil.ignore_patterns("__pycache__"))
        Path(tmp, mutant.path).write_text(mutant.source, encoding="utf-8")
        hidden = None
        if hidden_secret:
            from .hidden import hidden_cases
            hidden = hidden_cases(hidden_secret)
        limits = Limits()
        limits.call_seconds = 5
        try:
            result = grade(tmp, limits=limits, hidden_cases=hidden)
        except Exception as exc:  # a grader problem is reported, not hidden
            return Verdict(mutant, False, 0.0, {}, {}, [], time.monotonic() - start,
                           f"{type(exc).__name__}: {exc}")
    own_lost, charged, not_graded, hints = 0.0, {}, {}, []
    owners = code_owners()
    for task in result.tasks:
        lost = round(task.max_score - task.score, 4)
        if lost <= 0:
            continue
        feedback = "\n".join(t.feedback for t in task.failures())
        if owners.get(task.id) == mutant.task:
            own_lost += lost
            hints += sorted({line.strip()[len("Hint: "):] for line in feedback.splitlines()
                             if line.strip().startswith("Hint: ")})
        elif NOT_GRADED in feedback and f"Task {mutant.task}" in feedback:
            not_graded[task.id] = not_graded.get(task.id, 0) + lost
        else:
            charged[task.id] = charged.get(task.id, 0) + lost
    killed = result.score < result.max_score
    error = "; ".join(result.errors)
    return Verdict(mutant, killed, own_lost, charged, not_graded, hints,
                   time.monotonic() - start, error)


def run_audit(mutants, root=PROJECT_ROOT, jobs=None, hidden_secret=None, progress=None):
    jobs = jobs or os.cpu_count() or 1
    work = [(m, str(root), hidden_secret) for m in mutants]
    verdicts = []
    with concurrent.futures.ProcessPoolExecutor(jobs) as pool:
        for verdict in pool.map(_grade_mutant, work):
            verdicts.append(verdict)
            if progress:
                progress(len(verdicts), len(work))
    return verdicts


def sample(mutants, count, seed=0):
    """``count`` mutants spread over the operators (round robin over each operator's shuffle)."""
    rng = random.Random(seed)
    by_operator = {}
    for m in mutants:
        by_operator.setdefault(m.operator, []).append(m)
    for group in by_operator.values():
        rng.shuffle(group)
    chosen, groups = [], [by_operator[k] for k in sorted(by_operator)]
    while len(chosen) < min(count, len(mutants)):
        for group in groups:
            if group and len(chosen) < count:
                chosen.append(group.pop())
    return sorted(chosen, key=lambda m: m.id)


def summary(verdicts):
    """Counts over the verdicts; the score leaves out surviving mutants known to be equivalent."""
    killed = [v for v in verdicts if v.killed]
    equivalent = [v for v in verdicts if not v.killed and equivalence(v.mutant)]
    counted = len(verdicts) - len(equivalent)
    return {
        "mutants": len(verdicts), "killed": len(killed), "equivalent": len(equivalent),
        "score": len(killed) / counted if counted else 0.0,
        "hinted": sum(bool(v.hints) for v in killed),
        "charged_elsewhere": sum(bool(v.charged) for v in verdicts),
        "points_charged_elsewhere": round(sum(sum(v.charged.values()) for v in verdicts), 2),
        "not_graded_elsewhere": sum(bool(v.not_graded) for v in verdicts),
        "errors": sum(bool(v.error) for v in verdicts),
    }


def render(verdicts, show_hints=False):
    s = summary(verdicts)
    lines = [f"mutation score: {s['killed']}/{s['mutants'] - s['equivalent']} killed "
             f"({s['score']:.1%}; {s['equivalent']} surviving mutants are equivalent and not "
             f"counted); "
             f"{s['hinted']} of the killed got a hint in their own task",
             f"charged outside their own task: {s['charged_elsewhere']} mutants, "
             f"{s['points_charged_elsewhere']:g} points; withheld elsewhere as 'not graded' "
             f"(naming the mutant's task): {s['not_graded_elsewhere']} mutants", ""]
    header = f"{'operator':<16} {'mutants':>7} {'killed':>7} {'hinted':>7} {'elsewhere':>9}"
    lines += [header, "-" * len(header)]
    for op in sorted({v.mutant.operator for v in verdicts}):
        group = [v for v in verdicts if v.mutant.operator == op]
        lines.append(f"{op:<16} {len(group):>7} {sum(v.killed for v in group):>7} "
                     f"{sum(bool(v.hints) for v in group if v.killed):>7} "
                     f"{sum(bool(v.charged) for v in group):>9}")
    lines.append("")
    header = f"{'task':<6} {'mutants':>7} {'killed':>7} {'hinted':>7}"
    lines += [header, "-" * len(header)]
    for task in sorted({v.mutant.task for v in verdicts}, key=lambda t: [int(x) for x in
                                                                        t.split(".")]):
        group = [v for v in verdicts if v.mutant.task == task]
        lines.append(f"{task:<6} {len(group):>7} {sum(v.killed for v in group):>7} "
                     f"{sum(bool(v.hints) for v in group if v.killed):>7}")
    equivalent = [v for v in verdicts if not v.killed and equivalence(v.mutant)]
    if equivalent:
        lines += ["", f"equivalent mutants ({len(equivalent)}), not counted:"]
        for v in equivalent:
            m = v.mutant
            lines.append(f"#{m.id} {m.region}:{m.line} {m.description}: {equivalence(m)}")
    survivors = [v for v in verdicts if not v.killed and not equivalence(v.mutant)]
    if survivors:
        lines += ["", f"surviving mutants ({len(survivors)}):"]
        for v in survivors:
            m = v.mutant
            lines += ["", f"#{m.id} {m.region} (task {m.task}), line {m.line}: {m.description}"
                      + (f"  [grader problem: {v.error}]" if v.error else "")]
            lines += ["    " + d for d in m.diff.splitlines()[2:]]
    charged = [v for v in verdicts if v.charged]
    if charged:
        lines += ["", "points charged outside the mutant's own task:"]
        for v in charged:
            m = v.mutant
            where = ", ".join(f"{t}: -{p:g}" for t, p in sorted(v.charged.items()))
            lines.append(f"#{m.id} {m.region} (task {m.task}) {m.description}: {where}")
    if show_hints:
        lines += ["", "killed mutants and their hints:"]
        for v in verdicts:
            if v.killed:
                m = v.mutant
                lines.append(f"#{m.id} {m.region}:{m.line} {m.description}: "
                             + (" | ".join(v.hints) if v.hints else "(no hint)"))
    return "\n".join(lines)


# -- coverage of the solution regions under the public suite --------------------------------
@dataclass
class Coverage:
    lines: int
    lines_run: int
    branches: int
    branches_run: int
    missing: list   # "path:line what"

    @property
    def fraction(self):
        total = self.lines + self.branches
        return (self.lines_run + self.branches_run) / total if total else 1.0


# Documented optional features that no graded test may rely on (the docstrings say "optional, not
# graded"): a branch whose condition reads one of them is left out of the coverage figure.
OPTIONAL_FEATURES = ("input_grad",)


def _optional(node):
    return any(isinstance(n, ast.Attribute) and n.attr in OPTIONAL_FEATURES
               for n in ast.walk(node.test))


def _branch_points(tree, region):
    """[(description, kind, node)] of the branches inside a region: each outcome of an ``if`` and
    of a conditional expression, and each loop body."""
    points = []
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if not region.first <= line <= region.last:
            continue
        if isinstance(node, (ast.If, ast.IfExp)) and _optional(node):
            continue
        if isinstance(node, ast.If):
            points.append((f"if at line {line} taken", "lines", node.body))
            if node.orelse:
                points.append((f"else of the if at line {line} taken", "lines", node.orelse))
            else:
                points.append((f"if at line {line} not taken", "skip", node))
        elif isinstance(node, ast.IfExp):
            points.append((f"conditional at line {line}: first value", "span", node.body))
            points.append((f"conditional at line {line}: else value", "span", node.orelse))
        elif isinstance(node, (ast.For, ast.While)):
            points.append((f"loop body at line {line} run", "lines", node.body))
    return points


def measure_coverage(root=PROJECT_ROOT):
    """Line and branch coverage of the reference's solution regions when the public suite grades the
    reference in this process (``benchmarks/proxy_overhead.py``'s in-process submission)."""
    import importlib.util

    root = Path(root).resolve()
    spec = importlib.util.spec_from_file_location("_proxy_overhead",
                                                  root / "benchmarks" / "proxy_overhead.py")
    overhead = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(overhead)
    from ..grading import grade

    regions = find_regions(root)
    files = {str((root / r.path).resolve()) for r in regions}
    lines_run, arcs, spans = set(), set(), set()

    def tracer(frame, event, arg):
        filename = frame.f_code.co_filename
        if event != "call" or filename not in files:
            return None
        positions = list(frame.f_code.co_positions())
        frame.f_trace_opcodes = True
        last = [None]

        def local(frame, event, arg):
            if event == "line":
                lines_run.add((filename, frame.f_lineno))
                arcs.add((filename, last[0], frame.f_lineno))
                last[0] = frame.f_lineno
            elif event == "opcode":
                pos = positions[frame.f_lasti // 2] if frame.f_lasti // 2 < len(positions) \
                    else None
                if pos and pos[0] is not None:
                    spans.add((filename, pos[0], pos[2]))
            return local
        return local

    old = sys.gettrace()
    sys.settrace(tracer)
    try:
        result = grade(root, submission_factory=overhead.InProcessSubmission)
    finally:
        sys.settrace(old)
    if result.score != result.max_score:
        raise RuntimeError(f"the reference graded {result.score}/{result.max_score} in process")

    total = run = b_total = b_run = 0
    missing = []
    for region in regions:
        filename = str((root / region.path).resolve())
        tree = ast.parse((root / region.path).read_text(encoding="utf-8"))
        statements = {n.lineno for n in ast.walk(tree) if isinstance(n, ast.stmt)
                      and region.first <= n.lineno <= region.last}
        for line in sorted(statements):
            total += 1
            if (filename, line) in lines_run:
                run += 1
            else:
                missing.append(f"{region.path}:{line} never runs")
        for description, kind, target in _branch_points(tree, region):
            b_total += 1
            if kind == "lines":
                seen = any((filename, s.lineno) in lines_run for s in target)
            elif kind == "span":
                seen = any(f == filename and target.lineno <= line <= target.end_lineno
                           and (line != target.lineno or col is None or col >= target.col_offset)
                           and (line != target.end_lineno or col is None
                                or col < target.end_col_offset)
                           for f, line, col in spans)
            else:  # an if without else, not taken: from its test to a line outside its body
                body = range(target.body[0].lineno, target.body[-1].end_lineno + 1)
                seen = any(f == filename and a == target.lineno and b not in body
                           for f, a, b in arcs)
            if seen:
                b_run += 1
            else:
                missing.append(f"{region.path}: {description} never")
    return Coverage(total, run, b_total, b_run, missing)


# -- command line -----------------------------------------------------------------------------
def add_arguments(parser):
    parser.add_argument("--quick", action="store_true",
                        help="grade a sample of the mutants (spread over the operators)")
    parser.add_argument("--sample", type=int, default=40, metavar="N",
                        help="mutants in --quick mode (default 40)")
    parser.add_argument("--jobs", "-j", type=int, default=None, metavar="N",
                        help="mutants graded at once (default: the number of CPUs)")
    parser.add_argument("--hidden", action="store_true",
                        help="grade the mutants with the hidden cases too (needs the secret)")
    parser.add_argument("--secret-file", metavar="PATH")
    parser.add_argument("--json", type=Path, metavar="PATH",
                        help="also write every verdict as JSON")
    parser.add_argument("--hints", action="store_true",
                        help="list every killed mutant with the hint its task gave")
    parser.add_argument("--list", action="store_true",
                        help="only list the mutants (with their diffs), grade nothing")
    parser.add_argument("--coverage", action="store_true",
                        help="instead: line and branch coverage of the solution regions under "
                             "the public suite")


def run(args):
    if args.coverage:
        cov = measure_coverage()
        print(f"solution regions under the public suite: lines {cov.lines_run}/{cov.lines}, "
              f"branches {cov.branches_run}/{cov.branches} ({cov.fraction:.1%})")
        for line in cov.missing:
            print("  " + line)
        return 0 if not cov.missing else 1
    mutants = generate_mutants()
    if args.quick:
        mutants = sample(mutants, args.sample)
    if args.list:
        for m in mutants:
            print(f"#{m.id} {m.region} (task {m.task}) line {m.line}: {m.description}")
            print(m.diff)
        return 0
    secret = None
    if args.hidden:
        from .hidden import SecretError, read_secret
        try:
            secret = read_secret(args.secret_file)
        except SecretError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    start = time.monotonic()
    print(f"grading {len(mutants)} mutants of the reference's solution regions"
          + (" with the hidden cases" if secret else "") + " ...", file=sys.stderr)
    def progress(done, total):
        if done % 10 == 0 or done == total:
            print(f"  {done}/{total} graded ({time.monotonic() - start:.0f} s)", file=sys.stderr)
    verdicts = run_audit(mutants, jobs=args.jobs, hidden_secret=secret, progress=progress)
    print(render(verdicts, show_hints=args.hints))
    print(f"({time.monotonic() - start:.0f} s)")
    if args.json:
        data = {"summary": summary(verdicts),
                "verdicts": [dict(asdict(v), mutant={k: w for k, w in asdict(v.mutant).items()
                                                      if k != "source"}) for v in verdicts]}
        args.json.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    return 0
