"""Loading lists screens everyone; a new version re-screens (new hits, stale hits); decisions; audit log."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from harbour.core.audit import AuditEntry, verify_chain
from harbour.core.auth import SYSTEM, Role, User, principal_for
from harbour.core.errors import Forbidden, Invalid
from harbour.detect.screening import service
from harbour.detect.screening.models import ScreeningDecision, ScreeningHit

from .conftest import EVM

V1 = b"name,country,id\n\"PETROV, Ivan\",RU,S-1\nMuhammad Rashid,SY,S-2\nGolden Phoenix Trading,AE,S-3\n"
V2 = b"name,country,id\nMuhammad Rashid,SY,S-2\nJane Doe,GB,S-4\nGolden Phoenix Trading,AE,S-3\n"


def _hits(db):
    db.expire_all()
    return {(h.subject, h.entry_key): h.status for h in db.scalars(select(ScreeningHit))}


def _actions(db, action):
    return list(db.scalars(select(AuditEntry).where(AuditEntry.action == action)))


@pytest.mark.db
def test_load_screens_customers_counterparties_and_addresses(db, small_lake, actors):
    actors.platform("HBX")
    result = service.load_list(db, SYSTEM, name="un-test", kind="sanctions", data=V1, source_name="v1.csv",
                               lake_root=small_lake)
    addr = service.load_list(db, SYSTEM, name="bad-wallets", kind="crypto", data=f"eth,{EVM.upper()[2:]}\n".encode(),
                             source_name="w.csv", fmt="addresses", lake_root=small_lake)
    hits = _hits(db)
    assert result.version == 1 and result.entries == 3
    assert hits[("HBX:a1", "S-1")] == "open"  # swapped order
    assert hits[("KLN:k1", "S-1")] == "open"  # every venue, even one without a platform record
    assert hits[("HBX:a3", "S-2")] == "open"  # transliteration + particle
    assert hits[("HBX:counterparty:Dr. Golden Phoenix Trading Ltd", "S-3")] == "open"  # counterparty, suffix
    assert hits[(f"HBX:eth:{EVM}", f"eth:{EVM.lower()}")] == "open"  # address written in another case
    assert ("HBX:a2", "S-1") not in hits
    assert addr.rescreen.new_hits == 1
    recorded = _actions(db, "screening.hit_recorded")
    assert len(recorded) == len(hits)
    assert verify_chain(db).ok


@pytest.mark.db
def test_new_version_rescreens_everyone(db, small_lake):
    service.load_list(db, SYSTEM, name="un-test", kind="sanctions", data=V1, source_name="v1.csv", lake_root=small_lake)
    result = service.load_list(db, SYSTEM, name="un-test", kind="sanctions", data=V2, source_name="v2.csv",
                               lake_root=small_lake)
    hits = _hits(db)
    assert result.version == 2
    assert hits[("HBX:a1", "S-1")] == "stale"  # delisted: the hit is stale, not deleted
    assert hits[("HBX:a2", "S-4")] == "open"  # newly listed: found without anyone asking
    assert hits[("HBX:a3", "S-2")] == "open"  # still listed: the same hit carries on
    assert (result.rescreen.new_hits, result.rescreen.stale) == (1, 2)
    stale = _actions(db, "screening.hit_stale")
    assert {e.entity_id for e in stale} == {str(h.id) for h in db.scalars(
        select(ScreeningHit).where(ScreeningHit.status == "stale"))}
    # re-listed again: the stale hit re-opens (once), no duplicate
    service.load_list(db, SYSTEM, name="un-test", kind="sanctions", data=V1, source_name="v3.csv", lake_root=small_lake)
    assert _hits(db)[("HBX:a1", "S-1")] == "open"
    assert len(_actions(db, "screening.hit_reopened")) == 2


@pytest.mark.db
def test_decisions_are_recorded_and_audited(db, small_lake, actors):
    pid = actors.platform("HBX")
    other = actors.platform("OTH")
    actors.user("officer", Role.PLATFORM_USER, platform_id=pid)
    actors.user("stranger", Role.PLATFORM_USER, platform_id=other)
    service.load_list(db, SYSTEM, name="un-test", kind="sanctions", data=V1, source_name="v1.csv", lake_root=small_lake)
    hit = db.scalar(select(ScreeningHit).where(ScreeningHit.subject == "HBX:a1"))
    officer = principal_for(db, db.scalar(select(User).where(User.username == "officer")))
    stranger = principal_for(db, db.scalar(select(User).where(User.username == "stranger")))
    with pytest.raises(Invalid):
        service.decide_hit(db, officer, hit.id, "maybe", "no idea")
    with pytest.raises(Invalid):
        service.decide_hit(db, officer, hit.id, "false_positive", "")
    with pytest.raises(Exception) as err:
        service.decide_hit(db, stranger, hit.id, "false_positive", "not ours")
    assert getattr(err.value, "status_code", None) == 404
    assert db.scalar(select(ScreeningDecision)) is None  # bad input changed nothing
    service.decide_hit(db, officer, hit.id, "false_positive", "date of birth differs from the listed one")
    db.expire_all()
    assert db.get(ScreeningHit, hit.id).status == "false_positive"
    entry = _actions(db, "screening.hit_decided")[0]
    assert entry.reason == "date of birth differs from the listed one" and entry.actor == "officer"
    # a decided hit stays decided when the list is re-loaded unchanged
    service.load_list(db, SYSTEM, name="un-test", kind="sanctions", data=V1, source_name="v1b.csv",
                      lake_root=small_lake)
    assert _hits(db)[("HBX:a1", "S-1")] == "false_positive"
    with pytest.raises(Forbidden):
        service.load_list(db, officer, name="x", kind="sanctions", data=V1, source_name="v.csv")
