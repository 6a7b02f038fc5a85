"""Grading one student of a batch: a bounded copy of the submission, its own ``check`` subprocess
(with a wall-time cap and everything it started killed at the end), and its row and files.
"""
import hashlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from ..channel.transport import SANDBOX_FAILED
from ..grading.report import STUDENT_FEEDBACK_CHARS, error_results
from ..grading.text import one_line, visible
from ..intake.archive import SubmissionArchiveError, extract_submission
from ..intake.files import (
    write_atomically,
    write_json_atomically,
)
from . import PROJECT_ROOT
from .check_processes import start_check
from .class_outputs import STUDENTS_DIR, read_results
from .discovery import content_hash


class Checks:
    """The checks running now (see check_processes), and whether the batch is being stopped."""

    def __init__(self):
        self.procs = {}  # pid -> Popen
        self.lock = threading.Lock()
        self.stopping = threading.Event()

    def start(self, cmd, cwd, env, work):
        with self.lock:  # no new check once the batch is being stopped
            if self.stopping.is_set():
                raise Interrupted()
            proc = start_check(cmd, cwd, env, work)
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


def failed_results(message, seconds=0.0):
    """results.json of a student the batch could not grade: score 0 and ``message``, the reason."""
    return error_results(message, seconds)


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
    if opts.assignment:
        cmd += ["--assignment", opts.assignment]
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


def prepare(student, limits=None):
    """Copy or unpack ``student.source`` through the bounded walker (under ``limits``, an
    ``ArchiveLimits``) and hash what will be graded."""
    work = Path(tempfile.mkdtemp(prefix="mytorch-batch-"))
    try:
        os.chmod(work, 0o755)  # the worker may run as an unprivileged user
        extracted = extract_submission(student.source, work / "submission", limits)
    except SubmissionArchiveError as exc:
        shutil.rmtree(work, ignore_errors=True)
        problem = one_line(exc, 2000)
        return Prepared(None, None, problem,
                        "invalid:" + hashlib.sha256(problem.encode()).hexdigest())
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    # the folder graded, by relative paths: never the random name of a temporary unpack folder
    return Prepared(work, extracted, "", content_hash(extracted.root))


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
        results = failed_results(message)
        feedback = header + results["output"] + "\n"
    else:
        notes = [one_line(n, 2000) for n in prepared.extracted.notes]
        json_path = prepared.work / "results.json"
        cmd = _check_command(opts, prepared.extracted.root, json_path)
        env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
                   MKL_NUM_THREADS="1", PYTHONIOENCODING="utf-8",
                   TMPDIR=str(prepared.work))  # what a killed check leaves behind goes with it
        proc = opts.checks.start(cmd, PROJECT_ROOT, env, prepared.work)
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
        results = read_results(json_path)
        if opts.checks.stopping.is_set():
            raise Interrupted()
        last_err = one_line(err.strip().splitlines()[-1], 300) if err.strip() else ""
        if timed_out:
            status = "timed out"
            message = (f"grading took longer than {opts.student_timeout:g} s and was stopped "
                       "(an infinite loop?)")
            results = failed_results(message, time.monotonic() - start)
            feedback += f"\n{message}\nScore: 0\n"
        elif proc.returncode == SANDBOX_FAILED:
            status = "sandbox failed"
            message = ("the sandbox failed while grading this student: not graded, not cached "
                       "(the next run tries again); see feedback.txt")
            results = failed_results(message, time.monotonic() - start)
        elif proc.returncode == 2:
            status = "invalid submission"
            message = last_err or "rejected by the grader"
            results = failed_results(message, time.monotonic() - start)
        elif results is None or proc.returncode not in (0, 1):
            # exit 3 (a problem of the grader's own) comes without a score: not a grade
            status = "grader problem" if proc.returncode == 3 else "grader failed"
            message = (f"the grading process exited with code {proc.returncode}"
                       + (f": {last_err}" if last_err else ""))
            results = failed_results(message, time.monotonic() - start)
    if status == "graded" and _does_not_import(results):
        status = DOES_NOT_IMPORT
        message = "; ".join(_does_not_import(results))
    row = base_row(student, opts, status, message, _score(results.get("score")))
    row.update(_task_scores(results, [t.id for t in opts.tasks]))
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


DOES_NOT_IMPORT = "graded: does not import"  # graded (a score), but the code does not import


def _does_not_import(results):
    """The lines a grade records about code that does not import (a syntax error, an exception
    at import), as data in its results.json; [] when it all imports."""
    extra = results.get("extra_data") if isinstance(results, dict) else None
    lines = extra.get("does_not_import") if isinstance(extra, dict) else None
    return [one_line(x, 300) for x in lines if isinstance(x, str)][:5] \
        if isinstance(lines, list) else []


def base_row(student, opts, status, message, total):
    """A student's row of grades.csv (``summary.GRADES_COLUMNS``), every task at ``total``."""
    return {"student": student.id, "name": student.name, "email": student.email,
            "sid": student.sid, "lms_id": student.lms_id, "assignment": opts.assignment or "",
            "total": total, "max_score": sum(t.points for t in opts.tasks),
            **{t.id: total for t in opts.tasks}, "status": status, "message": message,
            "submission": one_line(student.source, 1000)}


def _score(value):
    try:
        return float(value or 0)
    except (TypeError, ValueError):
        return 0.0


class Interrupted(Exception):
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
    row.update(name=student.name or row.get("name", ""),
               email=student.email or row.get("email", ""),
               sid=student.sid or row.get("sid", ""),
               lms_id=student.lms_id or row.get("lms_id", ""),
               assignment=opts.assignment or row.get("assignment", ""),
               submission=one_line(student.source, 1000))
    return row
