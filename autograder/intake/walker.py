"""Reading what a student made without trusting it: one bounded walker over a folder, and names.

``copy_folder`` copies a folder through a writer (``archive.py`` supplies one that counts entries
and bytes against the limits): regular files only, links never followed, every open non-blocking (a
FIFO never blocks), by directory descriptors where the platform has them (a folder swapped for a
link while it is read is not followed). ``clean_component`` and ``safe_parts`` turn the names
students' tools produce into printable, safe path components; ``is_skipped_name`` knows what tools
leave beside the code.
"""
import errno
import os
import re
import stat

# Folders that tools make beside a student's code: never graded, never descended into.
SKIP_DIRS = {".venv", "venv", "__pycache__", ".hypothesis", ".git", ".ipynb_checkpoints",
             "__MACOSX", ".pytest_cache", ".mypy_cache", ".idea", ".vscode"}
SKIP_FILES = {".DS_Store", "Thumbs.db", "desktop.ini"}
SKIP_NAMES = SKIP_DIRS | SKIP_FILES
_OPEN_FLAGS = (os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
               | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0))
# Walk by directory descriptors where the platform can (no path ever re-resolved, so a folder
# swapped for a link while it is read is not followed); by paths elsewhere (Windows).
_FD_WALK = os.open in os.supports_dir_fd and os.scandir in os.supports_fd \
    and hasattr(os, "O_DIRECTORY")


class NotRegularFile(OSError):
    """What was opened is not a regular file (a FIFO, socket, device or folder)."""


def file_kind(mode):
    for test, name in ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISDIR, "a folder"),
                       (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):
        if test(mode):
            return name
    return "a regular file" if stat.S_ISREG(mode) else "a special file"


def open_regular(path, dir_fd=None):
    """(binary file object, stat) of the regular file ``path``, opened without following a link and
    without blocking: a FIFO, socket, device or link raises ``NotRegularFile`` instead of hanging or
    being read."""
    try:
        st = os.stat(path, dir_fd=dir_fd, follow_symlinks=False)
    except NotImplementedError:
        st = os.lstat(path)
    if not stat.S_ISREG(st.st_mode):  # never open a device: opening one can act
        raise NotRegularFile(f"is {file_kind(st.st_mode)}, not a regular file")
    try:
        fd = os.open(path, _OPEN_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENXIO, errno.EMLINK):  # swapped for a link or socket
            raise NotRegularFile("is not a regular file (it changed while it was read)") from None
        raise
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise NotRegularFile(f"is {file_kind(st.st_mode)}, not a regular file")
    if hasattr(os, "set_blocking"):
        os.set_blocking(fd, True)  # a regular file: reads are plain reads again
    return os.fdopen(fd, "rb"), st


_DRIVE = re.compile(r"^[A-Za-z]:")


def clean_component(comp):
    """A path component made printable: undecodable bytes and control characters become '_'."""
    raw = comp.encode("utf-8", "surrogateescape") if isinstance(comp, str) else bytes(comp)
    text = raw.decode("utf-8", "replace")
    text = "".join("_" if ch == "\ufffd" or ord(ch) < 32 or ord(ch) == 127 else ch for ch in text)
    return text


def safe_parts(name, error, on_clean=None):
    """The cleaned components of an archive member name; ``error(problem)`` raises, ``on_clean()``
    is called when a component had to be cleaned."""
    name = name.replace("\\", "/")
    if name.startswith("/") or _DRIVE.match(name):
        error(f"entry {show_name(name)} has an absolute path")
    parts = []
    for comp in name.split("/"):
        if comp in ("", "."):
            continue
        if comp == "..":
            error(f"entry {show_name(name)} points outside the archive ('..')")
        cleaned = clean_component(comp)
        if cleaned != comp and on_clean is not None:
            on_clean()
        if len(cleaned.encode("utf-8")) > 255:
            error(f"entry {show_name(name)} has a name longer than 255 bytes")
        parts.append(cleaned)
    return parts


def show_name(name, limit=120):
    text = "/".join(clean_component(c) for c in str(name).replace("\\", "/").split("/"))
    return repr(text if len(text) <= limit else text[:limit] + "…")


def is_skipped_name(name):
    """Folders and files that tools, editors and operating systems leave beside a student's code."""
    return (name in SKIP_NAMES or name.startswith("._") or name.endswith(("~", ".swp", ".swo"))
            or (len(name) > 1 and name.startswith("#") and name.endswith("#")))


def skipped_path(parts):
    return any(is_skipped_name(p) for p in parts)


def shareable_link(st, owner):
    """Whether a regular file with several names (a hard link) is copied by content.

    Every file is copied by its content, never as a link, so a hard link is judged by what it
    exposes, and only in the submission that holds it: a drop folder or a ``cp -al`` snapshot links
    students' files to each other by accident, and the student whose file someone else linked to
    must not be rejected for it. A file anyone on the machine may read, or one owned by the owner
    of the submission's folder, exposes nothing new; a link to a file that only someone else may
    read (``/etc/shadow``, the grader's secret, on a system without ``protected_hardlinks``) is
    refused.
    """
    return bool(st.st_mode & stat.S_IROTH) or owner is None or st.st_uid == owner


def copy_folder(folder, writer):
    """Copy the folder ``folder`` through the bounded walker (see the module's docstring)."""
    if _FD_WALK:
        try:
            fd = os.open(folder, _OPEN_FLAGS | os.O_DIRECTORY)
        except OSError as exc:
            writer.error(f"cannot open the folder ({exc.strerror})")
        try:
            _walk(fd, None, writer, [], os.fstat(fd).st_uid)
        finally:
            os.close(fd)
    else:
        _walk(None, os.fspath(folder), writer, [], None)


def _walk(dir_fd, dir_path, writer, rel, owner):
    """Copy one folder's entries (by descriptor ``dir_fd``, or by ``dir_path`` where descriptors
    cannot be used), then descend; depth, entries and bytes are bounded by ``writer``; ``owner``:
    the uid owning the submission's folder (see ``shareable_link``)."""
    shown = show_name("/".join(rel)) if rel else "the folder"
    entries = []
    try:
        with os.scandir(dir_fd if dir_fd is not None else dir_path) as listing:
            for entry in listing:  # counted as listed: a folder of a million entries stops early
                writer.count_listed()
                entries.append(entry)
    except OSError as exc:
        writer.error(f"cannot list {shown}: {exc.strerror}")
    folders = []
    for entry in sorted(entries, key=lambda e: e.name):
        name = clean_component(entry.name)
        if name != entry.name:
            writer.renamed = True
        parts = rel + [name]
        original = "/".join(parts)
        if is_skipped_name(name):
            writer.skip(parts)
            continue
        writer.count_entry()
        where = entry.name if dir_fd is not None else entry.path
        try:
            st = os.stat(where, dir_fd=dir_fd, follow_symlinks=False)
        except OSError as exc:
            writer.error(f"cannot read {show_name(original)}: {exc.strerror}")
        if stat.S_ISDIR(st.st_mode):
            writer.mkdir(parts, original)  # checks the depth before anything below is opened
            folders.append((entry, parts, original))
        elif stat.S_ISREG(st.st_mode):
            if st.st_nlink > 1 and not shareable_link(st, owner):
                writer.error(f"{show_name(original)} is a hard link to a file that only "
                             "its owner may read (copied by content only when anyone may read "
                             "it or the submission's owner owns it)")
            try:
                fh, st = open_regular(where, dir_fd)
            except NotRegularFile as exc:
                writer.error(f"{show_name(original)} {exc}")
            with fh:
                writer.write(parts, fh, st.st_size, original)
        else:
            what = file_kind(st.st_mode)
            why = " (links are not accepted in submissions)" if stat.S_ISLNK(st.st_mode) else \
                ", not a regular file"
            writer.error(f"{show_name(original)} is {what}{why}")
    for entry, parts, original in folders:
        if dir_fd is None:
            _walk(None, entry.path, writer, parts, owner)
            continue
        try:
            fd = os.open(entry.name, _OPEN_FLAGS | os.O_DIRECTORY, dir_fd=dir_fd)
        except OSError as exc:  # ELOOP/ENOTDIR: swapped for a link or a file since it was listed
            writer.error(f"cannot open {show_name(original)} ({exc.strerror})")
        try:
            _walk(fd, None, writer, parts, owner)
        finally:
            os.close(fd)
