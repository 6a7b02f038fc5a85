"""The public graded cases on disk:
an assignment's ``public_cases/<component>.npz`` plus ``public_cases/meta.json``.

Each case holds the inputs of one graded call and the reference solution's outputs for them. They
are written only by ``python -m autograder cases`` (``instructor/case_writer.py``, from the
reference, seeded) and read here by the graded suite, with ``allow_pickle=False``.
"""
import functools
from pathlib import Path

import numpy as np


class CaseStoreError(RuntimeError):
    pass


def load_cases(component, case_dir):
    """The public cases of ``component`` in ``case_dir`` (an assignment's ``public_cases/``): a list
    of dicts of float64 arrays."""
    path = Path(case_dir) / f"{component}.npz"
    if not path.is_file():
        raise CaseStoreError(f"missing case file {path}; run `python -m autograder cases`")
    return [{k: v.copy() for k, v in case.items()} for case in _read(str(path))]


@functools.lru_cache(maxsize=None)
def _read(path):
    with np.load(path, allow_pickle=False) as data:
        by_case = {}
        for key in data.files:
            index, _, field = key.partition(".")
            by_case.setdefault(int(index), {})[field] = data[key]
    return [by_case[i] for i in sorted(by_case)]
