"""AML incidents: patterns of transfers between venue accounts and chain addresses, injected into one
venue-day's transfers. Amounts carry noise; timings are spread; difficulty changes sizes and spreads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from harbour.data.generate.incidents import knobs, planner, rng_for
from harbour.data.generate.incidents.base import Incident
from harbour.data.generate.transfers import EXTERNAL_VASPS, SECONDS, TransferBatch, chain_of, sanctioned_addresses
from harbour.data.generate.world import World

US = 1_000_000
HOUR = 3600 * US
MIN = 60 * US
DAY_END = SECONDS * US - 60 * US
ASSETS = ("USDT", "USDT", "USDC", "ETH", "BTC")


# Customers already in an AML incident of the world being planned (planning is one sequential pass per
# world, so the picks are the same for the same config).
_TAKEN: dict[str, Any] = {"world": None, "customers": set()}


def _people(world: World, venue: str, rng: np.random.Generator, n: int) -> list[int]:
    """``n`` accounts of the venue, each of a different customer and of no customer in an earlier AML
    incident. A detector links a customer's accounts into one actor, so two accounts of one person in one
    scheme (a stack whose first and last layers share a customer) really are a cycle; and accounts shared
    by two schemes make patterns no label describes (a scatter-gather's mules paid again by a gather-scatter
    close a loop)."""
    if _TAKEN["world"] is not world:
        _TAKEN.update(world=world, customers=set())
    taken: set[tuple[str, int]] = _TAKEN["customers"]
    va = world.accounts[venue]
    picked: list[int] = []
    for x in rng.permutation(va.traders()).tolist():
        c = va.customer[x]
        key = ("customer", c) if c >= 0 else (venue, int(x))
        if key in taken:
            continue
        taken.add(key)
        picked.append(int(x))
        if len(picked) == n:
            break
    return picked


def _times(rng: np.random.Generator, n: int, start: int, span: int, noise: float) -> np.ndarray:
    """``n`` increasing times over ``span`` from ``start``: irregular gaps (more irregular when harder)."""
    gaps = rng.gamma(1.0 / max(noise, 0.05), 1.0, n)
    t = start + (np.cumsum(gaps) / gaps.sum() * span).astype(np.int64)
    return np.minimum(t, DAY_END)


def _start(rng: np.random.Generator, span: int) -> int:
    return int(rng.uniform(0.2 * HOUR, max(0.3 * HOUR, DAY_END - span)))


@dataclass
class AmlIncident(Incident):
    def asset(self, rng: np.random.Generator) -> str:
        return ASSETS[int(rng.integers(len(ASSETS)))]


@dataclass
class FanIn(AmlIncident):
    def transfers(self, world, b: TransferBatch, rng, tag) -> None:
        k, target = self.knobs, self.accounts[0]
        asset = self.asset(rng)
        srcs = self.accounts[1:]
        n_ext = int(rng.integers(6, 30))
        span = int(rng.uniform(1, 10) * HOUR)
        t = _times(rng, n_ext + len(srcs) + 1, _start(rng, span), span, k.noise)
        base = rng.uniform(600, 4_000)
        total = 0.0
        for j, src in enumerate(b.fresh(chain_of(asset), n_ext)):
            usd = base * rng.lognormal(0, k.noise)
            total += usd
            b.add(int(t[j]), asset, usd, "deposit", src, b.party(target), onchain=True, tag=tag)
        for j, s in enumerate(srcs):
            usd = base * rng.lognormal(0, k.noise)
            total += usd
            b.add(int(t[n_ext + j]), asset, usd, "internal", b.party(s), b.party(target), tag=tag)
        b.add(int(t[-1]) + int(rng.uniform(5, 120) * MIN), asset, total * rng.uniform(0.9, 0.99), "withdrawal",
              b.party(target), b.fresh(chain_of(asset))[0], onchain=True, tag=tag)


@dataclass
class FanOut(AmlIncident):
    def transfers(self, world, b: TransferBatch, rng, tag) -> None:
        k, src = self.knobs, self.accounts[0]
        asset = self.asset(rng)
        n_ext = int(rng.integers(6, 30))
        span = int(rng.uniform(0.5, 8) * HOUR)
        t0 = _start(rng, span + HOUR)
        dsts = self.accounts[1:]
        base = rng.uniform(500, 5_000)
        total = base * (n_ext + len(dsts))
        b.add(t0, asset, total * rng.uniform(1.0, 1.05), "deposit", b.fresh(chain_of(asset))[0], b.party(src),
              onchain=True, tag=tag)
        t = _times(rng, n_ext + len(dsts), t0 + int(rng.uniform(2, 50) * MIN), span, k.noise)
        for j, dst in enumerate(b.fresh(chain_of(asset), n_ext)):
            b.add(int(t[j]), asset, base * rng.lognormal(0, k.noise), "withdrawal", b.party(src), dst, onchain=True,
                  tag=tag)
        for j, d in enumerate(dsts):
            b.add(int(t[n_ext + j]), asset, base * rng.lognormal(0, k.noise), "internal", b.party(src), b.party(d),
                  tag=tag)


@dataclass
class Cycle(AmlIncident):
    def transfers(self, world, b: TransferBatch, rng, tag) -> None:
        """A -> ... -> A through accounts and addresses, a few percent lost per hop, within hours."""
        k = self.knobs
        asset = self.asset(rng)
        chain = chain_of(asset)
        accts = self.accounts
        hops = int(rng.integers(1, 4))
        addrs = b.fresh(chain, hops)
        span = int(rng.uniform(1, 12) * HOUR)
        steps = len(accts) + hops
        t = _times(rng, steps, _start(rng, span), span, k.noise)
        usd = rng.uniform(5_000, 80_000)
        s = 0
        for j in range(len(accts) - 1):  # internal legs between the ring's accounts
            b.add(int(t[s]), asset, usd, "internal", b.party(accts[j]), b.party(accts[j + 1]), tag=tag)
            usd *= 1 - rng.uniform(0.001, 0.03)
            s += 1
        b.add(int(t[s]), asset, usd, "withdrawal", b.party(accts[-1]), addrs[0], onchain=True, tag=tag)
        s += 1
        for j in range(hops - 1):
            usd *= 1 - rng.uniform(0.001, 0.02)
            b.add(int(t[s]), asset, usd, "onchain", addrs[j], addrs[j + 1], onchain=True, tag=tag)
            s += 1
        usd *= 1 - rng.uniform(0.001, 0.02)
        b.add(int(t[min(s, steps - 1)]) + US, asset, usd, "deposit", addrs[-1], b.party(accts[0]), onchain=True,
              tag=tag)


@dataclass
class ScatterGather(AmlIncident):
    def transfers(self, world, b: TransferBatch, rng, tag) -> None:
        k, src, dst, mids = self.knobs, self.accounts[0], self.accounts[1], self.accounts[2:]
        asset = self.asset(rng)
        span = int(rng.uniform(1, 8) * HOUR)
        t0 = _start(rng, 2 * span)
        out_t = _times(rng, len(mids), t0, span, k.noise)
        base = rng.uniform(1_000, 9_000)
        n_ext = int(rng.integers(0, 4))  # some intermediaries are outside wallets (mules' addresses)
        hops: list[tuple[str, str]] = [(b.party(m), "internal") for m in mids]
        hops += [(a, "chain") for a in b.fresh(chain_of(asset), n_ext)]
        out_t = _times(rng, len(hops), int(out_t[0]), span, k.noise)
        for j, (mid, how) in enumerate(hops):
            usd = base * rng.lognormal(0, k.noise)
            back = int(out_t[j] + rng.uniform(0.2, 1.0) * span)
            if how == "internal":
                b.add(int(out_t[j]), asset, usd, "internal", b.party(src), mid, tag=tag)
                b.add(back, asset, usd * rng.uniform(0.95, 1.0), "internal", mid, b.party(dst), tag=tag)
            else:
                b.add(int(out_t[j]), asset, usd, "withdrawal", b.party(src), mid, onchain=True, tag=tag)
                b.add(back, asset, usd * rng.uniform(0.95, 1.0), "deposit", mid, b.party(dst), onchain=True, tag=tag)


@dataclass
class GatherScatter(AmlIncident):
    def transfers(self, world, b: TransferBatch, rng, tag) -> None:
        k, hub = self.knobs, self.accounts[0]
        rest = self.accounts[1:]
        half = max(1, len(rest) // 2)
        srcs, dsts = rest[:half], rest[half:]
        asset = self.asset(rng)
        span = int(rng.uniform(1, 6) * HOUR)
        t0 = _start(rng, 2 * span + HOUR)
        t_in = _times(rng, len(srcs), t0, span, k.noise)
        base = rng.uniform(1_000, 9_000)
        total = 0.0
        for j, s in enumerate(srcs):
            usd = base * rng.lognormal(0, k.noise)
            total += usd
            b.add(int(t_in[j]), asset, usd, "internal", b.party(s), b.party(hub), tag=tag)
        for src in b.fresh(chain_of(asset), int(rng.integers(0, 4))):  # and some pay in from outside wallets
            usd = base * rng.lognormal(0, k.noise)
            total += usd
            b.add(int(t_in[int(rng.integers(len(t_in)))]) + int(rng.uniform(1, 30) * MIN), asset, usd, "deposit", src,
                  b.party(hub), onchain=True, tag=tag)
        t_out = _times(rng, len(dsts), int(t_in[-1]) + int(rng.uniform(5, 60) * MIN), span, k.noise)
        for j, d in enumerate(dsts):
            b.add(int(t_out[j]), asset, total / len(dsts) * rng.lognormal(0, k.noise / 2), "internal", b.party(hub),
                  b.party(d), tag=tag)


@dataclass
class Bipartite(AmlIncident):
    def transfers(self, world, b: TransferBatch, rng, tag) -> None:
        k = self.knobs
        half = len(self.accounts) // 2
        srcs, dsts = self.accounts[:half], self.accounts[half:]
        asset = self.asset(rng)
        pairs = [(s, d) for s in srcs for d in dsts if rng.random() < 0.75]
        # many-to-many by definition: each sender pays two or more of the receivers and each receiver is paid
        # by two or more senders (a sender paying one receiver makes the group fan-outs sharing a receiver)
        pairs += _top_up(rng, pairs, srcs, dsts)
        pairs += [(s, d) for d, s in _top_up(rng, [(d, s) for s, d in pairs], dsts, srcs)]
        span = int(rng.uniform(2, 12) * HOUR)
        t = _times(rng, len(pairs), _start(rng, span), span, k.noise)
        base = rng.uniform(800, 6_000)
        order = rng.permutation(len(pairs))
        for j, p in enumerate(order):
            s, d = pairs[int(p)]
            b.add(int(t[j]), asset, base * rng.lognormal(0, k.noise), "internal", b.party(s), b.party(d), tag=tag)


def _top_up(rng: np.random.Generator, pairs: list[tuple[Any, Any]], ones: list[Any], others: list[Any],
            least: int = 2) -> list[tuple[Any, Any]]:
    """Pairs (one, other) to add so that each of ``ones`` is in ``least`` or more of ``pairs`` (others drawn
    at random among those it is not paired with yet); nothing is drawn for an account that has enough."""
    extra = []
    for a in ones:
        free = [o for o in others if (a, o) not in pairs]
        need = least - (len(others) - len(free))
        if need > 0:
            extra += [(a, free[int(i)]) for i in rng.choice(len(free), min(need, len(free)), replace=False)]
    return extra


@dataclass
class Stack(AmlIncident):
    def transfers(self, world, b: TransferBatch, rng, tag) -> None:
        """Layers of accounts; money moves layer to layer, each hop after the previous one."""
        k = self.knobs
        sizes = self.params["layers"]
        layers, i = [], 0
        for s in sizes:
            layers.append(self.accounts[i:i + s])
            i += s
        asset = self.asset(rng)
        span = int(rng.uniform(2, 10) * HOUR)
        t = _start(rng, span)
        step = span // len(layers)
        base = rng.uniform(2_000, 20_000)
        for a, nxt in zip(layers, layers[1:], strict=False):
            # Stacked bipartite layers: every account of a layer pays one or more of the next and every account
            # of the next is paid by one or more (an account paid by nobody would move none of the money).
            pairs = {(s, d) for s in a for d in nxt if rng.random() < 0.5}
            pairs |= {(s, nxt[int(rng.integers(len(nxt)))]) for s in a}
            pairs |= {(a[int(rng.integers(len(a)))], d) for d in nxt}
            for s, d in sorted(pairs):
                tt = t + int(rng.uniform(0.05, 1.0) * step)
                b.add(tt, asset, base * rng.lognormal(0, k.noise), "internal", b.party(s), b.party(d), tag=tag)
            t += step


@dataclass
class Structuring(AmlIncident):
    def transfers(self, world, b: TransferBatch, rng, tag) -> None:
        k = self.knobs
        thr = world.config.structuring_threshold_usd
        n = int(rng.integers(4, 14))
        span = int(rng.uniform(3, 20) * HOUR)
        t = _times(rng, n, _start(rng, span), span, k.noise)
        lo = 0.93 - 0.15 * k.noise
        incoming = rng.random() < 0.6
        for j in range(n):
            acct = self.accounts[j % len(self.accounts)]
            usd = thr * rng.uniform(lo, 0.995)
            asset = "USDT" if rng.random() < 0.7 else "USDC"
            ext = b.wallet(acct, chain_of(asset)) if rng.random() < 0.5 else b.fresh(chain_of(asset))[0]
            if incoming:
                b.add(int(t[j]), asset, usd, "deposit", ext, b.party(acct), onchain=True, tag=tag, amount=round(usd, 2))
            else:
                b.add(int(t[j]), asset, usd, "withdrawal", b.party(acct), ext, onchain=True, tag=tag,
                      amount=round(usd, 2))


@dataclass
class PeelChain(AmlIncident):
    def transfers(self, world, b: TransferBatch, rng, tag) -> None:
        k = self.knobs
        asset = "BTC" if rng.random() < 0.6 else "ETH"
        chain = chain_of(asset)
        hops = int(rng.integers(5, 16))
        addrs = b.fresh(chain, hops + 1)
        span = int(rng.uniform(2, 16) * HOUR)
        t = _times(rng, hops, _start(rng, span), span, k.noise)
        price = b.price(asset, int(t[0]))
        amount = rng.uniform(40_000, 400_000) / price
        for j in range(hops):
            peel = amount * rng.uniform(0.01, 0.08)
            amount -= peel
            b.add(int(t[j]), asset, 0.0, "onchain", addrs[j], addrs[j + 1], onchain=True, tag=tag, amount=amount)
            acct = self.accounts[j % len(self.accounts)]
            b.add(int(t[j]) + int(rng.uniform(1, 30) * MIN), asset, 0.0, "deposit", addrs[j], b.party(acct),
                  onchain=True, tag=tag, amount=peel)


@dataclass
class RapidMovement(AmlIncident):
    def transfers(self, world, b: TransferBatch, rng, tag) -> None:
        k = self.knobs
        acct = self.accounts[0]
        for _ in range(int(rng.integers(1, 4))):
            asset = self.asset(rng)
            chain = chain_of(asset)
            t0 = _start(rng, 2 * HOUR)
            usd = rng.uniform(3_000, 120_000)
            b.add(t0, asset, usd, "deposit", b.fresh(chain)[0], b.party(acct), onchain=True, tag=tag)
            out_t = t0 + int(rng.lognormal(np.log(15), 0.6 + k.noise) * MIN)
            b.add(out_t, asset, usd * rng.uniform(0.97, 0.999), "withdrawal", b.party(acct), b.fresh(chain)[0],
                  onchain=True, tag=tag)


@dataclass
class Sanctions(AmlIncident):
    def transfers(self, world, b: TransferBatch, rng, tag) -> None:
        listed = sanctioned_addresses(world.config.seed)
        acct = self.accounts[0]
        for _ in range(int(rng.integers(1, 4))):
            address = listed[int(rng.integers(len(listed)))][0]
            chain = address.split(":")[0]
            asset = {"btc": "BTC", "tron": "USDT"}.get(chain, "ETH" if rng.random() < 0.5 else "USDC")
            t = _start(rng, HOUR)
            usd = rng.lognormal(np.log(4_000), 1.0)
            if rng.random() < 0.5:
                b.add(t, asset, usd, "deposit", address, b.party(acct), onchain=True, tag=tag)
            elif rng.random() < 0.6:
                b.add(t, asset, usd, "withdrawal", b.party(acct), address, onchain=True, tag=tag)
            else:  # one hop away: listed address -> fresh address -> the customer
                hop = b.fresh(chain)[0]
                b.add(t, asset, usd, "onchain", address, hop, onchain=True, tag=tag)
                b.add(t + int(rng.uniform(5, 90) * MIN), asset, usd * 0.995, "deposit", hop, b.party(acct),
                      onchain=True, tag=tag)


@dataclass
class TravelRuleGap(AmlIncident):
    def transfers(self, world, b: TransferBatch, rng, tag) -> None:
        thr = world.config.travel_rule_threshold_usd
        acct = self.accounts[0]
        for _ in range(int(rng.integers(1, 4))):
            asset = self.asset(rng)
            vasp = EXTERNAL_VASPS[int(rng.integers(len(EXTERNAL_VASPS)))]
            # At or above the threshold by construction: a transfer under it owes no travel-rule data.
            usd = thr * (1.01 + rng.lognormal(np.log(3.0), 1.0))
            me = b.party(acct)
            ext = b.fresh(chain_of(asset))[0]
            missing = int(rng.integers(3))  # which fields the sending VASP left out
            name = b.name(acct)
            info = ((None, None, None, None, vasp), (None, me.split(":")[1], name, None, vasp),
                    (name, me.split(":")[1], None, None, vasp))[missing]
            t = _start(rng, HOUR)
            if rng.random() < 0.5:
                b.add(t, asset, usd, "withdrawal", me, ext, onchain=True, travel=info, tag=tag)
            else:
                b.add(t, asset, usd, "deposit", ext, me, onchain=True, travel=info, tag=tag)


SHAPES = {
    "fan_in": (FanIn, (1, 4)), "fan_out": (FanOut, (1, 4)), "cycle": (Cycle, (2, 5)),
    "scatter_gather": (ScatterGather, (6, 14)), "gather_scatter": (GatherScatter, (8, 16)),
    "bipartite": (Bipartite, (6, 12)), "stack": (Stack, (0, 0)), "structuring": (Structuring, (1, 3)),
    "peel_chain": (PeelChain, (2, 6)), "rapid_movement": (RapidMovement, (1, 2)),
    "sanctions_exposure": (Sanctions, (1, 2)), "travel_rule_gap": (TravelRuleGap, (1, 2)),
}


def _plan(world: World, n: int, typology: str) -> Incident | None:
    rng, k = rng_for(world, typology, n), knobs(world)
    cls, (lo, hi) = SHAPES[typology]
    venue = world.venues[int(rng.integers(len(world.venues)))]
    day = int(rng.integers(world.config.days))
    params: dict = {}
    if typology == "stack":
        params["layers"] = [int(x) for x in rng.integers(2, 5, int(rng.integers(3, 5)))]
        size = sum(params["layers"])
    else:
        size = int(rng.integers(lo, hi + 1))
    accounts = _people(world, venue, rng, size)
    if len(accounts) < max(1, size):
        return None
    return cls(f"INC-{typology}-{n:03d}", typology, venue, None, day, accounts, k, params)


for _typology in SHAPES:
    planner(_typology)(_plan)
