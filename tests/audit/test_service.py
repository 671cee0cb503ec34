"""The audit log: entries recorded in the caller's transaction, read per tenant, newest first, by action."""

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from fleet.audit.service import CLI, Actor, AuditAction, entries, record
from fleet.db.models import AuditEntry, DeadLetter, Tenant
from fleet.deadletters.service import pending_dead_letters, replay
from fleet.mqtt.url import parse_mqtt_url
from fleet.tenancy.service import create_tenant
from tests.fixtures.mosquitto import MosquittoServer


def test_entries_are_the_tenants_newest_first_paged_and_filtered(session: Session, acme: Tenant) -> None:
    other, _ = create_tenant(session, "other")
    recorded = [
        record(session, tenant_id=acme.id, actor=CLI, action=action, target=f"t{i}")
        for i, action in enumerate([AuditAction.VEHICLE_CREATE, AuditAction.VEHICLE_DELETE] * 3)
    ]
    record(session, tenant_id=other.id, actor=CLI, action=AuditAction.VEHICLE_CREATE, target="theirs")
    session.flush()
    ids = [entry.id for entry in recorded]

    newest = entries(session, tenant_id=acme.id, limit=3)
    deletes = entries(session, tenant_id=acme.id, limit=10, action=AuditAction.VEHICLE_DELETE)
    older = entries(session, tenant_id=acme.id, limit=10, before_id=ids[2], action=AuditAction.VEHICLE_CREATE)

    assert [e.target for e in newest] == ["t5", "t4", "t3"]
    assert [e.target for e in deletes] == ["t5", "t3", "t1"]
    assert [e.target for e in older] == ["t0"]


def test_an_entry_names_the_actor_and_cuts_long_values(session: Session, acme: Tenant) -> None:
    actor = Actor("ops", token_id=None, address="f" * 100)

    entry = record(session, tenant_id=acme.id, actor=actor, action=AuditAction.TOKEN_REVOKE, target="x" * 300)
    session.flush()

    assert (entry.actor, entry.address, entry.target, entry.detail) == ("ops", "f" * 64, "x" * 200, {})
    assert entry.ts is not None


@pytest.mark.integration
def test_the_clis_replay_across_tenants_is_recorded_without_a_tenant(
    session: Session, acme: Tenant, mosquitto: MosquittoServer
) -> None:
    letter = DeadLetter(topic="fleet/v1/bus-1/pos", device_id="bus-1", reason="schema", detail="d", payload=b"{}")
    session.add(letter)
    session.flush()

    replayed = replay(session, parse_mqtt_url(mosquitto.url), pending_dead_letters(session, tenant_id=None))

    assert replayed == 1
    [entry] = session.scalars(select(AuditEntry).where(AuditEntry.action == "deadletters.replay")).all()
    assert (entry.tenant_id, entry.actor, entry.token_id, entry.address) == (None, "cli", None, None)
    assert entry.detail == {"replayed": 1, "skipped": 0, "ids": [letter.id]}
