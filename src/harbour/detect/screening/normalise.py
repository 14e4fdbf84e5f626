"""Name normalisation for screening: script transliteration, honorifics and company suffixes, and a
romanisation-insensitive skeleton of each token.

    >>> tokens("H.E. Sheikh Mohammed bin Rashid Al-Maktoum")
    ['muhamad', 'bin', 'rashid', 'maktum']
    >>> tokens("Роснефть ООО")
    ['rosneft']

Everything here is our own table; nothing is downloaded.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# --- scripts ---------------------------------------------------------------------------------------------

# Russian/Ukrainian Cyrillic, roughly BGN/PCGN; the skeleton below absorbs the other romanisations.
_CYRILLIC = {
    "а": "a",
    "б": "b",
    "в": "v",
    "г": "g",
    "д": "d",
    "е": "e",
    "ё": "e",
    "ж": "zh",
    "з": "z",
    "и": "i",
    "й": "y",
    "к": "k",
    "л": "l",
    "м": "m",
    "н": "n",
    "о": "o",
    "п": "p",
    "р": "r",
    "с": "s",
    "т": "t",
    "у": "u",
    "ф": "f",
    "х": "kh",
    "ц": "ts",
    "ч": "ch",
    "ш": "sh",
    "щ": "shch",
    "ъ": "",
    "ы": "y",
    "ь": "",
    "э": "e",
    "ю": "yu",
    "я": "ya",
    "і": "i",
    "ї": "yi",
    "є": "ye",
    "ґ": "g",
    "ў": "u",
}
_GREEK = {
    "α": "a",
    "β": "v",
    "γ": "g",
    "δ": "d",
    "ε": "e",
    "ζ": "z",
    "η": "i",
    "θ": "th",
    "ι": "i",
    "κ": "k",
    "λ": "l",
    "μ": "m",
    "ν": "n",
    "ξ": "x",
    "ο": "o",
    "π": "p",
    "ρ": "r",
    "σ": "s",
    "ς": "s",
    "τ": "t",
    "υ": "y",
    "φ": "f",
    "χ": "ch",
    "ψ": "ps",
    "ω": "o",
}
# Letters that NFKD does not decompose into ASCII.
_LATIN_EXTRA = {"ß": "ss", "æ": "ae", "ø": "o", "œ": "oe", "đ": "d", "ł": "l", "ı": "i", "þ": "th", "ð": "d"}
_SCRIPT_TABLE = str.maketrans({**_CYRILLIC, **_GREEK, **_LATIN_EXTRA})

# --- words that do not identify anyone ---------------------------------------------------------------------

HONORIFICS = frozenset(
    [
        "mr",
        "mrs",
        "ms",
        "miss",
        "mx",
        "dr",
        "prof",
        "professor",
        "sir",
        "dame",
        "lord",
        "lady",
        "sheikh",
        "shaikh",
        "sheik",
        "cheikh",
        "haji",
        "hajji",
        "hadji",
        "his",
        "excellency",
        "hon",
        "honourable",
        "honorable",
        "rev",
        "reverend",
        "fr",
        "father",
        "gen",
        "general",
        "col",
        "colonel",
        "maj",
        "major",
        "capt",
        "captain",
        "lt",
        "admiral",
        "imam",
        "mullah",
        "ayatollah",
        "emir",
        "amir",
        "prince",
        "princess",
        "king",
        "queen",
        "sayyid",
        "jr",
        "sr",
        "esq",
        "phd",
        "md",
        "mme",
        "mlle",
        "herr",
        "frau",
        "senor",
        "sr",
        "sra",
        "don",
        "dona",
    ]
)
COMPANY_SUFFIXES = frozenset(
    [
        "ltd",
        "limited",
        "llc",
        "llp",
        "lp",
        "inc",
        "incorporated",
        "corp",
        "corporation",
        "co",
        "company",
        "plc",
        "gmbh",
        "ag",
        "sa",
        "sas",
        "sarl",
        "srl",
        "spa",
        "bv",
        "nv",
        "oy",
        "ab",
        "as",
        "asa",
        "kk",
        "kg",
        "kgaa",
        "pte",
        "pty",
        "bhd",
        "sdn",
        "jsc",
        "ojsc",
        "cjsc",
        "pjsc",
        "ooo",
        "oao",
        "zao",
        "pao",
        "ao",
        "tov",
        "fze",
        "fzco",
        "fzc",
        "fzllc",
        "dmcc",
        "group",
        "holding",
        "holdings",
        "international",
        "intl",
        "trading",
        "enterprises",
        "enterprise",
        "the",
    ]
)
# CJK and other suffixes written without spaces; removed from the end of the raw string.
_RAW_SUFFIXES = ("有限责任公司", "股份有限公司", "有限公司", "株式会社", "公司", "集团")
# Particles of Arabic and other names that romanisations keep, drop or glue on.
PARTICLES = frozenset({"al", "el", "ul", "ad", "ed", "ash", "as", "ar", "az", "de", "da", "di", "van", "von", "der"})

# Equivalent romanisations of common given names: every spelling maps to one canonical token.
_VARIANT_GROUPS = (
    "muhammad mohammed mohammad mohamed mohamad muhammed mohammod mehmet mahomed muhamad mohamud",
    "ahmad ahmed achmed ahmet",
    "mahmud mahmoud mahmood",
    "abdullah abdallah abdulla abdalla",
    "abd abdul abdel abdal abdoul",
    "husayn hussein hussain husain hossein hosein",
    "hasan hassan hassen",
    "usama osama oussama",
    "umar omar omer",
    "yusuf yousef youssef yousuf yusef joussef",
    "ibrahim ebrahim ibraheem",
    "mustafa mostafa moustafa mustapha",
    "khalid khaled",
    "said saeed sayed saied",
    "abu abou",
    "bin ibn ben",
    "aleksandr alexander alexandr aleksander alexandre oleksandr",
    "aleksey alexei alexey aleksei oleksiy",
    "sergey sergei serguei serhiy",
    "yuri yury iouri jurij yuriy",
    "dmitry dmitri dmitriy dmitrii",
    "mikhail michail mykhailo",
    "andrey andrei andriy",
    "nikolay nikolai mykola",
    "yevgeny evgeny evgeniy yevgeniy evgeni",
    "vladimir volodymyr wladimir",
    "igor ihor",
    "tatyana tatiana tetiana",
    "natalya natalia nataliya",
    "olga olha",
    "pyotr petr piotr",
    "fyodor fedor",
    "zhang chang",
    "xi hsi",
)
NAME_VARIANTS: dict[str, str] = {spelling: group.split()[0] for group in _VARIANT_GROUPS for spelling in group.split()}

_SPLIT = re.compile(r"[^0-9a-z\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]+")
# Skeleton rules (order matters): romanisation differences of one sound collapse to one spelling.
_SKELETON_RULES = (
    ("ck", "k"),  # first: "ck" before "kh" would otherwise leave a stray "c"
    ("dzh", "j"),
    ("dj", "j"),
    ("zh", "j"),
    ("tsch", "ch"),
    ("tch", "ch"),
    ("sch", "sh"),
    ("kh", "h"),
    ("ph", "f"),
    ("dh", "d"),
    ("gh", "g"),
    ("th", "t"),
    ("q", "k"),
    ("w", "v"),
    ("x", "ks"),
    ("y", "i"),
    ("ou", "u"),
    ("ee", "i"),
    ("oo", "u"),
    ("ue", "u"),
    ("oe", "o"),
    ("ae", "a"),
    ("ie", "i"),
    ("ei", "i"),
    ("ci", "si"),
    ("ce", "se"),
    ("ch", "\x00"),
    ("c", "k"),
    ("\x00", "ch"),
)
_DOUBLES = re.compile(r"(.)\1+")


def fold(text: str) -> str:
    """Lower-case ASCII-ish text: Cyrillic and Greek transliterated, accents removed, CJK kept."""
    # Accents go first (Greek tonos, Cyrillic breve), so the script table sees base letters only.
    decomposed = unicodedata.normalize("NFKD", text).lower()
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return bare.replace("ου", "ou").translate(_SCRIPT_TABLE)


@lru_cache(maxsize=200_000)
def skeleton(token: str) -> str:
    """A romanisation-insensitive spelling of one token: ``skeleton("Mikhailov") == skeleton("Michaylov")``."""
    if not token.isascii() or len(token) == 1:
        return token
    token = NAME_VARIANTS.get(token, token)
    for old, new in _SKELETON_RULES:
        if old in token:
            token = token.replace(old, new)
    return _DOUBLES.sub(r"\1", token)


def _strip_raw_suffixes(text: str) -> str:
    text = text.strip()
    changed = True
    while changed:
        changed = False
        for suffix in _RAW_SUFFIXES:
            if text.endswith(suffix) and len(text) > len(suffix):
                text, changed = text[: -len(suffix)].strip(), True
    return text


_HIS_EXCELLENCY = re.compile(r"\bh\s*\.\s*e\s*\.", re.IGNORECASE)


def raw_tokens(name: str) -> list[str]:
    """Folded tokens before any dropping; initials written ``J.R.`` become ``j r``."""
    # "H.E." would otherwise become two initials (and "He" is also a surname, so it is not a plain honorific).
    name = _HIS_EXCELLENCY.sub(" ", name)
    return [t for t in _SPLIT.split(fold(_strip_raw_suffixes(name))) if t]


@lru_cache(maxsize=200_000)
def tokens(name: str) -> list[str]:
    """The identifying tokens of a name, as skeletons, in their written order.

    Honorifics and company suffixes are dropped, and so are particles such as ``al``; if nothing
    would remain, the name is kept whole (a company called "Holding Co" still has a name).
    """
    return [skel for skel, _ in token_pairs(name)]


@lru_cache(maxsize=200_000)
def token_pairs(name: str) -> tuple[tuple[str, str], ...]:
    """``(skeleton, folded spelling)`` of each identifying token. The skeleton absorbs romanisations but
    can magnify a typo (a slip next to "kh" or a doubled letter), so scores also compare the spelling."""
    raw = raw_tokens(name)
    kept = [t for t in raw if t not in HONORIFICS and t not in COMPANY_SUFFIXES and t not in PARTICLES]
    if not kept:
        kept = [t for t in raw if t not in HONORIFICS] or raw
    out: list[tuple[str, str]] = []
    for t in kept:
        parts = _split_glued(skeleton(t))
        # a glued name split in two has no spelling of its own for each half: use the halves
        out.extend((p, p) for p in parts) if len(parts) > 1 else out.append((parts[0], t))
    return tuple(out)


_GLUED_ABD = re.compile(r"^abd(?:al|el|ul|ol|u|a)?(?=[a-z]{4,}$)")
_NOT_GLUED = frozenset({"abdulah", "abdalah"})  # Abdullah is a name of its own


def _split_glued(token: str) -> tuple[str, ...]:
    # "Abdelrahman" and "Abdul Rahman" are one name written two ways: split the glued form.
    match = _GLUED_ABD.match(token)
    if match is None or token in _NOT_GLUED:
        return (token,)
    return ("abd", token[match.end() :])


def canonical(name: str) -> str:
    """The tokens joined by spaces: the form that lists and queries are compared in."""
    return " ".join(tokens(name))
