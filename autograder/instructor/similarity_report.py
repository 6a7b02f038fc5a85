"""The files ``similarity`` writes: ``similarity.csv``, ``reference.csv``, ``similarity.html`` and
one self-contained page per pair (inline CSS, no script, nothing fetched), with every piece of
student-derived text (ids, names, code, notes) escaped.

The output folder is claimed with a marker file listing what this command wrote; a folder that is
not empty and has no marker is refused, and a re-run removes only files its own marker lists.
"""
import json
import os
from pathlib import Path
from urllib.parse import quote

from ..grading.text import csv_text, html_text

VERDICT = ("This report is evidence for a person to review, not a verdict. Similar code can have "
           "innocent causes (the same textbook formula, a shared hint, a short task with one "
           "natural answer); read both codes before drawing any conclusion.")
STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
.verdict{background:#fff4d6;border:1px solid #e0b44c;padding:.6em 1em;border-radius:4px}
table{border-collapse:collapse;margin:.5em 0}
td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}
th{background:#f2f2f2}td.num{text-align:right;font-variant-numeric:tabular-nums}
.flag{color:#a00;font-weight:bold}
.side{display:grid;grid-template-columns:1fr 1fr;gap:1em}
pre{background:#fafafa;border:1px solid #ddd;padding:.5em;overflow-x:auto;margin:.2em 0}
.ln{color:#999;user-select:none}
mark{background:#ffb3b3}mark.common{background:#e6e6e6}
.none{color:#888;font-style:italic}
"""


MARKER = ".similarity-report.json"


class SimilarityError(RuntimeError):
    """The comparison cannot run (a bad option, an output folder it must not write into, ...)."""


# -- the output folder ------------------------------------------------------------------------
def claim_output_folder(out_dir):
    """Make ``out_dir`` ours: new, empty, or marked by an earlier run.
    Returns the files it lists."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise SimilarityError(f"{out_dir} exists and is not a folder")
    marker = out_dir / MARKER
    previous = []
    if out_dir.is_dir() and any(out_dir.iterdir()):
        if not marker.is_file():
            raise SimilarityError(f"{out_dir} is not empty and was not written by `similarity` "
                                  f"(no {MARKER} in it); give a new or empty folder")
        previous = _listed_files(marker)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        _write(marker, _marker_text(previous))
    except OSError as exc:
        raise SimilarityError(f"cannot write into {out_dir}: {exc.strerror or exc}") from None
    return previous



def _listed_files(marker):
    try:
        data = json.loads(marker.read_text(encoding="utf-8"))
        files = data["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    return [f for f in files if isinstance(f, str)] if isinstance(files, list) else []


def _marker_text(files):
    return json.dumps({"written_by": "python -m autograder similarity",
                       "files": sorted(set(files))}, indent=1) + "\n"


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)
    os.replace(tmp, path)


def write_report(comparison, out_dir):
    out_dir = Path(out_dir)
    previous = _listed_files(out_dir / MARKER)
    files = render(comparison)
    # The marker lists every file before it is written: an interrupted run is cleaned up next time.
    _write(out_dir / MARKER, _marker_text(previous + list(files)))
    for rel, text in files.items():
        _write(out_dir / rel, text)
    for rel in set(previous) - set(files):
        _remove_own(out_dir, rel)
    _write(out_dir / MARKER, _marker_text(list(files)))


def _remove_own(out_dir, rel):
    """Delete a file an earlier run wrote (only a regular file inside ``out_dir``)."""
    path = out_dir / rel
    try:
        if ".." in Path(rel).parts or Path(rel).is_absolute() or path.is_symlink() or \
                not path.is_file():
            return
        path.unlink()
        parent = path.parent
        while parent != out_dir and not any(parent.iterdir()):
            parent.rmdir()
            parent = parent.parent
    except OSError:
        pass


# -- rendering --------------------------------------------------------------------------------
def pair_page(m):
    return f"pairs/{quote(m.a.id, safe='')}/{quote(m.b.id, safe='')}.html"


def reference_page(m):
    return f"reference/{quote(m.a.id, safe='')}.html"


def render(c):
    """{relative path: text} of every file of the report."""
    s = c.settings
    files = {}
    paged = [m for rank, m in enumerate(c.pairs) if rank < s.pages or m.flagged]
    for m in paged:
        files[pair_page(m)] = _pair_html(m, c, c.common, depth=2)
    ref_paged = [m for rank, m in enumerate(c.reference_matches) if rank < s.pages or m.flagged]
    for m in ref_paged:
        files[reference_page(m)] = _pair_html(m, c, {}, depth=1)
    files["similarity.csv"] = _pairs_csv(c, {id(m) for m in paged})
    files["reference.csv"] = _reference_csv(c, {id(m) for m in ref_paged})
    files["similarity.html"] = _index_html(c, {id(m) for m in paged}, {id(m) for m in ref_paged})
    return files


def _f(x):
    return f"{x:.3f}"


def _pairs_csv(c, paged):
    header = ["rank", "student_a", "name_a", "student_b", "name_b", "score", "flagged",
              "via_reference", "shared_fingerprints"] + [r.key for r in c.regions] + ["page"]
    return csv_text(header, (
        [rank, m.a.id, m.a.name, m.b.id, m.b.name, _f(m.score), int(m.flagged),
         _f(m.via_reference), m.shared]
        + [_f(m.regions[r.key]) if r.key in m.regions else "" for r in c.regions]
        + [pair_page(m) if id(m) in paged else ""] for rank, m in enumerate(c.pairs, 1)))


def _reference_csv(c, paged):
    header = ["student", "name", "score", "flagged"] + [r.key for r in c.regions] + ["page"]
    return csv_text(header, (
        [m.a.id, m.a.name, _f(m.score), int(m.flagged)]
        + [_f(m.regions[r.key]) if r.key in m.regions else "" for r in c.regions]
        + [reference_page(m) if id(m) in paged else ""] for m in c.reference_matches))


_e = html_text  # every piece of text on these pages goes through the one sanitiser


def _who(author):
    return _e(author.id) + (f" ({_e(author.name)})" if author.name else "")


def _head(title):
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{_e(title)}</title><style>{STYLE}</style></head><body>\n"
            f"<p class=\"verdict\">{_e(VERDICT)}</p>\n")


def _index_html(c, paged, ref_paged):
    s = c.settings
    out = [_head("Similarity report"), "<h1>Similarity report</h1>\n"]
    out.append(f"<p>{len(c.authors)} submissions compared, {len(c.pairs)} pairs share some code. "
               f"Only what students wrote inside the {len(c.regions)} solution regions counts, the "
               "starter code removed. Tokens are normalised (names, numbers, strings, comments and "
               f"layout abstracted); fingerprints are winnowed {s.k}-token k-grams "
               f"(window {s.window}); code found in at least {c.common_at} submissions is "
               "discounted. The score is the Dice coefficient of two submissions' fingerprints "
               "(1 = the same code). "
               f"Flagged: pairs at or above {s.threshold:g}; students at or above "
               f"{s.reference_threshold:g} against the reference solution. Everything is in "
               "<code>similarity.csv</code> and <code>reference.csv</code>.</p>\n")
    out.append("<h2>Close to the reference solution</h2>\n<p>Compared without the class "
               "discount, so a solution leaked to many students still shows.</p>\n")
    out.append("<table><tr><th>student</th><th>score</th><th>closest regions</th></tr>\n")
    for m in c.reference_matches:
        if id(m) not in ref_paged:
            continue
        link = f"<a href=\"{_e(reference_page(m))}\">{_who(m.a)}</a>"
        out.append(f"<tr><td>{link}</td><td class=\"num{' flag' if m.flagged else ''}\">"
                   f"{_f(m.score)}</td><td>{_top_regions(m)}</td></tr>\n")
    out.append("</table>\n<h2>Pairs, most alike first</h2>\n")
    out.append("<table><tr><th>#</th><th>student</th><th>student</th><th>score</th>"
               "<th>shared code also in the reference</th><th>closest regions</th></tr>\n")
    for rank, m in enumerate(c.pairs, 1):
        if id(m) not in paged:
            continue
        out.append(f"<tr><td class=\"num\">{rank}</td><td>{_who(m.a)}</td><td>{_who(m.b)}</td>"
                   f"<td class=\"num{' flag' if m.flagged else ''}\"><a href=\""
                   f"{_e(pair_page(m))}\">{_f(m.score)}</a></td><td class=\"num\">"
                   f"{100 * m.via_reference:.0f}%</td><td>{_top_regions(m)}</td></tr>\n")
    out.append("</table>\n")
    notes = [(a, n) for a in c.authors for n in a.notes]
    if c.skipped or notes:
        out.append("<h2>Not compared</h2>\n<ul>\n")
        for student, reason in c.skipped:
            out.append(f"<li>{_e(student.id)}: {_e(reason)}</li>\n")
        for author, note in notes:
            out.append(f"<li>{_e(author.id)}: {_e(note)}</li>\n")
        out.append("</ul>\n")
    out.append("</body></html>\n")
    return "".join(out)


def _top_regions(m, n=3):
    best = sorted(((v, k) for k, v in m.regions.items() if v > 0), reverse=True)[:n]
    return ", ".join(f"{_e(k.split(':', 1)[1])} {_f(v)}" for v, k in best)


def _pair_html(m, c, common, depth):
    up = "../" * depth
    k = c.settings.k
    title = f"Similarity: {m.a.id} and {m.b.id}"
    out = [_head(title), f"<p><a href=\"{up}similarity.html\">all pairs</a></p>\n",
           f"<h1>{_who(m.a)} and {_who(m.b)}</h1>\n",
           f"<p>Score {_f(m.score)} ({m.shared} fingerprints in common)"
           + ("" if m.b.id.startswith("(") else
              f"; {100 * m.via_reference:.0f}% of what they share "
              "is also in the reference solution")
           + ". <mark>Marked</mark>: passages found in both; <mark class=\"common\">grey</mark>: "
           "passages most of the class wrote too (discounted).</p>\n",
           "<table><tr><th>region</th><th>score</th></tr>\n"]
    for r in c.regions:
        if r.key in m.regions:
            out.append(f"<tr><td><a href=\"#{_e(_anchor(r.key))}\">{_e(r.key)}</a></td>"
                       f"<td class=\"num\">{_f(m.regions[r.key])}</td></tr>\n")
    out.append("</table>\n")
    for r in c.regions:
        if r.key not in m.regions:
            continue
        ca, cb = m.a.code.get(r.key), m.b.code.get(r.key)
        skip = common.get(r.key, set())
        out.append(f"<h2 id=\"{_e(_anchor(r.key))}\">{_e(r.key)}: {_f(m.regions[r.key])}</h2>\n"
                   "<div class=\"side\">\n")
        for author, mine, theirs in ((m.a, ca, cb), (m.b, cb, ca)):
            out.append(f"<div><h3>{_who(author)}</h3>\n")
            out.append(_code_html(mine, theirs, skip, k))
            out.append("</div>\n")
        out.append("</div>\n")
    out.append("</body></html>\n")
    return "".join(out)


def _anchor(key):
    return "r-" + "".join(ch if ch.isalnum() else "-" for ch in key)


def _code_html(code, other, common, k):
    if code is None:
        return "<p class=\"none\">no code of their own here</p>\n"
    marks = _marked_tokens(code, other, common, k)
    spans = {}   # row -> [(start col, end col, class)]
    for i, tok in enumerate(code.tokens):
        cls = marks.get(i)
        if cls is None:
            continue
        row, col = tok.start
        end = tok.end[1] if tok.end[0] == row else len(code.lines.get(row, ""))
        spans.setdefault(row, []).append((col, end, cls))
    width = len(str(max(code.lines))) if code.lines else 1
    indent = min((len(t) - len(t.lstrip()) for t in code.lines.values()), default=0)
    out = ["<pre>"]
    for row, text in code.lines.items():
        shifted = [(max(a - indent, 0), max(b - indent, 0), cls)
                   for a, b, cls in spans.get(row, [])]
        out.append(f"<span class=\"ln\">{row:>{width}}</span>  "
                   f"{_marked_line(text[indent:], shifted)}\n")
    out.append("</pre>\n")
    return "".join(out)


def _marked_tokens(code, other, common, k):
    """token index -> "" (shared with ``other``) or "common" (shared, but discounted)."""
    theirs = set(other.kgrams) if other else set()
    span = k if len(code.tokens) >= k else len(code.tokens)
    marks = {}
    for p, h in enumerate(code.kgrams):
        if h in common:
            for i in range(p, p + span):
                marks.setdefault(i, "common")
        elif h in theirs:
            for i in range(p, p + span):
                marks[i] = ""
    return marks


def _marked_line(text, spans):
    """``text`` escaped, with the character ranges of ``spans`` (merged when adjacent) marked."""
    merged = []
    for start, end, cls in sorted(spans):
        if merged and merged[-1][2] == cls and start <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]), cls)
        else:
            merged.append((start, end, cls))
    out, at = [], 0
    for start, end, cls in merged:
        start = max(start, at)
        if end <= start:
            continue
        out.append(_e(text[at:start]))
        attr = f" class=\"{cls}\"" if cls else ""
        out.append(f"<mark{attr}>{_e(text[start:end])}</mark>")
        at = end
    out.append(_e(text[at:]))
    return "".join(out)
