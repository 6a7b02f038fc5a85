"""Timing that survives a noisy 2-core machine: interleaved rounds, medians, and nothing else.

Every candidate of a comparison runs once per round, in the same round, so that a slow stretch of
the machine hits all of them; each round runs a candidate enough times to last ``block`` seconds;
the result is the median over rounds of the time per call. Ratios are formed from those medians.
"""
import statistics
import time


def calibrate(fn, block):
    """How many calls of ``fn`` last about ``block`` seconds (at least 1)."""
    fn()  # warm up: first-call allocations, lazy imports, BLAS thread start
    n, elapsed = 1, 0.0
    while True:
        start = time.perf_counter()
        for _ in range(n):
            fn()
        elapsed = time.perf_counter() - start
        if elapsed >= block / 4 or n >= 1 << 20:
            return max(1, round(n * block / max(elapsed, 1e-9)))
        n *= 4


def interleaved(candidates, rounds=7, block=0.05):
    """{name: median seconds per call} for ``candidates`` ({name: zero-argument callable})."""
    counts = {name: calibrate(fn, block) for name, fn in candidates.items()}
    samples = {name: [] for name in candidates}
    for _ in range(rounds):
        for name, fn in candidates.items():
            n = counts[name]
            start = time.perf_counter()
            for _ in range(n):
                fn()
            samples[name].append((time.perf_counter() - start) / n)
    return {name: statistics.median(times) for name, times in samples.items()}


def median_of(fn, repeat):
    """Median wall seconds of ``repeat`` calls of ``fn`` (for runs too long to interleave)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times
