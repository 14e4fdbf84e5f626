"""``owner_keys.accounts_found``: each string's key in the owner table found through the word table (hash top bits
in the slots, keys of 16 bytes or fewer compared as length and two words) — checked against a dictionary of the keys
on strings of every length from 0 to 24 bytes, known and unknown, at the very end of their buffers, and with keys
that share their first and last 8 bytes."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from numba import njit

from harbour.data.arrow_strings import same_bytes, string_buffers
from harbour.detect.market import owner_keys


def _table(keys: list[str]) -> tuple[np.ndarray, ...]:
    offsets, data, _ = string_buffers(pa.array(keys, pa.large_string()))
    size = 1 << max(4, int(2 * len(keys)).bit_length())
    slots, hashes, distinct = owner_keys._key_table(offsets, data, size)
    assert distinct
    return slots, hashes, offsets, data


def _words(rng: np.random.Generator, n: int, alphabet: str = "ab\u00e9XY0") -> list[str]:
    return ["".join(rng.choice(list(alphabet), int(rng.integers(0, 25)))) for _ in range(n)]


@pytest.mark.parametrize("seed", range(6))
def test_found_as_a_dictionary_finds_them(seed: int) -> None:
    rng = np.random.default_rng(seed)
    keys = list(dict.fromkeys(_words(rng, int(rng.integers(1, 400)))))
    # long keys sharing their first and last 8 bytes, told apart only by their middle
    keys += [f"{'p' * 8}{m}{'s' * 8}" for m in ("A", "B", "AB", "BA")]
    keys = list(dict.fromkeys(keys))
    asked = [k for k in keys if rng.random() < 0.7] + _words(rng, 300) + ["", "p" * 8 + "C" + "s" * 8]
    rng.shuffle(asked)
    for tail in ([], ["x" * 3]):  # the last string at the very end of its buffer, or not
        strings = pa.array(asked + tail, pa.large_string())
        offsets, data, _ = string_buffers(strings)
        found = owner_keys.accounts_found(_table(keys), offsets, data)
        index = {k: i for i, k in enumerate(keys)}
        assert found.tolist() == [index.get(s, -1) for s in asked + tail]


def test_a_new_key_table_gets_its_own_word_table() -> None:
    first, second = _table(["a", "b"]), _table(["b", "a"])
    offsets, data, _ = string_buffers(pa.array(["a", "b", "c"], pa.large_string()))
    assert owner_keys.accounts_found(first, offsets, data).tolist() == [0, 1, -1]
    assert owner_keys.accounts_found(second, offsets, data).tolist() == [1, 0, -1]


def forged_slots(key: str, asked: str) -> tuple[np.ndarray, ...]:
    """A table of 16 slots holding ``key`` in the slot of ``asked``'s hash (its top bits as ``asked``'s): its slots and
    words, and the buffers of the key and of the strings asked (``asked``, then ``key``)."""
    k_off, k_data, _ = string_buffers(pa.array([key], pa.large_string()))
    a_off, a_data, _ = string_buffers(pa.array([asked, key], pa.large_string()))
    _, words = owner_keys._word_table(k_off, k_data)
    x = int(owner_keys._word_key(a_off, a_data, 0)[0])
    slots = np.zeros(16, np.uint64)
    slots[x & 15] = np.uint64(((x >> 32) << 32) | 1)
    return slots, words, k_off, k_data, a_off, a_data


@pytest.mark.parametrize(("key", "asked"), [
    ("abcdefgh1", "abcdefgh2"),  # 9 bytes: the same first word, another last one
    ("1bcdefghij", "2bcdefghij"),  # the same last word, another first one
    ("abc", "abd"),  # fewer than 8 bytes
    ("p" * 8 + "A" + "s" * 8, "p" * 8 + "B" + "s" * 8),  # longer than 16: the same words, compared byte by byte
])
def test_a_forged_hash_match_is_told_apart_by_the_key(key: str, asked: str) -> None:
    """Two strings whose hashes' top bits meet in one slot (forged: the key is placed where the asked string's hash
    points) are still told apart by their lengths and words, or by their bytes beyond 16."""
    slots, words, k_off, k_data, a_off, a_data = forged_slots(key, asked)
    found = _find_words(slots, words, k_off, k_data, a_off, a_data)
    assert found[0] == -1


@njit(cache=True)
def _find_words(slots: np.ndarray, words: np.ndarray, key_offsets: np.ndarray, key_bytes: np.ndarray,
                offsets: np.ndarray, data: np.ndarray) -> np.ndarray:
    """Per string, the number of the key equal to it in ``_word_table``'s table (the words read from their own
    array), or -1: the probe ``_find_entries`` replaced in ``accounts_found``, kept as the reference it is tested
    against (the same answers for every string)."""
    out = np.full(offsets.shape[0] - 1, -1, np.int64)
    mask = np.uint64(slots.shape[0] - 1)
    for i in range(out.shape[0]):
        x, n, w0, w1 = owner_keys._word_key(offsets, data, i)
        top, s = x >> np.uint64(32), x & mask
        while slots[s] != 0:
            v = slots[s]
            if (v >> np.uint64(32)) == top:
                j = np.intp(v & np.uint64(0xFFFFFFFF)) - 1
                if words[j, 0] == np.uint64(n) and words[j, 1] == w0 and words[j, 2] == w1 and (
                        n <= 16 or same_bytes(key_bytes, key_offsets[j], data, offsets[i], n)):  # type: ignore[arg-type]
                    out[i] = j
                    break
            s = (s + np.uint64(1)) & mask
    return out
