"""Throughput of class grading: ``python -m autograder grade`` with --jobs 1 and --jobs 2.

Generates N submissions from the reference solution — a mix of correct ones, buggy ones (one of a
few typical mistakes each) and ones that crash at import (``sys.exit``), 60/30/10 by default —
grades the whole class once per --jobs value (``--force``, so nothing is skipped), and prints
submissions per minute for each and per core (per job: the batch runs one check per job), with the
median over ``--repeat`` runs and the speed-up of the largest --jobs over --jobs 1. With
``--project`` it turns the per-core rate of the largest --jobs into a wall time for a class on a
cluster (see ``projected_minutes`` for the assumptions). Not a test; run it by hand:

    python benchmarks/batch_throughput.py                 # 100 submissions, jobs 1 and 2
    python benchmarks/batch_throughput.py --n 20 --repeat 3 -k linear
    python benchmarks/batch_throughput.py --n 24 --repeat 3 --project 5000,10,16
"""
import argparse
import math
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BUGS = [  # (file under mytorch/, text in the reference, the mistake)
    ("nn/linear.py", "self.dLdW = dLdZ.T @ self.A", "self.dLdW = self.A.T @ dLdZ"),
    ("nn/linear.py", "dLdA = dLdZ @ self.W", "dLdA = -(dLdZ @ self.W)"),
    ("nn/activation.py", "dLdZ = dLdA * self.A * (1.0 - self.A)", "dLdZ = dLdA * (1.0 - self.A)"),
    ("nn/activation.py", "dLdZ = dLdA * (1.0 - self.A * self.A)", "dLdZ = dLdA * (1.0 - self.A)"),
    ("nn/activation.py", "self.A = E / E.sum(axis=1, keepdims=True)",
     "self.A = E / E.sum(axis=0, keepdims=True)"),
]


def make_class(folder, n, mix):
    """Write ``n`` student folders into ``folder``; return {kind: count}."""
    total = sum(mix)
    quota = [round(n * m / total) for m in mix[:2]]
    quota.append(max(0, n - sum(quota)))
    # interleaved, so that every stretch of the class has about the same mix
    slots = sorted(((j + 0.5) / q, k) for k, q in enumerate(quota) for j in range(q))
    kinds = [("correct", "buggy", "crashing")[k] for _, k in slots][:n]
    counts = {}
    for i, kind in enumerate(kinds):
        dest = folder / f"s{i:03d}_{kind}"
        shutil.copytree(REPO / "mytorch", dest / "mytorch",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".*", "*.gz"))
        if kind == "buggy":
            rel, old, new = BUGS[i % len(BUGS)]
            path = dest / "mytorch" / rel
            text = path.read_text(encoding="utf-8")
            if old not in text:
                raise SystemExit(f"the reference no longer contains {old!r} in {rel}")
            path.write_text(text.replace(old, new), encoding="utf-8")
        elif kind == "crashing":
            init = dest / "mytorch" / "__init__.py"
            init.write_text("import sys\nsys.exit(1)\n" + init.read_text(encoding="utf-8"),
                            encoding="utf-8")
        counts[kind] = counts.get(kind, 0) + 1
    return counts


# a throwaway secret for --hidden runs (hidden cases are drawn from it; nothing is kept)
BENCH_SECRET = "benchmark-secret-not-a-course-one"


def grade_class(folder, out, jobs, keyword=None, hidden=False):
    cmd = [sys.executable, "-m", "autograder", "grade", str(folder), "--out", str(out),
           "--jobs", str(jobs), "--force"]
    if keyword:
        cmd += ["-k", keyword]
    env = dict(os.environ)
    if hidden:
        cmd.append("--hidden")
        env["MYTORCH_GRADER_SECRET"] = BENCH_SECRET
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"grading failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    # CPU time of the whole tree (grade, its checks, their workers: each waits for its children)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return seconds, cpu


def measure(n=100, repeat=1, jobs_list=(1, 2), mix=(60, 30, 10), keyword=None, log=print,
            hidden=False):
    """{"n", "counts", "rates": {jobs: submissions per minute (median)}, "runs": {jobs: [s]},
    "cpu_rates": {jobs: submissions per CPU-minute (median)}}.

    The wall-time rates depend on what else the machine runs; the CPU-time rate (CPU seconds the
    whole process tree used) much less: on a machine shared with other work it is the better
    estimate of what one dedicated core grades."""
    work = Path(tempfile.mkdtemp(prefix="mytorch-batch-bench-"))
    try:
        counts = make_class(work / "class", n, mix)
        log(f"{n} submissions ({', '.join(f'{v} {k}' for k, v in counts.items())}); "
            f"{os.cpu_count()} CPUs; -k {keyword or '(all tests)'}; "
            f"{repeat} run(s) per --jobs value")
        rates, all_runs, cpu_rates = {}, {}, {}
        for jobs in jobs_list:
            runs, cpus = [], []
            for r in range(repeat):
                seconds, cpu = grade_class(work / "class", work / f"out_j{jobs}", jobs, keyword,
                                           hidden)
                runs.append(seconds)
                cpus.append(cpu)
                log(f"  --jobs {jobs} run {r + 1}: {seconds:7.1f} s  "
                    f"{60 * n / seconds:6.1f} submissions/min; CPU {cpu:6.1f} s = "
                    f"{cpu / n:.2f} s per submission")
            med = statistics.median(runs)
            rates[jobs], all_runs[jobs] = 60 * n / med, runs
            cpu_rates[jobs] = 60 * n / statistics.median(cpus)
            log(f"--jobs {jobs}: {cpu_rates[jobs]:.1f} submissions per CPU-minute (median)")
            log(f"--jobs {jobs}: median {med:.1f} s = {rates[jobs]:.1f} submissions/min, "
                f"{rates[jobs] / jobs:.1f} per core ({med / n:.2f} s per submission)")
        return {"n": n, "counts": counts, "rates": rates, "runs": all_runs,
                "cpu_rates": cpu_rates, "hidden": hidden}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def projected_minutes(per_core_rate, submissions, machines, cores):
    """Wall time of grading ``submissions`` as ``machines`` shards, each at ``--jobs cores``.

    Assumes each core grades at ``per_core_rate`` (submissions per minute, measured here at the
    largest --jobs, where the cores were all busy), so one machine grades ``cores`` times that;
    that the wall time is that of the largest shard: shards are binomial (sha256 of the ids), so
    the largest of ``machines`` is taken as the mean plus two standard deviations; and that the
    submissions sit on each machine's disk or a shared file system before the start. Start-up
    (finding and copying the shard's students) and the merge take seconds and are left out.
    """
    mean = submissions / machines
    largest_shard = mean + 2 * math.sqrt(mean * (1 - 1 / machines))
    return largest_shard / (per_core_rate * cores)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100, help="submissions (default 100)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per --jobs value (median)")
    parser.add_argument("--jobs", default="1,2", help="comma-separated --jobs values (default 1,2)")
    parser.add_argument("--mix", default="60,30,10",
                        help="correct,buggy,crashing proportions (default 60,30,10)")
    parser.add_argument("-k", dest="keyword", help="grade only tests matching EXPR (faster)")
    parser.add_argument("--project", metavar="SUBMISSIONS,MACHINES,CORES",
                        help="also project the wall time of such a class on such a cluster")
    args = parser.parse_args(argv)
    result = measure(args.n, args.repeat, [int(j) for j in args.jobs.split(",")],
                     tuple(int(x) for x in args.mix.split(",")), args.keyword,
                     log=lambda line: print(line, flush=True))
    rates = result["rates"]
    if len(rates) > 1:
        lo, hi = min(rates), max(rates)
        print(f"speed-up --jobs {hi} over --jobs {lo}: {rates[hi] / rates[lo]:.2f}x")
    if args.project:
        submissions, machines, cores = (int(x) for x in args.project.split(","))
        jobs = max(rates)
        for what, per_core in (("wall time here", rates[jobs] / jobs),
                               ("CPU time", result["cpu_rates"][jobs])):
            minutes = projected_minutes(per_core, submissions, machines, cores)
            print(f"projected from the {what}: {submissions} submissions on {machines} machines x "
                  f"{cores} cores (--shard K/{machines}, --jobs {cores}) at {per_core:.1f} per "
                  f"core per minute: {minutes:.1f} min")


if __name__ == "__main__":
    main()
