"""Rules of commands: create one with its outbox message, cancel it, and move it along as the dispatcher reports.

- `create` validates the params against the type's schema (`Invalid` with the reason), writes the command, its
  first transition and its outbox message (`fleet.outbox.service.enqueue`, which never publishes) in the caller's
  transaction. An Idempotency-Key returns the command made with it before; the same key with another request is
  a `Conflict`.
- The dispatcher reports what the broker acknowledged (`mark_sent`) and sweeps expiry (`expire`); the unit's acks
  are applied by `fleet.commands.acks` in ingest's transaction. Every move goes forward only
  (`fleet.commands.states.moves_forward`), with its transition recorded and a `command` message on the live feed.
"""

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from fleet.audit import service as audit
from fleet.audit.service import CLI, Actor, AuditAction
from fleet.commands import repository
from fleet.commands.states import FINAL, OPEN, CommandState, moves_forward
from fleet.contract.commands import PARAMS, CommandMessage, parse_params
from fleet.db.models import Command, CommandTransition, Vehicle, utcnow
from fleet.errors import Conflict, Invalid, NotFound
from fleet.live import feed
from fleet.live.feed import Kind, Message
from fleet.outbox import service as outbox
from fleet.outbox.service import MAX_ID

COMMAND_SUFFIX = "cmd"
DEFAULT_EXPIRY = timedelta(hours=1)
# A command waits at most as long as any outbox message.
MAX_EXPIRY = outbox.MAX_LIFETIME
MIN_EXPIRY = timedelta(seconds=10)


def create(
    session: Session,
    vehicle: Vehicle,
    command_type: str,
    params: dict[str, Any],
    expires_in: timedelta = DEFAULT_EXPIRY,
    idempotency_key: str | None = None,
    actor: Actor = CLI,
) -> tuple[Command, bool]:
    """Queue a command for `vehicle`'s unit in the caller's transaction; returns it and whether it is new."""
    if command_type not in PARAMS:
        raise Invalid(f"unknown command type {command_type!r}; types are {', '.join(PARAMS)}")
    try:
        checked = parse_params(command_type, params).model_dump(mode="json", exclude_none=True)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'params'}: {e['msg']}" for e in error.errors())
        raise Invalid(f"params of {command_type}: {problems}") from None
    if not MIN_EXPIRY <= expires_in <= MAX_EXPIRY:
        raise Invalid(f"expires_in_seconds must be {MIN_EXPIRY.seconds}-{int(MAX_EXPIRY.total_seconds())}")
    if idempotency_key is not None:
        earlier = repository.by_idempotency_key(session, vehicle.tenant_id, idempotency_key)
        if earlier is not None:
            if (earlier.vehicle_id, earlier.type, earlier.params) != (vehicle.id, command_type, checked):
                raise Conflict("this Idempotency-Key was used for another command")
            return earlier, False
    now = utcnow()
    command = Command(
        tenant_id=vehicle.tenant_id,
        vehicle_id=vehicle.id,
        type=command_type,
        params=checked,
        state=CommandState.QUEUED.value,
        created_at=now,
        expires_at=now + expires_in,
        idempotency_key=idempotency_key,
        created_by=actor.name,
    )
    repository.add(session, command)
    message = CommandMessage(id=str(command.id), type=command_type, params=checked, expires_at=command.expires_at)
    queued = outbox.enqueue(session, vehicle, COMMAND_SUFFIX, message.model_dump_json().encode(), command.expires_at)
    session.flush()
    command.outbox_id = queued.id
    repository.add_transition(session, command.id, CommandState.QUEUED, now, f"by {actor.name}")
    _publish(session, command, vehicle.device_id, now, f"by {actor.name}")
    detail = {"type": command_type, "params": checked, "expires_at": command.expires_at.isoformat()}
    audit.record(
        session, tenant_id=vehicle.tenant_id, actor=actor, action=AuditAction.COMMAND_CREATE, target=str(command.id),
        detail={**detail, "device_id": vehicle.device_id},
    )  # fmt: skip
    return command, True


def get(session: Session, tenant_id: int, command_id: int) -> tuple[Command, Sequence[CommandTransition]]:
    """The tenant's command and its history; NotFound for an unknown id or another tenant's."""
    command = _of_tenant(session, tenant_id, command_id)
    return command, repository.history(session, command.id)


def of_vehicle(
    session: Session, vehicle: Vehicle, limit: int, before_id: int | None = None, state: str | None = None
) -> Sequence[Command]:
    """A vehicle's commands, newest first."""
    return repository.of_vehicle(session, vehicle.id, limit, before_id, state)


def cancel(session: Session, tenant_id: int, command_id: int, actor: Actor = CLI) -> Command:
    """Cancel a command not delivered yet; `Conflict` once the unit has it (or it ended)."""
    command = _of_tenant(session, tenant_id, command_id, lock=True)
    if CommandState(command.state) not in OPEN:
        raise Conflict(f"command {command_id} is {command.state}: only queued or sent commands can be cancelled")
    if command.state == CommandState.QUEUED and command.outbox_id is not None:
        # Not published yet: it never will be. (A sent command may still reach the unit; its acks are ignored.)
        outbox.cancel(session, tenant_id, command.outbox_id)
    move(session, command, CommandState.CANCELLED, utcnow(), f"by {actor.name}")
    audit.record(session, tenant_id=tenant_id, actor=actor, action=AuditAction.COMMAND_CANCEL, target=str(command.id))
    return command


def mark_sent(session: Session, outbox_ids: Sequence[int], now: datetime) -> None:
    """The broker acknowledged these outbox messages: their queued commands are sent."""
    if outbox_ids:
        for command in repository.by_outbox_ids(session, outbox_ids):
            if move(session, command, CommandState.SENT, now, None):
                command.sent_at = now


def expire(session: Session, now: datetime) -> int:
    """Queued or sent commands past their expiry are expired; returns how many."""
    expired = repository.due_to_expire(session, now)
    for command in expired:
        move(session, command, CommandState.EXPIRED, now, "not delivered before expires_at")
    return len(expired)


def move(session: Session, command: Command, state: CommandState, at: datetime, detail: str | None) -> bool:
    """Move `command` to `state` if that is forward, with its transition; whether it moved."""
    if not moves_forward(command.state, state):
        return False
    command.state = state.value
    if state in FINAL:
        command.finished_at = at
    repository.add_transition(session, command.id, state, at, detail)
    # From the identity map when the caller loaded the vehicle, else one lookup by primary key.
    _publish(session, command, session.get_one(Vehicle, command.vehicle_id).device_id, at, detail)
    return True


def _publish(session: Session, command: Command, device_id: str, at: datetime, detail: str | None) -> None:
    payload = {
        "id": command.id, "device_id": device_id, "type": command.type, "state": command.state,
        "at": at.isoformat(), "detail": detail,
    }  # fmt: skip
    feed.publish(session.connection(), [Message(command.tenant_id, Kind.COMMAND, payload)])


def _of_tenant(session: Session, tenant_id: int, command_id: int, lock: bool = False) -> Command:
    if not 1 <= command_id <= MAX_ID:
        raise NotFound(f"no command {command_id}")
    command = repository.of_tenant(session, tenant_id, command_id, lock=lock)
    if command is None:
        raise NotFound(f"no command {command_id}")
    return command
