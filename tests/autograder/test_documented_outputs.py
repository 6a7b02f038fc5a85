"""Every output the handout's documents show is what the code prints.

A fenced block right after ``<!-- output: NAME -->`` in ``handout/README.md`` or
HW1's ``writeup.md`` is compared with the output of the command ``OUTPUTS[NAME]`` names (the
grader run on a corpus submission). A doc line ``...`` stands for lines left out; every other line
must be a line of the real output, in the same order. The failing-example line of a
property-based test is compared by its arguments' names only: the values are hypothesis's draws,
and the line's wording belongs to the grader, which may change it (the doc must then follow).
"""
import re

import pytest

from tests.autograder.grader_runs import REPO, run_grader
from tests.submissions.buggy import BUGS, apply_variant

pytestmark = pytest.mark.slow  # the grader end to end: see pyproject's markers

DOCS = [REPO / "handout" / "README.md", REPO / "autograder" / "assignments" / "hw1" / "writeup.md"]
MARKED = re.compile(r"<!--\s*output:\s*(?P<name>[\w-]+)\s*-->\s*\n```[a-z]*\n(?P<body>.*?)\n```",
                    re.S)
BY_NAME = {v.name: v for v in BUGS}

# name -> (corpus variant, grader arguments)
OUTPUTS = {
    "feedback-table": ("linear_dLdW_transposed", []),
    "feedback-verbose": ("linear_dLdW_transposed", ["-v", "-k", "task1_2"]),
    "failing-example": ("linear_dLdW_transposed", ["-v", "-k", "task1_2"]),
    "anatomy": ("linear_dLdb_averaged", ["-v", "-k", "task1_2"]),
}
EXAMPLE_ARGS = re.compile(r"\b([A-Za-z_]\w*)=")


def documented():
    found = []
    for doc in DOCS:
        for match in MARKED.finditer(doc.read_text(encoding="utf-8")):
            found.append((doc.name, match["name"], match["body"]))
    return found


def test_every_marked_output_has_a_command():
    names = [name for _, name, _ in documented()]
    assert sorted(set(names)) == sorted(OUTPUTS), "a marked output without a command, or unused"
    assert len(names) == len(set(names))


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    runs, root = {}, tmp_path_factory.mktemp("documented")
    for variant, args in OUTPUTS.values():
        key = (variant, tuple(args))
        if key not in runs:
            folder = root / variant
            if not folder.exists():
                apply_variant(BY_NAME[variant], REPO, folder)
            run = run_grader(folder, None, args)
            assert run.returncode == 0, run.describe()
            runs[key] = run.stdout
    return {name: runs[(variant, tuple(args))] for name, (variant, args) in OUTPUTS.items()}


def is_example(line):
    return "seed=" in line and len(EXAMPLE_ARGS.findall(line)) >= 2


@pytest.mark.parametrize("doc,name,body", documented(),
                         ids=[f"{d}:{n}" for d, n, _ in documented()])
def test_documented_output_is_what_the_code_prints(doc, name, body, outputs):
    real = outputs[name].splitlines()
    position = 0
    for line in body.splitlines():
        if line.strip() == "...":
            continue
        if is_example(line):
            matches = [i for i in range(position, len(real)) if is_example(real[i])]
            assert matches, f"{doc}, {name}: the grader printed no failing example after line " \
                            f"{position}:\n{outputs[name]}"
            i = matches[0]
            assert EXAMPLE_ARGS.findall(line) == EXAMPLE_ARGS.findall(real[i]), (line, real[i])
        else:
            try:
                i = real.index(line.rstrip(), position)
            except ValueError:
                pytest.fail(f"{doc}, output {name!r}: the line\n  {line}\nis not printed (in this "
                            f"order) by the code. It prints:\n{outputs[name]}")
        position = i + 1
