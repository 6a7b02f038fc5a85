"""Student-derived text made safe to show: on a terminal, in feedback.txt, summary.txt,
results.json, every CSV (``csv_text``) and every HTML page (``html_text``) the kit writes. This
module is the one sanitiser: nothing a student controls is written another way.

A submission controls its output, its exception messages, the names in its tracebacks and the names
of its files. Written raw, an escape sequence (ESC, or the one-byte CSI/OSC of C1) repaints the
instructor's terminal — a fake "Total 100 / 100", a window title, a clipboard write (OSC 52) — and
a newline in a file name forges a line of a report. ``visible`` turns every such character into
printable text (``\\x1b``, ``\\r``, ``\\u202e``), so what was sent is still readable and nothing
acts. It accepts any value (bytes, lone surrogates, objects whose ``str`` fails) and bounds the
length of every line and of the whole text.
"""
import csv
import html
import io
import unicodedata

LINE_CHARS = 1000  # longest line kept; the rest of a line is cut with a count
# Characters that change how the text around them is shown, not being controls (category Cc):
# bidirectional overrides and isolates ("Trojan Source"), and the Unicode line separators.
_LAYOUT = {0x061C, 0x200E, 0x200F, 0x2028, 0x2029, *range(0x202A, 0x202F), *range(0x2066, 0x206A)}


def _escape(ch):
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _visible_char(ch, keep_newlines):
    if ch == "\n":
        return "\n" if keep_newlines else "\\n"
    if ch == "\t":
        return "\t" if keep_newlines else " "
    code = ord(ch)
    if code in _LAYOUT or unicodedata.category(ch) in ("Cc", "Cs", "Co", "Cn"):
        # Cc: C0/C1 controls and DEL (ESC, CR, BEL, CSI 0x9b); Cs: lone surrogates (undecodable
        # bytes), which no UTF-8 file can hold; Co/Cn: private and unassigned code points
        return _escape(ch)
    return ch


def _as_text(value):
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "surrogateescape")
    try:
        return str(value)
    except Exception:  # a student object's __str__ may raise anything
        return f"<unprintable {type(value).__name__}>"


def visible(text, max_len=None, keep_newlines=True, line_chars=LINE_CHARS):
    """``text`` with control characters and escape sequences shown as escapes, never acted on.

    ``keep_newlines``: newlines stay line breaks (feedback) or become ``\\n`` (a name, a CSV cell).
    Every line is cut after ``line_chars`` characters and the whole after ``max_len``, each cut
    saying how much was left out.
    """
    text = _as_text(text)
    if max_len is not None and len(text) > 4 * max_len + 64:
        # escapes can at most quadruple: never process more than needed
        text = text[:4 * max_len + 64]
        cut_input = True
    else:
        cut_input = False
    out = "".join(_visible_char(ch, keep_newlines) for ch in text)
    if line_chars is not None:
        lines = out.split("\n")
        out = "\n".join(line if len(line) <= line_chars else
                        f"{line[:line_chars]}… ({len(line) - line_chars} more characters)"
                        for line in lines)
    if max_len is not None and (len(out) > max_len or cut_input):
        out = out[:max_len] + f"… (cut at {max_len} characters)"
    return out


def one_line(text, max_len=200):
    """``visible`` on one line: for names, ids and messages that sit inside a line of a report."""
    return visible(text, max_len, keep_newlines=False, line_chars=None)


# -- CSV and HTML ------------------------------------------------------------------------------
CELL_CHARS = 1000
# What a spreadsheet runs as a formula when a cell starts with it (also after spaces).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")


def num(x):
    """A score as people write it: 15, 7.50."""
    return f"{x:g}" if float(x).is_integer() else f"{x:.2f}"


def spreadsheet_cell(value):
    """A CSV cell that no spreadsheet reads as a formula (``=HYPERLINK(...)``, ``+cmd|...``,
    ``@SUM``): text starting like one (also after spaces) gets a leading ``'``, as spreadsheets
    themselves write text that only looks like a formula; then made visible on one line. Numbers
    stay numbers (a negative one is not a formula)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, float):
        return num(value)
    if isinstance(value, int):
        return str(value)
    text = _as_text(value)
    if text.lstrip(" ").startswith(FORMULA_STARTS) or text.startswith(FORMULA_STARTS):
        text = "'" + text
    return one_line(text, CELL_CHARS)


def csv_text(header, rows):
    """A whole CSV file (``\\n`` line ends): ``header`` and every row, each cell through
    ``spreadsheet_cell``."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([spreadsheet_cell(h) for h in header])
    for row in rows:
        writer.writerow([spreadsheet_cell(v) for v in row])
    return buf.getvalue()


def html_text(value, max_len=None):
    """``value`` for an HTML page: made visible (escape sequences, bidirectional overrides and
    other controls shown as escapes), then HTML-escaped, quotes included (safe in attributes)."""
    return html.escape(visible(value, max_len, line_chars=None), quote=True)
