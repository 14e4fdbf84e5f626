"""Name matching: each kind of variant on its own, look-alike non-matches, and quality on a generated set."""

from __future__ import annotations

import collections

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harbour.detect.screening.matching import DEFAULT_THRESHOLD, NameIndex, score_names
from harbour.detect.screening.normalise import canonical, tokens
from harbour.detect.screening.synthetic import VARIANT_KINDS, generate_list, variant_cases

T = DEFAULT_THRESHOLD

VARIANTS = {
    "typo": [("Vladimir Kuznetsov", "Vladimir Kuznetosv"), ("Golden Phoenix Trading", "Golden Pheonix Trading")],
    "swapped": [("Ivan Sergeyevich Petrov", "PETROV, Ivan Sergeyevich"), ("Kim Jong Un", "Un Jong Kim")],
    "initials": [("John Robert Smith", "J. R. Smith"), ("Mikhail Khodorkov", "M. Khodorkov")],
    "transliteration": [
        ("Muhammad Hussein", "Mohammed Hussain"),
        ("Aleksandr Dmitriyevich Volkov", "Alexander Dmitrievich Volkov"),
        ("Dmitriy Ivanov", "Дмитрий Иванов"),
        ("Yuri Gagarin", "Iouri Gagarine"),
        ("Konstantinos Papadopoulos", "Κωνσταντίνος Παπαδόπουλος"),
        ("Abdul Rahman Al-Sayed", "Abdelrahman El Sayed"),
        ("Jürgen Müller", "Juergen Mueller"),
    ],
    "honorific": [("Mohammed bin Rashid", "H.E. Sheikh Mohammed bin Rashid"), ("Ali Khamenei", "Dr. Ali Khamenei")],
    "company_suffix": [
        ("Shenzhen Huawei Technologies Co., Ltd.", "Shenzhen Huawei Technologies"),
        ("Rosneft PJSC", "Роснефть ООО"),
        ("Golden River 有限公司", "Golden River Limited"),
    ],
}
NON_MATCHES = [
    ("John Smith", "Jane Smith"),
    ("Ivan Petrov", "Igor Petrov"),
    ("Ivan Petrov", "Ivan Petrosyan"),
    ("Golden River Ltd", "Silver River Ltd"),
    ("Muhammad Hussein", "Muhammad Hassanein Farouk"),
]


@pytest.mark.parametrize("kind", sorted(VARIANTS))
def test_each_variant_kind_scores_above_the_threshold(kind):
    for listed, written in VARIANTS[kind]:
        assert score_names(listed, written) >= T, (kind, listed, written, score_names(listed, written))


@pytest.mark.parametrize(("listed", "other"), NON_MATCHES)
def test_look_alikes_score_below_the_threshold(listed, other):
    assert score_names(listed, other) < T


def test_normalisation_drops_what_identifies_nobody():
    assert tokens("H.E. Sheikh Mohammed bin Rashid Al-Maktoum") == ["muhamad", "bin", "rashid", "maktum"]
    assert canonical("Shenzhen Huawei 有限公司") == canonical("SHENZHEN HUAWEI")
    assert canonical("Holding Co") != ""  # a name made only of suffix words is kept whole
    assert tokens("") == []


@given(st.text(max_size=60))
def test_normalisation_never_fails_and_is_stable(text):
    first = canonical(text)
    assert canonical(first) == canonical(canonical(first))
    same = score_names(text, text)
    assert 0.0 <= same <= 1.0
    if any(len(t) > 1 for t in tokens(text)):
        assert same >= 0.99  # a real name always matches itself (initials alone identify nobody)


@pytest.fixture(scope="module")
def generated():
    entries = generate_list(3000, seed=11)
    index = NameIndex((e.entry_id, e.name) for e in entries)
    return entries, index, variant_cases(entries, seed=12, per_kind=60, non_matches=200)


@pytest.mark.parametrize("kind", VARIANT_KINDS)
def test_generated_variants_of_each_kind_are_found(generated, kind):
    _, index, cases = generated
    rows = [(q, exp) for k, q, exp in cases if k == kind]
    assert len(rows) >= 40
    found = sum(any(m.entry_key == exp for m in index.search(q, T)) for q, exp in rows)
    # typos may hit the skeleton twice (e.g. a dropped letter next to a respelt one): a little lower floor
    assert found / len(rows) >= (0.93 if kind == "typo" else 0.97), (kind, found, len(rows))


def test_generated_set_recall_and_precision(generated):
    _, index, cases = generated
    counts = collections.Counter()
    for _kind, query, expected in cases:
        matches = index.search(query, T)
        if expected is None:
            counts["fp"] += len(matches)
            continue
        counts["positives"] += 1
        counts["tp"] += any(m.entry_key == expected for m in matches)
        counts["fp"] += sum(m.entry_key != expected for m in matches)
    recall = counts["tp"] / counts["positives"]
    precision = counts["tp"] / (counts["tp"] + counts["fp"])
    assert recall >= 0.98, counts
    assert precision >= 0.9, counts


def test_search_returns_one_match_per_entry_best_first():
    index = NameIndex([("e1", "Vladimir Putin"), ("e1", "Vladimir Vladimirovich Putin"), ("e2", "Putin Trading Ltd")])
    matches = index.search("Putin, Vladimir", T)
    assert [m.entry_key for m in matches] == ["e1"]
    assert matches[0].score == 1.0
    assert index.search("", T) == []
