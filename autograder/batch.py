"""Grade a whole class: ``python -m autograder grade SUBMISSION... --out DIR [--jobs N]``.

Each SUBMISSION is one student's folder or archive, or a folder of many (a Canvas or Gradescope
export: one entry per student). Every student is unpacked safely (``archive.py``) into a fresh
temporary folder and graded by its own ``python -m autograder check`` subprocess, ``--jobs`` at a time,
with a per-student wall-time cap. Output, every file written atomically:

    DIR/grades.csv                 student, name, email, total, one column per task, status, message
    DIR/<student>/results.json     Gradescope's format (also for students that could not be graded)
    DIR/<student>/feedback.txt     the console report with every failure in full (-v)
    DIR/<student>/.meta.json       what was graded: the submission's sha256 and the grader version
    DIR/summary.txt (+ .png)       score statistics and histogram, per-task pass rates, failed tests

A re-run skips students whose submission and grader are unchanged (``--force`` regrades), so a
killed batch resumes where it stopped. A broken archive or a missing mytorch/ gives that student 0 with
the reason in feedback.txt and grades.csv; it never stops the batch.
"""
import csv
import hashlib
import io
import json
import os
import re
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

from .archive import (SKIP_NAMES, SubmissionArchiveError, archive_kind, clean_component,
                      extract_submission, is_archive_name, strip_archive_suffix)
from .rubric import RUBRIC_PATH, load_rubric

PACKAGE_DIR = Path(__file__).resolve().parent
GRADER_ROOT = PACKAGE_DIR.parent
METADATA_NAME = "submission_metadata.yml"
IGNORED_SUFFIXES = (".yml", ".yaml", ".csv", ".txt", ".md", ".json", ".html", ".pdf")
# instructor tooling that does not change a grade: editing it does not invalidate stored results
NOT_GRADING = {"batch.py", "gradescope.py", "handout.py", "submit.py"}
CANVAS_NAME = re.compile(r"^(.+?)_(?:late_)?\d+_\d+(?:_|$)", re.IGNORECASE)


class BatchError(RuntimeError):
    """The batch as a whole cannot start (a SUBMISSION path that does not exist, a bad option)."""


@dataclass
class Student:
    id: str
    source: Path
    name: str = ""
    email: str = ""
    sid: str = ""


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
    python: str = sys.executable
    tasks: list = field(default_factory=list)   # rubric tasks graded in this mode
    version: str = ""


# -- discovering students ---------------------------------------------------------------------
def student_id_from_name(name):
    """The student id an export's file or folder name stands for.

    Canvas: ``lastfirst_12345_67890_hw1.zip`` (or ``lastfirst_LATE_12345_67890_...``) -> ``lastfirst``;
    anything else (``submission_123456``, ``alice.zip``) -> its name without the archive suffix.
    """
    stem = strip_archive_suffix(clean_component(name))
    match = CANVAS_NAME.match(stem)
    if match and match.group(1):
        stem = match.group(1)
    safe = re.sub(r"[^A-Za-z0-9._@+-]+", "_", stem).strip("._")[:100]
    return safe or "student"


def read_gradescope_metadata(path):
    """{submission folder: {"name", "email", "sid"}} from Gradescope's ``submission_metadata.yml``.

    A tiny line parser for the one shape Gradescope writes (no YAML dependency)::

        submission_123456:
          :submitters:
          - :name: Jane Doe
            :sid: '1234'
            :email: jane@example.edu
    Group submissions join their submitters with "; ". Unreadable files give {}.
    """
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    out, current, people, in_submitters, sub_indent = {}, None, None, False, 0
    for raw in text.splitlines():
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        indent = len(raw) - len(raw.lstrip(" "))
        line = raw.strip()
        if indent == 0 and line.endswith(":"):
            current = _unquote(line[:-1])
            people = out.setdefault(current, [])
            in_submitters = False
            continue
        if current is None:
            continue
        if line.lstrip(":").startswith("submitters:"):
            in_submitters, sub_indent = True, indent
            continue
        if not in_submitters:
            continue
        if indent <= sub_indent and not line.startswith("- "):
            in_submitters = False
            continue
        if line.startswith("- "):
            people.append({})
            line = line[2:].strip()
        if not people:
            people.append({})
        key, sep, value = line.lstrip(":").partition(":")
        if sep and key.strip() in ("name", "email", "sid"):
            people[-1].setdefault(key.strip(), _unquote(value))
    return {folder: {k: "; ".join(p.get(k, "") for p in people if p.get(k))
                     for k in ("name", "email", "sid")}
            for folder, people in out.items()}


def _unquote(text):
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        text = text[1:-1]
    return text


def _ignored(path, out_dir):
    name = path.name
    if name in SKIP_NAMES or name.startswith(".") or name == METADATA_NAME:
        return True
    try:
        if path.resolve() == out_dir.resolve() or out_dir.resolve().is_relative_to(path.resolve()):
            return True
    except OSError:
        pass
    return path.is_file() and name.lower().endswith(IGNORED_SUFFIXES)


def _is_single(folder):
    """A folder holding mytorch/ (maybe one folder down) is one student; others are exports."""
    if (folder / "mytorch").is_dir():
        return True
    children = [c for c in folder.iterdir() if c.name not in SKIP_NAMES and not c.name.startswith(".")]
    return (len(children) == 1 and children[0].is_dir() and (children[0] / "mytorch").is_dir()
            and not (folder / METADATA_NAME).exists())


def discover(paths, out_dir):
    """[Student] for the SUBMISSION arguments, with unique ids, and a list of warnings."""
    out_dir = Path(out_dir)
    found, warnings = [], []
    for arg in paths:
        path = Path(arg)
        if not path.exists() and not path.is_symlink():
            raise BatchError(f"{path} does not exist")
        if path.is_dir() and not _is_single(path):
            meta = read_gradescope_metadata(path / METADATA_NAME)
            entries = sorted(path.iterdir(), key=lambda p: p.name)
            count = 0
            for child in entries:
                if _ignored(child, out_dir):
                    continue
                if child.is_file() and not is_archive_name(child.name) and \
                        archive_kind(child) is None and not CANVAS_NAME.match(child.name):
                    warnings.append(f"skipped {child}: not a folder or an archive")
                    continue
                info = meta.get(child.name, {})
                found.append(Student(student_id_from_name(child.name), child, **info))
                count += 1
            if count == 0:
                warnings.append(f"{path} holds no submissions (no mytorch/, no student folders or "
                                "archives)")
        else:
            found.append(Student(student_id_from_name(path.name), path))
    seen = {}
    for student in found:
        base = student.id
        n = seen.get(base, 0) + 1
        seen[base] = n
        if n > 1:
            student.id = f"{base}-{n}"
            while student.id in seen:
                n += 1
                student.id = f"{base}-{n}"
            seen[student.id] = 1
            warnings.append(f"two submissions map to the student id {base}: {student.source} "
                            f"is graded as {student.id}")
    return found, warnings


# -- hashes -----------------------------------------------------------------------------------
def content_hash(source):
    """sha256 of a submission: an archive's bytes, or a folder's relative paths and contents."""
    h = hashlib.sha256()
    source = Path(source)
    if source.is_file():
        h.update(b"file\0")
        with open(source, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        return h.hexdigest()
    h.update(b"folder\0")
    for root, dirs, files in os.walk(source, followlinks=False):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_NAMES)
        rel = os.path.relpath(root, source)
        for name in sorted(files):
            if name in SKIP_NAMES:
                continue
            path = os.path.join(root, name)
            h.update(os.fsencode(os.path.join(rel, name)) + b"\0")
            try:
                if os.path.islink(path):
                    h.update(b"link\0" + os.fsencode(os.readlink(path)))
                else:
                    with open(path, "rb") as fh:
                        for chunk in iter(lambda: fh.read(1 << 20), b""):
                            h.update(chunk)
            except OSError as exc:
                h.update(f"unreadable {exc.errno}".encode())
            h.update(b"\0")
    return h.hexdigest()


def grader_version(config=""):
    """Hash of the grader's files (code, rubric, suite, fixtures), the reference and ``config``."""
    h = hashlib.sha256()
    roots = [PACKAGE_DIR, GRADER_ROOT / "mytorch"]
    for base in roots:
        if not base.is_dir():
            continue
        for path in sorted(p for p in base.rglob("*") if p.is_file()):
            rel = path.relative_to(base)
            if "__pycache__" in rel.parts or any(p.startswith(".") for p in rel.parts) or \
                    path.suffix in (".pyc", ".tmp") or ".tmp" in path.name:
                continue
            if base == PACKAGE_DIR and rel.as_posix() in NOT_GRADING:
                continue
            if base.name == "mytorch" and path.suffix != ".py":
                continue  # data caches beside the reference are not the grader
            h.update(path.relative_to(GRADER_ROOT).as_posix().encode() + b"\0")
            h.update(path.read_bytes())
            h.update(b"\0")
    h.update(config.encode())
    return h.hexdigest()


def _config(opts):
    secret = ""
    if opts.hidden:
        if opts.secret_file:
            try:
                secret = Path(opts.secret_file).read_text(encoding="utf-8").strip()
            except OSError:
                secret = ""
        else:
            secret = os.environ.get("MYTORCH_GRADER_SECRET", "").strip()
    return json.dumps({"hidden": opts.hidden, "secret": hashlib.sha256(secret.encode()).hexdigest(),
                       "timeout": opts.timeout, "keyword": opts.keyword}, sort_keys=True)


# -- grading one student ----------------------------------------------------------------------
_ACTIVE = {}              # pid -> Popen of running check subprocesses
_ACTIVE_LOCK = threading.Lock()
_STOP = threading.Event()


def _atomic_text(path, text):
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}.{threading.get_ident()}")
    with open(tmp, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)
    os.replace(tmp, path)


def _atomic_json(path, data):
    _atomic_text(path, json.dumps(data, indent=2) + "\n")


def error_results(message, seconds=0.0):
    """A valid Gradescope results.json for a student that could not be graded."""
    return {"score": 0.0, "execution_time": round(seconds, 3),
            "output": f"Your submission could not be graded: {message}\nScore: 0",
            "output_format": "text", "visibility": "visible", "stdout_visibility": "hidden",
            "tests": []}


def _task_scores(results, task_ids):
    scores = {t: 0.0 for t in task_ids}
    for test in results.get("tests", []) if isinstance(results, dict) else []:
        number = str(test.get("number", ""))
        if number in scores:
            scores[number] = round(scores[number] + float(test.get("score", 0) or 0), 4)
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
    if opts.keyword:
        cmd += ["-k", opts.keyword]
    return cmd


def grade_student(student, opts, digest):
    """Grade one student; write DIR/<id>/{results.json,feedback.txt,.meta.json}; return the row."""
    start = time.monotonic()
    folder = opts.out / student.id
    work = Path(tempfile.mkdtemp(prefix="mytorch-batch-"))
    notes, results, status, message, feedback = [], None, "graded", "", ""
    try:
        os.chmod(work, 0o755)  # the worker may run as an unprivileged user
        try:
            extracted = extract_submission(student.source, work / "submission")
            notes += extracted.notes
        except SubmissionArchiveError as exc:
            status, message = "invalid submission", str(exc)
            results = error_results(message)
            feedback = (f"Student {student.id} ({student.source.name})\n\nYour submission could not "
                        f"be graded: {exc}\nScore: 0\n")
        if results is None:
            json_path = work / "results.json"
            cmd = _check_command(opts, extracted.root, json_path)
            env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
                       MKL_NUM_THREADS="1", PYTHONIOENCODING="utf-8",
                       TMPDIR=str(work))  # what a killed check leaves behind goes with `work`
            with _ACTIVE_LOCK:  # no new subprocess once the batch is being stopped
                if _STOP.is_set():
                    raise _Interrupted()
                proc = subprocess.Popen(cmd, cwd=str(GRADER_ROOT), env=env,
                                        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, start_new_session=True)
                _ACTIVE[proc.pid] = proc
            try:
                out, err = proc.communicate(timeout=opts.student_timeout)
                timed_out = False
            except subprocess.TimeoutExpired:
                kill_tree(proc)
                out, err = proc.communicate()
                timed_out = True
            finally:
                with _ACTIVE_LOCK:
                    _ACTIVE.pop(proc.pid, None)
            out = out.decode("utf-8", "replace")
            err = err.decode("utf-8", "replace")
            feedback = (f"Student {student.id} ({student.source.name})\n\n" + out
                        + (("\n" + err) if err.strip() else ""))
            if notes:
                feedback += "".join(f"note: {n}\n" for n in notes)
            try:
                results = json.loads(json_path.read_text(encoding="utf-8"))
                if not isinstance(results, dict) or "score" not in results:
                    raise ValueError("no score")
            except (OSError, ValueError):
                results = None
            if _STOP.is_set():
                raise _Interrupted()
            if timed_out:
                status = "timed out"
                message = (f"grading took longer than {opts.student_timeout:g} s and was stopped "
                           "(an infinite loop?)")
                results = error_results(message, time.monotonic() - start)
                feedback += f"\n{message}\nScore: 0\n"
            elif proc.returncode == 2:
                status = "invalid submission"
                message = err.strip().splitlines()[-1] if err.strip() else "rejected by the grader"
                results = error_results(message, time.monotonic() - start)
            elif results is None or proc.returncode not in (0, 1):
                # exit 3 (a problem of the grader's own) comes without a score: not a grade
                status = "grader problem" if proc.returncode == 3 else "grader failed"
                message = (f"the grading process exited with code {proc.returncode}"
                           + (f": {err.strip().splitlines()[-1][:300]}" if err.strip() else ""))
                results = error_results(message, time.monotonic() - start)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    task_ids = [t.id for t in opts.tasks]
    row = {"student": student.id, "name": student.name, "email": student.email,
           "sid": student.sid, "total": float(results.get("score", 0) or 0),
           "max_score": sum(t.points for t in opts.tasks),
           **_task_scores(results, task_ids), "status": status, "message": message,
           "submission": str(student.source)}
    folder.mkdir(parents=True, exist_ok=True)
    _atomic_json(folder / "results.json", results)
    _atomic_text(folder / "feedback.txt", feedback)
    _atomic_json(folder / ".meta.json", {
        "student": student.id, "submission": str(student.source), "content_sha256": digest,
        "grader_version": opts.version, "graded_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "seconds": round(time.monotonic() - start, 3), "row": row})
    return row


class _Interrupted(Exception):
    pass


def cached_row(student, opts, digest):
    """The stored row when this student's submission and the grader are unchanged, else None."""
    folder = opts.out / student.id
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
               sid=student.sid or row.get("sid", ""), submission=str(student.source))
    return row


# -- class outputs ----------------------------------------------------------------------------
def write_grades_csv(rows, tasks, path):
    columns = ["student", "name", "email", "sid", "total", "max_score"] + [t.id for t in tasks] + \
        ["status", "message", "submission"]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in sorted(rows, key=lambda r: r["student"]):
        writer.writerow({k: (_num(v) if isinstance(v, float) else v) for k, v in row.items()})
    _atomic_text(path, buf.getvalue())


def _num(x):
    return f"{x:g}" if float(x).is_integer() else f"{x:.2f}"


FAILED_LINE = re.compile(r"^(\S[^\n]*?) \[(failed|not implemented|crashed|error|not run)\]$")


def failed_tests(results):
    """{test (without its case id): status} of the failing tests named in a results.json."""
    out = {}
    for test in results.get("tests", []) if isinstance(results, dict) else []:
        for line in str(test.get("output", "")).splitlines():
            m = FAILED_LINE.match(line)
            if m and "::" in m.group(1):
                out.setdefault(m.group(1).split("[", 1)[0], m.group(2))
    return out


def summarize(rows, tasks, out_dir):
    """Write summary.txt (and summary.png with matplotlib); return the text."""
    n = len(rows)
    max_total = sum(t.points for t in tasks) or 100.0
    totals = [float(r["total"]) for r in rows]
    graded = [r for r in rows if r["status"].startswith("graded")]
    lines = [f"Class summary: {n} students ({len(graded)} graded, {n - len(graded)} could not be "
             "graded; those count as 0)", ""]
    if totals:
        lines.append(f"Score (out of {_num(max_total)}): mean {statistics.fmean(totals):.2f}, "
                     f"median {_num(statistics.median(totals))}, min {_num(min(totals))}, "
                     f"max {_num(max(totals))}"
                     + (f", stdev {statistics.stdev(totals):.2f}" if n > 1 else ""))
        lines += ["", "Score histogram:"]
        bins = 10
        counts = [0] * bins
        for x in totals:
            counts[min(bins - 1, max(0, int(x / max_total * bins)))] += 1
        widest = max(counts) or 1
        for i, c in enumerate(counts):
            lo, hi = max_total * i / bins, max_total * (i + 1) / bins
            bracket = "]" if i == bins - 1 else ")"
            bar = "#" * round(40 * c / widest)
            lines.append(f"  [{_num(lo):>5}, {_num(hi):>5}{bracket} {bar:<40} {c}")
    lines += ["", "Tasks (mean score / points; share of students with full points):"]
    task_rates = []
    for t in tasks:
        scores = [float(r.get(t.id, 0) or 0) for r in rows]
        full = sum(1 for s in scores if t.points and s >= t.points - 1e-9)
        rate = full / n if n else 0.0
        task_rates.append((t, rate))
        mean = statistics.fmean(scores) if scores else 0.0
        lines.append(f"  {t.id:<5} {t.title[:40]:<40} {mean:6.2f} / {_num(t.points):<4} "
                     f"{100 * rate:5.1f}% full")
    fails = {}
    for r in graded:
        try:
            results = json.loads((out_dir / r["student"] / "results.json").read_text("utf-8"))
        except (OSError, ValueError):
            continue
        for test in failed_tests(results):
            fails[test] = fails.get(test, 0) + 1
    if fails:
        lines += ["", f"Most failed tests (failed by k of the {len(graded)} graded students; pass "
                  "rate in parentheses):"]
        for test, k in sorted(fails.items(), key=lambda kv: (-kv[1], kv[0]))[:25]:
            lines.append(f"  {k:>4}  {test}  ({100 * (1 - k / max(len(graded), 1)):.0f}% pass)")
    bad = [r for r in rows if not r["status"].startswith("graded")]
    if bad:
        lines += ["", "Could not be graded:"]
        lines += [f"  {r['student']}: {r['status']}: {r['message']}" for r in bad]
    text = "\n".join(lines) + "\n"
    _atomic_text(out_dir / "summary.txt", text)
    _plot(totals, max_total, task_rates, out_dir / "summary.png")
    return text


def _plot(totals, max_total, task_rates, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except Exception:  # noqa: BLE001 — no matplotlib (or a broken one): no figure
        return
    try:
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
        ax1.hist(totals, bins=10, range=(0, max_total), color="#4477aa", edgecolor="white")
        ax1.set_xlabel("total score")
        ax1.set_ylabel("students")
        ax1.set_title(f"Scores (n={len(totals)})")
        labels = [t.id for t, _ in task_rates]
        ax2.bar(labels, [100 * r for _, r in task_rates], color="#66aa55")
        ax2.set_ylim(0, 100)
        ax2.set_ylabel("% of students with full points")
        ax2.set_title("Tasks")
        fig.tight_layout()
        tmp = path.with_name(f".{path.name}.tmp")
        fig.savefig(tmp, format="png", dpi=100)
        plt.close(fig)
        os.replace(tmp, path)
    except Exception:  # noqa: BLE001 — a figure is a nicety; never fail the batch over it
        return


# -- progress ---------------------------------------------------------------------------------
class Progress:
    """Progress on stderr: a redrawn bar on a terminal, one plain line per student otherwise."""

    def __init__(self, total, stream=None):
        self.total, self.done = total, 0
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
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
        self.stream.flush()


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
        from .hidden import SecretError, read_secret
        try:
            read_secret(args.secret_file)
        except SecretError as exc:
            raise BatchError(str(exc)) from None
    if args.user:
        from .privilege import UserError, resolve_user
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
                   keyword=args.keyword, force=args.force, tasks=tasks)
    opts.version = grader_version(_config(opts))
    return opts


def run_batch(args, stream=None):
    """``python -m autograder grade``; returns the exit code (0, or 130 when interrupted)."""
    stream = stream or sys.stderr
    opts = options_from_args(args)
    students, warnings = discover(args.submissions, opts.out)
    for w in warnings:
        print(f"warning: {w}", file=stream)
    if not students:
        raise BatchError("no submissions found in " + ", ".join(map(str, args.submissions)))
    opts.out.mkdir(parents=True, exist_ok=True)
    rows, todo = {}, []
    for student in students:
        try:
            digest = content_hash(student.source)
        except OSError as exc:
            digest = f"unreadable: {exc}"
        row = None if opts.force else cached_row(student, opts, digest)
        if row is not None:
            rows[student.id] = row
        else:
            todo.append((student, digest))
    skipped = len(students) - len(todo)
    plan = (f"{len(todo)} to grade with {min(opts.jobs, len(todo))} at a time" if todo
            else "nothing to grade")
    print(f"{len(students)} students; {skipped} unchanged since the last run (skipped"
          f"{'' if not skipped else '; --force regrades them'}), {plan}", file=stream)
    progress = Progress(len(todo), stream)
    _STOP.clear()
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    interrupted = False
    pool = ThreadPoolExecutor(max_workers=opts.jobs)
    try:
        futures = {pool.submit(_grade_safely, s, opts, d): s for s, d in todo}
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
        _STOP.set()
        with _ACTIVE_LOCK:
            procs = list(_ACTIVE.values())
        for proc in procs:
            kill_tree(proc)
        print("\ninterrupted: students graded so far are saved; run the same command again to "
              "resume", file=stream)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    write_grades_csv(rows.values(), opts.tasks, opts.out / "grades.csv")
    summary = summarize(list(rows.values()), opts.tasks, opts.out)
    if not interrupted:
        print(summary.split("\n\n", 1)[0], file=stream)
        totals = [r["total"] for r in rows.values()]
        if totals:
            print(f"mean {statistics.fmean(totals):.2f}, median {_num(statistics.median(totals))}; "
                  f"wrote {opts.out / 'grades.csv'} and {opts.out / 'summary.txt'}", file=stream)
    return 130 if interrupted else 0


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def _grade_safely(student, opts, digest):
    """grade_student, with any unexpected failure turned into that student's error row."""
    try:
        return grade_student(student, opts, digest)
    except _Interrupted:
        raise
    except Exception as exc:  # noqa: BLE001 — one student's problem never aborts the batch
        message = f"the batch grader failed on this student ({type(exc).__name__}: {exc})"
        folder = opts.out / student.id
        try:
            folder.mkdir(parents=True, exist_ok=True)
            _atomic_json(folder / "results.json", error_results(message))
            _atomic_text(folder / "feedback.txt", f"Your submission could not be graded: {message}\n")
        except OSError:
            pass
        row = {"student": student.id, "name": student.name, "email": student.email,
               "sid": student.sid, "total": 0.0, "max_score": sum(t.points for t in opts.tasks),
               **{t.id: 0.0 for t in opts.tasks}, "status": "grader failed", "message": message,
               "submission": str(student.source)}
        return row  # no .meta.json: the next run tries this student again
