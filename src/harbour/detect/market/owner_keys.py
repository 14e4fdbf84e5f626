"""A compiled hash table of an owner map's keys (``venue:account`` -> owner id), for screens that look accounts up on
Arrow string buffers before any frame is built.

``owner_lookup`` reads a map (``frames.owner_map``) into an open-addressing table of its keys once per map;
``venue_codes`` numbers a column's venues and ``find_keys`` finds each ``venue:account`` pair's key in the table,
hashing and comparing the bytes in place, without building the keys' strings. cross_venue's ``_owner_codes`` names
every leg's owner with them; the screens of one venue's book-day (pump_and_dump, marking_the_close, wash_trade) code
each trade leg's owner with ``leg_codes`` (a map of one venue, keyed by bare accounts), and ``frames.with_owner`` names
each leg's owner with ``owner_names``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

from harbour.data.arrow_strings import load_u64, same_bytes, string_buffers

# The last owner maps read into hash tables (``owner_lookup``), keyed by the map's id (a reference to the map is
# kept, so its id stays its own): ``frames.owner_map`` hands every partition of a task the same map. Room for the
# map of every venue and the all-venue one (pump_and_dump reads a venue's map, cross_venue the all-venue one).
_LOOKUPS: dict[int, tuple[pl.DataFrame, Any]] = {}


def owner_lookup(owners: pl.DataFrame) -> tuple[tuple[np.ndarray, ...], np.ndarray, dict[str, int]] | None:
    """The owner map (``venue:account`` -> owner id) as a hash table of its keys with an owner (``_key_table``), each
    key's owner code, and the owners' ids to their codes; None when a key is named twice."""
    found = _LOOKUPS.get(id(owners))
    if found is not None and found[0] is owners:
        return found[1]  # type: ignore[no-any-return]
    # a key named twice (with or without an owner) has no one owner: a join to the map would repeat its rows
    lookup = _key_lookup(owners) if owners["account"].drop_nulls().is_unique().all() else None
    if len(_LOOKUPS) >= 16:
        _LOOKUPS.clear()
    _LOOKUPS[id(owners)] = (owners, lookup)
    return lookup


def _key_lookup(owners: pl.DataFrame) -> tuple[tuple[np.ndarray, ...], np.ndarray, dict[str, int]] | None:
    """``owner_lookup``'s tables, read from a map whose keys are distinct."""
    named = owners.select("account", "owner").drop_nulls()
    # the owners numbered in order of first appearance, as Arrow's dictionary encoding numbers them: a Python loop
    # over the all-venue map's 60k keys took ~11.5 ms, this ~6 (once a map and worker)
    coded = pc.dictionary_encode(named["owner"].to_arrow())
    if isinstance(coded, pa.ChunkedArray):
        coded = coded.combine_chunks()
    ids = {owner: code for code, owner in enumerate(coded.dictionary.to_pylist())}
    code_of_key = coded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    keys = named["account"].to_arrow().cast(pa.large_string())
    offsets, data, _ = string_buffers(keys.combine_chunks() if isinstance(keys, pa.ChunkedArray) else keys)
    size = 1 << max(4, int(2 * named.height).bit_length())  # at most half full
    slots, hashes, distinct = _key_table(offsets, data, size)
    return ((slots, hashes, offsets, data), code_of_key, ids) if distinct else None


def account_owners(owners: pl.DataFrame, accounts: pa.Array) -> np.ndarray | None:
    """Per string of ``accounts`` (no nulls), a code of its owner under ``owners`` (account -> owner id, the map of one
    venue): equal codes for equal owner ids, and an account the map does not know is its own owner (as
    ``frames.with_owner`` names it, so it shares a code with a customer of that id; one code however often it comes).
    None when the map's columns are not text or it has a key twice."""
    if owners["account"].dtype != pl.String or owners["owner"].dtype != pl.String:
        return None
    lookup = owner_lookup(owners)
    if lookup is None:
        return None
    table, code_of_key, ids = lookup
    offsets, data, _ = string_buffers(accounts)
    found = accounts_found(table, offsets, data)
    code = code_of_key[np.maximum(found, 0)] if code_of_key.size else np.zeros(found.size, np.int64)
    unknown = np.flatnonzero(found < 0)
    if unknown.size:
        coded = pc.dictionary_encode(accounts.take(pa.array(unknown)))
        fresh, own = len(ids), []
        for account in coded.dictionary.to_pylist():
            known = ids.get(account)
            own.append(fresh if known is None else known)
            fresh += known is None
        code[unknown] = np.array(own, np.int64)[coded.indices.to_numpy()]
    return code


def leg_codes(owners: pl.DataFrame, legs: pa.Array) -> tuple[np.ndarray, int] | None:
    """``account_owners`` of every trade leg (``legs``: accounts, no nulls), numbered densely from 0 in the order of
    its codes, and how many codes there are: equal codes exactly for equal owner names as ``frames.with_owner`` writes
    them. Each leg is found in the map's word table (``accounts_found``: ~63 ns a leg on a bench book-day's 32k legs
    with the words beside the slots, ~24 with them in the slots and prefetched, over a run of every detector):
    dictionary-encoding the legs to find only the distinct accounts cost more (Arrow's hash, ~89 ns a leg)."""
    code = account_owners(owners, legs)
    if code is None:
        return None
    return dense_codes(code)


def dense_codes(code: np.ndarray) -> tuple[np.ndarray, int]:
    """Codes (none negative) numbered densely from 0 in their order, and how many there are."""
    dense, count = _dense(code, int(code.max(initial=-1)) + 1)
    return dense, int(count)


@njit(cache=True, nogil=True)
def _dense(code: np.ndarray, size: int) -> tuple[np.ndarray, int]:
    """Codes (0 to ``size`` - 1) numbered densely from 0 in their order, and how many there are: each used code's
    number is how many used codes come before it. One pass each way, where numpy's (the used codes marked, their
    running count by ``cumsum`` and gathered) took ~49 us for a book-day's 3k legs among 11k owners, ~13 so."""
    rank = np.zeros(size, np.int64)
    for c in code:
        rank[c] = 1
    total = 0
    for k in range(size):  # (without a branch: most owners of a venue trade on no one book-day)
        before = total
        total += rank[k]
        rank[k] = before
    out = np.empty(code.shape[0], np.int64)
    for i in range(code.shape[0]):
        out[i] = rank[code[i]]
    return out, total


_FNV_OFFSET, _FNV_PRIME = np.uint64(0xCBF29CE484222325), np.uint64(0x100000001B3)
_SPREAD = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing: the top bits of h times it pick the slot


@njit(cache=True, nogil=True)
def _fold(h: np.uint64, data: np.ndarray, a: int, z: int) -> np.uint64:
    """FNV-1a of the bytes ``data[a:z]`` carried on from ``h``: a key's hash is read in pieces (venue, colon,
    account) without building its string."""
    for p in range(a, z):
        h = (h ^ np.uint64(data[p])) * _FNV_PRIME
    return h


@njit(cache=True, nogil=True)
def _key_table(offsets: np.ndarray, data: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray, bool]:
    """An open-addressing table (``size`` slots, a power of two) of the strings ``offsets``/``data``: each slot the
    number of a string or -1, and each string's hash; False when a string comes twice."""
    slots = np.full(size, -1, np.int64)
    n = offsets.shape[0] - 1
    hashes = np.empty(n, np.uint64)
    shift = np.uint64(64 - int(np.log2(size)))
    for k in range(n):
        h = _fold(_FNV_OFFSET, data, offsets[k], offsets[k + 1])
        hashes[k] = h
        s = np.intp((h * _SPREAD) >> shift)
        while slots[s] >= 0:
            j = slots[s]
            if hashes[j] == h and offsets[j + 1] - offsets[j] == offsets[k + 1] - offsets[k] and \
                    same_bytes(data, offsets[j], data, offsets[k], offsets[k + 1] - offsets[k]):
                return slots, hashes, False
            s = (s + 1) & (size - 1)
        slots[s] = k
    return slots, hashes, True


@njit(cache=True, nogil=True)
def find_keys(slots: np.ndarray, hashes: np.ndarray, key_offsets: np.ndarray, key_bytes: np.ndarray,
               venue_offsets: np.ndarray, venue_bytes: np.ndarray, venue: np.ndarray, offsets: np.ndarray,
               data: np.ndarray, account: np.ndarray) -> np.ndarray:
    """Per pair of a ``venue`` string and an ``account`` string (their numbers among the strings ``venue_offsets``
    and ``venue_bytes``, ``offsets`` and ``data``): the number of the table's key equal to ``venue:account``, or -1
    when the table has no such key."""
    out = np.full(venue.shape[0], -1, np.int64)
    shift = np.uint64(64 - int(np.log2(slots.shape[0])))
    for i in range(venue.shape[0]):
        v, w = venue[i], account[i]
        va, vz, a, z = venue_offsets[v], venue_offsets[v + 1], offsets[w], offsets[w + 1]
        h = (_fold(_FNV_OFFSET, venue_bytes, va, vz) ^ np.uint64(58)) * _FNV_PRIME  # 58: the colon
        h = _fold(h, data, a, z)
        s = np.intp((h * _SPREAD) >> shift)
        while slots[s] >= 0:
            j = slots[s]
            ka = key_offsets[j]
            if (hashes[j] == h and key_offsets[j + 1] - ka == vz - va + 1 + z - a and key_bytes[ka + vz - va] == 58
                    and same_bytes(key_bytes, ka, venue_bytes, va, vz - va)
                    and same_bytes(key_bytes, ka + vz - va + 1, data, a, z - a)):
                out[i] = j
                break
            s = (s + 1) & (slots.shape[0] - 1)
    return out


# The entry tables of the last key tables (``accounts_found``), keyed by the id of the keys' offsets (a reference is
# kept, so the id stays its own): every partition of a task looks its legs up in the same venue's table.
_WORD_TABLES: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def accounts_found(table: tuple[np.ndarray, ...], offsets: np.ndarray, data: np.ndarray) -> np.ndarray:
    """Per string of ``offsets``/``data``, the number of the key table's (``owner_lookup``) key equal to it, or -1,
    found in a second table of the same keys (``_word_table``, laid out by ``_entry_table``), made once per key table:
    each slot holds the hash's top bits beside the key's number, and a key of 16 bytes or fewer is checked against its
    length and first and last words held in the slot itself. Probing the key table itself (its FNV hash byte by byte,
    then the key's slot, hash, offsets and bytes from four arrays) took 0.125-0.138 s for ten bench days' 2.49M trade
    legs, the words in an array of their own beside the slots 0.047-0.055 (same sitting, same answers for every leg).
    A partition meets the table cold (the kernels between two partitions evict it), so what a look-up costs is the
    cache lines it misses: the words in the slot make that one line a key, not two (ten bench days' 2.82M look-ups
    from every caller, caches flushed before each call: 0.100-0.114 s with the words apart, 0.075-0.082 in the slot,
    0.059-0.065 with the slots also asked for ahead (``_find_entries``); a small per-call table in front of the big
    one, filled on a miss, took 0.117-0.132: the repeats it saves were already cached, the first touches it cannot
    save are the cost). Inside a run of every detector over ten bench days (4.64M look-ups) the probe took
    0.145-0.154 s before, 0.106-0.114 now; on a table already cached (not the runs' case) it is slower, 0.042-0.045
    against 0.035-0.039, for its second pass over the strings."""
    key_offsets, key_bytes = table[2], table[3]
    found = _WORD_TABLES.get(id(key_offsets))
    if found is None or found[0] is not key_offsets:
        if len(_WORD_TABLES) >= 16:
            _WORD_TABLES.clear()
        found = (key_offsets, _entry_table(*_word_table(key_offsets, key_bytes)))
        _WORD_TABLES[id(key_offsets)] = found
    return _find_entries(found[1], key_offsets, key_bytes, offsets, data)  # type: ignore[no-any-return]


@njit(cache=True, nogil=True, inline="always")
def _word_key(offsets: np.ndarray, data: np.ndarray, i: int) -> tuple[np.uint64, np.intp, np.uint64, np.uint64]:
    """String i's hash, length and words: for 16 bytes or fewer its first and last 8 bytes (of fewer than 8, its
    bytes and zeros), which hold every byte, so two such strings are one exactly when their keys are; a longer one
    hashed byte by byte, with zero words (its bytes are compared)."""
    a, z = np.intp(offsets[i]), np.intp(offsets[i + 1])
    n = z - a
    w0 = w1 = np.uint64(0)
    if n > 16:
        w0 = _fold(_FNV_OFFSET, data, a, z)  # type: ignore[arg-type]
    elif n >= 8:
        w0 = load_u64(data, a)  # type: ignore[call-arg]
        w1 = load_u64(data, z - 8)  # type: ignore[call-arg]
    else:
        for q in range(a, z):
            w0 |= np.uint64(data[q]) << np.uint64(8 * (q - a))
    x = _word_mix(n, w0, w1)
    if n > 16:
        w0 = np.uint64(0)
    return x, n, w0, w1


@njit(cache=True, nogil=True, inline="always")
def _word_mix(n: np.intp, w0: np.uint64, w1: np.uint64) -> np.uint64:
    """``_word_key``'s hash of a string's length and words."""
    x = (w0 ^ (np.uint64(n) * _SPREAD)) * np.uint64(0xC2B2AE3D27D4EB4F)
    x ^= x >> np.uint64(29)
    x = (x ^ w1) * np.uint64(0x165667B19E3779F9)
    return x ^ (x >> np.uint64(32))  # type: ignore[no-any-return]


@njit(cache=True, nogil=True)
def _word_key_apart(offsets: np.ndarray, data: np.ndarray, i: int) -> tuple[np.uint64, np.intp, np.uint64, np.uint64]:
    """``_word_key`` as a call of its own, for the strings a hot loop does not read itself (see ``_find_entries``)."""
    return _word_key(offsets, data, i)


@njit(cache=True, nogil=True)
def _word_table(offsets: np.ndarray, data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The slots (a power of two, at most half full: 0 empty, else the hash's top 32 bits over the key's number + 1)
    and each key's length and words (``_word_key``) of distinct strings."""
    n = offsets.shape[0] - 1
    size = 16
    while size < 2 * n:
        size *= 2
    mask = np.uint64(size - 1)
    slots = np.zeros(size, np.uint64)
    words = np.zeros((n, 3), np.uint64)
    for k in range(n):
        x, m, w0, w1 = _word_key(offsets, data, k)
        words[k, 0], words[k, 1], words[k, 2] = np.uint64(m), w0, w1
        s = x & mask
        while slots[s] != 0:
            s = (s + np.uint64(1)) & mask
        slots[s] = ((x >> np.uint64(32)) << np.uint64(32)) | np.uint64(k + 1)
    return slots, words


@njit(cache=True, nogil=True)
def _entry_table(slots: np.ndarray, words: np.ndarray) -> np.ndarray:
    """``_word_table``'s slots with each key's length and words moved into its slot: per slot (same places, same
    probing) its slot value (0 empty, else the hash's top 32 bits over the key's number + 1), length, first and last
    words, 32 bytes side by side, so a look-up that finds its key at once reads one cache line."""
    entries = np.zeros((slots.shape[0], 4), np.uint64)
    for s in range(slots.shape[0]):
        v = slots[s]
        if v != 0:
            j = np.intp(v & np.uint64(0xFFFFFFFF)) - 1
            entries[s, 0], entries[s, 1], entries[s, 2], entries[s, 3] = v, words[j, 0], words[j, 1], words[j, 2]
    return entries


# How many strings ahead ``_find_entries`` asks for a string's slot: ten bench days' 2.82M look-ups, caches flushed
# before each call, took 0.071-0.084 s asking for none, 0.072-0.076 four ahead, 0.065-0.067 eight, 0.058-0.061 sixteen,
# 0.058-0.062 thirty-two (a slot is a miss to memory; sixteen in flight cover its wait).
_AHEAD = 16


@intrinsic
def _prefetch(typingctx: Any, array: Any, p: Any) -> Any:
    """Ask the CPU to bring element ``p`` of the one-dimensional ``array`` into its caches, without waiting for it
    (LLVM's prefetch: for reading, kept close)."""
    sig = types.void(array, types.intp)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        arr = context.make_array(signature.args[0])(context, builder, args[0])
        byte = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fn = builder.module.declare_intrinsic("llvm.prefetch", [byte], ir.FunctionType(ir.VoidType(),
                                                                                        [byte, i32, i32, i32]))
        address = builder.bitcast(builder.gep(arr.data, [args[1]]), byte)
        builder.call(fn, [address, ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return sig, codegen


@njit(cache=True, nogil=True)
def _find_entries(entries: np.ndarray, key_offsets: np.ndarray, key_bytes: np.ndarray, offsets: np.ndarray,
                  data: np.ndarray) -> np.ndarray:
    """``accounts_found``'s pass: per string, the number of the key equal to it in ``_entry_table``'s table, or -1
    (the answers of a probe of ``_word_table``'s own slots and words, the tests' reference; each slot's words read
    beside its value). The strings' hashes and words are taken first, so the slot of the string ``_AHEAD`` places
    on is asked for while this one is probed: the misses overlap.

    A string of 8 to 16 bytes (every account of the bench market) is read here, its two words loaded in the loop
    itself, and any other through a call (``_word_key_apart``); its words are kept for the probe, not read again.
    Through ``_word_key`` inlined (whose rarer paths hold a call and a loop), numba counted references to the
    strings' arrays at every string (calls to ``NRT_incref``/``NRT_decref`` in the loop, which its pruning of
    such pairs left in): ten bench days' 2.52M look-ups of front running, caches flushed before each call, took
    0.092-0.098 s so, against 0.025-0.026 now (interleaved in one process, least of 7 per partition)."""
    m = offsets.shape[0] - 1
    out = np.full(m, -1, np.int64)
    mask = np.uint64(entries.shape[0] - 1)
    hashes, first, last = np.empty(m, np.uint64), np.empty(m, np.uint64), np.empty(m, np.uint64)
    for i in range(m):
        a, z = np.intp(offsets[i]), np.intp(offsets[i + 1])
        if 8 <= z - a <= 16:
            w0: np.uint64 = load_u64(data, a)  # type: ignore[call-arg]
            w1: np.uint64 = load_u64(data, z - 8)  # type: ignore[call-arg]
            x = _word_mix(z - a, w0, w1)
        else:
            x, _, w0, w1 = _word_key_apart(offsets, data, i)
        hashes[i], first[i], last[i] = x, w0, w1
    flat = entries.reshape(-1)
    for i in range(min(_AHEAD, m)):
        _prefetch(flat, np.intp(hashes[i] & mask) * 4)  # type: ignore[call-arg]
    for i in range(m):
        if i + _AHEAD < m:
            _prefetch(flat, np.intp(hashes[i + _AHEAD] & mask) * 4)  # type: ignore[call-arg]
        x, w0, w1 = hashes[i], first[i], last[i]
        n = np.intp(offsets[i + 1]) - np.intp(offsets[i])
        top, s = x >> np.uint64(32), x & mask
        while entries[s, 0] != 0:
            v = entries[s, 0]
            if (v >> np.uint64(32)) == top and entries[s, 1] == np.uint64(n) and entries[s, 2] == w0 and \
                    entries[s, 3] == w1:
                j = np.intp(v & np.uint64(0xFFFFFFFF)) - 1
                if n <= 16 or same_bytes(key_bytes, key_offsets[j], data, offsets[i], n):  # type: ignore[arg-type]
                    out[i] = j
                    break
            s = (s + np.uint64(1)) & mask
    return out


def owner_names(table: tuple[np.ndarray, ...], owners: pa.Array, accounts: pa.Array) -> pa.Array:
    """Per string of ``accounts`` (no nulls): the owner ``owners`` holds for it (the owner of the table's key equal to
    it, ``owners`` in the table's key order), or the account itself when the table has no such key. Each row is looked
    up and the names are written in compiled passes, where dictionary-encoding the accounts, looking the distinct ones
    up and taking and coalescing Arrow strings cost ~2.2 ms for a bench partition's 7k trade legs."""
    owner_offsets, owner_bytes, _ = string_buffers(owners)
    offsets, data, _ = string_buffers(accounts)
    found = accounts_found(table, offsets, data)
    own = np.diff(offsets)
    lengths = np.where(found >= 0, np.diff(owner_offsets)[np.maximum(found, 0)] if len(owners) else 0, own)
    out_offsets = np.zeros(len(accounts) + 1, np.int64)
    np.cumsum(lengths, out=out_offsets[1:])
    out_bytes = np.empty(int(out_offsets[-1]), np.uint8)
    _write_names(found, owner_offsets, owner_bytes, offsets, data, out_offsets, out_bytes)
    return pa.Array.from_buffers(pa.large_string(), len(accounts), [None, pa.py_buffer(out_offsets),
                                                                    pa.py_buffer(out_bytes)])


@njit(cache=True, nogil=True)
def _write_names(found: np.ndarray, owner_offsets: np.ndarray, owner_bytes: np.ndarray, offsets: np.ndarray,
                 data: np.ndarray, out_offsets: np.ndarray, out_bytes: np.ndarray) -> None:
    """``owner_names``' copy: each row's name, its owner's or its own, at its place (``out_offsets``) in one buffer."""
    for i in range(found.shape[0]):
        j = found[i]
        if j >= 0:
            src, a, z = owner_bytes, owner_offsets[j], owner_offsets[j + 1]
        else:
            src, a, z = data, offsets[i], offsets[i + 1]
        at = out_offsets[i]
        for p in range(a, z):
            out_bytes[at + p - a] = src[p]


@njit(cache=True, nogil=True)
def venue_codes(offsets: np.ndarray, data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's string numbered in order of first appearance, and the first row of each (a few venues, rows in runs
    of one venue: each row is compared with the row before, then with the first row of each venue seen)."""
    n = offsets.shape[0] - 1
    codes = np.empty(n, np.int64)
    firsts = np.empty(n, np.int64)
    seen = 0
    for i in range(n):
        a, z = offsets[i], offsets[i + 1]
        if i and z - a == a - offsets[i - 1] and same_bytes(data, a, data, offsets[i - 1], z - a):
            codes[i] = codes[i - 1]
            continue
        codes[i] = -1
        for c in range(seen):
            f = firsts[c]
            if offsets[f + 1] - offsets[f] == z - a and same_bytes(data, offsets[f], data, a, z - a):
                codes[i] = c
                break
        if codes[i] < 0:
            firsts[seen] = i
            codes[i] = seen
            seen += 1
    return codes, firsts[:seen]
