"""Commands over HTTP: queue one for a vehicle (idempotently), page a vehicle's, get one with its history, cancel.

The rules (params checked against the type's schema, the outbox message, Idempotency-Key, the audit entries
`command.create` and `command.cancel`, cancelling only before delivery) are `fleet.commands.service`'s.
"""

import base64
import binascii
from datetime import timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.commands.schemas import CommandDetail, CommandIn, CommandOut, CommandPage
from api.tenancy.service import Principal
from fleet.commands import service as commands
from fleet.commands.states import CommandState
from fleet.db.models import Command
from fleet.errors import Conflict, Invalid
from fleet.registry import repository as registry
from fleet.registry.service import find_vehicle

# Ids are signed 64-bit: a cursor naming a larger one was not issued by us.
MAX_ID = 2**63 - 1
CURSOR_VERSION = "c1"


def encode_cursor(command_id: int) -> str:
    """Opaque cursor continuing below the command `command_id` (ids are unique: no ties to break)."""
    return base64.urlsafe_b64encode(f"{CURSOR_VERSION}:{command_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The id a cursor continues below; 422 when it was not issued by `encode_cursor`."""
    try:
        raw = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True)
        version, _, value = raw.decode().partition(":")
        if version != CURSOR_VERSION or not value.isdigit() or not 1 <= (command_id := int(value)) <= MAX_ID:
            raise ValueError("not a cursor")
        return command_id
    except (ValueError, binascii.Error):
        raise Invalid("invalid cursor: pass the `next` value of a previous page unchanged") from None


def create_command(
    session: Session, principal: Principal, device_id: str, body: CommandIn, idempotency_key: str | None
) -> tuple[CommandOut, bool]:
    """Queue a command for the tenant's vehicle with its outbox message; the command and whether it is new."""
    vehicle = find_vehicle(session, principal.tenant_id, device_id)
    try:
        command, is_new = commands.create(
            session,
            vehicle,
            body.type,
            body.params,
            expires_in=timedelta(seconds=body.expires_in_seconds),
            idempotency_key=idempotency_key,
            actor=principal.actor,
        )
    except IntegrityError:
        if idempotency_key is None:
            raise
        # Another request with this key inserted its command first and had not committed when this one looked.
        raise Conflict("a request with this Idempotency-Key is in progress: retry it for its answer") from None
    return CommandOut.from_row(command, vehicle.device_id), is_new


def vehicle_commands(
    session: Session, tenant_id: int, device_id: str, state: CommandState | None, limit: int, cursor: str | None
) -> CommandPage:
    """A page of the tenant's vehicle's commands (in one state, if given), newest first."""
    vehicle = find_vehicle(session, tenant_id, device_id)
    before_id = decode_cursor(cursor) if cursor is not None else None
    rows = commands.of_vehicle(session, vehicle, limit + 1, before_id, state.value if state else None)
    page = rows[:limit]
    return CommandPage(
        items=[CommandOut.from_row(command, vehicle.device_id) for command in page],
        next=encode_cursor(page[-1].id) if len(rows) > limit else None,
    )


def get_command(session: Session, tenant_id: int, command_id: int) -> CommandDetail:
    """One of the tenant's commands with its history; 404 for another tenant's or an impossible id."""
    command, history = commands.get(session, tenant_id, command_id)
    return CommandDetail.with_history(command, _device_id(session, command), history)


def cancel_command(session: Session, principal: Principal, command_id: int) -> CommandOut:
    """Cancel one of the tenant's commands not delivered yet; 409 once delivered or ended."""
    command = commands.cancel(session, principal.tenant_id, command_id, actor=principal.actor)
    session.flush()
    return CommandOut.from_row(command, _device_id(session, command))


def _device_id(session: Session, command: Command) -> str:
    _tenant_id, device_id = registry.devices_by_vehicle_id(session, {command.vehicle_id})[command.vehicle_id]
    return device_id
