"""A tenant sees the dead letters of its own devices, even those written before it registered them; replay; one
letter per distinct bad message, however often it comes back."""

from collections.abc import Sequence
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from fleet.db.models import DeadLetter, Tenant, utcnow
from fleet.deadletters.repository import mark_replayed
from fleet.deadletters.service import (
    BULK_REPLAYS,
    MAX_ID,
    Rejection,
    dead_letters,
    fingerprint,
    pending_dead_letters,
    record_rejections,
    replay,
)
from fleet.errors import Invalid, Unavailable
from fleet.mqtt.url import parse_mqtt_url
from fleet.registry.service import add_vehicles
from fleet.tenancy.service import create_tenant

UNREACHABLE_BROKER = parse_mqtt_url("mqtt://127.0.0.1:1")


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


def rejection(payload: bytes = b"{}", topic: str = "fleet/v1/bus-1/pos", **changes: object) -> Rejection:
    values: dict[str, object] = {
        "topic": topic, "device_id": "bus-1", "tenant_id": None, "reason": "schema", "detail": "lat: too big",
        "payload": payload, "retained": False,
    }  # fmt: skip
    return Rejection(**{**values, **changes})  # type: ignore[arg-type]


def all_letters(session: Session) -> list[DeadLetter]:
    return list(session.scalars(select(DeadLetter).order_by(DeadLetter.id)).all())


def test_a_message_that_comes_back_bad_counts_on_its_letter_instead_of_adding_one(
    session: Session, acme: Tenant
) -> None:
    first_seen = utcnow() - timedelta(minutes=5)
    record_rejections(session.connection(), [rejection(b'{"a":1}'), rejection(b'{"b":1}')], first_seen)
    later = utcnow()
    again = rejection(b'{"a":1}', reason="unknown_device", detail="not registered", tenant_id=acme.id)

    record_rejections(session.connection(), [again, again, rejection(b'{"a":1}', topic="fleet/v1/bus-1/can")], later)

    a, b, other_topic = all_letters(session)
    assert (a.payload, a.repeat_count, a.last_seen_at, a.received_at) == (b'{"a":1}', 2, later, first_seen)
    assert (a.reason, a.detail, a.tenant_id) == ("unknown_device", "not registered", acme.id)  # the latest
    assert (b.repeat_count, b.last_seen_at) == (0, None)
    assert (other_topic.topic, other_topic.repeat_count) == ("fleet/v1/bus-1/can", 0)
    assert a.fingerprint == fingerprint(a.topic, a.payload) != other_topic.fingerprint
    assert len({fingerprint("a/b", b"c"), fingerprint("a/bc", b""), fingerprint("a/b", b"\0c")}) == 3


def test_a_retained_message_sent_again_is_skipped_and_counted(session: Session) -> None:
    retained = rejection(b"{not json", topic="fleet/v1/bus-1/status", reason="bad_json", retained=True)

    assert record_rejections(session.connection(), [retained], utcnow()) == {}
    assert record_rejections(session.connection(), [retained], utcnow()) == {"bad_json": 1}
    assert record_rejections(session.connection(), [retained, retained], utcnow()) == {"bad_json": 2}

    (letter_,) = all_letters(session)
    assert (letter_.repeat_count, letter_.last_seen_at) == (0, None)
    live = rejection(b"{not json", topic="fleet/v1/bus-1/status", reason="bad_json")
    assert record_rejections(session.connection(), [live, retained], utcnow()) == {"bad_json": 1}
    session.expire_all()
    assert all_letters(session)[0].repeat_count == 1  # sent live again: a repeat of the message itself


def test_a_replayed_letter_that_comes_back_bad_is_pending_again_whenever_it_comes_back(session: Session) -> None:
    record_rejections(session.connection(), [rejection(b"1"), rejection(b"2")], utcnow())
    early, late = all_letters(session)
    # `early` comes back bad before the replay is marked (ingest was quicker than the replay's commit); `late` after.
    seen = {early.id: early.repeat_count, late.id: late.repeat_count}
    record_rejections(session.connection(), [rejection(b"1")], utcnow())
    mark_replayed(session, seen, utcnow())
    session.expire_all()
    assert (early.replayed_at, early.replay_count, early.repeat_count) == (None, 1, 1)
    assert late.replayed_at is not None and late.replay_count == 1
    record_rejections(session.connection(), [rejection(b"2")], utcnow())
    session.expire_all()
    assert (late.replayed_at, late.replay_count, late.repeat_count) == (None, 1, 1)


def test_a_bulk_replay_skips_letters_replayed_often_already_but_named_ids_do_not(
    session: Session, acme: Tenant
) -> None:
    tired, fresh = letter(session, "bus-1"), letter(session, "bus-1")
    session.get_one(DeadLetter, tired).replay_count = BULK_REPLAYS
    session.get_one(DeadLetter, fresh).replay_count = BULK_REPLAYS - 1
    session.flush()

    assert ids(pending_dead_letters(session, tenant_id=acme.id)) == [fresh]
    assert ids(pending_dead_letters(session, tenant_id=None)) == [fresh]
    assert ids(pending_dead_letters(session, tenant_id=acme.id, ids=[tired, fresh])) == [tired, fresh]
