"""Every benchmark of the kit, side by side in one run: a table on the console and a JSON file.

    python benchmarks/run.py                 # everything (about 5 minutes on 2 cores)
    python benchmarks/run.py --quick         # smaller sizes and fewer repeats (about 1 minute)
    python benchmarks/run.py --only linear,mlp --json out.json

Sections (``--only``, comma-separated):
  linear   Linear forward+backward: mytorch / its 3-matmul floor / torch.nn.Linear, float64+float32
  mlp      one MLP training epoch (784-128-64-10) at batch 16, 64, 256: mytorch / torch / floor,
           float64 (the two must agree exactly) and float32 (within 0.5 accuracy points)
  conv     Conv2d forward, and forward+backward, at batch 64, 28x28, 3x3, 1->8 and 8->16 channels:
           mytorch / its GEMM floor / torch.nn.functional.conv2d, float64
  threads  BLAS threading: Linear with 1 and with 2 threads, each framework in its own process
  grade    full local grade of the reference, cold start included (``python -m autograder``)
  proxy    the graded suite through the worker against the same suite in-process
  batch    class grading throughput at --jobs 1 and --jobs 2
PyTorch is optional: without it its columns say "-" and the JSON holds null. Times are medians of
repeated, interleaved runs (see ``timing.py``); ratios are mytorch's time over the other's, so
below 1 means mytorch is faster. NumPy's BLAS and PyTorch get the same number of threads (--threads,
default 1): in one process on 2 cores, two spinning thread pools slow each other down by up to 100×.
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(HERE.parent))

import batch_throughput  # noqa: E402 - sys.path set above
import conv  # noqa: E402 - sys.path set above
import grade_time  # noqa: E402 - sys.path set above
import linear  # noqa: E402 - sys.path set above
import mlp_epoch  # noqa: E402 - sys.path set above
import proxy_overhead  # noqa: E402 - sys.path set above

SECTIONS = ("linear", "mlp", "conv", "threads", "grade", "proxy", "batch")


def fmt(value, spec):
    return "-" if value is None else format(value, spec)


def table(title, header, rows):
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(header)]
    print(f"\n{title}")
    print("  ".join(str(h).rjust(w) for h, w in zip(header, widths)))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print("  ".join(str(c).rjust(w) for c, w in zip(r, widths)))


def machine():
    try:
        import torch
        torch_version = torch.__version__
    except ImportError:
        torch_version = None
    blas = "?"
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]["name"]
    except Exception:  # older NumPy: the name is a nicety
        pass
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "numpy": np.__version__,
            "blas": blas, "torch": torch_version, "platform": platform.platform(),
            "date": time.strftime("%Y-%m-%d %H:%M")}


def show_linear(rows, title="Linear forward+backward (C_in -> C_out), median µs per step"):
    table(title, ["dtype", "batch", "layer", "mytorch", "floor", "torch", "/floor", "/torch"],
          [[r["dtype"], r["batch"], f"{r['c_in']}->{r['c_out']}", fmt(r["mytorch_us"], ".1f"),
            fmt(r["floor_us"], ".1f"), fmt(r["torch_us"], ".1f"), fmt(r["vs_floor"], ".2f"),
            fmt(r["vs_torch"], ".2f")] for r in rows])


def thread_env(threads):
    return {name: str(threads) for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                                            "MKL_NUM_THREADS")}


def show_mlp(rows, samples, dtype, mnist):
    table(f"One training epoch, 784-128-64-10, {dtype}, {samples} samples "
          f"({'MNIST' if mnist else 'synthetic MNIST-shaped data'}), median s",
          ["batch", "mytorch", "torch", "floor", "/torch", "/floor", "acc mytorch", "acc torch",
           "weights differ by"],
          [[r["batch"], fmt(r["mytorch_s"], ".3f"), fmt(r["torch_s"], ".3f"),
            fmt(r["floor_s"], ".3f"), fmt(r["vs_torch"], ".2f"), fmt(r["vs_floor"], ".2f"),
            fmt(r["mytorch_acc"], ".4f"), fmt(r["torch_acc"], ".4f"),
            fmt(r.get("weights_rel_diff"), ".1e")] for r in rows])


def show_conv(rows):
    columns = ("_ms", "_floor_ms", "_torch_ms", "_vs_floor", "_vs_torch")
    table("Conv2d (batch 64, 28x28, 3x3, float64), median ms: forward, then forward+backward",
          ["layer"] + ["mytorch", "floor", "torch", "/floor", "/torch"] * 2,
          [[f"{r['c_in']}->{r['c_out']}"] + [fmt(r[what + col], ".2f")
                                              for what in ("forward", "step") for col in columns]
           for r in rows])


def linear_with_threads(threads, framework, quick):
    # the checkout's mytorch, installed or not (linear.py runs as a script, outside the repo root)
    pythonpath = os.pathsep.join(filter(None, [str(HERE.parent), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, **thread_env(threads), "PYTHONPATH": pythonpath}
    args = [sys.executable, str(HERE / "linear.py"), "--json", "--frameworks", framework] + \
        (["--quick"] if quick else [])
    proc = subprocess.run(args, env=env, capture_output=True, text=True, cwd=HERE.parent)
    if proc.returncode != 0:
        raise SystemExit(f"linear.py with {threads} thread(s) failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[5:]))
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer repeats")
    parser.add_argument("--only", default=",".join(SECTIONS),
                        help=f"comma-separated sections (default: all of {','.join(SECTIONS)})")
    parser.add_argument("--json", default=str(HERE / "results.json"), metavar="PATH",
                        help="where to write the results (default: benchmarks/results.json)")
    parser.add_argument("--mnist", metavar="DIR", help="the MLP epoch on real MNIST files in DIR")
    parser.add_argument("--threads", type=int, default=1,
                        help="BLAS and PyTorch threads for the comparisons (default 1)")
    args = parser.parse_args(argv)
    if os.environ.get("OPENBLAS_NUM_THREADS") != str(args.threads):
        # BLAS reads its thread count when NumPy is imported: start again with it set
        os.environ.update(thread_env(args.threads))
        os.execv(sys.executable, [sys.executable, str(Path(__file__).resolve())] + sys.argv[1:])
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(only) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    if args.mnist:  # check the files now, not after minutes of other benchmarks
        from mytorch.data.mnist import MNISTFormatError, MNISTNotFoundError, load_mnist
        try:
            load_mnist(args.mnist, download=False)
        except (MNISTNotFoundError, MNISTFormatError) as exc:
            parser.error(f"--mnist: {exc}")
    quick = args.quick
    # Sections not run this time keep their last measurement (each says when and where it was
    # taken), so the docs can quote every number from this one file.
    try:
        results = json.loads(Path(args.json).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        results = {}
    results.update(machine=machine(), quick=quick)
    stamp = {"date": time.strftime("%Y-%m-%d"), "machine": results["machine"], "quick": quick}
    print("machine: " + ", ".join(f"{k} {v}" for k, v in results["machine"].items()))
    if results["machine"]["torch"] is None:
        print("note: PyTorch is not installed; its columns are skipped (pip install torch)")

    def save():
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")

    if "linear" in only:
        results["linear"] = linear.run(rounds=5 if quick else 7, quick=quick)
        results["measured"] = {**results.get("measured", {}), "linear": stamp}
        show_linear(results["linear"])
        save()
    if "mlp" in only:
        samples, repeat = (10_000, 1) if quick else (60_000, 3)
        results["mlp_epoch"] = []
        results["measured"] = {**results.get("measured", {}), "mlp_epoch": stamp}
        for dtype in (np.float64,) if quick else (np.float64, np.float32):
            rows = mlp_epoch.run(samples, repeat, dtype=dtype, mnist_dir=args.mnist)
            results["mlp_epoch"] += rows
            show_mlp(rows, samples, np.dtype(dtype).name, args.mnist)
            save()
    if "conv" in only:
        if conv.torch is None:
            print("\nconv: PyTorch is not installed, so the comparison with "
                  "torch.nn.functional.conv2d is skipped; mytorch and its floor only")
        results["conv"] = conv.run(rounds=3 if quick else 7)
        results["measured"] = {**results.get("measured", {}), "conv": stamp}
        show_conv(results["conv"])
        save()
    if "threads" in only:
        runs = {(t, f): linear_with_threads(t, f, quick=True) for t in (1, 2)
                for f in ("mytorch", "torch")}
        results["measured"] = {**results.get("measured", {}), "blas_threads": stamp}
        results["blas_threads"] = [
            {"dtype": a["dtype"], "batch": a["batch"], "c_in": a["c_in"], "c_out": a["c_out"],
             "mytorch_us_1": a["mytorch_us"], "mytorch_us_2": b["mytorch_us"],
             "torch_us_1": c["torch_us"], "torch_us_2": d["torch_us"],
             "two_over_one": b["mytorch_us"] / a["mytorch_us"]}
            for a, b, c, d in zip(runs[1, "mytorch"], runs[2, "mytorch"], runs[1, "torch"],
                                  runs[2, "torch"])]
        table("BLAS threads: Linear forward+backward with 1 and 2 threads (784->128), median µs",
              ["dtype", "batch", "mytorch 1", "mytorch 2", "2 / 1", "torch 1", "torch 2"],
              [[r["dtype"], r["batch"], fmt(r["mytorch_us_1"], ".1f"),
                fmt(r["mytorch_us_2"], ".1f"), fmt(r["two_over_one"], ".2f"),
                fmt(r["torch_us_1"], ".1f"), fmt(r["torch_us_2"], ".1f")]
               for r in results["blas_threads"]])
        save()
    rows = []
    rows = []
    if "grade" in only:
        median, runs = grade_time.measure(3 if quick else 5)
        hidden_median, hidden_runs = grade_time.measure(3 if quick else 5, hidden=True)
        results["grade"] = {"median_s": median, "runs": runs, "hidden_median_s": hidden_median,
                            "hidden_runs": hidden_runs}
        results["measured"] = {**results.get("measured", {}), "grade": stamp}
        rows.append(["full local grade of the reference (cold start)", f"{median:.2f} s",
                     f"{len(runs)} runs"])
        rows.append(["the same in instructor mode (--hidden)", f"{hidden_median:.2f} s",
                     f"{len(hidden_runs)} runs"])
    if "proxy" in only:
        r = results["proxy"] = proxy_overhead.measure(3 if quick else 5)
        results["measured"] = {**results.get("measured", {}), "proxy": stamp}
        rows.append(["graded suite through the worker", f"{r['proxy_s']:.2f} s",
                     f"{r['repeat']} runs"])
        rows.append(["graded suite in-process (no worker)", f"{r['in_process_s']:.2f} s",
                     f"overhead {r['ratio']:.2f}x"])
    if "batch" in only:
        n = 6 if quick else 20
        r = results["batch"] = batch_throughput.measure(n, 1, (1, 2), log=lambda line: None)
        h = results["batch_hidden"] = batch_throughput.measure(n, 1, (1, 2), hidden=True,
                                                               log=lambda line: None)
        results["measured"] = {**results.get("measured", {}), "batch": stamp,
                               "batch_hidden": stamp}
        for jobs, rate in r["rates"].items():
            rows.append([f"class grading, --jobs {jobs} ({n} submissions)",
                         f"{rate:.1f} /min", f"--hidden: {h['rates'][jobs]:.1f} /min"])
        rows.append(["speed-up --jobs 2 over --jobs 1", f"{r['rates'][2] / r['rates'][1]:.2f}x",
                     ""])
    if rows:
        table("Grading", ["measure", "value", ""], rows)
    save()
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
