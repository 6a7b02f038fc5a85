"""``python -m autograder cases``: write the public graded cases from the reference solution.

Every component's generator (``case_generators.py``) draws its cases from one seed and runs the
reference on them; the arrays go to ``public_cases/<component>.npz`` (read by ``case_store.py``) and
the seed and versions to ``meta.json``.
"""
import json
import platform
from pathlib import Path

import numpy as np

from ..case_store import PUBLIC_CASES_DIR
from ..files import atomic_path, write_atomically
from . import case_generators

DEFAULT_SEED = 20261123


def write_public_cases(ref, seed=DEFAULT_SEED, out_dir=PUBLIC_CASES_DIR, components=None):
    """Generate every component's public cases with the reference and write them atomically."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    components = sorted(components or case_generators.GENERATORS)
    written = []
    for component in components:
        arrays = {}
        for i, case in enumerate(case_generators.generate(component, seed, ref)):
            for key, value in case.items():
                arrays[f"{i}.{key}"] = np.asarray(value, dtype=np.float64)
        path = out_dir / f"{component}.npz"
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
        written.append(path)
    meta = {"seed": seed, "reference_version": ref.__version__, "numpy_version": np.__version__,
            "python_version": platform.python_version(), "components": components}
    write_atomically(out_dir / "meta.json", json.dumps(meta, indent=2) + "\n")
    return written
