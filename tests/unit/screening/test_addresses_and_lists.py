"""Crypto address normal forms per chain, and parsing of list files (with errors naming the row)."""

from __future__ import annotations

import pytest

from harbour.core.errors import Invalid
from harbour.detect.screening.addresses import normalise_address, normalise_party
from harbour.detect.screening.lists import parse_list

EVM = "0x7F367cC41522cE07553e823bf3be79A889DEbe1B"


@pytest.mark.parametrize(
    ("chain", "written", "normal"),
    [
        ("eth", EVM, "eth:" + EVM.lower()),
        ("ETH", EVM[2:].upper(), "eth:" + EVM.lower()),
        ("ethereum", EVM.lower(), "eth:" + EVM.lower()),
        ("bsc", EVM, "bsc:" + EVM.lower()),
        ("btc", "BC1QAR0SRRR7XFKVY5L643LYDNW9RE59GTZZWF5MDQ", "btc:bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"),
        ("bitcoin", "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", "btc:1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"),
        ("tron", " TQn9Y2khEsLJW1ChVWFMSMeRDow5KcbLSE ", "trx:TQn9Y2khEsLJW1ChVWFMSMeRDow5KcbLSE"),
    ],
)
def test_addresses_normalise_per_chain(chain, written, normal):
    assert normalise_address(chain, written) == normal


def test_base58_stays_case_sensitive():
    a = normalise_address("btc", "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa")
    assert a != normalise_address("btc", "1a1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa")


@pytest.mark.parametrize(("chain", "bad"), [("eth", "0x123"), ("btc", "bc1Qmixed"), ("trx", "Xabc"), ("eth", "")])
def test_malformed_addresses_are_invalid(chain, bad):
    with pytest.raises(Invalid):
        normalise_address(chain, bad)


def test_parties():
    assert normalise_party("eth:" + EVM) == "eth:" + EVM.lower()
    assert normalise_party("HBX:acc-1") is None


OPENSANCTIONS = (
    "id,schema,name,aliases,birth_date,countries,addresses,identifiers,sanctions,phones,emails,dataset,"
    "first_seen,last_seen,last_change\n"
    'NK-1,Person,Ivan Petrov,"Petrov Ivan;Иван Петров",1970-01-01,ru,,,"EU Regulation 269/2014",,,eu_fsf,'
    "2022-01-01,2026-01-01,2026-01-01\n"
    f"NK-2,CryptoWallet,{EVM},,,,,,OFAC SDN,,,us_ofac_sdn,2022-01-01,2026-01-01,2026-01-01\n"
)


def test_opensanctions_targets_simple():
    entries = parse_list(OPENSANCTIONS.encode(), "targets.simple.csv")
    assert [e.entry_key for e in entries] == ["NK-1", "NK-2"]
    assert entries[0].aliases == ["Petrov Ivan", "Иван Петров"]
    assert entries[0].countries == ["ru"]
    assert entries[1].address == "eth:" + EVM.lower()


def test_plain_names_with_and_without_header():
    with_header = parse_list(b"name,country,id\nJohn Smith,GB,X1\nJane Roe,,\n", "l.csv")
    assert [(e.entry_key, e.name, e.countries) for e in with_header] == [("X1", "John Smith", ["GB"]),
                                                                         ("row-3", "Jane Roe", [])]
    assert parse_list(b"John Smith\n", "l.csv")[0].name == "John Smith"


def test_address_list():
    entries = parse_list(f"chain,address,label\neth,{EVM},mixer\ntron:TQn9Y2khEsLJW1ChVWFMSMeRDow5KcbLSE\n".encode(),
                         "a.csv", "addresses")
    assert [e.address for e in entries] == ["eth:" + EVM.lower(), "trx:TQn9Y2khEsLJW1ChVWFMSMeRDow5KcbLSE"]


@pytest.mark.parametrize(
    ("data", "fmt", "needle"),
    [
        (b"", None, "no rows"),
        (b"\xff\xfe", None, "UTF-8"),
        (b"id,schema,name\n,Person,X\n", None, "row 2"),
        (b"name\n  ,GB\n", None, "row 2"),
        (b"chain,address\neth,0x12\n", None, "row 2"),
        (b"name\nX\n", "nonsense", "unknown list format"),
    ],
)
def test_bad_files_name_the_problem(data, fmt, needle):
    with pytest.raises(Invalid) as err:
        parse_list(data, "bad.csv", fmt)
    assert needle in err.value.message
