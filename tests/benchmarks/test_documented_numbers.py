"""Every measured number the docs quote comes from ``benchmarks/results.json``.

A measured number is written with its source right after it, as an HTML comment Markdown does not
show: ``0.93 s<!-- results.json grade.median_s -->``. The key is a dotted path into the file
(``batch.rates.2``: the rate at ``--jobs 2``). Each such number must equal the file's value rounded
to the digits shown, and a sentence that states a measurement (a grade time, a rate of
submissions, a ratio to PyTorch or to the floor, an accuracy) must carry such a comment.
``python benchmarks/run.py`` writes the file, with the machine and the date of every section.
"""
import json
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "benchmarks" / "results.json"
DOCS = [REPO / "README.md", REPO / "benchmarks" / "README.md", REPO / "handout" / "README.md",
        *sorted((REPO / "docs").glob("*.md"))]
QUOTED = re.compile(r"(?P<number>\d[\d,]*(?:\.\d+)?)(?P<unit>[^\d<\n]{0,24}?)"
                    r"<!-- results\.json (?P<key>[\w.\-]+) -->")
# what a sentence that reports a measurement looks like
MEASURED = re.compile(r"\d(?:[\d.,]*)\s*(?:s wall|submissions? (?:a|per) minute|submissions/min|"
                      r"/min\b|× (?:PyTorch|torch|its|the)|% test accuracy)")


def value_at(data, key):
    for part in key.split("."):
        if isinstance(data, list):
            data = data[int(part)]
        elif isinstance(data, dict) and part in data:
            data = data[part]
        else:
            raise KeyError(key)
    return data


def quotes():
    for doc in DOCS:
        for n, line in enumerate(doc.read_text(encoding="utf-8").splitlines(), 1):
            for m in QUOTED.finditer(line):
                yield pytest.param(doc, n, m, id=f"{doc.relative_to(REPO)}:{n}:{m['key']}")


def test_the_results_file_says_where_and_when():
    data = json.loads(RESULTS.read_text(encoding="utf-8"))
    assert {"cpus", "python", "numpy", "platform"} <= set(data["machine"])
    for section, stamp in data["measured"].items():
        assert section in data and re.fullmatch(r"\d{4}-\d\d-\d\d", stamp["date"])


@pytest.mark.parametrize("doc, line, match", list(quotes()))
def test_a_quoted_number_is_the_measured_one(doc, line, match):
    data = json.loads(RESULTS.read_text(encoding="utf-8"))
    try:
        value = value_at(data, match["key"])
    except (KeyError, IndexError, ValueError):
        pytest.fail(f"{doc.name}:{line}: {match['key']} is not in benchmarks/results.json")
    shown = match["number"].replace(",", "")
    digits = len(shown.split(".")[1]) if "." in shown else 0
    assert round(float(value), digits) == float(shown), \
        f"{doc.name}:{line}: shows {shown} for {match['key']}, measured {value}"


def test_every_stated_measurement_names_its_source():
    bare = []
    for doc in DOCS:
        inside_code = False
        for n, line in enumerate(doc.read_text(encoding="utf-8").splitlines(), 1):
            if line.startswith("```"):
                inside_code = not inside_code
            if inside_code:
                continue
            for m in MEASURED.finditer(line):
                rest = line[m.start():]
                if "<!-- results.json" not in rest[:len(m.group(0)) + 40]:
                    bare.append(f"{doc.relative_to(REPO)}:{n}: {m.group(0)!r}")
    assert bare == [], "measurements without their source in benchmarks/results.json"


def test_the_checker_sees_a_wrong_and_a_bare_number(tmp_path):
    data = {"grade": {"median_s": 0.934}}
    good = QUOTED.search("takes 0.93 s<!-- results.json grade.median_s -->")
    wrong = QUOTED.search("takes 0.88 s<!-- results.json grade.median_s -->")
    for match, ok in ((good, True), (wrong, False)):
        value = value_at(data, match["key"])
        assert (round(value, 2) == float(match["number"])) is ok
    assert MEASURED.search("a class grades at 105 submissions/min")
    assert not MEASURED.search("the default is 10 s per call")
