"""Grade a whole class: ``python -m autograder grade SUBMISSION... --out DIR [--jobs N]``.

Each SUBMISSION is one student's folder or archive, or a folder of many (a Canvas or Gradescope
export: one entry per student). Every student is first copied or unpacked through the bounded walker
(``autograder/intake/archive.py``) into a fresh temporary folder; that copy is hashed and, unless
unchanged
since the last run, graded by its own ``python -m autograder check`` subprocess, ``--jobs`` at a
time, with a per-student wall-time cap. Output, every file written atomically:

    DIR/grades.csv                        student, name, email, total, one column per task, status
    DIR/summary.txt (+ .png)              score statistics and histogram, per-task pass rates
    DIR/students/<id>/results.json        Gradescope's format (also for students not graded)
    DIR/students/<id>/feedback.txt        the console report with every failure in full (-v)
    DIR/students/<id>/.meta.json          what was graded: the copy's sha256, the grader version
    DIR/report.html                       the class report (report-anonymized.html with --anonymize)
    DIR/batch.json                        the record of the run that ``merge`` combines shards from

A re-run skips students whose submission and grader are unchanged (``--force`` regrades), so a
killed batch resumes where it stopped; Ctrl-C keeps what finished and lists the others as "not
graded (interrupted)". Whatever goes wrong with one student (a broken archive, no mytorch/, a FIFO,
an unexpected error) becomes that student's row; it never stops the batch. Student-derived text is
made visible (``autograder/grading/text.py``) before it reaches the console or any file.
"""
import hashlib
import json
import os
import shutil
import signal
import statistics
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from ..channel.cleanup import remove_tree
from ..channel.transport import describe_sandbox
from ..grading.assignment import AssignmentError, find
from ..grading.rubric import load_rubric
from ..grading.text import one_line
from ..intake.archive import ArchiveLimits
from ..intake.files import (
    OutputDirError,
    prepare_output_dir,
    write_atomically,
    write_json_atomically,
)
from . import PACKAGE_DIR, PROJECT_ROOT
from .class_outputs import batch_record, read_record, write_class_outputs
from .console import Console, Progress
from .discovery import DiscoveryError, discover
from .hidden import SecretError, read_secret
from .one_student import (
    Checks,
    Interrupted,
    base_row,
    cached_row,
    failed_results,
    grade_student,
    prepare,
    student_folder,
)
from .summary import AMBIGUOUS, INTERRUPTED, write_grades_csv
from .summary import num as _num

OUT_MARKER = ".mytorch-grades"   # in every OUT a batch writes; see files.prepare_output_dir


class BatchError(RuntimeError):
    """The batch as a whole cannot start (a SUBMISSION path that does not exist, a bad option)."""


@dataclass
class Options:
    out: Path
    jobs: int = 1
    hidden: bool = False
    secret_file: str | None = None
    timeout: float | None = None
    student_timeout: float = 600.0
    user: str | None = None
    keyword: str | None = None
    force: bool = False
    allow_weak_sandbox: bool = False
    required_layers: tuple = ()  # what the probe worker had: each student's worker must have it
    python: str = sys.executable
    tasks: list = field(default_factory=list)   # rubric tasks graded in this mode
    version: str = ""
    checks: "Checks" = field(default_factory=lambda: Checks())
    shard: tuple | None = None   # (K, N): grade only shard K of N (see shards.py)
    anonymize: bool = False      # also write report-anonymized.html
    assignment: str | None = None  # its name (None: the course's default)
    limits: ArchiveLimits = field(default_factory=ArchiveLimits)  # on what is graded




def grader_version(config=""):
    """Hash of the grader's files (all of autograder/, so editing any of it regrades: simpler and
    safer than a list of files that "cannot" change a grade), the reference and ``config``."""
    h = hashlib.sha256()
    roots = [PACKAGE_DIR, PROJECT_ROOT / "mytorch"]
    for base in roots:
        if not base.is_dir():
            continue
        for path in sorted(p for p in base.rglob("*") if p.is_file()):
            rel = path.relative_to(base)
            if "__pycache__" in rel.parts or any(p.startswith(".") for p in rel.parts) or \
                    path.suffix in (".pyc", ".tmp") or ".tmp" in path.name:
                continue
            if base.name == "mytorch" and path.suffix != ".py":
                continue  # data caches beside the reference are not the grader
            h.update(path.relative_to(PROJECT_ROOT).as_posix().encode() + b"\0")
            h.update(path.read_bytes())
            h.update(b"\0")
    h.update(config.encode())
    return h.hexdigest()


def _config(opts):
    secret = read_secret(opts.secret_file) if opts.hidden else ""
    return json.dumps({"assignment": opts.assignment, "hidden": opts.hidden,
                       "secret": hashlib.sha256(secret.encode()).hexdigest(),
                       "timeout": opts.timeout, "keyword": opts.keyword,
                       "sandbox": sorted(opts.required_layers)}, sort_keys=True)


# -- the command ------------------------------------------------------------------------------
def options_from_args(args):
    jobs = args.jobs if args.jobs else (os.cpu_count() or 1)
    if jobs < 1:
        raise BatchError("--jobs must be at least 1")
    if args.student_timeout is not None and args.student_timeout <= 0:
        raise BatchError("--student-timeout must be positive")
    if args.hidden:
        try:
            read_secret(args.secret_file)
        except SecretError as exc:
            raise BatchError(str(exc)) from None
    if args.user:
        from ..channel.privilege import UserError, resolve_user
        try:
            resolve_user(args.user)
        except UserError as exc:
            raise BatchError(str(exc)) from None
    try:
        assignment = find(args.assignment)
    except AssignmentError as exc:
        raise BatchError(str(exc)) from None
    tasks = load_rubric(assignment.rubric_path)
    if not args.hidden:
        tasks = [t for t in tasks if t.visibility == "visible"]
    opts = Options(out=Path(args.out).resolve(), jobs=jobs, hidden=args.hidden,
                   secret_file=args.secret_file, timeout=args.timeout,
                   student_timeout=args.student_timeout or 600.0, user=args.user,
                   keyword=args.keyword, force=args.force, tasks=tasks,
                   assignment=assignment.name,
                   allow_weak_sandbox=getattr(args, "allow_weak_sandbox", False))
    opts.limits = limits_from_args(args)
    opts.version = grader_version(_config(opts))
    _shard_options(opts, args)
    return opts


LIMIT_OPTIONS = (  # (option, ArchiveLimits field, unit in bytes)
    ("max_files", "max_files", 1), ("max_total_mb", "max_total_bytes", 2**20),
    ("max_file_mb", "max_file_bytes", 2**20), ("max_archive_mb", "max_archive_bytes", 2**20),
    ("max_listed_entries", "max_listed_entries", 1))


def limits_from_args(args):
    """The ``ArchiveLimits`` of ``--max-files``, ``--max-total-mb``, ... (defaults for the rest)."""
    limits = ArchiveLimits()
    for option, name, unit in LIMIT_OPTIONS:
        value = getattr(args, option, None)
        if value is None:
            continue
        if value <= 0:
            raise BatchError(f"--{option.replace('_', '-')} must be positive")
        setattr(limits, name, int(value * unit))
    return limits


def _shard_options(opts, args):
    from .shards import ShardError, parse_shard
    try:
        opts.shard = parse_shard(getattr(args, "shard", None))
    except ShardError as exc:
        raise BatchError(str(exc)) from None
    if opts.shard is not None and getattr(args, "similarity", False):
        raise BatchError("--similarity compares the whole class and cannot run on a shard: run "
                         "`python -m autograder similarity` once over all the submissions")
    opts.anonymize = bool(getattr(args, "anonymize", False))


def _select_shard(students, opts, console):
    """The students of this batch's shard; refuses an OUT that holds another shard's grades."""
    from .class_outputs import format_shard
    from .shards import select
    previous = read_record(opts.out)
    if previous is not None and previous.get("shard") != format_shard(opts.shard):
        held = previous.get("shard") or "the whole class (no --shard)"
        raise BatchError(f"{opts.out} holds the grades of {held}; grade "
                         f"{format_shard(opts.shard) or 'the whole class'} "
                         "into a folder of its own")
    if opts.shard is None:
        return students
    mine = select(students, opts.shard)
    console.line(f"shard {format_shard(opts.shard)}: {len(mine)} of the class's {len(students)} "
                 "students")
    return mine


def privilege_state(opts):
    """One line: which user student code runs as in this batch (checked once, at the start)."""
    from ..channel.privilege import _current_user, choose_user, running_as_root
    probe_dir = Path(tempfile.mkdtemp(prefix="mytorch-probe-"))
    try:
        (probe_dir / "mytorch").mkdir()
        for folder in (probe_dir, probe_dir / "mytorch"):
            os.chmod(folder, 0o755)
        user, notes = choose_user(opts.user, probe_dir, opts.python)
    finally:
        shutil.rmtree(probe_dir, ignore_errors=True)
    if user is not None:
        return f"student code runs as user {user.name} (checked: it can run {opts.python})"
    if notes:
        return notes[0].replace("student code ran as", "student code runs as")
    if running_as_root():
        return "student code runs as root (no privilege drop: $MYTORCH_GRADER_USER=none)"
    return f"student code runs as {_current_user()}, the grader's own user"


def run_batch(args, stream=None):
    """``python -m autograder grade``; returns the exit code (0, or 130 when interrupted)."""
    console = Console(stream or sys.stderr)
    opts = options_from_args(args)
    _check_sandbox(opts, console)
    try:
        students, warnings = discover(args.submissions, opts.out)
    except DiscoveryError as exc:
        raise BatchError(str(exc)) from None
    if not students:
        raise BatchError("no submissions found in " + ", ".join(one_line(a) for a in
                                                                 args.submissions))
    try:
        opts.out = prepare_output_dir(opts.out, OUT_MARKER)
    except OutputDirError as exc:
        raise BatchError(str(exc)) from None
    for w in warnings:
        console.line(f"warning: {w}")
    class_ids = [s.id for s in students]
    students = _select_shard(students, opts, console)
    privilege = privilege_state(opts)
    console.line(privilege)
    rows, prepared, interrupted = {}, {}, False
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    pool = ThreadPoolExecutor(max_workers=opts.jobs)
    futures = {}
    try:
        todo, unchanged = [], 0
        for student in students:  # copy and hash every submission first: cheap, and bounded
            if student.ambiguous:  # which entry is this student's is the instructor's call
                rows[student.id] = _error_row(student, opts, None)
                continue
            try:
                ready = prepare(student, opts.limits)
            except Exception as exc:  # one student's problem never aborts the batch
                rows[student.id] = _error_row(student, opts, exc)
                continue
            prepared[student.id] = ready
            row = None if opts.force else cached_row(student, opts, ready.digest)
            if row is not None:
                rows[student.id] = row
                unchanged += 1
                _discard(prepared.pop(student.id))
            else:
                todo.append(student)
        skipped = unchanged
        plan = (f"{len(todo)} to grade with {min(opts.jobs, len(todo))} at a time" if todo
                else "nothing to grade")
        console.line(f"{len(students)} students; {skipped} unchanged since the last run (skipped"
                     f"{'' if not skipped else '; --force regrades them'}), {plan}")
        progress = Progress(len(todo), console)
        futures = {pool.submit(_grade_safely, s, opts, prepared[s.id]): s for s in todo}
        for future in as_completed(futures):
            student = futures[future]
            row = future.result()
            rows[student.id] = row
            write_grades_csv(rows.values(), opts.tasks, opts.out / "grades.csv")
            score = f"{_num(row['total'])}/{_num(row['max_score'])}"
            progress.step(f"{student.id}: {score}"
                          + ("" if row["status"] == "graded" else f" ({row['status']})"))
    except KeyboardInterrupt:
        interrupted = True
        opts.checks.stop_all()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        for future, student in futures.items():  # what finished while the batch was stopping
            if student.id not in rows and future.done() and not future.cancelled() \
                    and future.exception() is None:
                rows[student.id] = future.result()
        for ready in prepared.values():
            _discard(ready)
    missing = [s for s in students if s.id not in rows]
    for student in missing:
        rows[student.id] = _interrupted_row(student, opts)
    summary = write_class_outputs(opts.out, batch_record(opts, rows.values(), class_ids, privilege),
                                  anonymize=opts.anonymize)
    if interrupted:
        console.line(f"\ninterrupted: {len(students) - len(missing)} students graded and saved, "
                     f"{len(missing)} listed as \"{INTERRUPTED}\" in grades.csv, summary.txt and "
                     "report.html; "
                     "run the same command again to grade them")
        return 130
    console.line(summary.split("\n\n", 1)[0])
    totals = [r["total"] for r in rows.values()]
    if totals:
        console.line(f"mean {statistics.fmean(totals):.2f}, median "
                     f"{_num(statistics.median(totals))}; wrote {opts.out / 'grades.csv'}, "
                     f"{opts.out / 'summary.txt'} and {opts.out / 'report.html'}")
    if getattr(args, "similarity", False):
        return _similarity(students, opts.out / "similarity", console, opts.assignment)
    return 0


def _discard(ready):
    if ready.work is not None:
        remove_tree(ready.work)  # the student's code wrote there: bounded, never raises
        ready.work = None


def _similarity(students, out_dir, console, assignment):
    from .similarity import SimilarityError, similarity_report, summary_line

    try:
        result = similarity_report(students, out_dir, assignment=find(assignment))
    except SimilarityError as exc:
        console.line(f"error: similarity: {exc}")
        return 2
    console.line(summary_line(result, out_dir))
    return 0


def _check_sandbox(opts, console):
    """Once per batch, not per student: a probe worker says which sandbox layers this machine
    gives student code; too few is an error (unless --allow-weak-sandbox), and every student's
    worker must then have at least those (``check --require-sandbox``)."""
    from ..channel.privilege import WeakSandbox, check_sandbox
    try:
        report, notes = check_sandbox(opts.user, opts.python, opts.allow_weak_sandbox)
    except WeakSandbox as exc:
        raise BatchError(str(exc)) from None
    opts.required_layers = tuple(report.get("active", {}))
    opts.version = grader_version(_config(opts))
    console.line(describe_sandbox(report))
    for note in notes:
        console.line(f"warning: {note}")


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def _interrupted_row(student, opts):
    """A student the interrupted batch did not reach: no score, and nothing written for them."""
    return base_row(student, opts, INTERRUPTED, "the batch was interrupted before this student "
                     "was graded; run the same command again", None)


def _error_row(student, opts, exc):
    """Any unexpected failure on one student (``exc``), or an id several entries share (``exc``
    None), as that student's row (written, never cached)."""
    if exc is None:
        status, message = AMBIGUOUS, student.clash()
    else:
        status = "grader failed"
        message = (f"the batch grader failed on this student "
                   f"({type(exc).__name__}: {one_line(exc, 500)})")
    folder = student_folder(opts, student)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        write_json_atomically(failed_results(message), folder / "results.json")
        write_atomically(folder / "feedback.txt",
                         failed_results(message)["output"] + "\n")
        (folder / ".meta.json").unlink(missing_ok=True)  # the next run tries this student again
    except OSError:
        pass
    return base_row(student, opts, status, message, 0.0)


def _grade_safely(student, opts, prepared):
    """grade_student, with any unexpected failure turned into that student's error row."""
    try:
        return grade_student(student, opts, prepared)
    except Interrupted:
        raise
    except Exception as exc:  # one student's problem never aborts the batch
        return _error_row(student, opts, exc)
    finally:
        _discard(prepared)
