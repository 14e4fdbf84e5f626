"""Fuzzy name matching against a watch list, fast enough to screen a name against 100k entries in well
under a millisecond.

Two stages:

1. **Blocking.** Every token of every listed name is indexed under three keys (its Metaphone code,
   its letters sorted — which survives transpositions — and its first four letters). A query collects
   the postings of its own tokens' keys, rarest first and within a budget, and ranks entries by how
   many keys they share. A typo breaks one or two keys of a token, rarely all three.
2. **Scoring.** The best few candidates get the full score: tokens aligned regardless of order,
   each pair scored by optimal-string-alignment similarity (typos and transpositions), with a phonetic
   boost, initials matching the names they abbreviate, and a mild penalty for names present on one side only
   (a missing middle name is common; a different surname is not).

    >>> index = NameIndex([("e1", "Vladimir Vladimirovich Putin"), ("e2", "Shell Trading Ltd")])
    >>> [m.entry_key for m in index.search("Putin, Vladimir", 0.85)]
    ['e1']
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from functools import lru_cache

import jellyfish
import numpy as np
from rapidfuzz.distance import OSA

from harbour.detect.screening.normalise import token_pairs

DEFAULT_THRESHOLD = 0.88
CANDIDATES_SCORED = 12  # best-blocked candidates that get the full score
POSTINGS_BUDGET = 2_500  # postings read per query at most (skips very common tokens' lists when others exist)
UNMATCHED_WEIGHT = 0.35  # how much a token present on one side only counts against the score
INITIAL_WEIGHT = 0.6  # an initial says less than a whole name
INITIAL_SIMILARITY = 0.9
PHONETIC_FLOOR = 0.88  # similarity given to tokens that sound alike and are already half alike
TOKEN_FLOOR = 0.7  # a pair of tokens less alike than this counts as a mismatch


@dataclass(frozen=True)
class Match:
    entry_key: Hashable
    matched_name: str
    score: float


@lru_cache(maxsize=200_000)
def _phonetic(token: str) -> str:
    return jellyfish.metaphone(token) if token.isascii() else token


# Letters that romanisations swap at the start of a name, so "C." abbreviates "Karlos" as well.
_INITIAL_CLASS = str.maketrans("cqxyjw", "kkkiiv")


@lru_cache(maxsize=200_000)
def token_keys(token: str) -> tuple[str, ...]:
    """The blocking keys of one token; initials (one letter) get none.

    The token itself, its Metaphone code, its sorted letters (survive a transposition) and, for longer
    tokens, every one-letter deletion (any single edit leaves one of them shared, as in SymSpell).
    """
    if len(token) < 2:
        return ()
    keys = {"t" + token, "m" + _phonetic(token), "s" + "".join(sorted(token))}
    if len(token) >= 4:
        keys.update("t" + token[:i] + token[i + 1:] for i in range(len(token)))
    return tuple(keys)


@lru_cache(maxsize=1_000_000)
def token_similarity(a: str, b: str, spelt_a: str = "", spelt_b: str = "") -> float:
    """Similarity of two normalised tokens in [0, 1]; ``spelt_*`` are their spellings before the skeleton."""
    if a == b:
        return 1.0
    if spelt_a and spelt_b and len(a) > 1 and len(b) > 1:
        return max(_skeleton_similarity(a, b), OSA.normalized_similarity(spelt_a, spelt_b))
    return _skeleton_similarity(a, b)


def _skeleton_similarity(a: str, b: str) -> float:
    if len(a) == 1 or len(b) == 1:
        return INITIAL_SIMILARITY if _initial_agrees(a, b) else 0.0
    sim = OSA.normalized_similarity(a, b)
    # Short tokens sound alike too easily ("Ton", "Tin"), so only longer ones get the phonetic boost.
    if 0.5 <= sim < PHONETIC_FLOOR and min(len(a), len(b)) >= 5 and _phonetic(a) == _phonetic(b):
        sim = PHONETIC_FLOOR
    return sim


def _initial_agrees(a: str, b: str) -> bool:
    initial, other = (a, b) if len(a) == 1 else (b, a)
    first = other[0].translate(_INITIAL_CLASS)
    initial = initial.translate(_INITIAL_CLASS)
    # The skeleton turns "Kh" into "h", so "K." may abbreviate a name whose skeleton starts with "h".
    return initial == first or (initial == "k" and first == "h")


def _weight(token: str) -> float:
    return INITIAL_WEIGHT if len(token) == 1 else 1.0


def score_tokens(query: tuple[str, ...] | list[str], candidate: tuple[str, ...] | list[str],
                 query_spelt: tuple[str, ...] = (), candidate_spelt: tuple[str, ...] = ()) -> float:
    """Order-insensitive score of two token lists in [0, 1] (1 = the same tokens)."""
    if not query or not candidate:
        return 0.0
    if len(query) == len(candidate) and sorted(query) == sorted(candidate):
        return 1.0 if any(len(t) > 1 for t in query) else 0.5
    qs = query_spelt or ("",) * len(query)
    cs = candidate_spelt or ("",) * len(candidate)
    pairs = sorted(
        ((token_similarity(a, b, qs[i], cs[j]), i, j) for i, a in enumerate(query) for j, b in enumerate(candidate)),
        reverse=True,
    )
    used_q: set[int] = set()
    used_c: set[int] = set()
    matched = total = 0.0
    full_token_agrees = False
    for sim, i, j in pairs:
        if i in used_q or j in used_c:
            continue
        used_q.add(i)
        used_c.add(j)
        weight = (_weight(query[i]) + _weight(candidate[j])) / 2
        total += weight
        if sim >= TOKEN_FLOOR:
            matched += sim * weight
            full_token_agrees = full_token_agrees or (len(query[i]) > 1 and len(candidate[j]) > 1)
    unmatched = [query[i] for i in range(len(query)) if i not in used_q]
    unmatched += [candidate[j] for j in range(len(candidate)) if j not in used_c]
    total += UNMATCHED_WEIGHT * sum(_weight(t) for t in unmatched)
    score = matched / total
    if not full_token_agrees:
        score *= 0.5  # initials alone identify nobody
    if len(query) != len(candidate):
        # Glued or split names ("Abu Bakr" / "Abubakr"): compare the whole spelling as written.
        score = max(score, OSA.normalized_similarity("".join(query), "".join(candidate)) - 0.02)
    return score


def score_names(a: str, b: str) -> float:
    """Score two raw names: ``score_names("Dr. John Smith", "SMITH, John") == 1.0``."""
    pa, pb = token_pairs(a), token_pairs(b)
    return score_tokens(tuple(p[0] for p in pa), tuple(p[0] for p in pb),
                        tuple(p[1] for p in pa), tuple(p[1] for p in pb))


class NameIndex:
    """A blocking index over the names (and aliases) of one watch-list version."""

    def __init__(self, names: Iterable[tuple[Hashable, str]]) -> None:
        self.keys: list[Hashable] = []
        self.names: list[str] = []
        self.toks: list[tuple[str, ...]] = []
        self.spelt: list[tuple[str, ...]] = []
        self.postings: dict[str, list[int]] = {}
        self.exact: dict[str, list[int]] = {}
        self._arrays: dict[str, np.ndarray] | None = None
        for key, name in names:
            pairs = token_pairs(name)
            if not pairs:
                continue
            toks = tuple(p[0] for p in pairs)
            row = len(self.names)
            self.keys.append(key)
            self.names.append(name)
            self.toks.append(toks)
            self.spelt.append(tuple(p[1] for p in pairs))
            self.exact.setdefault(" ".join(sorted(toks)), []).append(row)
            for block_key in {k for t in toks for k in token_keys(t)}:
                self.postings.setdefault(block_key, []).append(row)
        self._freeze()

    def __len__(self) -> int:
        return len(self.names)

    def _freeze(self) -> None:
        # int32 arrays: a query concatenates a few postings and counts them in C, not in a Python loop.
        self._arrays = {k: np.asarray(v, dtype=np.int32) for k, v in self.postings.items()}

    def candidates(self, query: tuple[str, ...], limit: int = CANDIDATES_SCORED) -> list[int]:
        """Rows most likely to match ``query``: the ones sharing the most blocking keys."""
        if self._arrays is None:
            self._freeze()
        arrays = self._arrays
        assert arrays is not None
        lists = sorted(
            (p for k in {k for t in query for k in token_keys(t)} if (p := arrays.get(k)) is not None),
            key=len,
        )
        chosen = []
        read = 0
        for i, postings in enumerate(lists):
            if i >= 2 and read + len(postings) > POSTINGS_BUDGET:
                break
            chosen.append(postings)
            read += len(postings)
        rows: list[int] = []
        if chosen:
            rows_arr, counts = np.unique(np.concatenate(chosen), return_counts=True)
            if len(rows_arr) > limit:
                top = np.argpartition(-counts, limit - 1)[:limit]
                rows_arr = rows_arr[top[np.argsort(-counts[top], kind="stable")]]
            rows = rows_arr.tolist()
        exact = self.exact.get(" ".join(sorted(query)), [])
        return rows + [r for r in exact if r not in rows]

    def search(self, name: str, threshold: float = DEFAULT_THRESHOLD, limit: int = 5) -> list[Match]:
        """Listed entries whose name or alias scores at least ``threshold`` against ``name``, best first;
        one match per entry."""
        pairs = token_pairs(name)
        if not pairs:
            return []
        query = tuple(p[0] for p in pairs)
        query_spelt = tuple(p[1] for p in pairs)
        best: dict[Hashable, Match] = {}
        for row in self.candidates(query):
            score = score_tokens(query, self.toks[row], query_spelt, self.spelt[row])
            if score < threshold:
                continue
            key = self.keys[row]
            if key not in best or score > best[key].score:
                best[key] = Match(key, self.names[row], round(score, 4))
        return sorted(best.values(), key=lambda m: -m.score)[:limit]
