"""What a batch shows an instructor while it runs:
lines that survive a closed pipe, and progress."""
import io
import os
import sys
import time


class Console:
    """Where the batch talks to the instructor. A closed pipe (``grade ... 2>&1 | head``) silences
    it and never stops the batch: the stream is pointed at the null device from then on."""

    def __init__(self, stream):
        self.stream, self.broken = stream, False

    def isatty(self):
        try:
            return bool(self.stream.isatty())
        except (AttributeError, OSError, ValueError):
            return False

    def write(self, text):
        if self.broken:
            return
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):
            self.broken = True
            try:  # so that Python's own flush at exit does not fail on it either
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, self.stream.fileno())
                os.close(devnull)
            except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
                pass

    def line(self, text=""):
        self.write(text + "\n")


# -- progress ---------------------------------------------------------------------------------
class Progress:
    """Progress on stderr: a redrawn bar on a terminal, one plain line per student otherwise."""

    def __init__(self, total, stream=None):
        self.total, self.done = total, 0
        stream = stream or sys.stderr
        self.stream = stream if isinstance(stream, Console) else Console(stream)
        self.tty = self.stream.isatty()
        self.start = time.monotonic()

    def eta(self):
        if not self.done:
            return "?"
        left = (time.monotonic() - self.start) / self.done * (self.total - self.done)
        return _duration(left)

    def step(self, text):
        self.done += 1
        elapsed = _duration(time.monotonic() - self.start)
        if self.tty:
            width = 30
            filled = int(width * self.done / max(self.total, 1))
            bar = "#" * filled + "." * (width - filled)
            line = (f"\r[{bar}] {self.done}/{self.total} elapsed {elapsed} ETA {self.eta()}  "
                    f"{text[:50]}\x1b[K")
            self.stream.write(line + ("\n" if self.done == self.total else ""))
        else:
            self.stream.write(f"[{self.done}/{self.total}] {text} (elapsed {elapsed}, "
                              f"ETA {self.eta()})\n")


def _duration(seconds):
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
