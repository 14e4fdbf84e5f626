"""Fictitious watch lists and name variants, generated from our own word lists (nothing is downloaded).

Used by the demo (a fictitious sanctions list), by the quality tests (each kind of variant, and
look-alike non-matches) and by the screening benchmark (a 100k-entry list)::

    entries = generate_list(1000, seed=7)
    cases = variant_cases(entries, seed=7)   # [(kind, query, entry_id or None)]
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from rapidfuzz.distance import OSA

from harbour.detect.screening.normalise import tokens

FIRST_NAMES = [
    "john",
    "robert",
    "james",
    "michael",
    "david",
    "william",
    "richard",
    "thomas",
    "charles",
    "daniel",
    "peter",
    "paul",
    "mark",
    "george",
    "edward",
    "maria",
    "anna",
    "elena",
    "sofia",
    "laura",
    "claire",
    "helen",
    "sarah",
    "julia",
    "emma",
    "olivia",
    "grace",
    "alice",
    "irene",
    "nadia",
    "muhammad",
    "ahmad",
    "mahmud",
    "abdullah",
    "husayn",
    "hasan",
    "usama",
    "umar",
    "yusuf",
    "ibrahim",
    "mustafa",
    "khalid",
    "said",
    "ali",
    "karim",
    "tariq",
    "bilal",
    "hamza",
    "faisal",
    "nasser",
    "rashid",
    "samir",
    "walid",
    "ziad",
    "jamal",
    "farid",
    "aleksandr",
    "aleksey",
    "sergey",
    "yuri",
    "dmitry",
    "mikhail",
    "andrey",
    "nikolay",
    "yevgeny",
    "vladimir",
    "igor",
    "boris",
    "oleg",
    "tatyana",
    "natalya",
    "olga",
    "svetlana",
    "irina",
    "pyotr",
    "fyodor",
    "anatoly",
    "gennady",
    "konstantin",
    "wei",
    "ming",
    "jian",
    "hui",
    "lei",
    "hong",
    "jun",
    "fang",
    "kenji",
    "hiroshi",
    "takeshi",
    "yuki",
    "min",
    "seo",
    "jin",
    "carlos",
    "jose",
    "luis",
    "miguel",
    "juan",
    "pedro",
    "diego",
    "javier",
    "fernando",
    "ricardo",
    "lucia",
    "carmen",
    "pablo",
    "hans",
    "klaus",
    "jurgen",
    "stefan",
    "wolfgang",
    "franz",
    "pierre",
    "jacques",
    "louis",
    "henri",
]

# Surnames are built from syllables, so a 100k list has tens of thousands of distinct ones (as real lists do).
_ONSETS = [
    "b",
    "br",
    "ch",
    "d",
    "dr",
    "f",
    "g",
    "gr",
    "h",
    "k",
    "kh",
    "l",
    "m",
    "n",
    "p",
    "r",
    "s",
    "sh",
    "st",
    "t",
    "tr",
    "v",
    "z",
]
_VOWELS = ["a", "e", "i", "o", "u", "ai", "ou", "ia"]
_CODAS = ["", "", "n", "r", "s", "l", "k", "m", "v", "t"]
_ENDINGS = [
    "ov",
    "ev",
    "in",
    "enko",
    "sky",
    "ski",
    "son",
    "sen",
    "ez",
    "es",
    "ani",
    "oglu",
    "ashvili",
    "ian",
    "berg",
    "mann",
    "stein",
    "dottir",
    "ich",
    "ic",
]

COMPANY_WORDS = [
    "golden",
    "river",
    "ocean",
    "star",
    "crescent",
    "eastern",
    "northern",
    "pacific",
    "silk",
    "road",
    "phoenix",
    "dragon",
    "falcon",
    "eagle",
    "summit",
    "delta",
    "alpha",
    "orion",
    "atlas",
    "nova",
    "vertex",
    "horizon",
    "harbor",
    "bridge",
    "maple",
    "cedar",
    "jade",
    "pearl",
    "ruby",
    "sapphire",
    "titan",
    "zenith",
    "aurora",
    "meridian",
    "polar",
    "coral",
    "lotus",
    "tiger",
    "lion",
    "crown",
    "royal",
    "united",
    "global",
    "petro",
    "chem",
    "steel",
    "marine",
    "logistics",
    "shipping",
    "energy",
    "capital",
    "finance",
    "mining",
    "textile",
    "agro",
]
COMPANY_SUFFIXES = ("Ltd", "Limited", "LLC", "Inc", "GmbH", "Co.", "Corp", "PLC", "JSC", "有限公司")
HONORIFICS = ("Mr", "Mrs", "Dr", "Sheikh", "H.E.", "Prof.", "Sir", "Gen.")

# One alternative romanisation per listed spelling (our own table; see normalise.NAME_VARIANTS).
ROMANISATIONS = {
    "muhammad": ["Mohammed", "Mohamed", "Muhammed", "Mohammad"],
    "ahmad": ["Ahmed"],
    "mahmud": ["Mahmoud"],
    "abdullah": ["Abdallah"],
    "husayn": ["Hussein", "Hussain"],
    "hasan": ["Hassan"],
    "usama": ["Osama"],
    "umar": ["Omar"],
    "yusuf": ["Yousef", "Youssef"],
    "ibrahim": ["Ebrahim"],
    "mustafa": ["Mostafa"],
    "khalid": ["Khaled"],
    "said": ["Saeed"],
    "aleksandr": ["Alexander", "Alexandr"],
    "aleksey": ["Alexei"],
    "sergey": ["Sergei"],
    "yuri": ["Iouri", "Yury"],
    "dmitry": ["Dmitriy", "Dmitri"],
    "mikhail": ["Michail"],
    "andrey": ["Andrei"],
    "nikolay": ["Nikolai"],
    "yevgeny": ["Evgeny"],
    "tatyana": ["Tatiana"],
    "natalya": ["Natalia"],
    "pyotr": ["Petr"],
    "fyodor": ["Fedor"],
    "jurgen": ["Jürgen", "Juergen"],
}
# Latin -> Cyrillic for writing a name in Russian script (longest first).
_TO_CYRILLIC = (
    ("shch", "щ"),
    ("zh", "ж"),
    ("kh", "х"),
    ("ts", "ц"),
    ("ch", "ч"),
    ("sh", "ш"),
    ("yu", "ю"),
    ("ya", "я"),
    ("a", "а"),
    ("b", "б"),
    ("v", "в"),
    ("g", "г"),
    ("d", "д"),
    ("e", "е"),
    ("z", "з"),
    ("i", "и"),
    ("y", "й"),
    ("k", "к"),
    ("l", "л"),
    ("m", "м"),
    ("n", "н"),
    ("o", "о"),
    ("p", "п"),
    ("r", "р"),
    ("s", "с"),
    ("t", "т"),
    ("u", "у"),
    ("f", "ф"),
    ("h", "х"),
    ("c", "к"),
    ("j", "дж"),
    ("w", "в"),
    ("x", "кс"),
    ("q", "к"),
)
# Spelling changes that romanisations make without changing the name.
_RESPELLINGS = (("kh", "h"), ("ou", "u"), ("ph", "f"), ("v", "w"), ("i", "y"), ("k", "ck"), ("s", "ss"))

VARIANT_KINDS = ("exact", "typo", "swapped", "initials", "transliteration", "honorific", "company_suffix")


@dataclass(frozen=True)
class ListedName:
    entry_id: str
    name: str
    schema: str  # Person or Organization
    first: str = ""
    middle: str = ""
    last: str = ""
    country: str = ""


def surname(rng: random.Random) -> str:
    syllables = rng.choice((1, 2, 2, 3))
    stem = "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) + rng.choice(_CODAS) for _ in range(syllables))
    return (stem + (rng.choice(_ENDINGS) if rng.random() < 0.6 else "")).capitalize()


def generate_list(size: int, *, seed: int = 0, company_share: float = 0.2) -> list[ListedName]:
    """``size`` fictitious listed persons and companies with unique names."""
    rng = random.Random(seed)
    countries = ("RU", "IR", "KP", "SY", "AE", "CN", "HK", "TR", "VE", "BY", "GB", "US", "DE", "MM")
    seen: set[str] = set()
    out: list[ListedName] = []
    while len(out) < size:
        entry_id = f"fx-{seed}-{len(out):06d}"
        if rng.random() < company_share:
            words = rng.sample(COMPANY_WORDS, 2)
            if rng.random() < 0.8:
                words.append(surname(rng))
            name = " ".join(w.capitalize() for w in words) + " " + rng.choice(COMPANY_SUFFIXES)
            item = ListedName(entry_id, name, "Organization", country=rng.choice(countries))
        else:
            first, last = rng.choice(FIRST_NAMES).capitalize(), surname(rng)
            middle = rng.choice(FIRST_NAMES).capitalize() if rng.random() < 0.3 else ""
            name = " ".join(p for p in (first, middle, last) if p)
            item = ListedName(entry_id, name, "Person", first, middle, last, rng.choice(countries))
        identity = " ".join(sorted(tokens(name)))  # "X Ltd" and "X Limited" are one name
        if identity not in seen:
            seen.add(identity)
            out.append(item)
    return out


# --- variants of a listed name ------------------------------------------------------------------------------


def typo(word: str, rng: random.Random) -> str:
    """One keyboard slip inside the word (never its first letter): swap, drop, double or replace."""
    if len(word) < 5:
        return word + word[-1]
    i = rng.randrange(1, len(word) - 1)
    kind = rng.choice(("swap", "drop", "double", "replace"))
    if kind == "swap":
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if kind == "drop":
        return word[:i] + word[i + 1 :]
    if kind == "double":
        return word[:i] + word[i] + word[i:]
    return word[:i] + rng.choice("aeioulnrst") + word[i + 1 :]


def to_cyrillic(text: str) -> str:
    out, low, i = [], text.lower(), 0
    while i < len(low):
        for latin, cyr in _TO_CYRILLIC:
            if low.startswith(latin, i):
                out.append(cyr)
                i += len(latin)
                break
        else:
            out.append(low[i])
            i += 1
    return "".join(out).title()


def transliterate(item: ListedName, rng: random.Random) -> str:
    """Another romanisation of the name, or the name in Cyrillic script."""
    first_key = item.first.lower()
    if first_key in ROMANISATIONS and rng.random() < 0.6:
        return " ".join(p for p in (rng.choice(ROMANISATIONS[first_key]), item.middle, item.last) if p)
    if rng.random() < 0.4:
        return to_cyrillic(item.name)
    last = item.last
    for old, new in rng.sample(_RESPELLINGS, len(_RESPELLINGS)):
        if old in last.lower():
            last = last.lower().replace(old, new, 1).capitalize()
            break
    else:
        return to_cyrillic(item.name)
    return " ".join(p for p in (item.first, item.middle, last) if p)


def variant(item: ListedName, kind: str, rng: random.Random) -> str | None:
    """A way customers' records write the listed name; ``None`` if the kind does not apply to this entry."""
    person = item.schema == "Person"
    if kind == "exact":
        return item.name
    if kind == "typo":
        parts = item.name.split()
        longest = max(range(len(parts)), key=lambda k: len(parts[k]) if parts[k].isalpha() else 0)
        parts[longest] = typo(parts[longest], rng)
        return " ".join(parts)
    if kind == "company_suffix":
        if person:
            return None
        base = item.name.rsplit(" ", 1)[0]
        return f"{base} {rng.choice([s for s in COMPANY_SUFFIXES if not item.name.endswith(s)])}"
    if not person:
        return None
    if kind == "swapped":
        return f"{item.last.upper()}, {' '.join(p for p in (item.first, item.middle) if p)}"
    if kind == "initials":
        initials = " ".join(f"{p[0]}." for p in (item.first, item.middle) if p)
        return f"{initials} {item.last}"
    if kind == "transliteration":
        return transliterate(item, rng)
    if kind == "honorific":
        return f"{rng.choice(HONORIFICS)} {item.name}"
    raise ValueError(f"unknown variant kind {kind!r}; choose one of {', '.join(VARIANT_KINDS)}")


def look_alike(item: ListedName, rng: random.Random, taken: set[str]) -> str | None:
    """A different person or company whose name resembles the listed one (shares a name, not the identity)."""
    for _ in range(20):
        if item.schema == "Person":
            if rng.random() < 0.5:
                other = rng.choice(FIRST_NAMES)
                if OSA.normalized_similarity(other, item.first.lower()) > 0.4 or other[0] == item.first[0].lower():
                    continue
                name = " ".join(p for p in (other.capitalize(), item.middle, item.last) if p)
            else:
                other = surname(rng)
                if OSA.normalized_similarity(other.lower(), item.last.lower()) > 0.5:
                    continue
                name = " ".join(p for p in (item.first, item.middle, other) if p)
        else:
            words = item.name.split()
            other = rng.choice(COMPANY_WORDS)
            if other in item.name.lower():
                continue
            words[0] = other.capitalize()
            name = " ".join(words)
        if " ".join(sorted(tokens(name))) not in taken:
            return name
    return None


def variant_cases(
    entries: list[ListedName], *, seed: int = 0, per_kind: int = 200, non_matches: int = 600
) -> list[tuple[str, str, str | None]]:
    """``(kind, query, expected entry id)`` rows: ``per_kind`` of each variant kind, then look-alike
    non-matches whose expected id is ``None``."""
    rng = random.Random(seed)
    cases: list[tuple[str, str, str | None]] = []
    for kind in VARIANT_KINDS:
        pool = [e for e in entries if (e.schema == "Organization") == (kind == "company_suffix")]
        if kind in ("exact", "typo"):
            pool = entries
        for item in rng.sample(pool, min(per_kind, len(pool))):
            query = variant(item, kind, rng)
            if query is not None:
                cases.append((kind, query, item.entry_id))
    taken = {" ".join(sorted(tokens(e.name))) for e in entries}
    for item in rng.sample(entries, min(non_matches, len(entries))):
        query = look_alike(item, rng, taken)
        if query is not None:
            cases.append(("non_match", query, None))
    return cases
