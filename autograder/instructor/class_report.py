"""``report.html``: the class at a glance, as one self-contained page.

Score distribution and per-task pass rates (inline SVG), the most common mistakes (from the
grader's diagnosis ids), a sortable table of students linking to each one's feedback, and the
conditions the batch was graded under. No network, no external scripts, styles or fonts: it works
opened from disk and can be mailed. ``anonymize`` replaces names by stable pseudonyms and drops the
links, for sharing with TAs. Students an interrupted batch did not reach are listed, and left out of
every statistic (as in summary.txt).
"""
import hashlib
import hmac

from ..grading.text import html_text, one_line
from ..intake.files import write_atomically
from .summary import INTERRUPTED

HIST_BINS = 10

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#222;
max-width:1200px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
.muted{color:#666}.grid{display:flex;flex-wrap:wrap;gap:24px}
table{border-collapse:collapse;font-size:13px}th,td{padding:3px 8px;border-bottom:1px solid #ddd;
text-align:left}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
th.sortable{cursor:pointer;user-select:none;background:#f4f4f4}th.sortable:hover{background:#e8e8e8}
th[aria-sort=ascending]::after{content:" \\25B2"}th[aria-sort=descending]::after{content:" \\25BC"}
tr.bad td{background:#fff3f0}tr.warn td{background:#fffbe6}td .why{color:#666;font-size:12px}
.bar{fill:#4477aa}.bar2{fill:#66aa55}svg text{font-size:11px;fill:#333}
#errors{color:#b00}#conditions td{white-space:pre-wrap}
"""

SCRIPT = """
(function(){
  var errors=document.getElementById('errors');
  window.addEventListener('error',function(e){
    errors.textContent+=(e.message||'error')+'\\n';
    var count=+document.body.getAttribute('data-errors')||0;
    document.body.setAttribute('data-errors',String(count+1));
  });
  var table=document.getElementById('students');
  var heads=table.tHead.rows[0].cells;
  function sortBy(col,dir){
    var body=table.tBodies[0],rows=Array.prototype.slice.call(body.rows);
    var numeric=heads[col].classList.contains('num');
    rows.sort(function(a,b){
      var x=a.cells[col].getAttribute('data-v'),y=b.cells[col].getAttribute('data-v');
      var c=numeric?(parseFloat(x)-parseFloat(y)):x.localeCompare(y);
      if(c===0){c=a.cells[0].getAttribute('data-v').localeCompare(b.cells[0].getAttribute('data-v'));}
      return dir==='desc'?-c:c;
    });
    rows.forEach(function(r){body.appendChild(r);});
    for(var i=0;i<heads.length;i++){heads[i].removeAttribute('aria-sort');}
    heads[col].setAttribute('aria-sort',dir==='desc'?'descending':'ascending');
  }
  Array.prototype.forEach.call(heads,function(th,i){
    th.classList.add('sortable');
    th.addEventListener('click',function(){
      sortBy(i,th.getAttribute('aria-sort')==='ascending'?'desc':'asc');
    });
  });
  var m=/^#sort=([\\w.]+)-(asc|desc)$/.exec(location.hash);
  for(var i=0;m&&i<heads.length;i++){
    if(heads[i].getAttribute('data-key')===m[1]){sortBy(i,m[2]);}
  }
  document.body.setAttribute('data-ready','1');
})();
"""


_e = html_text  # every piece of text on the page goes through the one sanitiser


def _num(x):
    return f"{x:g}" if float(x).is_integer() else f"{x:.2f}"


def pseudonym(student_id, key=b""):
    """A stable pseudonym: the same student gets the same one in every report made with ``key``.

    Keyed (HMAC), because a plain hash of an id is undone by anyone holding the class list: they
    hash every name and compare.
    The batch keeps one random key per output folder (``.pseudonym-key``).
    """
    digest = hmac.new(key, student_id.encode("utf-8"), hashlib.sha256).hexdigest()
    return "student-" + digest[:8]


def histogram_svg(totals, max_total, width=460, height=200):
    counts = [0] * HIST_BINS
    for x in totals:
        counts[min(HIST_BINS - 1, max(0, int(x / max_total * HIST_BINS)))] += 1
    top = max(counts) or 1
    bar_w = (width - 40) / HIST_BINS
    parts = [f'<svg role="img" aria-label="score histogram" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}">']
    for i, c in enumerate(counts):
        h = (height - 40) * c / top
        x, y = 30 + i * bar_w, height - 20 - h
        lo, hi = max_total * i / HIST_BINS, max_total * (i + 1) / HIST_BINS
        parts.append(f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{bar_w - 2:.1f}" '
                     f'height="{h:.1f}"><title>{_num(lo)}–{_num(hi)}: {c}</title></rect>')
        if c:
            parts.append(f'<text x="{x + bar_w / 2 - 4:.1f}" y="{y - 3:.1f}">{c}</text>')
        parts.append(f'<text x="{x:.1f}" y="{height - 6}">{_num(lo)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def task_rates_svg(rates, width=460, row=18):
    """Horizontal bars: the share of students with full points, per task."""
    height = row * len(rates) + 10
    parts = [f'<svg role="img" aria-label="per-task pass rates" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}">']
    for i, (task, rate) in enumerate(rates):
        y = 5 + i * row
        parts.append(f'<text x="0" y="{y + 12}">{_e(task.id)}</text>')
        parts.append(f'<rect class="bar2" x="40" y="{y}" width="{(width - 90) * rate:.1f}" '
                     f'height="{row - 4}"><title>{_e(task.title)}: {100 * rate:.0f}%</title>'
                     "</rect>")
        parts.append(f'<text x="{45 + (width - 90) * rate:.1f}" y="{y + 12}">'
                     f'{100 * rate:.0f}%</text>')
    parts.append("</svg>")
    return "".join(parts)


def _value(row, key):
    try:
        return float(row.get(key) or 0)
    except (TypeError, ValueError):
        return 0.0


def share_bar(share, width=80):
    return (f'<svg width="{width}" height="10" aria-hidden="true"><rect class="bar" x="0" y="1" '
            f'width="{width * share:.1f}" height="8"></rect></svg>')


def render(rows, tasks, mistakes=(), conditions=None, feedback_href=None, anonymize=False,
           title="Class report", pseudonym_key=b""):
    """The page as a string. ``rows``: the batch's rows (as in grades.csv); ``mistakes``:
    ``mistakes.Mistake`` list; ``conditions``: {what: value} shown as given; ``feedback_href``:
    student id -> relative link to their feedback (ignored when anonymizing); ``pseudonym_key``:
    the key of the pseudonyms (see ``pseudonym``). Student ids are made visible (``text.py``) and
    escaped; the shares of mistakes are of the graded students, who alone have diagnoses."""
    rows = sorted(rows, key=lambda r: r["student"])
    waiting = [r for r in rows if r.get("status") == INTERRUPTED]
    rows = [r for r in rows if r.get("status") != INTERRUPTED]
    if anonymize:
        def name_of(sid):
            return pseudonym(sid, pseudonym_key)
    else:
        def name_of(sid):
            return one_line(sid)
    n = len(rows)
    graded = sum(1 for r in rows if str(r.get("status", "")).startswith("graded"))
    max_total = sum(t.points for t in tasks) or 100.0
    totals = [_value(r, "total") for r in rows]
    rates = []
    for t in tasks:
        full = sum(1 for r in rows if _value(r, t.id) >= t.points - 1e-9)
        rates.append((t, full / n if n else 0.0))
    mean = sum(totals) / n if n else 0.0
    ordered = sorted(totals)
    median = ((ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2)
              if n else 0.0)
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>{_e(title)}</title><style>{STYLE}</style></head><body>",
           f"<h1>{_e(title)}</h1>",
           f'<p class="muted">{n} students ({graded} graded) · mean {mean:.2f} · median '
           f'{_num(median)} of {_num(max_total)}{" · anonymized" if anonymize else ""}</p>']
    if waiting:
        out.append(f'<p id="interrupted"><strong>Interrupted:</strong> {len(waiting)} students '
                   "not graded yet (listed at the end); every number on this page leaves them "
                   "out. Run the same command again to grade them.</p>")
    out += ['<pre id="errors"></pre>',
            '<div class="grid"><div><h2>Scores</h2>', histogram_svg(totals, max_total), "</div>",
            '<div><h2>Tasks: share with full points</h2>', task_rates_svg(rates), "</div></div>"]
    out.append("<h2>Common mistakes</h2>")
    if mistakes:
        titles = {t.id: t.title for t in tasks}
        out.append(f'<p class="muted">Diagnosed by the grader; shares are of the {graded} graded '
                   "students.</p>")
        out.append('<table id="mistakes"><thead><tr><th>Task</th><th>Mistake</th>'
                   '<th class="num">Students</th><th class="num">Share</th><th>Example</th>'
                   "</tr></thead><tbody>")
        for m in mistakes:
            share = m.share(graded)
            out.append(f"<tr><td>{_e(m.task)} {_e(titles.get(m.task, ''))}</td>"
                       f"<td><code>{_e(one_line(m.diagnosis))}</code></td>"
                       f'<td class="num">{len(m.students)}</td>'
                       f'<td class="num">{share_bar(share)} {100 * share:.0f}%</td>'
                       f"<td>{_e(name_of(m.students[0]))}</td></tr>")
        out.append("</tbody></table>")
    else:
        out.append('<p class="muted">No diagnosed mistakes.</p>')
    out.append("<h2>Students</h2>")
    if not anonymize and feedback_href is not None:
        out.append('<p class="muted">Click a column to sort; a name opens that student\'s '
                   "feedback.</p>")
    out.append('<table id="students"><thead><tr><th data-key="student">Student</th>'
               '<th class="num" data-key="total">Total</th>')
    out += [f'<th class="num" data-key="{_e(t.id)}" title="{_e(t.title)}">{_e(t.id)}</th>'
            for t in tasks]
    out.append('<th data-key="status">Status</th></tr></thead><tbody>')
    for r in rows:
        sid = name_of(r["student"])
        label = _e(sid)
        href = None if anonymize or feedback_href is None else feedback_href(r["student"])
        cell = f'<a href="{_e(href)}">{label}</a>' if href else label
        status = one_line(r.get("status", ""))
        cls = "" if status == "graded" else \
            ' class="warn"' if status.startswith("graded") else ' class="bad"'
        # the reason names the student's file: never in an anonymized page
        why = "" if anonymize else one_line(r.get("message") or "", 300)
        out.append(f'<tr{cls}><td data-v="{_e(sid)}">{cell}</td>'
                   f'<td class="num" data-v="{_value(r, "total")}">'
                   f'{_num(_value(r, "total"))}</td>')
        out += [f'<td class="num" data-v="{_value(r, t.id)}">{_num(_value(r, t.id))}</td>'
                for t in tasks]
        out.append(f'<td data-v="{_e(status)}">{_e(status)}'
                   + (f'<br><span class="why">{_e(why)}</span>' if why else "") + "</td></tr>")
    out.append("</tbody></table>")
    if waiting:
        out.append("<h2>Not graded yet (interrupted)</h2><ul id=\"waiting\">")
        out += [f"<li>{_e(name_of(r['student']))}</li>" for r in waiting]
        out.append("</ul>")
    if conditions:
        out.append("<h2>Grading conditions</h2><table id=\"conditions\"><tbody>")
        out += [f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>"
                for k, v in conditions.items()]
        out.append("</tbody></table>")
    out.append(f"<script>{SCRIPT}</script></body></html>")
    return "\n".join(out) + "\n"


def write_class_report(path, rows, tasks, **options):
    text = render(rows, tasks, **options)
    write_atomically(path, text)
    return text

