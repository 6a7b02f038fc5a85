"""Pytest plugins installed beside the grader take no part in a grade."""
import importlib.metadata
import os

import pytest

from autograder.grading.runner import grade
from tests.autograder.grader_runs import REPO

pytestmark = pytest.mark.slow  # the grader end to end: see pyproject's markers

PLUGIN = '''
import os
open(os.environ["FOREIGN_PLUGIN_MARKER"], "w").close()

def pytest_collection_modifyitems(items):
    items.reverse()  # what pytest-randomly and friends do to a grade
    raise RuntimeError("a foreign plugin ran inside the grader")
'''


def test_installed_pytest_plugins_are_not_loaded(tmp_path, monkeypatch):
    site = tmp_path / "site"
    (site / "foreign_plugin-1.0.dist-info").mkdir(parents=True)
    (site / "foreign_plugin-1.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: foreign-plugin\nVersion: 1.0\n")
    (site / "foreign_plugin-1.0.dist-info" / "entry_points.txt").write_text(
        "[pytest11]\nforeign = foreign_plugin_module\n")
    (site / "foreign_plugin_module.py").write_text(PLUGIN)
    marker = tmp_path / "loaded"
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("FOREIGN_PLUGIN_MARKER", str(marker))
    monkeypatch.delenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    # the plugin is installed: pytest would load it on its own
    assert "foreign" in {ep.name for ep in importlib.metadata.entry_points(group="pytest11")}

    result = grade(REPO, keyword="task2_1")

    assert not marker.exists()
    assert result.errors == [] and result.score == result.max_score > 0
    assert "PYTEST_DISABLE_PLUGIN_AUTOLOAD" not in os.environ  # restored after the grade
