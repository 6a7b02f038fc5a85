"""Throughput of class grading: ``python -m autograder grade`` with --jobs 1 and --jobs 2.

Generates N submissions from the reference solution — a mix of correct ones, buggy ones (one of a few
typical mistakes each) and ones that crash at import (``sys.exit``), 60/30/10 by default — grades the
whole class once per --jobs value (``--force``, so nothing is skipped), and prints submissions per
minute for each, with the median over ``--repeat`` runs and the speed-up of the largest --jobs over
--jobs 1. Not a test; run it by hand:

    python benchmarks/batch_throughput.py                 # 100 submissions, jobs 1 and 2
    python benchmarks/batch_throughput.py --n 20 --repeat 3 -k linear
"""
import argparse
import os
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


def grade_class(folder, out, jobs, keyword=None):
    cmd = [sys.executable, "-m", "autograder", "grade", str(folder), "--out", str(out),
           "--jobs", str(jobs), "--force"]
    if keyword:
        cmd += ["-k", keyword]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"grading failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    return seconds


def measure(n=100, repeat=1, jobs_list=(1, 2), mix=(60, 30, 10), keyword=None, log=print):
    """{"n", "counts", "rates": {jobs: submissions per minute (median)}, "runs": {jobs: [s]}}."""
    work = Path(tempfile.mkdtemp(prefix="mytorch-batch-bench-"))
    try:
        counts = make_class(work / "class", n, mix)
        log(f"{n} submissions ({', '.join(f'{v} {k}' for k, v in counts.items())}); "
            f"{os.cpu_count()} CPUs; -k {keyword or '(all tests)'}; "
            f"{repeat} run(s) per --jobs value")
        rates, all_runs = {}, {}
        for jobs in jobs_list:
            runs = []
            for r in range(repeat):
                seconds = grade_class(work / "class", work / f"out_j{jobs}", jobs, keyword)
                runs.append(seconds)
                log(f"  --jobs {jobs} run {r + 1}: {seconds:7.1f} s  "
                    f"{60 * n / seconds:6.1f} submissions/min")
            med = statistics.median(runs)
            rates[jobs], all_runs[jobs] = 60 * n / med, runs
            log(f"--jobs {jobs}: median {med:.1f} s = {rates[jobs]:.1f} submissions/min "
                f"({med / n:.2f} s per submission)")
        return {"n": n, "counts": counts, "rates": rates, "runs": all_runs}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100, help="submissions (default 100)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per --jobs value (median)")
    parser.add_argument("--jobs", default="1,2", help="comma-separated --jobs values (default 1,2)")
    parser.add_argument("--mix", default="60,30,10",
                        help="correct,buggy,crashing proportions (default 60,30,10)")
    parser.add_argument("-k", dest="keyword", help="grade only tests matching EXPR (faster)")
    args = parser.parse_args(argv)
    result = measure(args.n, args.repeat, [int(j) for j in args.jobs.split(",")],
                     tuple(int(x) for x in args.mix.split(",")), args.keyword,
                     log=lambda line: print(line, flush=True))
    rates = result["rates"]
    if len(rates) > 1:
        lo, hi = min(rates), max(rates)
        print(f"speed-up --jobs {hi} over --jobs {lo}: {rates[hi] / rates[lo]:.2f}x")


if __name__ == "__main__":
    main()
