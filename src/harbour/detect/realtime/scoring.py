"""Rules that score one transfer against recent history: allow, review or block, with reasons.

Each rule reads the transfer and the parties' windows (see ``state.py``) and, when it fires, gives a
reason with its name, the measured value and the limit. Any ``block`` reason blocks; any ``review``
reason sends the transfer to review; otherwise it is allowed.

    config = RealtimeConfig()
    result = score(state, transfer, config)   # result.decision, result.reasons
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import BaseModel, Field

HKD_PER_USD = 7.8  # the Hong Kong dollar's peg band centre


class RealtimeConfig(BaseModel):
    """Limits of the real-time rules (defaults documented in docs/realtime.md)."""

    travel_rule_hkd: float = Field(
        default=8_000.0, description="VASP transfers from this value (HK$) need full IVMS101 info")
    rapid_window_s: float = Field(default=3600.0, description="look-back of rapid in-and-out movement, seconds")
    rapid_share: float = Field(default=0.8, description="share of the recent inflow leaving again that counts as rapid")
    rapid_min_usd: float = Field(default=1_000.0, description="inflow below this is too small to call rapid movement")
    velocity_window_s: float = Field(default=3600.0, description="look-back of the outgoing-count rule, seconds")
    velocity_max: int = Field(default=20, description="outgoing transfers per look-back above which we review")
    structuring_band: float = Field(
        default=0.85, description="amounts in [band × threshold, threshold) are 'just under'")
    structuring_count: int = Field(default=3, description="just-under transfers in 24 h (including this one) to review")
    counterparties_max: int = Field(default=25, description="distinct counterparties in 24 h above which we review")
    large_usd: float = Field(default=1_000_000.0, description="single transfers from this value (USD) are reviewed")

    @property
    def travel_rule_usd(self) -> float:
        return self.travel_rule_hkd / HKD_PER_USD


@dataclass(frozen=True, slots=True)
class Reason:
    rule: str
    action: str  # review or block
    detail: str
    value: float
    limit: float


@dataclass(slots=True)
class Transfer:
    """The fields a score reads (the canonical transfers columns)."""

    venue: str
    transfer_id: str
    ts: float
    usd_value: float
    kind: str
    from_party: str
    to_party: str
    originator_name: str | None = None
    originator_account: str | None = None
    beneficiary_name: str | None = None
    beneficiary_account: str | None = None
    counterparty_vasp: str | None = None


@dataclass(slots=True)
class ScoreResult:
    decision: str
    score: float
    reasons: list[Reason] = field(default_factory=list)


ACTION_SCORE = {"block": 1.0, "review": 0.6}


def score(state: object, t: Transfer, config: RealtimeConfig) -> ScoreResult:
    """Score ``t`` against ``state`` (a TransferState or anything with the same reading methods)."""
    reasons: list[Reason] = []
    _listed(state, t, reasons)
    _travel_rule(t, config, reasons)
    _large(t, config, reasons)
    sender = state.party(t.from_party)  # type: ignore[attr-defined]
    if sender is not None:
        _exposure(sender, t, reasons)
        _rapid(sender, t, config, reasons)
        _velocity(sender, t, config, reasons)
        _structuring(sender, t, config, reasons)
        _counterparties(sender, t, config, reasons)
    if any(r.action == "block" for r in reasons):
        return ScoreResult("block", 1.0, reasons)
    if reasons:
        return ScoreResult("review", min(0.99, 0.5 + 0.1 * len(reasons)), reasons)
    return ScoreResult("allow", 0.0, reasons)


def _listed(state: object, t: Transfer, reasons: list[Reason]) -> None:
    for side, party in (("to_party", t.to_party), ("from_party", t.from_party)):
        if state.is_listed(party):  # type: ignore[attr-defined]
            reasons.append(Reason("listed_address", "block", f"{side} {party} is on a screening list",
                                  t.usd_value, 0.0))


def _travel_rule(t: Transfer, config: RealtimeConfig, reasons: list[Reason]) -> None:
    if not t.counterparty_vasp or t.usd_value < config.travel_rule_usd:
        return
    missing = [name for name in ("originator_name", "originator_account", "beneficiary_name", "beneficiary_account")
               if not (getattr(t, name) or "").strip()]
    if missing:
        reasons.append(Reason("travel_rule_gap", "review",
                              f"VASP transfer of US${t.usd_value:,.0f} (≥ HK${config.travel_rule_hkd:,.0f}) lacks "
                              + ", ".join(missing), t.usd_value, config.travel_rule_usd))


def _large(t: Transfer, config: RealtimeConfig, reasons: list[Reason]) -> None:
    if t.usd_value >= config.large_usd:
        reasons.append(Reason("large_value", "review", f"US${t.usd_value:,.0f} in one transfer", t.usd_value,
                              config.large_usd))


def _exposure(sender: object, t: Transfer, reasons: list[Reason]) -> None:
    listed = sender.listed_usd  # type: ignore[attr-defined]
    if listed > 0:
        total = sender.in_usd + sender.out_usd  # type: ignore[attr-defined]
        share = listed / total if total else 1.0
        reasons.append(Reason("listed_exposure", "review",
                              f"{t.from_party} moved US${listed:,.0f} ({share:.0%} of its 24 h value) with listed "
                              "addresses", share, 0.0))


def _rapid(sender: object, t: Transfer, config: RealtimeConfig, reasons: list[Reason]) -> None:
    in_usd, out_usd, _, _ = sender.since(t.ts - config.rapid_window_s)  # type: ignore[attr-defined]
    if in_usd < config.rapid_min_usd:
        return
    share = (out_usd + t.usd_value) / in_usd
    if share >= config.rapid_share:
        reasons.append(Reason("rapid_movement", "review",
                              f"{share:.0%} of US${in_usd:,.0f} received in the last "
                              f"{config.rapid_window_s / 60:.0f} min leaves again", share, config.rapid_share))


def _velocity(sender: object, t: Transfer, config: RealtimeConfig, reasons: list[Reason]) -> None:
    _, _, _, out_n = sender.since(t.ts - config.velocity_window_s)  # type: ignore[attr-defined]
    if out_n + 1 > config.velocity_max:
        reasons.append(Reason("velocity", "review",
                              f"{out_n + 1} outgoing transfers within {config.velocity_window_s / 60:.0f} min",
                              out_n + 1, config.velocity_max))


def _structuring(sender: object, t: Transfer, config: RealtimeConfig, reasons: list[Reason]) -> None:
    high = config.travel_rule_usd
    low = high * config.structuring_band
    if not low <= t.usd_value < high:
        return
    count = sender.near_threshold(low, high, t.ts - 24 * 3600) + 1  # type: ignore[attr-defined]
    if count >= config.structuring_count:
        reasons.append(Reason("structuring", "review",
                              f"{count} transfers just under the HK${config.travel_rule_hkd:,.0f} threshold in 24 h",
                              count, config.structuring_count))


def _counterparties(sender: object, t: Transfer, config: RealtimeConfig, reasons: list[Reason]) -> None:
    if sender.out_count + sender.in_count < config.counterparties_max:  # type: ignore[attr-defined]
        return  # cannot have that many distinct counterparties: skip building the set
    distinct = len(sender.counterparties() | {t.to_party})  # type: ignore[attr-defined]
    if distinct > config.counterparties_max:
        reasons.append(Reason("many_counterparties", "review", f"{distinct} distinct counterparties in 24 h",
                              distinct, config.counterparties_max))
