"""``python -m autograder cases``: write the public graded cases from the reference solution.

Every component's generator (the assignment's ``generators.py``) draws its cases from one seed
and runs the reference on them; the arrays go to the assignment's ``public_cases/<component>.npz``
(read by ``grading/case_store.py``) and the seed and versions to ``meta.json``.
"""
import json
import platform
from pathlib import Path

import numpy as np

from ..intake.files import atomic_path, write_atomically

DEFAULT_SEED = 20261123


def write_public_cases(ref, assignment, seed=DEFAULT_SEED, out_dir=None, components=None):
    """Generate ``assignment``'s public cases with the reference and write them atomically:
    every component's, or only those named in ``components`` (the other files are not touched).
    ``out_dir``: the assignment's ``public_cases/`` unless given."""
    generators = assignment.generators()
    out_dir = Path(out_dir or assignment.cases_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    unknown = sorted(set(components or ()) - set(generators.GENERATORS))
    if unknown:
        raise KeyError(f"no component {', '.join(unknown)} in {assignment.name}; its components: "
                       f"{', '.join(sorted(generators.GENERATORS))}")
    written = []
    for component in sorted(components or generators.GENERATORS):
        arrays = {}
        for i, case in enumerate(generators.generate(component, seed, ref)):
            for key, value in case.items():
                arrays[f"{i}.{key}"] = np.asarray(value, dtype=np.float64)
        path = out_dir / f"{component}.npz"
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
        written.append(path)
    meta = {"seed": seed, "reference_version": ref.__version__, "numpy_version": np.__version__,
            "python_version": platform.python_version(),
            "components": sorted(generators.GENERATORS)}
    if not components or not (out_dir / "meta.json").exists():
        write_atomically(out_dir / "meta.json", json.dumps(meta, indent=2) + "\n")
    return written
