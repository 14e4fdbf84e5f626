"""``owner_keys.accounts_found`` probes ``_entry_table`` (each key's length and words in its slot, slots asked for
``_AHEAD`` strings early) where it probed ``_word_table``'s slots and a words array of their own (``_find_words``):
the answers must be the old probe's for every string. Checked

- on random keys and asked strings of every length from 0 to 24 bytes (unicode, the empty string, known and
  unknown, repeated as a partition's legs repeat their accounts), in calls shorter and longer than ``_AHEAD``;
- on forged tables where every key sits in one run of slots under the asked string's own hash bits, so that each
  probe meets every key and only lengths, words and bytes tell them apart (keys sharing first and last words);
- on generated markets: every leg's owner code (``frames.leg_owners``) and every market detector's alerts are those
  of the old probe, with accounts missing from the accounts table, customers owning several accounts and
  self-trades.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

import harbour.detect.market.owner_keys as owner_keys
from harbour.data.arrow_strings import string_buffers
from harbour.detect.market import frames
from harbour.detect.market import scenario_incidents as si
from harbour.detect.market.scenarios import ScenarioMarket

from .conftest import VENUES, run_all
from .test_owner_word_table import _find_words, _table


def _old(table: tuple[np.ndarray, ...], offsets: np.ndarray, data: np.ndarray) -> np.ndarray:
    """The probe ``accounts_found`` made before: the word table's slots, then its words array."""
    slots, words = owner_keys._word_table(table[2], table[3])
    return _find_words(slots, words, table[2], table[3], offsets, data)  # type: ignore[no-any-return]


def _words(rng: np.random.Generator, n: int) -> list[str]:
    return ["".join(rng.choice(list("ab\u00e9XY0\u4e2d"), int(rng.integers(0, 25)))) for _ in range(n)]


@pytest.mark.parametrize("seed", range(8))
def test_the_answers_are_the_old_probes(seed: int) -> None:
    rng = np.random.default_rng(seed)
    keys = list(dict.fromkeys(_words(rng, int(rng.integers(1, 500)))
                              + [f"{'p' * 8}{m}{'s' * 8}" for m in ("A", "B", "AB", "BA")] + ["", "ACC00001"]))
    table = _table(keys)
    index = {k: i for i, k in enumerate(keys)}
    pool = [k for k in keys if rng.random() < 0.6] + _words(rng, 200) + ["p" * 8 + "C" + "s" * 8, "ACC00002"]
    for size in (0, 1, owner_keys._AHEAD - 1, owner_keys._AHEAD, owner_keys._AHEAD + 1, 3000):
        asked = [pool[int(p)] for p in rng.integers(0, len(pool), size)]  # repeats, as legs repeat accounts
        for tail in ([], ["x" * 3]):  # the last string at the very end of its buffer, or not
            offsets, data, _ = string_buffers(pa.array(asked + tail, pa.large_string()))
            found = owner_keys.accounts_found(table, offsets, data)
            assert found.tolist() == _old(table, offsets, data).tolist()
            assert found.tolist() == [index.get(s, -1) for s in asked + tail]


@pytest.mark.parametrize("seed", range(4))
def test_forged_collisions_are_told_apart_as_before(seed: int) -> None:
    """Every key placed in one run of slots from the asked string's slot, each under the asked string's top hash bits:
    the probe reaches each key's words (and, beyond 16 bytes, its bytes) and must take only the equal one."""
    rng = np.random.default_rng(100 + seed)
    keys = list(dict.fromkeys(_words(rng, 40) + ["abcdefgh1", "abcdefgh2", "1bcdefghij", "2bcdefghij", "abc", "abd",
                                                 "p" * 8 + "A" + "s" * 8, "p" * 8 + "B" + "s" * 8, ""]))
    k_off, k_data, _ = string_buffers(pa.array(keys, pa.large_string()))
    _, words = owner_keys._word_table(k_off, k_data)
    asked = keys[::3] + ["abcdefgh3", "3bcdefghij", "abe", "p" * 8 + "C" + "s" * 8, "p" * 8 + "AB" + "s" * 8]
    for a in asked:
        a_off, a_data, _ = string_buffers(pa.array([a], pa.large_string()))
        x = int(owner_keys._word_key(a_off, a_data, 0)[0])
        slots = np.zeros(128, np.uint64)
        at = x & 127
        for k in rng.permutation(len(keys)):  # one run of slots, in any order, wrapping round the table's end
            slots[at] = np.uint64(((x >> 32) << 32) | (int(k) + 1))
            at = (at + 1) & 127
        entries = owner_keys._entry_table(slots, words)
        new = owner_keys._find_entries(entries, k_off, k_data, a_off, a_data)
        old = _find_words(slots, words, k_off, k_data, a_off, a_data)
        assert new.tolist() == old.tolist() == [keys.index(a) if a in keys else -1], a


def _market(seed: int) -> ScenarioMarket:
    m = ScenarioMarket(seed=seed, venues=VENUES, trades_per_day=1500)
    si.wash_ring(m, ["W1", "W2"], m.at(3))  # a customer owning several accounts, trading among them
    si.self_trades(m, ["S1"], m.at(4))
    si.marking_the_close(m, "MC1", m.at(8))
    si.pump_and_dump(m, ["P1", "P2"], m.at(14))
    m.build()
    table = m.table
    accounts = table("accounts")
    # every seventh account missing from the accounts table: its legs are their own owners
    thinned = accounts.filter(pa.array(np.arange(accounts.num_rows) % 7 != 3))
    m.table = lambda name, venue=None: thinned if name == "accounts" else table(name, venue)  # type: ignore[method-assign]
    return m


def _legs(m: ScenarioMarket) -> list[list[int]]:
    out = []
    for venue in VENUES:
        coded = frames.leg_owners(m.partition(venue), venue)
        assert coded is not None
        out += [coded[0].tolist(), coded[1].tolist(), [coded[2]]]
    return out


@pytest.mark.parametrize("seed", [3, 9])
def test_a_generated_markets_legs_and_alerts_are_the_old_probes(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    m = _market(seed)
    new_legs, new_alerts = _legs(m), run_all(m)
    calls = []

    def old_probe(entries: np.ndarray, key_offsets: np.ndarray, key_bytes: np.ndarray, offsets: np.ndarray,
                  data: np.ndarray) -> np.ndarray:
        calls.append(offsets.shape[0] - 1)
        return _old((entries, entries, key_offsets, key_bytes), offsets, data)

    monkeypatch.setattr(owner_keys, "_find_entries", old_probe)
    frames._OWNED.clear()  # the first run's owners are kept for the frames they were looked up for
    assert _legs(m) == new_legs
    old_alerts = run_all(m)
    assert calls  # the detectors looked their accounts up through the old probe
    for name, alerts in new_alerts.items():
        assert alerts.equals(old_alerts[name]), name
    assert sum(a.num_rows for a in new_alerts.values())
