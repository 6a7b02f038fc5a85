"""The class report (autograder/instructor/class_report.py) in a real browser: headless Chromium.

The page renders with its script run and no script errors, the students table sorts, every link
resolves to a file, nothing is loaded from anywhere, and a screenshot is not a blank page.
Chromium is installed by .ci/run; without it (a developer's laptop) these tests are skipped, saying
so, except under CI, where a missing browser is a failure.
"""
import re
import struct
from html.parser import HTMLParser
from types import SimpleNamespace

import pytest

from autograder.instructor.class_report import pseudonym, render, write_class_report
from autograder.instructor.common_mistakes import common_mistakes
from tests.autograder.instructor.helpers import chromium_dom, run_chromium

pytestmark = pytest.mark.slow  # the grader end to end: see pyproject's markers

TASKS = [SimpleNamespace(id="1.1", title="Linear: forward", points=5),
         SimpleNamespace(id="1.2", title="Linear: backward", points=10),
         SimpleNamespace(id="2.1", title="Sigmoid <b>", points=5)]


def _row(student, scores, status="graded"):
    return {"student": student, "total": float(sum(scores)), "status": status,
            **{t.id: float(s) for t, s in zip(TASKS, scores)}}


ROWS = [_row("zoë_Müller", [5, 10, 5]), _row("alice", [5, 3.5, 5]), _row("bob", [0, 0, 0],
        "invalid submission"), _row("李明", [5, 10, 2.5]),
        _row("<img src=x onerror=alert(1)>", [1, 1, 1])]
RESULTS = {
    "alice": {"tests": [{"number": "1.2", "extra_data": {"tests": [
        {"name": "test_linear.py::test_backward[case0]", "diagnoses": ["linear.dLdW.transposed"]},
        {"name": "test_linear.py::test_backward[case1]",
         "diagnoses": ["linear.dLdW.transposed"]}]}}]},
    "李明": {"tests": [{"number": "2.1", "extra_data": {"tests": [
        {"name": "test_activation.py::test_sigmoid[case0]",
         "diagnoses": ["sigmoid.missing_1_minus_A"]}]}},
        {"number": "1.2", "extra_data": {"tests": [
            {"name": "x", "diagnoses": ["linear.dLdW.transposed"]}]}}]},
    "bob": {"tests": "not a list"},
}


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs, self.sources = [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a" and "href" in attrs:
            self.hrefs.append(attrs["href"])
        for key in ("src", "srcset"):
            if key in attrs:
                self.sources.append(attrs[key])
        if tag == "link":
            self.sources.append(attrs.get("href"))


def _student_order(dom):
    body = dom.split('id="students"', 1)[1]
    return re.findall(r'<tr[^>]*><td data-v="([^"]*)"', body)


@pytest.fixture
def report(tmp_path):
    out = tmp_path / "class"
    (out / "students").mkdir(parents=True)
    for row in ROWS:
        folder = out / "students" / row["student"]
        folder.mkdir()
        (folder / "feedback.txt").write_text("feedback\n", encoding="utf-8")
    write_class_report(out / "report.html", ROWS, TASKS, mistakes=common_mistakes(RESULTS),
                       conditions={"sandbox": "pid-ns, net-ns, landlock", "hidden tests": "off"},
                       feedback_href=lambda sid: f"students/{sid}/feedback.txt")
    return out / "report.html"


def test_page_renders_with_its_script_and_no_errors(report, tmp_path):
    dom = chromium_dom(tmp_path, report.as_uri())
    assert 'data-ready="1"' in re.search(r"<body[^>]*>", dom).group(0)  # the script ran to its end
    body_tag = re.search(r"<body[^>]*>", dom).group(0)
    assert "data-errors" not in body_tag and re.search(r'<pre id="errors"></pre>', dom)
    assert "<img" not in dom and "&lt;img src=x" in dom  # a hostile id stays text
    assert "zoë_Müller" in dom and "李明" in dom


def test_table_sorts_in_the_browser(report, tmp_path):
    by_total = _student_order(chromium_dom(tmp_path, report.as_uri() + "#sort=total-desc"))
    totals = {r["student"]: r["total"] for r in ROWS}
    assert [totals[s.replace("&lt;", "<").replace("&gt;", ">")] for s in by_total] == \
        sorted(totals.values(), reverse=True)
    by_name = _student_order(chromium_dom(tmp_path, report.as_uri() + "#sort=student-asc"))
    assert by_name != by_total and len(by_name) == len(ROWS)


def test_links_resolve_and_nothing_is_fetched(report):
    parser = _Links()
    parser.feed(report.read_text(encoding="utf-8"))
    assert len(parser.hrefs) == len(ROWS)
    for href in parser.hrefs:
        assert "://" not in href
        assert (report.parent / href).is_file(), href
    assert parser.sources == []
    assert not re.search(r"https?://", report.read_text(encoding="utf-8"))


def test_anonymized_report_names_nobody(tmp_path):
    text = render(ROWS, TASKS, mistakes=common_mistakes(RESULTS),
                  feedback_href=lambda sid: f"students/{sid}/feedback.txt", anonymize=True)
    for row in ROWS:
        assert row["student"] not in text and pseudonym(row["student"]) in text
    assert "<a href" not in text


def test_common_mistakes_are_counted_per_task():
    mistakes = common_mistakes(RESULTS)
    assert [(m.task, m.diagnosis, m.students) for m in mistakes] == [
        ("1.2", "linear.dLdW.transposed", ["alice", "李明"]),
        ("2.1", "sigmoid.missing_1_minus_A", ["李明"])]


def _png_size(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_screenshot_is_not_blank(report, tmp_path):
    blank = tmp_path / "blank.html"
    blank.write_text("<!DOCTYPE html><html><body></body></html>")
    shots = {}
    for name, page in (("report", report), ("blank", blank)):
        shot = tmp_path / f"{name}.png"
        run_chromium(tmp_path, "--window-size=1000,800", "--hide-scrollbars",
                      f"--screenshot={shot}", page.as_uri())
        assert _png_size(shot) == (1000, 800)
        shots[name] = shot.stat().st_size
    # charts, text and a table compress far worse than an empty white page
    assert shots["report"] > 5 * shots["blank"], shots


def test_pseudonyms_are_keyed():
    """A plain hash of an id is undone by hashing the class list; a keyed one is not."""
    assert pseudonym("alice", b"k1") == pseudonym("alice", b"k1")
    assert pseudonym("alice", b"k1") != pseudonym("alice", b"k2")
    assert pseudonym("alice", b"k1") != pseudonym("bob", b"k1")
    text = render(ROWS, TASKS, anonymize=True, pseudonym_key=b"k1")
    assert pseudonym("alice", b"k1") in text and pseudonym("alice") not in text


def test_students_not_reached_are_listed_and_left_out_of_the_numbers():
    waiting = {"student": "yan", "total": None, "status": "not graded (interrupted)",
               **{t.id: None for t in TASKS}}
    text = render([*ROWS, waiting], TASKS)
    assert f"{len(ROWS)} students" in text and "Interrupted:</strong> 1 students" in text
    assert "<li>yan</li>" in text.split('id="waiting"', 1)[1]
    assert 'data-v="yan"' not in text  # not a row of the table (it has no score)
    without = render(ROWS, TASKS)

    def numbers(page):  # the headline, the histogram and the task rates
        return (re.search(r'<p class="muted">.*?</p>', page).group(0),
                re.findall(r"<svg.*?</svg>", page, flags=re.S)[:2])

    assert numbers(text) == numbers(without)
