"""Which submissions are suspiciously alike: ``python -m autograder similarity SUBMISSION... --out
DIR``.

What is compared: for every solution region of the rubric (``file:Class.method``), the lines the
student wrote in that method. The method is found by name with ``ast``; the starter code the handout
gave around the TODO (signature, docstring, shape checks, the stub, the final ``return``) is removed
by diffing the method against the handout's version of it, so only the student's own lines remain.
The reference's regions are its ``# BEGIN SOLUTION`` blocks.

How, as MOSS does (Schleimer, Wilkerson and Aiken, "Winnowing: local algorithms for document
fingerprinting", SIGMOD 2003):

* the lines are tokenised with ``tokenize``: identifiers become ``V``, numbers ``N``, strings ``S``;
  keywords and operators stay; comments, blank lines, indentation and grouping parentheses are
  dropped, so renaming variables or reformatting changes nothing;
* every run of ``k`` consecutive tokens of a region (a k-gram) is hashed; winnowing keeps the
  smallest hash of each window of ``w`` consecutive k-grams, so any passage of at least
  ``w + k - 1`` tokens that two students share yields a shared fingerprint wherever it sits;
* a k-gram found in most of the class (``--common``; MOSS's ``-m``) is discounted: it is how
  everybody writes that step, not evidence;
* a pair's score for a region is the Dice coefficient of their fingerprints, 2|A∩B| / (|A| + |B|);
  the overall score pools every region's fingerprints.
  Pairs at or above ``--threshold`` are flagged;
* each student is also compared with the reference solution, without the class discount (a leaked
  solution copied by half the class is still found), and flagged at ``--reference-threshold``.

The result is evidence for a person to review, never a verdict: the report says so on every page.
"""
import ast
import difflib
import io
import keyword
import shutil
import sys
import tempfile
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

from ..grading.assignment import AssignmentError, find
from ..grading.assignment import add_argument as add_assignment_argument
from ..grading.rubric import RubricError, load_rubric

# The batch grader's discovery and safe extraction,
# the handout's view of the regions and the rubric.
from ..intake.archive import SubmissionArchiveError, extract_submission
from . import PROJECT_ROOT
from .discovery import DiscoveryError, discover
from .handout import (
    HandoutError,
    _functions,
    region_owners,
    region_tasks,
    solution_regions,
    stub_file,
)
from .similarity_report import SimilarityError, claim_output_folder, write_report
from .winnowing import MIN_COMMON_COUNT, common_kgrams, fingerprint, match

DEFAULT_K = 7            # tokens per k-gram
DEFAULT_WINDOW = 4       # k-grams per winnowing window: shared runs of >= 10 tokens always match
DEFAULT_COMMON = 0.5     # a k-gram in more than this share of the class is discounted
DEFAULT_THRESHOLD = 0.5
DEFAULT_REFERENCE_THRESHOLD = 0.6
DEFAULT_PAGES = 100      # pair pages written for the best-ranked pairs (and every flagged pair)
REFERENCE_ID = "(reference solution)"


@dataclass(frozen=True)
class Region:
    key: str        # "mytorch/nn/linear.py:Linear.forward", as in rubric.toml
    path: str       # "mytorch/nn/linear.py"
    qualname: str   # "Linear.forward"
    task: str       # the rubric task's id


@dataclass(frozen=True)
class Token:
    kind: str       # the normalised token: V, N, S, a keyword or an operator
    start: tuple    # (row, col) in the author's file, 1-based rows
    end: tuple


@dataclass
class Code:
    """What one author wrote in one region."""
    lines: dict                 # row -> text of each line written (the starter's lines removed)
    tokens: list                # [Token]
    kgrams: list = field(default_factory=list)        # hash of the k-gram starting at each token
    fingerprints: set = field(default_factory=set)    # winnowed hashes


@dataclass
class Author:
    id: str
    name: str = ""
    source: str = ""
    # region key -> Code (regions with no own code absent)
    code: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)


@dataclass
class Settings:
    k: int = DEFAULT_K
    window: int = DEFAULT_WINDOW
    common: float = DEFAULT_COMMON
    threshold: float = DEFAULT_THRESHOLD
    reference_threshold: float = DEFAULT_REFERENCE_THRESHOLD
    pages: int = DEFAULT_PAGES


@dataclass
class Comparison:
    regions: list               # [Region]
    authors: list               # [Author] compared
    reference: Author
    pairs: list                 # [Match], best first
    reference_matches: list     # [Match] of each author with the reference, best first
    common: dict                # region key -> set of discounted k-gram hashes
    common_at: int              # submissions that make a k-gram common
    settings: Settings
    skipped: list = field(default_factory=list)   # [(Student, reason)] not compared


# -- what each author wrote -------------------------------------------------------------------
def load_regions(assignment=None):
    regions = []
    try:
        tasks = load_rubric((assignment or find()).rubric_path)
    except RubricError as exc:
        raise SimilarityError(str(exc)) from None
    for key, task in region_tasks(tasks).items():
        path, sep, qualname = key.partition(":")
        if not sep or not qualname:
            raise SimilarityError(f"rubric region {key!r} is not of the form file:Class.method")
        regions.append(Region(key, path, qualname, task.id))
    return regions


def normalised_tokens(source, rows):
    """[Token] of ``source`` (a whole file that parses)
    whose first character is on one of ``rows``."""
    out, opened, fstring_depth, fstring_from = [], [], 0, None
    fstring_start = getattr(tokenize, "FSTRING_START", None)    # Python 3.12+: one S per f-string
    fstring_end = getattr(tokenize, "FSTRING_END", None)
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == fstring_start:
            fstring_depth += 1
            fstring_from = fstring_from or tok.start
            continue
        if tok.type == fstring_end:
            fstring_depth -= 1
            if fstring_depth == 0:
                if fstring_from[0] in rows:
                    out.append(Token("S", fstring_from, tok.end))
                fstring_from = None
            continue
        if fstring_depth or tok.start[0] not in rows:
            continue
        if tok.type == tokenize.NAME:
            kind = tok.string if keyword.iskeyword(tok.string) else "V"
        elif tok.type == tokenize.NUMBER:
            kind = "N"
        elif tok.type == tokenize.STRING:
            kind = "S"
        elif tok.type in (tokenize.OP, tokenize.ERRORTOKEN):
            kind = tok.string.strip()
            # Grouping parentheses are layout (`(a * b) / c` is `a * b / c`); a call's are not.
            if kind == "(":
                is_call = bool(out) and out[-1].kind in ("V", ")", "]")
                opened.append(is_call)
                if not is_call:
                    continue
            elif kind == ")" and opened and not opened.pop():
                continue
        else:   # comments, newlines, indentation, encoding, end marker
            continue
        if kind:
            out.append(Token(kind, tok.start, tok.end))
    return out


def _method_lines(source, qualname):
    """(first row, [lines]) of the last definition of ``qualname`` in ``source``, or None."""
    found = [f for f in _functions(source) if f[0] == qualname]
    if not found:
        return None
    _, first, last = found[-1]
    return first, source.splitlines()[first - 1:last]


def starter_methods(regions, reference_root=PROJECT_ROOT, assignment=None):
    """region key -> the handout's lines of that method (stripped), the starter code to remove."""
    reference_root = Path(reference_root)
    tasks = region_owners(assignment or find(), "bring-your-own")
    out = {}
    for path in sorted({r.path for r in regions}):
        src = reference_root / path
        try:
            stub = stub_file(src, path, tasks, set())
        except (OSError, HandoutError, SyntaxError) as exc:
            raise SimilarityError(f"cannot build the starter code of {path}: {exc}") from None
        for region in (r for r in regions if r.path == path):
            method = _method_lines(stub, region.qualname)
            if method is None:
                raise SimilarityError(f"{region.key}: no such method in the starter code")
            out[region.key] = [line.strip() for line in method[1]]
    return out


def reference_author(regions, reference_root=PROJECT_ROOT):
    """The reference solution as an author: the lines inside its BEGIN/END SOLUTION markers."""
    reference_root = Path(reference_root)
    author = Author(REFERENCE_ID, source=str(reference_root))
    for path in sorted({r.path for r in regions}):
        file = reference_root / path
        try:
            lines, found = solution_regions(file, path)
        except (OSError, HandoutError, SyntaxError) as exc:
            raise SimilarityError(f"cannot read the reference's solution regions in {path}: "
                                  f"{exc}") from None
        source = "\n".join(lines) + "\n"
        by_name = {qualname: (begin, end) for qualname, begin, end, _ in found}
        for region in (r for r in regions if r.path == path):
            if region.qualname not in by_name:
                raise SimilarityError(f"{region.key}: the reference has no solution region there")
            begin, end = by_name[region.qualname]
            rows = {row + 1 for row in range(begin + 1, end)}
            _add_code(author, region, source, rows)
    return author


def _add_code(author, region, source, rows):
    lines = source.splitlines()
    rows = {r for r in rows if r - 1 < len(lines) and lines[r - 1].strip()}
    tokens = normalised_tokens(source, rows)
    if tokens:
        author.code[region.key] = Code({r: lines[r - 1] for r in sorted(rows)}, tokens)


def student_author(student, root, regions, starters):
    """An Author for the student whose mytorch/ sits in ``root``."""
    author = Author(student.id, student.name, str(student.source))
    for path in sorted({r.path for r in regions}):
        file = Path(root) / path
        if not file.is_file():
            author.notes.append(f"{path}: missing")
            continue
        try:
            source = file.read_text(encoding="utf-8", errors="replace")
            ast.parse(source, path)
        except (SyntaxError, ValueError) as exc:
            author.notes.append(f"{path}: does not parse ({type(exc).__name__}: {exc}); its "
                                "regions are not compared")
            continue
        except OSError as exc:
            author.notes.append(f"{path}: unreadable ({exc.strerror})")
            continue
        for region in (r for r in regions if r.path == path):
            method = _method_lines(source, region.qualname)
            if method is None:
                author.notes.append(f"{region.key}: no such method")
                continue
            first, lines = method
            own = _own_rows(starters[region.key], lines)
            try:
                _add_code(author, region, source, {first + i for i in own})
            except (tokenize.TokenError, SyntaxError) as exc:
                author.notes.append(f"{region.key}: cannot be tokenised ({exc})")
    return author


def _own_rows(starter, lines):
    """Indexes of ``lines`` (a student's method) that are not the starter's lines, in order."""
    matcher = difflib.SequenceMatcher(None, starter, [line.strip() for line in lines],
                                      autojunk=False)
    own = []
    for op, _, _, j1, j2 in matcher.get_opcodes():
        if op != "equal":
            own.extend(range(j1, j2))
    return own


def compare(authors, reference, regions, settings):
    """Score every pair of ``authors`` and every author against ``reference``."""
    for author in [reference, *authors]:
        fingerprint(author, settings)
    common, common_at = common_kgrams(authors, regions, settings)
    # Only pairs that share a fingerprint can score above 0: find them through an index.
    index = {}
    for i, author in enumerate(authors):
        for key, code in author.code.items():
            for h in code.fingerprints - common.get(key, set()):
                index.setdefault((key, h), []).append(i)
    candidates = set()
    for holders in index.values():
        for x, i in enumerate(holders):
            candidates.update((i, j) for j in holders[x + 1:])
    pairs = []
    for i, j in candidates:
        m = match(authors[i], authors[j], regions, common, reference)
        m.flagged = m.score >= settings.threshold
        pairs.append(m)
    pairs.sort(key=lambda m: (-m.score, m.a.id, m.b.id))
    to_reference = []
    for author in authors:
        m = match(author, reference, [r for r in regions if r.key in author.code], {})
        m.flagged = m.score >= settings.reference_threshold
        to_reference.append(m)
    to_reference.sort(key=lambda m: (-m.score, m.a.id))
    return Comparison(regions, authors, reference, pairs, to_reference, common, common_at,
                      settings)


# -- the class --------------------------------------------------------------------------------
def read_class(students, regions, starters):
    """([Author], [(Student, reason)]) for ``students`` (from ``batch.discover``)."""
    authors, skipped = [], []
    with tempfile.TemporaryDirectory(prefix="mytorch-similarity-") as work:
        for n, student in enumerate(students):
            dest = Path(work) / f"s{n}"
            if student.ambiguous:
                skipped.append((student, student.clash()))
                continue
            try:
                extracted = extract_submission(student.source, dest)
            except SubmissionArchiveError as exc:
                skipped.append((student, str(exc)))
                continue
            try:
                author = student_author(student, extracted.root, regions, starters)
            finally:
                shutil.rmtree(dest, ignore_errors=True)
            if not author.code:
                skipped.append((student, "no code of its own in any solution region"
                                + ("; " + "; ".join(author.notes) if author.notes else "")))
                continue
            authors.append(author)
    return authors, skipped


def similarity_report(students, out_dir, settings=None, reference_root=PROJECT_ROOT,
                      assignment=None):
    """Compare ``students`` and write the report into ``out_dir``; return the Comparison."""

    settings = settings or Settings()
    check_settings(settings)
    out_dir = Path(out_dir)
    claim_output_folder(out_dir)
    regions = load_regions(assignment)
    starters = starter_methods(regions, reference_root, assignment)
    reference = reference_author(regions, reference_root)
    authors, skipped = read_class(students, regions, starters)
    comparison = compare(authors, reference, regions, settings)
    comparison.skipped = skipped
    write_report(comparison, out_dir)
    return comparison


def check_settings(settings):
    if settings.k < 1 or settings.window < 1:
        raise SimilarityError("-k and --window must be at least 1")
    for name in ("common", "threshold", "reference_threshold"):
        value = getattr(settings, name)
        if not 0 < value <= 1:
            raise SimilarityError(f"--{name.replace('_', '-')} must lie in (0, 1], got {value:g}")
    if settings.pages < 0:
        raise SimilarityError("--pages must be 0 or more")


# -- the command ------------------------------------------------------------------------------
def add_arguments(parser):
    add_assignment_argument(parser)
    parser.add_argument("submissions", nargs="+", metavar="SUBMISSION",
                        help="a student's folder or archive, or a folder of them (as for grade)")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR",
                        help="where similarity.csv, similarity.html and the pair pages go (a new "
                             "or empty folder, or one an earlier run of this command wrote)")
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD, metavar="SCORE",
                        help=f"flag pairs scoring at least this (0-1, default {DEFAULT_THRESHOLD})")
    parser.add_argument("--reference-threshold", type=float, default=DEFAULT_REFERENCE_THRESHOLD,
                        metavar="SCORE", help="flag students this close to the reference solution "
                        f"(default {DEFAULT_REFERENCE_THRESHOLD})")
    parser.add_argument("--common", type=float, default=DEFAULT_COMMON, metavar="SHARE",
                        help="discount code found in more than this share of the class "
                             f"(default {DEFAULT_COMMON}; at least {MIN_COMMON_COUNT} submissions)")
    parser.add_argument("-k", type=int, default=DEFAULT_K, metavar="TOKENS",
                        help=f"tokens per fingerprinted k-gram (default {DEFAULT_K})")
    parser.add_argument("--window", type=int, default=DEFAULT_WINDOW, metavar="W",
                        help=f"winnowing window, in k-grams (default {DEFAULT_WINDOW})")
    parser.add_argument("--pages", type=int, default=DEFAULT_PAGES, metavar="N",
                        help="side-by-side pages for the N best pairs, besides every flagged pair "
                             f"(default {DEFAULT_PAGES})")


def settings_from_args(args):
    return Settings(k=args.k, window=args.window, common=args.common, threshold=args.threshold,
                    reference_threshold=args.reference_threshold, pages=args.pages)


def run(args, stream=None):
    """``python -m autograder similarity``; returns the exit code."""
    stream = stream or sys.stderr
    try:
        settings = settings_from_args(args)
        check_settings(settings)
        students, warnings = discover(args.submissions, args.out)
        for w in warnings:
            print(f"warning: {w}", file=stream)
        if len(students) < 2:
            raise SimilarityError("need at least two submissions to compare, found "
                                  f"{len(students)} in " + ", ".join(map(str, args.submissions)))
        result = similarity_report(students, args.out, settings,
                                   assignment=find(args.assignment))
    except (SimilarityError, DiscoveryError, AssignmentError) as exc:
        print(f"error: {exc}", file=stream)
        return 2
    print(summary_line(result, args.out), file=stream)
    return 0


def summary_line(result, out_dir):
    flagged = sum(m.flagged for m in result.pairs)
    leaked = sum(m.flagged for m in result.reference_matches)
    return (f"compared {len(result.authors)} submissions ({len(result.skipped)} skipped): "
            f"{flagged} pairs at or above {result.settings.threshold:g}, {leaked} close to the "
            f"reference solution; see {Path(out_dir) / 'similarity.html'} (evidence to review, "
            "not a verdict)")

