"""Crypto addresses: one normal form per chain, so that a listed address matches however it was written.

    >>> normalise_address("eth", "0xABCdef0123456789abcdef0123456789ABCDEF01")
    'eth:0xabcdef0123456789abcdef0123456789abcdef01'
    >>> normalise_address("btc", "BC1QAR0SRRR7XFKVY5L643LYDNW9RE59GTZZWF5MDQ")
    'btc:bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq'

EVM chains share one address space (hex, case is only a checksum), bech32 is case-insensitive but
written in one case, base58 (legacy Bitcoin, Tron, Solana) is case-sensitive and kept as written.
"""

from __future__ import annotations

import re

from harbour.core.errors import Invalid

EVM_CHAINS = frozenset({"eth", "bsc", "polygon", "arbitrum", "optimism", "base", "avax"})
CHAIN_ALIASES = {
    "ethereum": "eth", "erc20": "eth", "bitcoin": "btc", "xbt": "btc", "tron": "trx", "trc20": "trx",
    "litecoin": "ltc", "solana": "sol", "bnb": "bsc", "matic": "polygon", "bitcoin_cash": "bch",
}
KNOWN_CHAINS = frozenset({"eth", "btc", "trx", "ltc", "sol", "bsc", "polygon", "arbitrum", "optimism", "base",
                          "avax", "bch", "xrp", "doge"})

_HEX40 = re.compile(r"^(?:0x)?([0-9a-fA-F]{40})$")
_BASE58 = re.compile(r"^[1-9A-HJ-NP-Za-km-z]+$")
_BECH32 = re.compile(r"^(bc|tb|ltc|tltc)1[02-9ac-hj-np-z]{6,87}$")
_TRON = re.compile(r"^T[1-9A-HJ-NP-Za-km-z]{33}$")


def canonical_chain(chain: str) -> str:
    name = chain.strip().lower()
    return CHAIN_ALIASES.get(name, name)


def normalise_address(chain: str, address: str) -> str:
    """``chain:address`` in the chain's normal form; raises Invalid naming the problem."""
    chain = canonical_chain(chain)
    raw = address.strip()
    if not chain or not raw:
        raise Invalid("an address needs a chain and a value, e.g. eth:0xabc…", field="address")
    if chain in EVM_CHAINS:
        match = _HEX40.match(raw)
        if not match:
            raise Invalid(f"{chain} address {raw!r} is not 40 hex digits (with or without 0x)", field="address")
        return f"{chain}:0x{match.group(1).lower()}"
    if chain in {"btc", "ltc"}:
        if _BECH32.match(raw.lower()) and (raw == raw.lower() or raw == raw.upper()):
            return f"{chain}:{raw.lower()}"
        if _BASE58.match(raw) and 25 <= len(raw) <= 35:
            return f"{chain}:{raw}"
        raise Invalid(f"{chain} address {raw!r} is neither bech32 nor base58", field="address")
    if chain == "trx":
        match = _HEX40.match(raw[2:]) if raw.lower().startswith("41") and len(raw) == 42 else None
        if match:  # hex form of a Tron address: keep it distinct but normalised
            return f"trx:41{match.group(1).lower()}"
        if not _TRON.match(raw):
            raise Invalid(f"tron address {raw!r} is not a base58 address starting with T (34 characters)",
                          field="address")
        return f"trx:{raw}"
    if chain == "bch" and raw.lower().startswith("bitcoincash:"):
        return f"bch:{raw.split(':', 1)[1].lower()}"
    # Other chains: base58 and similar encodings are case-sensitive, so only trim.
    return f"{chain}:{raw}"


def split_party(party: str) -> tuple[str, str] | None:
    """``("eth", "0x…")`` for a chain party such as ``eth:0x…``; ``None`` for a venue account."""
    if ":" not in party:
        return None
    prefix, value = party.split(":", 1)
    chain = canonical_chain(prefix)
    if chain not in KNOWN_CHAINS:
        return None
    return chain, value


def normalise_party(party: str) -> str | None:
    """The normal form of a chain party (``None`` for venue accounts or malformed addresses)."""
    parts = split_party(party)
    if parts is None:
        return None
    try:
        return normalise_address(*parts)
    except Invalid:
        return None
