"""The outbox's rules: what enqueue accepts, which messages a claim takes and in what order, expiry, cancel, notify."""

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from fleet.db.engine import make_engine, make_session_factory
from fleet.db.migrate import upgrade
from fleet.db.models import OutboxMessage, Vehicle, utcnow
from fleet.errors import Conflict, Invalid, NotFound
from fleet.outbox import service as outbox
from fleet.outbox.repository import NOTIFY_CHANNEL
from fleet.outbox.service import MAX_PAYLOAD_BYTES, OutboxState
from fleet.registry.repository import delete_vehicles
from tests.fixtures.downlink import set_online
from tests.fixtures.factories import seed_tenant
from tests.fixtures.postgres import PostgresServer

pytestmark = pytest.mark.integration

MINUTE = timedelta(minutes=1)


@pytest.fixture(scope="module")
def pg_outbox(postgres: PostgresServer) -> Iterator[Engine]:
    """A database of its own: claims here see no other module's messages."""
    url = postgres.create_database("outbox_core")
    upgrade(url)
    engine = make_engine(url)
    yield engine
    engine.dispose()


@pytest.fixture(autouse=True)
def empty_outbox(pg_outbox: Engine) -> Iterator[None]:
    """Every test starts with an empty outbox."""
    yield
    with pg_outbox.begin() as connection:
        connection.execute(OutboxMessage.__table__.delete())


@pytest.fixture(params=["postgresql", "sqlite"])
def engine(request: pytest.FixtureRequest, pg_outbox: Engine) -> Iterator[Engine]:
    if request.param == "postgresql":
        yield pg_outbox
        return
    sqlite = make_engine(request.getfixturevalue("sqlite_url"))
    yield sqlite
    sqlite.dispose()


def vehicles(engine: Engine, unique: str, *names: str, online: tuple[str, ...] = ()) -> dict[str, str]:
    """Register a tenant's vehicles named `names`; those in `online` are online. Name -> device id."""
    devices = {name: f"{name}-{unique}" for name in names}
    seed_tenant(engine, f"outbox-{unique}", list(devices.values()))
    for name in online:
        set_online(engine, devices[name], True)
    return devices


def vehicle(session: Session, device_id: str) -> Vehicle:
    return session.scalars(select(Vehicle).where(Vehicle.device_id == device_id)).one()


def add(
    session: Session,
    device_id: str,
    payload: bytes = b"{}",
    expires_in: timedelta = 30 * MINUTE,
    not_before: datetime | None = None,
) -> int:
    message = outbox.enqueue(
        session, vehicle(session, device_id), "cmd", payload, utcnow() + expires_in, not_before=not_before
    )
    return message.id


def test_enqueue_stores_a_pending_message_in_the_callers_transaction(engine: Engine, unique: str) -> None:
    devices = vehicles(engine, unique, "a")
    sessions = make_session_factory(engine)
    with sessions() as session:
        expires = utcnow() + 10 * MINUTE
        message = outbox.enqueue(
            session, vehicle(session, devices["a"]), "file/grant", {"b": [1, 2], "a": "x"}, expires
        )
        assert message.id is not None  # flushed, not committed
        session.rollback()
    with sessions() as session:
        assert session.scalar(select(OutboxMessage).where(OutboxMessage.vehicle_id == message.vehicle_id)) is None
        stored = outbox.enqueue(session, vehicle(session, devices["a"]), "file/grant", {"b": [1, 2], "a": "x"}, expires)
        session.commit()
    with sessions() as session:
        row = session.get_one(OutboxMessage, stored.id)
        assert (row.suffix, row.state, row.attempts, row.sent_at, row.last_error) == (
            "file/grant",
            "pending",
            0,
            None,
            None,
        )
        assert json.loads(row.payload) == {"b": [1, 2], "a": "x"} and b" " not in row.payload
        assert row.not_before == row.created_at and row.expires_at == expires
        assert row.tenant_id == vehicle(session, devices["a"]).tenant_id


@pytest.mark.parametrize(
    ("suffix", "payload", "expires_in", "not_before_in", "error"),
    [
        ("status", b"{}", 5 * MINUTE, None, "not a downlink topic suffix"),
        ("cmd/x", b"{}", 5 * MINUTE, None, "not a downlink topic suffix"),
        ("cmd", b"x" * (MAX_PAYLOAD_BYTES + 1), 5 * MINUTE, None, "at most 262144 bytes"),
        ("cmd", b"{}", -MINUTE, None, "expires_at must be after now"),
        ("cmd", b"{}", 5 * MINUTE, 6 * MINUTE, "after not_before"),
        ("cmd", b"{}", timedelta(days=31), None, "at most 30 days ahead"),
    ],
)
def test_enqueue_refuses(
    engine: Engine,
    unique: str,
    suffix: str,
    payload: bytes,
    expires_in: timedelta,
    not_before_in: timedelta | None,
    error: str,
) -> None:
    devices = vehicles(engine, unique, "a")
    with make_session_factory(engine)() as session:
        not_before = utcnow() + not_before_in if not_before_in else None
        with pytest.raises(Invalid, match=error):
            outbox.enqueue(
                session, vehicle(session, devices["a"]), suffix, payload, utcnow() + expires_in, not_before=not_before
            )


def test_enqueue_refuses_naive_times(engine: Engine, unique: str) -> None:
    devices = vehicles(engine, unique, "a")
    with make_session_factory(engine)() as session:
        naive = datetime.now(UTC).replace(tzinfo=None) + MINUTE
        with pytest.raises(Invalid, match="expires_at must carry a time zone"):
            outbox.enqueue(session, vehicle(session, devices["a"]), "cmd", b"{}", naive)
        with pytest.raises(Invalid, match="not_before must carry a time zone"):
            outbox.enqueue(session, vehicle(session, devices["a"]), "cmd", b"{}", utcnow() + MINUTE, not_before=naive)
    assert MAX_PAYLOAD_BYTES == 262144


def test_claim_takes_due_messages_of_online_vehicles_in_id_order(engine: Engine, unique: str) -> None:
    devices = vehicles(engine, unique, "on", "off", "unknown", "other", online=("on", "other"))
    set_online(engine, devices["off"], False)
    sessions = make_session_factory(engine)
    with sessions() as session:
        first = add(session, devices["on"], b"1")
        held_offline = add(session, devices["off"])
        scheduled = add(session, devices["on"], b"later", expires_in=20 * MINUTE, not_before=utcnow() + 10 * MINUTE)
        short_lived = add(session, devices["on"], b"short", expires_in=MINUTE)
        other = add(session, devices["other"], b"o")
        held_unknown = add(session, devices["unknown"])
        last = add(session, devices["on"], b"3")
        session.commit()
    # Two minutes on: the short-lived one is past its expiry, the scheduled one not due yet.
    with sessions() as session:
        claimed = outbox.claim(session, limit=10, now=utcnow() + 2 * MINUTE)
        session.commit()
    assert [m.id for m in claimed] == [first, other, last]
    head = claimed[0]
    assert (head.device_id, head.payload, head.topic) == (devices["on"], b"1", f"fleet/v1/{devices['on']}/cmd")
    # Later still, the scheduled one is due; nothing was marked, so the others come again.
    with sessions() as session:
        later = outbox.claim(session, limit=10, now=utcnow() + 11 * MINUTE)
        assert [m.id for m in later] == [first, scheduled, other, last]
    assert {held_offline, held_unknown, short_lived}.isdisjoint(m.id for m in claimed)


def test_claim_is_bounded_and_takes_whole_prefixes_of_each_vehicle(engine: Engine, unique: str) -> None:
    devices = vehicles(engine, unique, "a", "b", "c", online=("a", "b", "c"))
    sessions = make_session_factory(engine)
    with sessions() as session:
        ids = {name: [add(session, devices[name]) for _ in range(3)] for name in ("a", "b", "c")}
        session.commit()
    with sessions() as session:
        claimed = [m.id for m in outbox.claim(session, limit=5)]
    # The three vehicles' first messages, then the oldest of the rest: each vehicle's share is a prefix of its queue.
    assert len(claimed) == 5 and claimed == sorted(claimed)
    for name in ("a", "b", "c"):
        mine = [i for i in claimed if i in ids[name]]
        assert mine == ids[name][: len(mine)] and mine


def test_marks_and_expiry(engine: Engine, unique: str) -> None:
    devices = vehicles(engine, unique, "a", online=("a",))
    sessions = make_session_factory(engine)
    with sessions() as session:
        sent, failed, expiring = (
            add(session, devices["a"]),
            add(session, devices["a"]),
            add(session, devices["a"], expires_in=MINUTE),
        )
        session.commit()
    with sessions() as session:
        outbox.mark_sent(session, [sent])
        outbox.record_failure(session, [failed], "no PUBACK" + "!" * 3000)
        assert outbox.mark_expired(session, utcnow()) == 0
        assert outbox.mark_expired(session, utcnow() + 2 * MINUTE) == 1
        assert outbox.mark_expired(session, utcnow() + 2 * MINUTE) == 0
        session.commit()
    with sessions() as session:
        rows = {i: session.get_one(OutboxMessage, i) for i in (sent, failed, expiring)}
        assert (rows[sent].state, rows[sent].attempts, rows[sent].sent_at is not None) == ("sent", 1, True)
        assert (rows[failed].state, rows[failed].attempts) == ("pending", 1)
        assert rows[failed].last_error is not None and len(rows[failed].last_error) == 2000
        assert (rows[expiring].state, rows[expiring].sent_at) == ("expired", None)
        # Neither sent nor expired messages are claimed again.
        assert [m.id for m in outbox.claim(session, limit=10)] == [failed]


def test_cancel(engine: Engine, unique: str) -> None:
    devices = vehicles(engine, unique, "a", online=("a",))
    stranger = seed_tenant(engine, f"outbox-stranger-{unique}", [])
    sessions = make_session_factory(engine)
    with sessions() as session:
        pending, sent = add(session, devices["a"]), add(session, devices["a"])
        outbox.mark_sent(session, [sent])
        tenant_id = vehicle(session, devices["a"]).tenant_id
        session.commit()
    with sessions() as session:
        for tenant, message_id in ((stranger.id, pending), (tenant_id, 2**63), (tenant_id, 0), (tenant_id, 10**12)):
            with pytest.raises(NotFound):
                outbox.cancel(session, tenant, message_id)
        with pytest.raises(Conflict, match="is sent already"):
            outbox.cancel(session, tenant_id, sent)
        assert outbox.cancel(session, tenant_id, pending).state == OutboxState.CANCELLED
        session.commit()
    with sessions() as session:
        assert session.get_one(OutboxMessage, pending).state == "cancelled"
        with pytest.raises(Conflict, match="is cancelled already"):
            outbox.cancel(session, tenant_id, pending)
        assert outbox.claim(session, limit=10) == []


def test_backlog(engine: Engine, unique: str) -> None:
    devices = vehicles(engine, unique, "on", "off", online=("on",))
    sessions = make_session_factory(engine)
    with sessions() as session:
        assert outbox.backlog(session) == outbox.Backlog(0, 0.0)
        add(session, devices["off"])
        add(session, devices["on"], not_before=utcnow() + MINUTE)
        session.commit()
        # Held messages count as pending, but none of them could be sent now.
        assert outbox.backlog(session) == outbox.Backlog(2, 0.0)
        add(session, devices["on"])
        session.commit()
        backlog = outbox.backlog(session, utcnow() + MINUTE / 2)
        assert backlog.pending == 3 and 29 < backlog.oldest_due_age_seconds < 35


def test_deleting_a_vehicle_deletes_its_messages(engine: Engine, unique: str) -> None:
    devices = vehicles(engine, unique, "a")
    sessions = make_session_factory(engine)
    with sessions() as session:
        message_id = add(session, devices["a"])
        delete_vehicles(session, [vehicle(session, devices["a"]).id])
        session.commit()
        assert session.get(OutboxMessage, message_id) is None


def test_message_expiry_is_the_time_left_rounded_up() -> None:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    assert outbox.message_expiry_seconds(now + timedelta(seconds=90), now) == 90
    assert outbox.message_expiry_seconds(now + timedelta(seconds=0.2), now) == 1
    assert outbox.message_expiry_seconds(now, now) == 0
    assert outbox.message_expiry_seconds(now - MINUTE, now) == 0


# --- PostgreSQL: several dispatchers, row locks, notifications ----------------------------------------------------


def test_concurrent_claims_never_share_a_vehicle(pg_outbox: Engine, unique: str) -> None:
    devices = vehicles(pg_outbox, unique, "x", "y", online=("x", "y"))
    sessions = make_session_factory(pg_outbox)
    with sessions() as session:
        x = [add(session, devices["x"]) for _ in range(3)]
        y = [add(session, devices["y"]) for _ in range(2)]
        session.commit()
    first, second = sessions(), sessions()
    try:
        # The first dispatcher holds x's first message only (limit 1): x is its, y is free.
        assert [m.id for m in outbox.claim(first, limit=1)] == [x[0]]
        assert [m.id for m in outbox.claim(second, limit=10)] == y
        second.rollback()
        # Nothing of x, not even its later messages, goes to the second while the first holds x's head.
        assert [m.id for m in outbox.claim(second, limit=10)] == y
        second.rollback()
        outbox.mark_sent(first, [x[0]])
        first.commit()
        assert [m.id for m in outbox.claim(second, limit=10)] == [*x[1:], *y]
    finally:
        first.close()
        second.close()


def test_expiry_and_cancel_never_wait_for_a_dispatcher(pg_outbox: Engine, unique: str) -> None:
    devices = vehicles(pg_outbox, unique, "a", online=("a",))
    sessions = make_session_factory(pg_outbox)
    with sessions() as session:
        held = add(session, devices["a"], expires_in=MINUTE)
        tenant_id = vehicle(session, devices["a"]).tenant_id
        session.commit()
    dispatcher, other = sessions(), sessions()
    try:
        assert [m.id for m in outbox.claim(dispatcher, limit=10)] == [held]
        # Another dispatcher's sweep skips the locked row; a cancel says it is being published.
        assert outbox.mark_expired(other, utcnow() + 2 * MINUTE) == 0
        with pytest.raises(Conflict, match="being published"):
            outbox.cancel(other, tenant_id, held)
        other.rollback()
        dispatcher.rollback()
        assert outbox.mark_expired(other, utcnow() + 2 * MINUTE) == 1
        other.commit()
    finally:
        dispatcher.close()
        other.close()


def test_enqueue_notifies_listeners_at_commit_only(pg_outbox: Engine, unique: str) -> None:
    devices = vehicles(pg_outbox, unique, "a")
    conninfo = pg_outbox.url.set(drivername="postgresql").render_as_string(hide_password=False)
    sessions = make_session_factory(pg_outbox)
    with psycopg.connect(conninfo, autocommit=True) as listener:
        listener.execute(f"LISTEN {NOTIFY_CHANNEL}")
        with sessions() as session:
            add(session, devices["a"])
            assert list(listener.notifies(timeout=0.3)) == []  # not before the commit
            session.rollback()
        assert list(listener.notifies(timeout=0.3)) == []  # nor after a rollback
        with sessions() as session:
            add(session, devices["a"])
            add(session, devices["a"])
            session.commit()
        assert [n.channel for n in listener.notifies(timeout=2, stop_after=1)] == [NOTIFY_CHANNEL]
