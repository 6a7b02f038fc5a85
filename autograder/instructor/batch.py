"""Grade a whole class: ``python -m autograder grade SUBMISSION... --out DIR [--jobs N]``.

Each SUBMISSION is one student's folder or archive, or a folder of many (a Canvas or Gradescope
export: one entry per student). Every student is first copied or unpacked through the bounded walker
(``autograder/archive.py``) into a fresh temporary folder; that copy is hashed and, unless unchanged
since the last run, graded by its own ``python -m autograder check`` subprocess, ``--jobs`` at a time,
with a per-student wall-time cap. Output, every file written atomically:

    DIR/grades.csv                        student, name, email, total, one column per task, status
    DIR/summary.txt (+ .png)              score statistics and histogram, per-task pass rates
    DIR/students/<id>/results.json        Gradescope's format (also for students not graded)
    DIR/students/<id>/feedback.txt        the console report with every failure in full (-v)
    DIR/students/<id>/.meta.json          what was graded: the copy's sha256, the grader version
    DIR/report.html                       the class report (report-anonymized.html with --anonymize)
    DIR/batch.json                        the record of the run that ``merge`` combines shards from

A re-run skips students whose submission and grader are unchanged (``--force`` regrades), so a
killed batch resumes where it stopped; Ctrl-C keeps what finished and lists the others as "not
graded (interrupted)". Whatever goes wrong with one student (a broken archive, no mytorch/, a FIFO, an
unexpected error) becomes that student's row; it never stops the batch. Student-derived text is made
visible (``autograder/text.py``) before it reaches the console or any file.
"""
import hashlib
import io
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from ..archive import SubmissionArchiveError, extract_submission
from ..files import (
    OutputDirError,
    prepare_output_dir,
    write_atomically,
    write_json_atomically,
)
from ..report import STUDENT_FEEDBACK_CHARS, error_results
from ..rubric import RUBRIC_PATH, load_rubric
from ..text import one_line, visible
from ..transport import SANDBOX_FAILED, describe_sandbox
from . import PACKAGE_DIR, PROJECT_ROOT
from .class_outputs import STUDENTS_DIR, batch_record, read_record, write_class_outputs
from .discovery import DiscoveryError, content_hash, discover
from .hidden import SecretError, read_secret
from .summary import INTERRUPTED, write_grades_csv
from .summary import num as _num

OUT_MARKER = ".mytorch-grades"   # in every OUT a batch writes; see files.prepare_output_dir
RESULTS_BYTES = 32 * 2**20       # a results.json larger than this is not read back


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
    return json.dumps({"hidden": opts.hidden, "secret": hashlib.sha256(secret.encode()).hexdigest(),
                       "timeout": opts.timeout, "keyword": opts.keyword,
                       "sandbox": sorted(opts.required_layers)}, sort_keys=True)


# -- grading one student ----------------------------------------------------------------------
class Checks:
    """The ``check`` subprocesses running now, and whether the batch is being stopped."""

    def __init__(self):
        self.procs = {}  # pid -> Popen
        self.lock = threading.Lock()
        self.stopping = threading.Event()

    def start(self, cmd, **kwargs):
        with self.lock:  # no new subprocess once the batch is being stopped
            if self.stopping.is_set():
                raise _Interrupted()
            proc = subprocess.Popen(cmd, **kwargs)
            self.procs[proc.pid] = proc
        return proc

    def finished(self, proc):
        with self.lock:
            self.procs.pop(proc.pid, None)

    def stop_all(self):
        self.stopping.set()
        with self.lock:
            procs = list(self.procs.values())
        for proc in procs:
            kill_tree(proc)


def _failed_results(message, seconds=0.0):
    return error_results(f"Your submission could not be graded: {message}\nScore: 0", seconds)


def _task_scores(results, task_ids):
    scores = {t: 0.0 for t in task_ids}
    tests = results.get("tests", []) if isinstance(results, dict) else []
    for test in tests if isinstance(tests, list) else []:
        number = str(test.get("number", "")) if isinstance(test, dict) else ""
        if number in scores:
            scores[number] = round(scores[number] + _score(test.get("score")), 4)
    return scores


def _descendants(pid):
    """Pids of every process below ``pid`` (Linux /proc; [] elsewhere)."""
    children = {}
    try:
        names = os.listdir("/proc")
    except OSError:
        return []
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                stat = fh.read().decode("ascii", "replace")
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def kill_tree(proc):
    """Kill a grading subprocess, its workers (in sessions of their own) and what they started."""
    if proc.poll() is not None:
        return
    victims = _descendants(proc.pid)
    for pid in [proc.pid] + victims:
        for kill in (lambda p: os.killpg(p, signal.SIGKILL), lambda p: os.kill(p, signal.SIGKILL)):
            try:
                kill(pid)
            except (ProcessLookupError, PermissionError, OSError, AttributeError):
                pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def _check_command(opts, submission, json_path):
    cmd = [opts.python, "-m", "autograder", "check", "--submission", str(submission),
           "--json", str(json_path), "-v"]
    if opts.hidden:
        cmd.append("--hidden")
        if opts.secret_file:
            cmd += ["--secret-file", str(Path(opts.secret_file).resolve())]
    if opts.timeout is not None:
        cmd += ["--timeout", str(opts.timeout)]
    if opts.user:
        cmd += ["--user", opts.user]
    if opts.required_layers:
        cmd += ["--require-sandbox", ",".join(opts.required_layers)]
    if opts.keyword:
        cmd += ["-k", opts.keyword]
    return cmd


@dataclass
class Prepared:
    """One student's bounded copy (or why there is none) and its hash."""
    work: Path | None            # temporary folder holding the copy; removed after grading
    extracted: object = None     # archive.Extracted, or None when the submission is invalid
    problem: str = ""            # why the submission cannot be graded
    digest: str = ""


def prepare(student):
    """Copy or unpack ``student.source`` through the bounded walker and hash the copy."""
    work = Path(tempfile.mkdtemp(prefix="mytorch-batch-"))
    try:
        os.chmod(work, 0o755)  # the worker may run as an unprivileged user
        extracted = extract_submission(student.source, work / "submission")
    except SubmissionArchiveError as exc:
        shutil.rmtree(work, ignore_errors=True)
        problem = one_line(exc, 2000)
        return Prepared(None, None, problem, "invalid:" + hashlib.sha256(problem.encode()).hexdigest())
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return Prepared(work, extracted, "", content_hash(work / "submission"))


def student_folder(opts, student):
    return opts.out / STUDENTS_DIR / student.id


def grade_student(student, opts, prepared):
    """Grade one prepared student; write OUT/students/<id>/{results.json,feedback.txt,.meta.json};
    return the row."""
    start = time.monotonic()
    header = f"Student {student.id} ({one_line(student.source.name)})\n\n"
    notes, results, status, message, feedback = [], None, "graded", "", ""
    if prepared.extracted is None:
        status, message = "invalid submission", prepared.problem
        results = _failed_results(message)
        feedback = header + f"Your submission could not be graded: {message}\nScore: 0\n"
    else:
        notes = [one_line(n, 2000) for n in prepared.extracted.notes]
        json_path = prepared.work / "results.json"
        cmd = _check_command(opts, prepared.extracted.root, json_path)
        env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
                   MKL_NUM_THREADS="1", PYTHONIOENCODING="utf-8",
                   TMPDIR=str(prepared.work))  # what a killed check leaves behind goes with it
        proc = opts.checks.start(cmd, cwd=str(PROJECT_ROOT), env=env,
                                 stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, start_new_session=True)
        try:
            out, err = proc.communicate(timeout=opts.student_timeout)
            timed_out = False
        except subprocess.TimeoutExpired:
            kill_tree(proc)
            out, err = proc.communicate()
            timed_out = True
        finally:
            opts.checks.finished(proc)
        out = out.decode("utf-8", "replace")
        err = err.decode("utf-8", "replace")
        feedback = header + visible(out + (("\n" + err) if err.strip() else ""),
                                    2 * STUDENT_FEEDBACK_CHARS, line_chars=None)
        if notes:
            feedback += "".join(f"note: {n}\n" for n in notes)
        results = _read_results(json_path)
        if opts.checks.stopping.is_set():
            raise _Interrupted()
        last_err = one_line(err.strip().splitlines()[-1], 300) if err.strip() else ""
        if timed_out:
            status = "timed out"
            message = (f"grading took longer than {opts.student_timeout:g} s and was stopped "
                       "(an infinite loop?)")
            results = _failed_results(message, time.monotonic() - start)
            feedback += f"\n{message}\nScore: 0\n"
        elif proc.returncode == SANDBOX_FAILED:
            status = "sandbox failed"
            message = ("the sandbox failed while grading this student: not graded, not cached "
                       "(the next run tries again); see feedback.txt")
            results = _failed_results(message, time.monotonic() - start)
        elif proc.returncode == 2:
            status = "invalid submission"
            message = last_err or "rejected by the grader"
            results = _failed_results(message, time.monotonic() - start)
        elif results is None or proc.returncode not in (0, 1):
            # exit 3 (a problem of the grader's own) comes without a score: not a grade
            status = "grader problem" if proc.returncode == 3 else "grader failed"
            message = (f"the grading process exited with code {proc.returncode}"
                       + (f": {last_err}" if last_err else ""))
            results = _failed_results(message, time.monotonic() - start)
    task_ids = [t.id for t in opts.tasks]
    row = {"student": student.id, "name": student.name, "email": student.email,
           "sid": student.sid, "total": _score(results.get("score")),
           "max_score": sum(t.points for t in opts.tasks),
           **_task_scores(results, task_ids), "status": status, "message": message,
           "submission": one_line(student.source, 1000)}
    folder = student_folder(opts, student)
    folder.mkdir(parents=True, exist_ok=True)
    write_json_atomically(results, folder / "results.json")
    write_atomically(folder / "feedback.txt", feedback)
    if status == "sandbox failed":  # never cached: a grade the sandbox did not hold is no grade
        (folder / ".meta.json").unlink(missing_ok=True)
        return row
    write_json_atomically({
        "student": student.id, "submission": one_line(student.source, 1000),
        "content_sha256": prepared.digest, "grader_version": opts.version,
        "graded_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "seconds": round(time.monotonic() - start, 3), "row": row}, folder / ".meta.json")
    return row


def _score(value):
    try:
        return float(value or 0)
    except (TypeError, ValueError):
        return 0.0


def _read_results(path):
    """The check's results.json, or None when it is missing, oversized or not a grade."""
    try:
        if path.stat().st_size > RESULTS_BYTES:
            return None
        results = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return results if isinstance(results, dict) and "score" in results else None


class _Interrupted(Exception):
    pass


def cached_row(student, opts, digest):
    """The stored row when this student's submission and the grader are unchanged, else None."""
    folder = student_folder(opts, student)
    try:
        meta = json.loads((folder / ".meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or meta.get("content_sha256") != digest or \
            meta.get("grader_version") != opts.version or not isinstance(meta.get("row"), dict):
        return None
    if not (folder / "results.json").is_file() or not (folder / "feedback.txt").is_file():
        return None
    row = dict(meta["row"])
    row.update(name=student.name or row.get("name", ""), email=student.email or row.get("email", ""),
               sid=student.sid or row.get("sid", ""), submission=one_line(student.source, 1000))
    return row


# -- the console ----------------------------------------------------------------------------
class Console:
    """Where the batch talks to the instructor. A closed pipe (``grade ... 2>&1 | head``) silences
    it and never stops the batch: the stream is pointed at the null device from then on."""

    def __init__(self, stream):
        self.stream, self.broken = stream, False

    def isatty(self):
        try:
            return bool(self.stream.isatty())
        except (AttributeError, OSError, ValueError):
            return False

    def write(self, text):
        if self.broken:
            return
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):
            self.broken = True
            try:  # so that Python's own flush at exit does not fail on it either
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, self.stream.fileno())
                os.close(devnull)
            except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
                pass

    def line(self, text=""):
        self.write(text + "\n")


# -- progress ---------------------------------------------------------------------------------
class Progress:
    """Progress on stderr: a redrawn bar on a terminal, one plain line per student otherwise."""

    def __init__(self, total, stream=None):
        self.total, self.done = total, 0
        stream = stream or sys.stderr
        self.stream = stream if isinstance(stream, Console) else Console(stream)
        self.tty = self.stream.isatty()
        self.start = time.monotonic()

    def eta(self):
        if not self.done:
            return "?"
        left = (time.monotonic() - self.start) / self.done * (self.total - self.done)
        return _duration(left)

    def step(self, text):
        self.done += 1
        elapsed = _duration(time.monotonic() - self.start)
        if self.tty:
            width = 30
            filled = int(width * self.done / max(self.total, 1))
            bar = "#" * filled + "." * (width - filled)
            line = (f"\r[{bar}] {self.done}/{self.total} elapsed {elapsed} ETA {self.eta()}  "
                    f"{text[:50]}\x1b[K")
            self.stream.write(line + ("\n" if self.done == self.total else ""))
        else:
            self.stream.write(f"[{self.done}/{self.total}] {text} (elapsed {elapsed}, "
                              f"ETA {self.eta()})\n")


def _duration(seconds):
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


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
        from ..privilege import UserError, resolve_user
        try:
            resolve_user(args.user)
        except UserError as exc:
            raise BatchError(str(exc)) from None
    tasks = load_rubric(RUBRIC_PATH)
    if not args.hidden:
        tasks = [t for t in tasks if t.visibility == "visible"]
    opts = Options(out=Path(args.out).resolve(), jobs=jobs, hidden=args.hidden,
                   secret_file=args.secret_file, timeout=args.timeout,
                   student_timeout=args.student_timeout or 600.0, user=args.user,
                   keyword=args.keyword, force=args.force, tasks=tasks,
                   allow_weak_sandbox=getattr(args, "allow_weak_sandbox", False))
    opts.version = grader_version(_config(opts))
    _shard_options(opts, args)
    return opts


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
                         f"{format_shard(opts.shard) or 'the whole class'} into a folder of its own")
    if opts.shard is None:
        return students
    mine = select(students, opts.shard)
    console.line(f"shard {format_shard(opts.shard)}: {len(mine)} of the class's {len(students)} "
                 "students")
    return mine


def privilege_state(opts):
    """One line: which user student code runs as in this batch (checked once, at the start)."""
    from ..privilege import _current_user, choose_user, running_as_root
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
            try:
                ready = prepare(student)
            except Exception as exc:  # noqa: BLE001 — one student's problem never aborts the batch
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
        return _similarity(students, opts.out / "similarity", console)
    return 0


def _discard(ready):
    if ready.work is not None:
        shutil.rmtree(ready.work, ignore_errors=True)
        ready.work = None


def _similarity(students, out_dir, console):
    from .similarity import SimilarityError, similarity_report, summary_line

    try:
        result = similarity_report(students, out_dir)
    except SimilarityError as exc:
        console.line(f"error: similarity: {exc}")
        return 2
    console.line(summary_line(result, out_dir))
    return 0


def _check_sandbox(opts, console):
    """Once per batch, not per student: a probe worker says which sandbox layers this machine
    gives student code; too few is an error (unless --allow-weak-sandbox), and every student's
    worker must then have at least those (``check --require-sandbox``)."""
    from ..privilege import WeakSandbox, check_sandbox
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


def _base_row(student, opts, status, message, total):
    return {"student": student.id, "name": student.name, "email": student.email,
            "sid": student.sid, "total": total, "max_score": sum(t.points for t in opts.tasks),
            **{t.id: total for t in opts.tasks}, "status": status, "message": message,
            "submission": one_line(student.source, 1000)}


def _interrupted_row(student, opts):
    """A student the interrupted batch did not reach: no score, and nothing written for them."""
    return _base_row(student, opts, INTERRUPTED, "the batch was interrupted before this student "
                     "was graded; run the same command again", None)


def _error_row(student, opts, exc):
    """Any unexpected failure on one student, as that student's row (written, never cached)."""
    message = f"the batch grader failed on this student ({type(exc).__name__}: {one_line(exc, 500)})"
    folder = student_folder(opts, student)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        write_json_atomically(_failed_results(message), folder / "results.json")
        write_atomically(folder / "feedback.txt", f"Your submission could not be graded: {message}\n")
        (folder / ".meta.json").unlink(missing_ok=True)  # the next run tries this student again
    except OSError:
        pass
    return _base_row(student, opts, "grader failed", message, 0.0)


def _grade_safely(student, opts, prepared):
    """grade_student, with any unexpected failure turned into that student's error row."""
    try:
        return grade_student(student, opts, prepared)
    except _Interrupted:
        raise
    except Exception as exc:  # noqa: BLE001 — one student's problem never aborts the batch
        return _error_row(student, opts, exc)
    finally:
        _discard(prepared)
