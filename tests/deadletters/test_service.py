"""A tenant sees the dead letters of its own devices, even those written before it registered them; replay."""

from collections.abc import Iterator, Sequence

import pytest
from sqlalchemy.orm import Session

from fleet.db.engine import make_engine, make_session_factory
from fleet.db.models import DeadLetter, Tenant, utcnow
from fleet.deadletters.service import MAX_ID, dead_letters, pending_dead_letters, replay
from fleet.errors import Invalid, Unavailable
from fleet.mqtt.url import parse_mqtt_url
from fleet.registry.service import add_vehicles
from fleet.tenancy.service import create_tenant

UNREACHABLE_BROKER = parse_mqtt_url("mqtt://127.0.0.1:1")


@pytest.fixture
def session(sqlite_url: str) -> Iterator[Session]:
    engine = make_engine(sqlite_url)
    with make_session_factory(engine)() as session:
        yield session
    engine.dispose()


@pytest.fixture
def acme(session: Session) -> Tenant:
    tenant = create_tenant(session, "acme")[0]
    add_vehicles(session, tenant, ["bus-1"])
    return tenant


@pytest.fixture
def other(session: Session) -> Tenant:
    tenant = create_tenant(session, "other")[0]
    add_vehicles(session, tenant, ["bus-9"])
    return tenant


def letter(session: Session, device_id: str | None, tenant: Tenant | None = None, reason: str = "schema") -> int:
    """Insert a dead letter and return its id."""
    row = DeadLetter(
        topic=f"fleet/v1/{device_id}/pos",
        device_id=device_id,
        tenant_id=tenant.id if tenant else None,
        reason=reason,
        detail="d",
        payload=b"{}",
    )
    session.add(row)
    session.flush()
    return row.id


def ids(letters: Sequence[DeadLetter]) -> list[int]:
    """Ids of `letters`, in order."""
    return [row.id for row in letters]


def test_a_tenant_sees_its_own_and_its_devices_letters_newest_first(
    session: Session, acme: Tenant, other: Tenant
) -> None:
    attributed = letter(session, "bus-1", acme)
    before_registration = letter(session, "bus-1")  # ingest did not know the device yet
    others = letter(session, "bus-9", other)
    unknown = letter(session, "ghost")

    mine = dead_letters(session, tenant_id=acme.id, limit=10)
    everyone = dead_letters(session, tenant_id=None, limit=10)

    assert ids(mine) == [before_registration, attributed]
    assert ids(everyone) == [unknown, others, before_registration, attributed]
    assert ids(dead_letters(session, tenant_id=None, limit=2, before_id=others)) == [before_registration, attributed]


def test_pending_letters_are_those_not_replayed_oldest_first(session: Session, acme: Tenant, other: Tenant) -> None:
    first, second, third = (letter(session, "bus-1") for _ in range(3))
    session.get_one(DeadLetter, second).replayed_at = utcnow()
    others = letter(session, "bus-9", other)

    assert ids(pending_dead_letters(session, tenant_id=acme.id)) == [first, third]
    assert ids(pending_dead_letters(session, tenant_id=acme.id, ids=[third, others])) == [third]
    assert ids(pending_dead_letters(session, tenant_id=acme.id, limit=1)) == [first]
    assert ids(pending_dead_letters(session, tenant_id=None)) == [first, third, others]


@pytest.mark.parametrize("bad", [0, -1, MAX_ID + 1])
def test_impossible_ids_are_invalid(session: Session, bad: int) -> None:
    with pytest.raises(Invalid, match=str(bad)):
        pending_dead_letters(session, tenant_id=None, ids=[1, bad])

    assert pending_dead_letters(session, tenant_id=None, ids=[1, MAX_ID]) == []


def test_letters_with_a_bad_topic_are_not_replayed(session: Session, acme: Tenant) -> None:
    bad_topic = session.get_one(DeadLetter, letter(session, None, reason="bad_topic"))

    assert replay(session, UNREACHABLE_BROKER, [bad_topic]) == 0  # nothing to publish: no broker needed
    assert bad_topic.replayed_at is None


def test_letters_stay_pending_when_the_broker_is_unreachable(session: Session, acme: Tenant) -> None:
    pending = pending_dead_letters(session, tenant_id=acme.id, ids=[letter(session, "bus-1")])

    with pytest.raises(Unavailable, match="unreachable"):
        replay(session, UNREACHABLE_BROKER, pending)

    assert pending[0].replayed_at is None
