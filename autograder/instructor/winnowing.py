"""Winnowing (Schleimer, Wilkerson and Aiken, SIGMOD 2003) over normalised tokens, and the scores.

Every k-gram of an author's token kinds is hashed; in each window of ``w`` hashes the smallest is
kept as a fingerprint, so that every shared run of at least ``w + k - 1`` tokens is found.
Fingerprints that most of the class holds are discounted, as MOSS does; two authors' score per
region is the Dice overlap of what remains.
"""
import hashlib
from dataclasses import dataclass

MIN_COMMON_COUNT = 4     # a k-gram is common only when at least this many submissions hold it


@dataclass
class Match:
    """Two authors (or an author and the reference) and how alike their regions are."""
    a: object                   # the two Authors (similarity.py)
    b: object
    score: float
    regions: dict               # region key -> Dice score, for regions either of them wrote
    shared: int                 # fingerprints in common (after the discount)
    via_reference: float = 0.0  # share of the shared fingerprints that the reference also holds
    flagged: bool = False


def kgram_hashes(kinds, k):
    """A 64-bit hash of each k-gram of ``kinds``
    (one for the whole run when it is shorter than k)."""
    if not kinds:
        return []
    if len(kinds) < k:
        return [_hash(kinds)]
    return [_hash(kinds[i:i + k]) for i in range(len(kinds) - k + 1)]


def _hash(kinds):
    return int.from_bytes(hashlib.blake2b("\x1f".join(kinds).encode(), digest_size=8).digest(),
                          "big")


def winnow(hashes, window):
    """{(hash, position)} chosen by robust winnowing: the minimum of every window of ``window``
    hashes, the rightmost one on ties, each position once (Schleimer et al. 2003, section 4)."""
    if not hashes:
        return set()
    if len(hashes) <= window:
        low = min(hashes)
        return {(low, max(i for i, h in enumerate(hashes) if h == low))}
    chosen = set()
    for start in range(len(hashes) - window + 1):
        win = hashes[start:start + window]
        low = min(win)
        position = start + max(i for i, h in enumerate(win) if h == low)
        chosen.add((low, position))
    return chosen


def fingerprint(author, settings):
    for code in author.code.values():
        code.kgrams = kgram_hashes([t.kind for t in code.tokens], settings.k)
        code.fingerprints = {h for h, _ in winnow(code.kgrams, settings.window)}


# -- scores --
def common_kgrams(authors, regions, settings):
    """(region key -> hashes found in at least ``common_at`` authors, common_at)."""
    n = len(authors)
    common_at = max(MIN_COMMON_COUNT, int(settings.common * n) + 1)
    out = {}
    for region in regions:
        counts = {}
        for author in authors:
            code = author.code.get(region.key)
            for h in set(code.kgrams) if code else ():
                counts[h] = counts.get(h, 0) + 1
        out[region.key] = {h for h, c in counts.items() if c >= common_at}
    return out, common_at


def match(a, b, regions, common, reference=None):
    """A Match of ``a`` and ``b``; ``common``: region key -> discounted hashes (or {})."""
    per_region, shared, sizes, via = {}, 0, 0, 0
    for region in regions:
        ca, cb = a.code.get(region.key), b.code.get(region.key)
        if ca is None and cb is None:
            continue
        skip = common.get(region.key, set())
        fa = ca.fingerprints - skip if ca else set()
        fb = cb.fingerprints - skip if cb else set()
        both = fa & fb
        size = len(fa) + len(fb)
        per_region[region.key] = 2 * len(both) / size if size else 0.0
        shared += len(both)
        sizes += size
        if reference is not None and both:
            cr = reference.code.get(region.key)
            via += len(both & cr.fingerprints) if cr else 0
    score = 2 * shared / sizes if sizes else 0.0
    return Match(a, b, score, per_region, shared, via / shared if shared else 0.0)
