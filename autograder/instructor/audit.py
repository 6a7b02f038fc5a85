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

The mutation operators are in ``mutations.py``, the report and the list of equivalent mutants in
``audit_report.py``, the coverage measurement in ``region_coverage.py``; this module grades.
"""
import concurrent.futures
import json
import os
import random
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..grading.assignment import AssignmentError, find
from ..grading.assignment import add_argument as add_assignment_argument
from ..grading.rubric import load_rubric
from . import PROJECT_ROOT
from .audit_report import render, summary
from .mutations import Mutant, generate_mutants
from .region_coverage import CoverageUnavailable, measure_coverage

NOT_GRADED = "not graded"  # the MLP tasks' wording for a check withheld because of another task


def code_owners(assignment=None):
    """task -> the task whose code it grades: itself, or, for a task with no regions of its own
    (MLP1 and MLP4 grade MLP0's shared Sequential on deeper models), the section's task that has
    them. A mistake in that code is that family's own, not a charge elsewhere."""
    owners, last = {}, {}
    for task in load_rubric((assignment or find()).rubric_path):
        section = task.id.split(".")[0]
        if task.regions:
            last[section] = task.id
        owners[task.id] = task.id if task.regions else last.get(section, task.id)
    return owners



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
    diagnoses: list = field(default_factory=list)  # catalogue ids its own task's hints named


def _grade_mutant(args):
    mutant, root, hidden_secret, assignment = args
    from ..channel.transport import Limits
    from ..grading.runner import grade

    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="audit-") as tmp:
        shutil.copytree(Path(root, "mytorch"), Path(tmp, "mytorch"),
                        ignore=shutil.ignore_patterns("__pycache__"))
        Path(tmp, mutant.path).write_text(mutant.source, encoding="utf-8")
        hidden = None
        if hidden_secret:
            from .hidden import hidden_cases
            hidden = hidden_cases(hidden_secret, assignment)
        limits = Limits()
        limits.call_seconds = 5
        try:
            result = grade(tmp, limits=limits, hidden_cases=hidden, assignment=assignment)
        except Exception as exc:  # a grader problem is reported, not hidden
            return Verdict(mutant, False, 0.0, {}, {}, [], time.monotonic() - start,
                           f"{type(exc).__name__}: {exc}")
    own_lost, charged, not_graded, hints, ids = 0.0, {}, {}, [], []
    owners = code_owners(find(assignment))
    for task in result.tasks:
        lost = round(task.max_score - task.score, 4)
        if lost <= 0:
            continue
        feedback = "\n".join(t.feedback for t in task.failures())
        if owners.get(task.id) == mutant.task:
            own_lost += lost
            hints += sorted({line.strip()[len("Hint: "):] for line in feedback.splitlines()
                             if line.strip().startswith("Hint: ")})
            ids += [i for t in task.tests for i in t.diagnoses if i not in ids]
        elif NOT_GRADED in feedback and f"Task {mutant.task}" in feedback:
            not_graded[task.id] = not_graded.get(task.id, 0) + lost
        else:
            charged[task.id] = charged.get(task.id, 0) + lost
    killed = result.score < result.max_score
    error = "; ".join(result.errors)
    return Verdict(mutant, killed, own_lost, charged, not_graded, hints,
                   time.monotonic() - start, error, ids)


def run_audit(mutants, root=PROJECT_ROOT, jobs=None, hidden_secret=None, progress=None,
              assignment=None):
    """Grade ``mutants`` with ``assignment``'s suite (its name; None: the course's default)."""
    jobs = jobs or os.cpu_count() or 1
    work = [(m, str(root), hidden_secret, assignment) for m in mutants]
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



# -- command line -----------------------------------------------------------------------------
def add_arguments(parser):
    add_assignment_argument(parser)
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
        try:
            cov = measure_coverage(assignment=find(args.assignment))
        except CoverageUnavailable as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"solution regions under the public suite: lines {cov.lines_run}/{cov.lines}, "
              f"branches {cov.branches_run}/{cov.branches} ({cov.fraction:.1%})")
        for line in cov.missing:
            print("  " + line)
        return 0 if not cov.missing else 1
    try:
        assignment = find(args.assignment)
    except AssignmentError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    mutants = generate_mutants(assignment=assignment)
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
    verdicts = run_audit(mutants, jobs=args.jobs, hidden_secret=secret, progress=progress,
                         assignment=assignment.name)
    print(render(verdicts, show_hints=args.hints))
    print(f"({time.monotonic() - start:.0f} s)")
    if args.json:
        data = {"summary": summary(verdicts),
                "verdicts": [dict(asdict(v), mutant={k: w for k, w in asdict(v.mutant).items()
                                                      if k != "source"}) for v in verdicts]}
        args.json.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    return 0
