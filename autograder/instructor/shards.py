"""Classes bigger than one machine: ``grade --shard K/N`` on each machine, then ``merge``.

A student's shard depends on their id alone: ``sha256(id) mod N``, so adding or removing students
never moves anyone else to another shard. Shards are numbered from 0 to N-1, as Kubernetes'
``JOB_COMPLETION_INDEX`` and a Slurm ``--array=0-<N-1>`` number them. Each shard is graded into a
folder of its own; ``python -m autograder merge OUT0 OUT1 ... --out OUT`` checks that the folders
are the N shards of one class graded the same way, copies every student's folder and writes the same
grades.csv, summary.txt and report.html that one run over the whole class writes (see
``class_outputs``).
"""
import hashlib
import re
from pathlib import Path

from ..grading.text import one_line
from ..intake.files import OutputDirError, prepare_output_dir, write_atomically
from .class_outputs import (
    PSEUDONYM_KEY_NAME,
    RECORD_FORMAT,
    RECORD_NAME,
    STUDENTS_DIR,
    format_shard,
    read_record,
    waiting_students,
    write_class_outputs,
)

SHARD_SPEC = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")
STUDENT_FILES = ("results.json", "feedback.txt", ".meta.json")


class ShardError(ValueError):
    """A ``--shard`` value that is not K/N with 0 <= K < N."""


class MergeError(RuntimeError):
    """Folders that cannot be merged into one class (the message names which and why)."""


def parse_shard(text):
    """``"K/N"`` -> (K, N); None -> None."""
    if text is None:
        return None
    match = SHARD_SPEC.match(str(text))
    if not match:
        raise ShardError(f"--shard {one_line(text)!s}: expected K/N, for example 0/4 (shard K of "
                         "N, numbered from 0)")
    k, n = int(match.group(1)), int(match.group(2))
    if n < 1 or k >= n:
        raise ShardError(f"--shard {k}/{n}: K must be 0 to N-1 (shards are numbered from 0, as "
                         "Kubernetes' JOB_COMPLETION_INDEX and a Slurm --array=0-<N-1> are)")
    return k, n


def shard_of(student_id, count):
    """The shard (0 to count-1) a student belongs to: from their id alone."""
    digest = hashlib.sha256(student_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count


def select(students, shard):
    """The students of ``shard`` ((K, N) or None for all), in their order."""
    if shard is None:
        return list(students)
    k, n = shard
    return [s for s in students if shard_of(s.id, n) == k]


# -- merge --------------------------------------------------------------------------------------
def _load(folder):
    folder = Path(folder)
    if not folder.is_dir():
        raise MergeError(f"{folder}: not a folder (pass the --out folders of `grade --shard`)")
    record = read_record(folder)
    if record is None:
        raise MergeError(f"{folder}: no readable {RECORD_NAME}; it is not the output of `grade` "
                         "(or was graded before shards existed: grade it again)")
    if record.get("format") != RECORD_FORMAT or not isinstance(record.get("rows"), list) or \
            not isinstance(record.get("tasks"), list):
        raise MergeError(f"{folder}: {RECORD_NAME} has an unknown format (written by another "
                         "version of the grader?)")
    return record


def _tasks_text(record):
    return ", ".join(f"{t['id']} ({t['points']:g})" for t in record["tasks"]) or "none"


def _check_consistent(folders, records):
    """Every record graded the same way as the first, or a MergeError naming the difference."""
    first, first_folder = records[0], folders[0]
    checks = [
        ("hidden tests", lambda r: "on" if r.get("hidden") else "off"),
        ("tasks", _tasks_text),
        ("tests selected (-k)", lambda r: r.get("keyword") or "all"),
        ("grader version", lambda r: str(r.get("grader_version", ""))[:12]),
        ("class", lambda r: f"{r.get('class_size')} students, ids sha256 "
                            f"{str(r.get('class_sha256', ''))[:12]}"),
    ]
    for what, value in checks:
        for folder, record in zip(folders[1:], records[1:]):
            if value(record) != value(first):
                why = {
                    "grader version": " (a different checkout of the grader, or different "
                                      "--timeout/--secret: grade every shard with the same ones)",
                    "class": " (the shards were graded from different copies of the submissions)",
                }.get(what, "")
                raise MergeError(f"{first_folder} and {folder} were graded differently: {what} "
                                 f"{value(first)!s} versus {value(record)!s}{why}")


def _check_shards(folders, records):
    """The records are the N shards of one class, each once, each holding only its students."""
    specs = []
    for folder, record in zip(folders, records):
        spec = record.get("shard")
        if not spec:
            raise MergeError(f"{folder} is not a shard (graded without --shard): merge combines "
                             "the outputs of `grade --shard K/N`")
        specs.append(tuple(int(x) for x in str(spec).split("/")))
    counts = {n for _, n in specs}
    if len(counts) > 1:
        raise MergeError("the folders are shards of different splits: " + ", ".join(
            f"{folder} is {k}/{n}" for folder, (k, n) in zip(folders, specs)))
    n = counts.pop()
    seen = {}
    for folder, (k, _) in zip(folders, specs):
        if k in seen:
            raise MergeError(f"{seen[k]} and {folder} are both shard {k}/{n}")
        seen[k] = folder
    missing = [k for k in range(n) if k not in seen]
    if missing:
        raise MergeError(f"shard{'s' if len(missing) > 1 else ''} "
                         f"{', '.join(f'{k}/{n}' for k in missing)} missing: pass all {n} shards' "
                         "folders")
    owner = {}
    for folder, (k, _), record in zip(folders, specs, records):
        for row in record["rows"]:
            student = row["student"]
            if student in owner:
                raise MergeError(f"student {one_line(student)} is in both {owner[student]} and "
                                 f"{folder}")
            owner[student] = folder
            if shard_of(student, n) != k:
                raise MergeError(f"{folder} (shard {k}/{n}) holds student {one_line(student)}, "
                                 f"who belongs to shard {shard_of(student, n)}/{n}")
    size = records[0].get("class_size")
    if len(owner) != size:
        raise MergeError(f"the shards hold {len(owner)} students but the class has {size}; was a "
                         "shard's folder edited by hand?")
    return specs


def _merged_conditions(folders, specs, records):
    """One value per condition; where machines differed, each value with the shards that had it."""
    merged = {}
    for key in records[0]["conditions"]:
        values = {}
        for (k, n), record in zip(specs, records):
            values.setdefault(str(record["conditions"].get(key, "not recorded")), []).append(
                f"{k}/{n}")
        if len(values) == 1:
            merged[key] = next(iter(values))
        else:
            merged[key] = "\n".join(f"{value} (shard{'s' if len(shards) > 1 else ''} "
                                    f"{', '.join(shards)})" for value, shards in values.items())
    return merged


def _prepare_merge_out(out, folders, marker):
    target = Path(out).expanduser().resolve()
    for folder in folders:
        source = Path(folder).resolve()
        if target == source or target.is_relative_to(source) or source.is_relative_to(target):
            raise MergeError(f"--out {out}: choose a folder apart from the shards' folders "
                             f"({folder})")
    previous = read_record(target) if target.is_dir() else None
    replace = bool(previous and previous.get("merged_from"))
    if target.is_dir() and any(target.iterdir()) and not replace and \
            (target / marker).is_file():
        raise MergeError(f"--out {out} holds a grading run (not a previous merge); merge into a "
                         "new folder")
    key = target / PSEUDONYM_KEY_NAME  # kept, so pseudonyms stay the same from merge to merge
    kept_key = key.read_bytes() if replace and key.is_file() and not key.is_symlink() else None
    try:
        target = prepare_output_dir(target, marker, replace=replace)
    except OutputDirError as exc:
        raise MergeError(str(exc)) from None
    if kept_key is not None:
        write_atomically(key, kept_key, mode=0o600)
    return target


def _copy_student(source_dir, dest_dir):
    """Copy a student's output files (regular files only; they are the grader's own)."""
    for name in STUDENT_FILES:
        source = source_dir / name
        if source.is_file() and not source.is_symlink():
            dest_dir.mkdir(parents=True, exist_ok=True)
            write_atomically(dest_dir / name, source.read_bytes())


def merge(folders, out, marker, anonymize=False):
    """Merge the shard folders into ``out``; return (summary text, record, warnings)."""
    folders = [Path(f) for f in folders]
    if len({f.resolve() for f in folders}) != len(folders):
        raise MergeError("a folder is named twice")
    records = [_load(f) for f in folders]
    _check_consistent(folders, records)
    specs = _check_shards(folders, records)
    out = _prepare_merge_out(out, folders, marker)
    rows, warnings = [], []
    for folder, (k, n), record in zip(folders, specs, records):
        for row in record["rows"]:
            _copy_student(folder / STUDENTS_DIR / row["student"],
                          out / STUDENTS_DIR / row["student"])
            rows.append(row)
        waiting = waiting_students(record)
        if waiting:
            warnings.append(f"shard {k}/{n} ({folder}) was interrupted: {len(waiting)} students "
                            "not graded; run that shard again, then merge again")
    first = records[0]
    merged = {key: first[key] for key in ("format", "grader_version", "hidden", "keyword", "tasks")}
    merged.update(shard=None, class_size=first["class_size"], class_sha256=first["class_sha256"],
                  conditions=_merged_conditions(folders, specs, records),
                  rows=sorted(rows, key=lambda r: r["student"]),
                  merged_from=[{"folder": str(f.resolve()), "shard": format_shard(s)}
                               for f, s in sorted(zip(folders, specs), key=lambda fs: fs[1])])
    summary = write_class_outputs(out, merged, anonymize=anonymize)
    return summary, merged, warnings
