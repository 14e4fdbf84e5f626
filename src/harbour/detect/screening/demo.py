"""Demo step: a fictitious sanctions list (written from our own word lists) with a few demo customers
planted in it under variant spellings, plus a fictitious list of crypto addresses; loading them screens
every customer in the demo lake and produces hits for the queue."""

from __future__ import annotations

import csv
import io
import random
from typing import Any

from harbour.core.auth import SYSTEM
from harbour.core.db import transaction
from harbour.detect.screening.service import load_list
from harbour.detect.screening.subjects import lake_subjects
from harbour.detect.screening.synthetic import ListedName, generate_list, variant

PLANTED_KINDS = ("swapped", "typo", "honorific", "transliteration", "initials")


def seed(ctx: Any) -> str:
    rng = random.Random(2026)
    subjects = lake_subjects(ctx.lake_root)
    customers = [s for s in subjects if s.kind == "customer" and len(s.name.split()) >= 2]
    names_csv = _names_list(rng, customers)
    addresses = sorted({s.name for s in subjects if s.kind == "address"})
    planted_addresses = rng.sample(addresses, min(3, len(addresses)))
    wallets_csv = "chain,address,label\n" + "".join(
        f"{a.split(':', 1)[0]},{a.split(':', 1)[1]},fictitious mixer\n" for a in planted_addresses)
    wallets_csv += "eth,0x" + "5a" * 20 + ",fictitious exchange hack\n"
    with transaction(ctx.session_factory) as session:
        names = load_list(session, SYSTEM, name="demo-sanctions", kind="sanctions", data=names_csv.encode(),
                          source_name="demo-sanctions.csv", description="fictitious sanctions list (demo)",
                          lake_root=ctx.lake_root)
    with transaction(ctx.session_factory) as session:
        wallets = load_list(session, SYSTEM, name="demo-wallets", kind="crypto", data=wallets_csv.encode(),
                            source_name="demo-wallets.csv", fmt="addresses",
                            description="fictitious sanctioned addresses (demo)", lake_root=ctx.lake_root)
    ctx.facts["screening_hits"] = names.rescreen.new_hits + wallets.rescreen.new_hits
    return (f"{names.entries:,} listed names and {wallets.entries} addresses; screened "
            f"{names.rescreen.subjects:,} customers, counterparties and addresses: "
            f"{ctx.facts['screening_hits']} hits to review")


def _names_list(rng: random.Random, customers: list[Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["name", "country", "id"])
    for entry in generate_list(2000, seed=2026):
        writer.writerow([entry.name, entry.country, entry.entry_id])
    for i, customer in enumerate(rng.sample(customers, min(6, len(customers)))):
        parts = customer.name.split()
        listed = ListedName(f"demo-planted-{i}", customer.name, "Person", parts[0], " ".join(parts[1:-1]), parts[-1])
        written = variant(listed, PLANTED_KINDS[i % len(PLANTED_KINDS)], rng) or customer.name
        writer.writerow([written, "XX", listed.entry_id])
    return out.getvalue()
