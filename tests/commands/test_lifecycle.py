"""The command lifecycle against a real PostgreSQL: creation with its outbox message, sent, acks, expiry, cancel."""

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from fleet.commands import service
from fleet.commands.acks import REASON_UNKNOWN_COMMAND, Ack, apply_acks
from fleet.contract.commands import CommandMessage
from fleet.contract.records import AckRecord
from fleet.db.engine import make_session_factory
from fleet.db.models import Command, OutboxMessage, Vehicle
from fleet.errors import Conflict, Invalid, NotFound
from tests.fixtures.factories import SeededTenant, seed_tenant

pytestmark = pytest.mark.integration


@pytest.fixture
def tenant(pg_engine: Engine, unique: str) -> SeededTenant:
    """A tenant with two buses."""
    return seed_tenant(pg_engine, f"cmd-{unique}", [f"bus-{unique}-a", f"bus-{unique}-b"])


@pytest.fixture
def session(pg_engine: Engine) -> Iterator[Session]:
    """A session on the shared database."""
    with make_session_factory(pg_engine)() as session:
        yield session


def vehicle(session: Session, device_id: str) -> Vehicle:
    return session.scalars(select(Vehicle).where(Vehicle.device_id == device_id)).one()


def queue(session: Session, bus: Vehicle, **options: object) -> Command:
    command, _ = service.create(session, bus, "driver_message", {"text": "Depot at 18:00"}, **options)  # type: ignore[arg-type]
    session.commit()
    return command


def ack(
    engine: Engine,
    bus: Vehicle,
    command: Command,
    state: str,
    seq: int,
    delivered: list[float] | None = None,
    **fields: object,
) -> list[str]:
    """Apply one ack of `bus` in its own transaction; the dead letters' reasons. Delivery times go to `delivered`."""
    record = AckRecord(ts=datetime.now(UTC), seq=seq, command_id=str(command.id), state=state, **fields)  # type: ignore[arg-type]
    on_delivered = delivered.append if delivered is not None else None
    with engine.begin() as connection:
        refused = apply_acks(connection, [Ack(bus.id, record, datetime.now(UTC))], on_delivered)
    return [r.reason for r in refused]


def states(session: Session, command: Command) -> list[str]:
    session.expire_all()
    _, history = service.get(session, command.tenant_id, command.id)
    return [t.state for t in history]


def test_a_command_goes_queued_sent_delivered_done_and_late_acks_change_nothing(
    pg_engine: Engine, session: Session, tenant: SeededTenant
) -> None:
    bus = vehicle(session, tenant.device_ids[0])
    command = queue(session, bus)
    message = session.get_one(OutboxMessage, command.outbox_id)
    sent = CommandMessage.model_validate_json(message.payload)
    assert (sent.id, sent.type, sent.params, message.suffix) == (
        str(command.id),
        "driver_message",
        {"text": "Depot at 18:00"},
        "cmd",
    )

    service.mark_sent(session, [message.id], datetime.now(UTC))
    session.commit()
    assert ack(pg_engine, bus, command, "received", 1) == []
    assert ack(pg_engine, bus, command, "done", 2, result={"shown": True}) == []
    assert ack(pg_engine, bus, command, "done", 2, result={"shown": True}) == []
    assert ack(pg_engine, bus, command, "received", 3) == []
    assert ack(pg_engine, bus, command, "failed", 4, error="late") == []

    assert states(session, command) == ["queued", "sent", "delivered", "done"]
    session.refresh(command)
    assert (command.result, command.error) == ({"shown": True}, None)
    assert command.delivered_at is not None and command.finished_at is not None


def test_an_ack_for_an_unknown_or_another_vehicles_command_is_a_dead_letter(
    pg_engine: Engine, session: Session, tenant: SeededTenant
) -> None:
    a, b = vehicle(session, tenant.device_ids[0]), vehicle(session, tenant.device_ids[1])
    command = queue(session, a)
    assert ack(pg_engine, b, command, "done", 1) == [REASON_UNKNOWN_COMMAND]
    ghost = Command(id=2**62, tenant_id=a.tenant_id)
    assert ack(pg_engine, a, ghost, "received", 2) == [REASON_UNKNOWN_COMMAND]
    assert states(session, command) == ["queued"]


def test_an_ack_before_the_send_was_recorded_shows_the_send(
    pg_engine: Engine, session: Session, tenant: SeededTenant
) -> None:
    bus = vehicle(session, tenant.device_ids[0])
    command = queue(session, bus)

    assert ack(pg_engine, bus, command, "rejected", 1, error="display off") == []
    session.expire_all()
    sent_at = session.get_one(Command, command.id).sent_at
    # The dispatcher's commit comes after: the command stays rejected, sent when the unit's ack showed it.
    service.mark_sent(session, [command.outbox_id or 0], datetime.now(UTC))
    session.commit()

    assert states(session, command) == ["queued", "sent", "rejected"]
    session.refresh(command)
    assert sent_at is not None and command.sent_at == sent_at


def test_commands_not_delivered_in_time_expire(session: Session, tenant: SeededTenant) -> None:
    bus = vehicle(session, tenant.device_ids[0])
    command = queue(session, bus, expires_in=timedelta(seconds=10))

    assert service.expire(session, datetime.now(UTC) + timedelta(seconds=11)) >= 1
    session.commit()

    assert states(session, command) == ["queued", "expired"]


def test_a_sent_command_without_an_ack_expires_with_its_history(
    pg_engine: Engine, session: Session, tenant: SeededTenant
) -> None:
    bus = vehicle(session, tenant.device_ids[0])
    command = queue(session, bus, expires_in=timedelta(seconds=10))
    service.mark_sent(session, [command.outbox_id or 0], datetime.now(UTC))
    session.commit()
    sweep_at = datetime.now(UTC) + timedelta(seconds=11)
    assert command.expires_at < sweep_at

    assert service.expire(session, sweep_at) >= 1
    session.commit()

    assert states(session, command) == ["queued", "sent", "expired"]
    _, history = service.get(session, command.tenant_id, command.id)
    assert (history[-1].at, history[-1].detail) == (sweep_at, "not delivered before expires_at")
    assert command.finished_at == sweep_at and command.delivered_at is None
    # The unit answering after the expiry changes nothing.
    assert ack(pg_engine, bus, command, "received", 1) == []
    assert states(session, command) == ["queued", "sent", "expired"]


def test_a_delivered_or_finished_command_does_not_expire(
    pg_engine: Engine, session: Session, tenant: SeededTenant
) -> None:
    bus = vehicle(session, tenant.device_ids[0])
    delivered, done, failed = (queue(session, bus, expires_in=timedelta(seconds=10)) for _ in range(3))
    service.mark_sent(session, [c.outbox_id or 0 for c in (delivered, done, failed)], datetime.now(UTC))
    session.commit()
    ack(pg_engine, bus, delivered, "received", 1)
    ack(pg_engine, bus, done, "received", 2)
    ack(pg_engine, bus, done, "done", 3, result={"shown": True})
    ack(pg_engine, bus, failed, "failed", 4, error="display off")
    sweep_at = datetime.now(UTC) + timedelta(seconds=11)
    assert all(c.expires_at < sweep_at for c in (delivered, done, failed))

    service.expire(session, sweep_at)
    session.commit()

    assert states(session, delivered) == ["queued", "sent", "delivered"]
    assert states(session, done) == ["queued", "sent", "delivered", "done"]
    assert states(session, failed) == ["queued", "sent", "failed"]
    assert [session.get_one(Command, c.id).state for c in (delivered, done, failed)] == ["delivered", "done", "failed"]


def test_the_delivery_time_is_reported_once_at_the_first_ack(
    pg_engine: Engine, session: Session, tenant: SeededTenant
) -> None:
    bus = vehicle(session, tenant.device_ids[0])
    command, straight_to_done = queue(session, bus), queue(session, bus)
    service.mark_sent(session, [command.outbox_id or 0], datetime.now(UTC))
    session.commit()
    delivered: list[float] = []

    ack(pg_engine, bus, command, "received", 1, delivered)
    ack(pg_engine, bus, command, "received", 1, delivered)
    ack(pg_engine, bus, command, "received", 2, delivered)
    ack(pg_engine, bus, command, "done", 3, delivered)
    # A unit that answers `done` at once (its `received` lost) delivered the command with that ack.
    ack(pg_engine, bus, straight_to_done, "done", 4, delivered)

    session.expire_all()
    first, second = (session.get_one(Command, c.id) for c in (command, straight_to_done))
    assert first.delivered_at is not None and second.delivered_at is not None
    assert delivered == [
        (first.delivered_at - first.created_at).total_seconds(),
        (second.delivered_at - second.created_at).total_seconds(),
    ]


def test_cancel_before_delivery_only(pg_engine: Engine, session: Session, tenant: SeededTenant) -> None:
    bus = vehicle(session, tenant.device_ids[0])
    first, second = queue(session, bus), queue(session, bus)
    service.cancel(session, bus.tenant_id, first.id)
    session.commit()
    assert states(session, first) == ["queued", "cancelled"]
    assert session.get_one(OutboxMessage, first.outbox_id).state == "cancelled"

    ack(pg_engine, bus, second, "received", 1)
    with pytest.raises(Conflict, match="delivered"):
        service.cancel(session, bus.tenant_id, second.id)
    with pytest.raises(NotFound):
        service.cancel(session, bus.tenant_id + 10_000, second.id)


def test_an_idempotency_key_returns_the_same_command(session: Session, tenant: SeededTenant) -> None:
    bus = vehicle(session, tenant.device_ids[0])
    first, new = service.create(session, bus, "reboot", {}, idempotency_key="k-1")
    again, new_again = service.create(session, bus, "reboot", {}, idempotency_key="k-1")
    assert (first.id, new, new_again) == (again.id, True, False)
    with pytest.raises(Conflict):
        service.create(session, bus, "driver_message", {"text": "x"}, idempotency_key="k-1")


@pytest.mark.parametrize(
    ("command_type", "params", "problem"),
    [
        ("driver_message", {"text": "x" * 501}, "at most 500"),
        ("driver_message", {}, "text"),
        ("request_file", {"kind": "video"}, "started_at and ended_at"),
        ("request_file", {"kind": "firmware"}, "kind"),
        ("set_reporting", {}, "pos_interval_seconds"),
        ("reboot", {"now": True}, "now"),
        ("self_destruct", {}, "unknown command type"),
    ],
)
def test_params_are_checked_against_the_types_schema(
    session: Session, tenant: SeededTenant, command_type: str, params: dict[str, object], problem: str
) -> None:
    bus = vehicle(session, tenant.device_ids[0])
    with pytest.raises(Invalid, match=problem):
        service.create(session, bus, command_type, params)


def test_the_command_schemas_are_published() -> None:
    from fleet.contract.export import SCHEMA_DIR

    params = json.loads((SCHEMA_DIR / "cmd-params.json").read_text())
    assert set(params["$defs"]) == {"driver_message", "request_file", "set_reporting", "reboot"}
    assert json.loads((SCHEMA_DIR / "cmd.json").read_text())["title"] == "fleet/v1/{device_id}/cmd"
