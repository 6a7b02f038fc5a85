"""The grader against hostile submissions (``tests/submissions/hostile.py``): every attack harmless.

Each variant is graded in full by ``python -m autograder`` in a subprocess (the tasks it does not
attack must keep full marks, in every later test file too), with exact per-task scores from the
rubric, as ``test_submissions.py`` does for the bugs and faults. Attacks that need the worker
sandbox to be harmless (reading the grader's files, signalling the grader) run only where Linux
Landlock is available, and say so when skipped. Gradings run two at a time, once per session.

Also here: determinism (the same submission graded several times gets the same items, scores and
total every time).
"""
import concurrent.futures
import glob
import json
import os
import time
from pathlib import Path

import pytest

from autograder.channel.sandbox import landlock
from tests.autograder.grader_runs import REPO, check_scores, collect_item_shares, run_grader
from tests.submissions.buggy import BUGS, Variant, apply_variant
from tests.submissions.hostile import HOSTILE, NEEDS_SANDBOX, NEEDS_SIGNAL_SCOPE, SECRET_FILE

pytestmark = pytest.mark.slow  # the grader end to end: see pyproject's markers

BY_NAME = {v.name: v for v in HOSTILE}
assert len(BY_NAME) == len(HOSTILE)
PARALLEL = max(1, min(2, os.cpu_count() or 1))
LANDLOCK = landlock.abi_version()
SECRET = "hostile-test-secret-0123456789"
GRADE_SECONDS = 180  # a grader stopped or killed by an attack must not hang the test run


def requirement(name):
    """None, or why ``name`` cannot be harmless on this machine (the reason a skip gives)."""
    if os.name != "posix":
        return "POSIX-only attack (fork, signals, rlimits)"
    if name in NEEDS_SIGNAL_SCOPE and LANDLOCK < 6:
        return (f"needs Landlock ABI 6 (Linux 6.12) to stop signals to the grader; this kernel "
                f"has ABI {LANDLOCK}")
    if name in NEEDS_SANDBOX and LANDLOCK < 1:
        return "needs Linux Landlock to keep the grader's files from the worker"
    return None


RUNNABLE = [v for v in HOSTILE if requirement(v.name) is None]


@pytest.fixture(scope="module")
def item_shares(tmp_path_factory):
    return collect_item_shares(tmp_path_factory.mktemp("collect") / "shares.json")


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """name -> (folder, GraderRun) for every runnable variant, graded 2 at a time (hangs first)."""
    root = tmp_path_factory.mktemp("hostile")
    Path(SECRET_FILE).write_text(SECRET + "\n")

    def grade(variant):
        folder = apply_variant(variant, REPO, root / variant.name)
        run = run_grader(folder, folder / "results.json", variant.grader_args(),
                         timeout=GRADE_SECONDS, env={"MYTORCH_GRADER_SECRET": SECRET})
        return variant.name, (folder, run)

    order = sorted(RUNNABLE, key=lambda v: ("--timeout" not in v.args, v.name))
    try:
        with concurrent.futures.ThreadPoolExecutor(PARALLEL) as pool:
            return dict(pool.map(grade, order))
    finally:
        Path(SECRET_FILE).unlink(missing_ok=True)


@pytest.mark.parametrize("attack", HOSTILE, ids=[v.name for v in HOSTILE])
def test_attack_is_harmless(attack, graded, item_shares):
    # (not named "variant": test_submissions.py grades every "variant" parameter it finds)
    variant = attack
    reason = requirement(variant.name)
    if reason:
        pytest.skip(reason)
    folder, run = graded[variant.name]
    check_scores(variant, run, item_shares)
    # only the grader's own results.json, whatever the worker wrote meanwhile
    assert json.loads((folder / "results.json").read_text()) == run.results


def test_no_attack_holds_the_grader_past_its_time_budget(graded):
    """The time budget of a submission's code (plus start-up) bounds every grade."""
    from autograder.channel.transport import Limits

    limits = Limits()
    slowest = max(graded.values(), key=lambda item: item[1].seconds)[1]
    assert slowest.seconds < limits.budget_seconds + limits.start_seconds, slowest.describe()


def feedback(run, task):
    return {t["number"]: t["output"] for t in run.results["tests"]}[task]


def test_nothing_leaks_from_the_grader(graded):
    if requirement("leak_grader_files_and_proc"):
        pytest.skip(requirement("leak_grader_files_and_proc"))
    _, run = graded["leak_grader_files_and_proc"]
    text = feedback(run, "2.2")
    assert "GOT IT" not in text and SECRET not in text
    for route in ("fixtures: PermissionError", "reference: PermissionError",
                  "grader environ: PermissionError", "grader memory: PermissionError",
                  "secret file: PermissionError", "secret variable: empty"):
        assert route in text, text


def test_fork_sleepers_are_killed_with_the_worker(graded):
    folder, run = graded["fork_sleepers"]
    files = {str(p) for p in folder.glob("sleeper-*.pid")}
    assert len(files) >= 50, run.describe()  # Tanh's 40 (at least once) and GELU's 10
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _holding(files):
        time.sleep(0.1)
    assert not _holding(files)
    assert run.seconds < 60, run.describe()


def _holding(paths):
    """Processes of this machine that hold one of ``paths`` open (the sleepers still alive)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:  # gone meanwhile
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") in paths:
                    found.append(int(pid))
                    break
            except OSError:
                pass
    return found


def test_disk_fill_is_bounded_and_cleaned_up(graded):
    if requirement("fill_disk"):
        pytest.skip(requirement("fill_disk"))
    folder, run = graded["fill_disk"]
    sizes = {p.name: p.stat().st_size for p in folder.glob("fill-*.bin")}
    assert sizes["fill-big.bin"] == 16 * 2**20  # the file-size limit stopped it
    assert max(sizes.values()) <= 16 * 2**20
    # what it wrote to its temporary folder went with its worker
    tmpdir = (folder / "tmpdir.txt").read_text()
    assert "mytorch-worker-" in tmpdir and not glob.glob(os.path.join(tmpdir, "fill-*.bin"))


def test_runaway_thread_output_is_bounded(graded):
    _, run = graded["runaway_thread"]
    assert run.seconds < 60, run.describe()
    text = feedback(run, "2.2")
    assert "still here" in text and "more bytes of output not shown" not in text
    assert len(text) < 4 * 64 * 1024


# --------------------------------------------------------------------------- determinism

DETERMINISM_RUNS = 5
LINEAR_BUG = {v.name: v for v in BUGS}["linear_dLdb_averaged"]


def test_the_same_submission_gets_the_same_grade_every_time(tmp_path):
    """The reference (in full) and a bug whose failures depend on the data (-k its tasks), each
    graded DETERMINISM_RUNS times: identical items, statuses, scores and totals."""
    reference = apply_variant(Variant("reference", "the reference", ()), REPO, tmp_path / "ref")
    buggy = apply_variant(LINEAR_BUG, REPO, tmp_path / "bug")
    jobs = [(reference, ()), (buggy, LINEAR_BUG.grader_args())] * DETERMINISM_RUNS

    def grade(job):
        folder, args = job
        out = folder / f"results-{time.monotonic_ns()}.json"
        run = run_grader(folder, out, args)
        assert run.returncode == 0, run.describe()
        tests = [(t["number"], t["score"], t["status"], t["output"]) for t in run.results["tests"]]
        return folder, (run.results["score"], tests)

    with concurrent.futures.ThreadPoolExecutor(PARALLEL) as pool:
        outcomes = list(pool.map(grade, jobs))
    for folder, expected_score in ((reference, 100), (buggy, None)):
        seen = [outcome for f, outcome in outcomes if f == folder]
        assert len(seen) == DETERMINISM_RUNS
        assert all(outcome == seen[0] for outcome in seen), folder
        if expected_score is not None:
            assert seen[0][0] == expected_score
        else:
            assert 0 < seen[0][0] < 15 + 10 + 8 + 10 + 12  # it loses points, not everything
