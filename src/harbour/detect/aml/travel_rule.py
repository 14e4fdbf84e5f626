"""travel_rule_gap: VASP-to-VASP transfers of HK$8,000 equivalent or more that lack complete originator
and beneficiary information.

A transfer is VASP-to-VASP when ``counterparty_vasp`` is set, or when its other party is an account on
another supervised venue (``OTHER:account``, OTHER being a venue of the accounts table) even though
``counterparty_vasp`` was left empty; ``internal`` transfers (within one venue) never are. Its value in HKD is
``usd_value * hkd_per_usd`` (default 7.8, the peg's centre; a config value). Required fields, with
their IVMS101 counterparts (docs/detectors/aml.md): ``originator_name`` (Originator.originatorPersons
name), ``originator_account`` (Originator.accountNumber), ``beneficiary_name`` (Beneficiary
.beneficiaryPersons name), ``beneficiary_account`` (Beneficiary.accountNumber) and ``counterparty_vasp``
(the OriginatingVASP / BeneficiaryVASP). Blank strings count as missing.

One alert per venue, customer account and UTC day, listing the transfers and their missing fields.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, Field

from harbour.detect.aml.base import fmt_usd
from harbour.detect.aml.interning import index_of
from harbour.detect.framework import AlertBuilder, Detector, Partition, WorkSpec, register

FIELDS = ("originator_name", "originator_account", "beneficiary_name", "beneficiary_account", "counterparty_vasp")


class TravelRuleConfig(BaseModel):
    threshold_hkd: float = Field(8_000.0, ge=0, description="HK$ equivalent at or above which the rule applies")
    hkd_per_usd: float = Field(7.8, gt=0, description="FX rate used to convert usd_value to HKD")


def _blank(col: str) -> pl.Expr:
    return pl.col(col).is_null() | (pl.col(col).cast(pl.Utf8).str.strip_chars() == "")


def _true(mask: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    return pc.fill_null(mask, False)


def _other_venue_party(transfers: pa.Table, venues: list[str], rows: np.ndarray) -> np.ndarray:
    """Of ``rows`` (a mask), those with a party spelled as an account of a venue in ``venues`` other than the
    row's own (its text before the first ``:``, all of it if none, is that venue). Every row whose other side
    ``gaps`` finds on another venue is among them. A byte scan of each party's prefix in place: testing
    copies of the rows' strings would cost more in fresh memory than the tests themselves."""
    names = pa.array([v for v in venues if v is not None and ":" not in v], pa.string())  # ':' never in a prefix
    own = index_of(transfers["venue"], names, np.int16, rows=rows)
    hit = np.zeros(transfers.num_rows, bool)
    for party in ("from_party", "to_party"):
        code = index_of(transfers[party], names, np.int16, whole=False, rows=rows)
        hit |= (code >= 0) & (code != own)
    return hit & rows & np.asarray(pc.is_valid(transfers["venue"]))  # a row without a venue is on none


def gaps(transfers: pa.Table, cfg: TravelRuleConfig, known_venues: set[str] | None = None) -> pl.DataFrame | None:
    """Rows that break the rule, with ``account`` (the venue's own customer) and ``missing`` (list); None when no
    row can (``_may_miss``)."""
    # the threshold is a cheap numeric filter: apply it before any string work
    big_rows = _true(pc.greater_equal(pc.multiply(transfers["usd_value"], cfg.hkd_per_usd), cfg.threshold_hkd))
    venues = sorted(set(pc.unique(transfers["venue"].filter(big_rows)).to_pylist()) | (known_venues or set()))
    # Then the rows that can be VASP-to-VASP at all: counterparty_vasp set, or (not internal) a party on
    # another venue. Most transfers are deposits and withdrawals between a customer and its own wallet; the
    # string splits below run on the few rows left (the same rows pass as without this filter).
    small = transfers.select(["venue", "transfer_id", "ts", "usd_value", "kind", "from_party", "to_party", *FIELDS])
    big_np = np.asarray(big_rows)
    cross = np.asarray(_true(pc.not_equal(transfers["kind"], "internal"))) & _other_venue_party(transfers, venues,
                                                                                               big_np)
    rows = big_np & (np.asarray(pc.is_valid(transfers["counterparty_vasp"])) | cross)
    if not _may_miss(transfers, rows):
        return None
    df = pl.from_arrow(small.filter(pa.array(rows)))
    assert isinstance(df, pl.DataFrame)
    from_venue = pl.col("from_party").str.split_exact(":", 1).struct.field("field_0")
    to_venue = pl.col("to_party").str.split_exact(":", 1).struct.field("field_0")
    other_venue = pl.when(from_venue == pl.col("venue")).then(to_venue).otherwise(from_venue)
    df = df.with_columns(
        account=pl.when(from_venue == pl.col("venue")).then(pl.col("from_party")).otherwise(pl.col("to_party")),
        other_is_vasp=other_venue.is_in(venues) & (other_venue != pl.col("venue")) & (pl.col("kind") != "internal"),
    )
    vasp_to_vasp = ~_blank("counterparty_vasp") | pl.col("other_is_vasp")
    big = pl.col("usd_value") * cfg.hkd_per_usd >= cfg.threshold_hkd
    missing = pl.concat_list([pl.when(_blank(f)).then(pl.lit(f)).otherwise(pl.lit(None)) for f in FIELDS]
                             ).list.drop_nulls()
    return (df.filter(vasp_to_vasp & big).with_columns(missing=missing)
            .filter(pl.col("missing").list.len() > 0))


def _may_miss(transfers: pa.Table, rows: np.ndarray) -> bool:
    """Whether some row of ``rows`` (a mask) may lack a required field: a null, or text with no ASCII letter or digit,
    which no whitespace is, so a field that has one is not blank however ``_blank`` trims (Polars' whitespace and
    Arrow's differ at the edges of Unicode). On 238 of the 240 venue-days of the bench market every VASP-to-VASP
    transfer at or above the threshold has all its fields, and the data-frame steps below cost ~2 ms a venue-day on
    no rows: the detector over the whole bench market took 0.55 CPU-s with them on every venue-day, 0.12 so (reps 3,
    alternated; same alerts)."""
    at = np.flatnonzero(rows)
    if at.size == 0:
        return False
    fields = transfers.select(list(FIELDS)).take(pa.array(at))
    for name in FIELDS:
        col = fields[name]
        if col.null_count or not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
            return True
        if not pc.all(pc.match_substring_regex(col, "[A-Za-z0-9]")).as_py():
            return True
    return False


class TravelRuleGapDetector(Detector[TravelRuleConfig]):
    name = "aml_travel_rule_gap"
    version = "1.0"
    typology = "travel_rule_gap"
    config_model = TravelRuleConfig
    description = "VASP-to-VASP transfers of HK$8,000 or more without complete originator/beneficiary data."

    def describe(self, config: TravelRuleConfig) -> WorkSpec:
        # accounts: to recognise the other side as a platform we supervise (``KLN:123``) by its venue code
        return WorkSpec(tables=("transfers",), partition_by=("venue", "date"), broadcast=("accounts",))

    def kernel(self, part: Partition, config: TravelRuleConfig) -> pa.Table:
        out = AlertBuilder(self)
        transfers = part.tables["transfers"]
        if transfers.num_rows == 0:
            return out.to_table()
        accounts = part.broadcast.get("accounts")
        known = _known_venues(accounts)
        found = gaps(transfers, config, known)
        if found is None:
            return out.to_table()
        bad = found.with_columns(day=pl.col("ts").dt.date())
        for (venue, account, _day), grp in bad.sort("ts").group_by(["venue", "account", "day"], maintain_order=True):
            rows = grp.to_dicts()
            parts = [f"{r['transfer_id']} ({fmt_usd(r['usd_value'])}, about "
                     f"HK${r['usd_value'] * config.hkd_per_usd:,.0f}, missing {', '.join(r['missing'])})"
                     for r in rows[:5]]
            more = f" and {len(rows) - 5} more" if len(rows) > 5 else ""
            text = (f"account {account} made {len(rows)} VASP-to-VASP transfer(s) at or above HK$"
                    f"{config.threshold_hkd:,.0f} without complete travel-rule data: {'; '.join(parts)}{more}")
            n_missing = float(np.mean([len(r["missing"]) for r in rows]))
            out.add(venue=str(venue), symbol=None, accounts=[str(account).removeprefix(f"{venue}:")],
                    start=_utc(rows[0]["ts"]),
                    end=_utc(rows[-1]["ts"]), score=min(1.0, 0.5 + 0.1 * n_missing),
                    evidence_ids=[r["transfer_id"] for r in rows], explanation=text)
        return out.to_table()


# The venues of the last broadcast accounts tables seen, keyed by the table's id (a reference to it is kept, so the
# id stays its own): every partition of a task is handed the same table.
_VENUES: dict[int, tuple[pa.Table, set[str]]] = {}


def _known_venues(accounts: pa.Table | None) -> set[str]:
    """The venues of the accounts table (the platforms we supervise), found once per table: listing the 60k
    accounts of the bench market as Python strings was ~10 ms a partition, more than half of this kernel, and
    hashing them for their distinct values ~1.6 ms."""
    if accounts is None or accounts.num_rows == 0:
        return set()
    found = _VENUES.get(id(accounts))
    if found is None or found[0] is not accounts:
        if len(_VENUES) >= 4:
            _VENUES.clear()
        found = (accounts, set(pc.unique(accounts["venue"]).drop_null().to_pylist()))
        _VENUES[id(accounts)] = found
    return found[1]


def _utc(ts: dt.datetime) -> dt.datetime:
    return ts if ts.tzinfo else ts.replace(tzinfo=dt.UTC)


register(TravelRuleGapDetector())
