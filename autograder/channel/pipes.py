"""The three pipes between the grader and one worker, read without deadlock or blocking.

Requests go out on the worker's stdin; numbered replies come back on its stdout, each awaited with
a time limit; whatever the student's code prints arrives on its stderr and is kept, up to a bound,
in a ``BoundedOutput``. ``transport.Worker`` owns one ``Pipes``.
"""
import os
import queue
import select
import threading
import time

from .sandbox import wire

# Replies the grader holds unread at most: two frames of the largest size. The replies owed while
# it sends (at most ``Worker.MAX_PENDING``, to requests such as setting an attribute) are far
# smaller; more is a flood.
MAX_UNREAD = 2 * wire.MAX_FRAME_BYTES


class BoundedOutput:
    """Keeps the first ``limit`` bytes the student printed (per test) and counts the rest."""

    def __init__(self, limit):
        self.limit, self.chunks, self.kept, self.dropped = limit, [], 0, 0
        self.lock = threading.Lock()

    def add(self, data):
        with self.lock:
            room = self.limit - self.kept
            if room > 0:
                self.chunks.append(data[:room])
                self.kept += min(room, len(data))
            self.dropped += max(0, len(data) - max(room, 0))

    def take(self):
        with self.lock:
            text = b"".join(self.chunks).decode("utf-8", "replace")
            if self.dropped:
                text += f"\n[... {self.dropped} more bytes of output not shown]"
            self.chunks, self.kept, self.dropped = [], 0, 0
            return text


class Pipes:
    """The three pipes to a worker: requests out; replies (a time limit on each) and output in.

    On POSIX one thread does all of it with ``select``: one wake-up per reply (a reader thread
    handing frames over a queue costs a second one, ~0.1 ms per request on a loaded 2-core
    machine), and since the worker flushes its prints before it replies, everything a call printed
    has been read once its reply has. Requests are written without blocking, reading replies and
    output meanwhile, so that a worker busy printing while the grader sends never deadlocks the
    two. Windows cannot ``select`` on pipes: there reader threads keep the pipes drained.
    """

    def __init__(self, requests, replies, errors, output):
        self.requests, self.output, self.outgoing = requests, output, bytearray()
        if os.name == "posix":
            self.in_fd, self.fd, self.err_fd = requests.fileno(), replies.fileno(), errors.fileno()
            self.buffer = bytearray()
            os.set_blocking(self.in_fd, False)
        else:
            self.queue = queue.Queue()
            threading.Thread(target=self._pump, args=(replies,), daemon=True).start()
            threading.Thread(target=self._pump_output, args=(errors,), daemon=True).start()

    def write(self, seconds):
        """Send everything queued in ``outgoing``; False if the worker did not take it in time.

        Raises ``OSError`` (``BrokenPipeError``) when the worker no longer reads at all.
        """
        if os.name != "posix":
            self.requests.write(self.outgoing)
            self.requests.flush()
            self.outgoing.clear()
            return True
        deadline = time.monotonic() + seconds
        while self.outgoing:
            try:
                sent = os.write(self.in_fd, self.outgoing[:1 << 16])
            except BlockingIOError:
                sent = 0
            del self.outgoing[:sent]
            if sent or not self.outgoing:
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            readable, writable, _ = select.select(self._watched(), [self.in_fd], [], remaining)
            if not readable and not writable:
                return False
            if readable:
                self._read_available()
        return True

    def _watched(self):
        """The pipes to read from: replies, and output until the worker closes it."""
        return [self.fd] + ([self.err_fd] if self.err_fd is not None else [])

    def _read_available(self):
        """Move whatever replies and output are waiting into their buffers, without blocking.

        Replies read while the grader sends are bounded (``MAX_UNREAD``): a worker that stops
        reading requests and floods its replies is a broken protocol (``WireError``), not a buffer
        growing with the flood."""
        ready = select.select(self._watched(), [], [], 0)[0]
        if self.err_fd in ready:
            self._read_output()
        if self.fd in ready:
            data = os.read(self.fd, 1 << 20)
            if data:  # at EOF the next read, in ``next``, says so
                self.buffer += data
                wire.frame_size(self.buffer)  # a bad marker or an oversized frame: at once
                if len(self.buffer) > MAX_UNREAD:
                    raise wire.WireError(f"sent more than {MAX_UNREAD // 2**20} MB of replies "
                                         "while the grader was still sending its requests")

    def release(self):
        """Drop what is buffered (the worker is gone): nothing that outlives it keeps it alive."""
        self.buffer, self.outgoing = bytearray(), bytearray()

    def next(self, seconds, ended=None):
        """``("frame", (header, payload))``, ``("eof", None)``, ``("bad", why)``; None on timeout.

        ``ended()`` says whether the worker process has exited: a dead worker whose children still
        hold the pipe open (it forked, then exited) is "eof" at once, not a time limit later.
        """
        if os.name != "posix":
            try:
                return self.queue.get(timeout=seconds)
            except queue.Empty:
                return None
        deadline = time.monotonic() + seconds
        while True:
            try:
                frame = wire.split_frame(self.buffer)
            except wire.WireError as exc:
                return "bad", str(exc)
            if frame is not None:
                self.drain_output()
                return "frame", frame
            remaining = deadline - time.monotonic()
            ready = select.select(self._watched(), [], [], min(remaining, 0.25))[0] \
                if remaining > 0 else []
            if not ready:
                if ended is not None and ended():
                    self.drain_output()
                    return "eof", None
                if remaining > 0.25:
                    continue
                return None
            if self.err_fd in ready:
                self._read_output()
            if self.fd in ready:
                try:
                    data = os.read(self.fd, 1 << 20)
                except OSError as exc:
                    return "bad", str(exc)
                if not data:
                    self.drain_output()
                    return "eof", None
                self.buffer += data

    def drain_output(self):
        """Read whatever output is waiting, without blocking (POSIX; a thread does it elsewhere)."""
        for _ in range(64):  # bounded: a runaway printer must not keep the grader here
            if os.name != "posix" or self.err_fd is None \
                    or not select.select([self.err_fd], [], [], 0)[0] or not self._read_output():
                return

    def _read_output(self):
        try:
            data = os.read(self.err_fd, 65536)
        except OSError:
            data = b""
        if not data:
            self.err_fd = None  # the worker closed it (or died): stop watching
            return False
        self.output.add(data)
        return True

    def _pump(self, stream):
        try:
            while True:
                frame = wire.read_frame(stream)
                if frame is None:
                    self.queue.put(("eof", None))
                    return
                self.queue.put(("frame", frame))
        except (wire.WireError, OSError, ValueError) as exc:
            self.queue.put(("bad", str(exc)))

    def _pump_output(self, stream):
        while True:
            data = stream.read1(65536) if hasattr(stream, "read1") else stream.read(4096)
            if not data:
                return
            self.output.add(data)
