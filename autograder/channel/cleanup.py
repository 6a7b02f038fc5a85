"""Removing what a worker (or the student's code in it) made: bounded, never following a link, and
never raising.

``shutil.rmtree`` recurses once per level (Python <= 3.12: a folder 1500 levels deep raises
``RecursionError``, which ``ignore_errors`` does not cover) and has no bound on the work it does.
``remove_tree`` keeps every path short instead: a folder found below the top one is first moved up
to the top (a rename within the tree), so no path is ever more than two levels deep and nothing
recurses. Links are removed, never followed; a folder the student made unreadable is made readable
again (it is the grader's to remove). What cannot be removed within ``max_entries`` is left behind,
and the caller learns only that (False): cleaning up is never a reason for the grader to fail.
"""
import itertools
import os
import stat

MAX_ENTRIES = 1_000_000  # entries removed at most per call: a bound on the time cleaning up takes


def remove_tree(path, max_entries=MAX_ENTRIES):
    """Remove ``path`` (a folder, file or link) and everything below it; True when it is gone."""
    try:
        return _remove(os.fspath(path), max_entries)
    except Exception:  # noqa: BLE001 - by design: cleanup never fails the grader
        return False


def _remove(root, max_entries):
    try:
        st = os.lstat(root)
    except FileNotFoundError:
        return True
    if not stat.S_ISDIR(st.st_mode):
        os.unlink(root)
        return True
    names = (f".removing-{n}" for n in itertools.count())
    budget = [max_entries]
    folders = _empty(root, root, names, budget)  # its files go; its folders are listed
    while folders and budget[0] > 0:
        folder = folders.pop()
        folders += _empty(folder, root, names, budget)  # below it: moved up to the top
        _quietly(os.rmdir, folder)
    _quietly(os.rmdir, root)
    return not os.path.lexists(root)


def _empty(folder, root, names, budget):
    """Remove the files and links in ``folder``; return its folders (moved up to ``root`` unless
    ``folder`` is ``root``), so that no path gets deeper than two levels."""
    found = []
    for entry in _listing(folder):
        if budget[0] <= 0:
            break
        budget[0] -= 1
        if not _is_folder(entry):
            _quietly(os.unlink, entry.path)
        elif folder == root:
            found.append(entry.path)
        else:
            _writable(entry.path)  # moving a folder rewrites its '..'
            moved = _free_name(root, names)
            _quietly(os.rename, entry.path, moved)
            found.append(moved)
    return found


def _listing(folder):
    _writable(folder)  # made unreadable or read-only by the student: ours to remove all the same
    try:
        with os.scandir(folder) as listing:
            return list(listing)
    except OSError:
        return []


def _writable(folder):
    try:
        if stat.S_IMODE(os.lstat(folder).st_mode) & 0o700 != 0o700:
            os.chmod(folder, 0o700)
    except OSError:
        pass


def _is_folder(entry):
    try:
        return entry.is_dir(follow_symlinks=False)
    except OSError:
        return False


def _free_name(root, names):
    while True:
        candidate = os.path.join(root, next(names))
        if not os.path.lexists(candidate):
            return candidate


def _quietly(operation, *args):
    try:
        operation(*args)
    except OSError:
        pass
