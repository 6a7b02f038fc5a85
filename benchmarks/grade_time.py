"""Wall time of a full local grade of the reference, cold start included (median of repeats).

    python benchmarks/grade_time.py [--repeat 5]

Each run is a fresh `python -m autograder` process (interpreter start, pytest collection, worker
start-up and every graded test), timed from outside.
"""
import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def measure(repeat=5, hidden=False):
    """(median seconds, all runs) of a full ``python -m autograder`` of the reference (with
    ``hidden``: in instructor mode, hidden cases drawn from a throwaway secret)."""
    env = {**os.environ, "MYTORCH_GRADER_USER": os.environ.get("MYTORCH_GRADER_USER", "none")}
    cmd = [sys.executable, "-m", "autograder", "--fail-under", "100"]
    if hidden:
        cmd.append("--hidden")
        env["MYTORCH_GRADER_SECRET"] = "benchmark-secret-not-a-course-one"
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        if proc.returncode != 0:
            sys.exit(f"grading failed:\n{proc.stdout}\n{proc.stderr}")
    return statistics.median(times), times


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--hidden", action="store_true", help="in instructor mode (hidden cases)")
    args = parser.parse_args()
    median, times = measure(args.repeat, args.hidden)
    print(f"full {'instructor' if args.hidden else 'local'} grade of the reference: "
          f"median {median:.2f} s wall "
          f"over {len(times)} runs (min {min(times):.2f}, max {max(times):.2f})")


if __name__ == "__main__":
    main()
