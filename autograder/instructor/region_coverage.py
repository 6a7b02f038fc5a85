"""``python -m autograder audit --coverage``: which lines and branches of the reference's solution
regions the public suite runs (the reference graded in this process, traced with
``sys.settrace``)."""
import ast
import sys
from dataclasses import dataclass
from pathlib import Path

from . import PROJECT_ROOT
from .mutations import find_regions


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


# Branches are told apart by the bytecode positions of what ran (code.co_positions), which Python
# has from 3.11 on; line coverage alone would miss a one-line conditional's untaken side.
AVAILABLE = hasattr((lambda: None).__code__, "co_positions")


class CoverageUnavailable(RuntimeError):
    pass


def measure_coverage(root=PROJECT_ROOT, assignment=None):
    """Line and branch coverage of the reference's solution regions when the public suite grades the
    reference in this process (``benchmarks/proxy_overhead.py``'s in-process submission)."""
    if not AVAILABLE:
        raise CoverageUnavailable("branch coverage needs Python 3.11 or newer (code.co_positions); "
                                  "run it with such a Python")
    import importlib.util

    root = Path(root).resolve()
    spec = importlib.util.spec_from_file_location("_proxy_overhead",
                                                  root / "benchmarks" / "proxy_overhead.py")
    overhead = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(overhead)
    from ..grading.runner import grade

    regions = find_regions(root, assignment)
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
        result = grade(root, submission_factory=overhead.InProcessSubmission,
                       assignment=assignment)
    finally:
        sys.settrace(old)
    if result.score != result.max_score:
        raise RuntimeError(f"the reference graded {result.score}/{result.max_score} in process")

    total = run = b_total = b_run = 0
    missing = []
    for region in regions:
        filename = str((root / region.path).resolve())
        tree = ast.parse((root / region.path).read_text(encoding="utf-8"))
        optional = {s.lineno for n in ast.walk(tree) if isinstance(n, ast.If) and _optional(n)
                    for b in n.body for s in ast.walk(b) if isinstance(s, ast.stmt)}
        statements = {n.lineno for n in ast.walk(tree) if isinstance(n, ast.stmt)
                      and region.first <= n.lineno <= region.last} - optional
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
