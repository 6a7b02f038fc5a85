"""The instructor's reference ``mytorch``, imported into the trusted process on purpose.

Only fixture generation and hidden tests use it. It is loaded from beside this package (never from
the current directory, where a student's ``mytorch`` may sit), and a handout has none.
"""
import importlib
import sys
from pathlib import Path

from . import PROJECT_ROOT


class ReferenceUnavailable(RuntimeError):
    pass


def load_reference(root=PROJECT_ROOT):
    """Return the reference ``mytorch`` package found in ``root``."""
    root = Path(root).resolve()
    if not (root / "mytorch" / "__init__.py").is_file():
        raise ReferenceUnavailable(f"no reference mytorch/ in {root} (this is a handout?)")
    loaded = sys.modules.get("mytorch")
    if loaded is None:
        sys.path.insert(0, str(root))
        try:
            loaded = importlib.import_module("mytorch")
        finally:
            sys.path.remove(str(root))
    origin = Path(loaded.__file__).resolve()
    if root not in origin.parents:
        raise ReferenceUnavailable(f"the mytorch already imported ({origin}) is not the reference "
                                   f"in {root}")
    for sub in ("nn", "optim", "models"):
        importlib.import_module(f"mytorch.{sub}")
    return loaded
