"""Public graded cases on disk: ``fixtures/<component>.npz`` plus ``fixtures/meta.json``.

Written only by ``python -m autograder fixtures`` (from the reference, seeded); read by the graded
suite with ``allow_pickle=False``. A test in tests/ proves the committed files equal a fresh build.
"""
import functools
import json
import os
import platform
from pathlib import Path

import numpy as np

FIXTURE_DIR = Path(__file__).resolve().parent / "fixtures"
DEFAULT_SEED = 20261123


class FixtureError(RuntimeError):
    pass


def write_fixtures(ref, seed=DEFAULT_SEED, out_dir=FIXTURE_DIR, components=None):
    """Generate every component's public cases with the reference and write them atomically."""
    from . import cases

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for component in sorted(components or cases.GENERATORS):
        arrays = {}
        for i, case in enumerate(cases.generate(component, seed, ref)):
            for key, value in case.items():
                arrays[f"{i}.{key}"] = np.asarray(value, dtype=np.float64)
        path = out_dir / f"{component}.npz"
        tmp = path.with_suffix(".npz.tmp")
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
        os.replace(tmp, path)
        written.append(path)
    meta = {"seed": seed, "reference_version": ref.__version__, "numpy_version": np.__version__,
            "python_version": platform.python_version(),
            "components": sorted(components or cases.GENERATORS)}
    (out_dir / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    return written


def load_cases(component, fixture_dir=FIXTURE_DIR):
    """The public cases of ``component``: a list of dicts of float64 arrays."""
    path = Path(fixture_dir) / f"{component}.npz"
    if not path.is_file():
        raise FixtureError(f"missing fixture file {path}; run `python -m autograder fixtures`")
    return [{k: v.copy() for k, v in case.items()} for case in _read(str(path))]


@functools.lru_cache(maxsize=None)
def _read(path):
    with np.load(path, allow_pickle=False) as data:
        by_case = {}
        for key in data.files:
            index, _, field = key.partition(".")
            by_case.setdefault(int(index), {})[field] = data[key]
    return [by_case[i] for i in sorted(by_case)]
