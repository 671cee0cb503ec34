"""The unit's acks (stream `ack`) applied to its commands, in ingest's batch transaction.

Each vehicle's acks apply in (ts, seq) order, and only forward: `received` makes a queued or sent command
delivered, `done`, `failed` and `rejected` end it with the unit's result or error. A unit may answer before the
dispatcher's commit recorded the send; its ack proves the send, so a queued command first moves to sent then.
A duplicate or late ack (the command is further along, expired or cancelled) changes nothing. An ack naming an
unknown command, or another vehicle's, is a dead letter.
"""

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from fleet.commands import repository
from fleet.commands.service import move
from fleet.commands.states import CommandState
from fleet.contract.records import AckRecord
from fleet.contract.topics import Stream, uplink_topic
from fleet.deadletters.service import Rejection
from fleet.registry import repository as registry

# Dead-letter reason of an ack that names no command of its vehicle (bounded: a metric label).
REASON_UNKNOWN_COMMAND = "ack_unknown_command"
ACK_STATES = {
    "received": CommandState.DELIVERED,
    "done": CommandState.DONE,
    "failed": CommandState.FAILED,
    "rejected": CommandState.REJECTED,
}


@dataclass(frozen=True, slots=True)
class Ack:
    """One `ack` record of a vehicle, as ingest received it."""

    vehicle_id: int
    record: AckRecord
    received_at: datetime


def apply_acks(
    connection: Connection, acks: Sequence[Ack], on_delivered: Callable[[float], None] | None = None
) -> list[Rejection]:
    """Apply `acks` in the caller's transaction; returns the dead letters. `on_delivered` gets the seconds from
    queued to delivered of each command delivered now."""
    if not acks:
        return []
    rejections: list[Rejection] = []
    with Session(bind=connection, join_transaction_mode="create_savepoint") as session:
        commands = repository.by_ids(session, sorted({int(a.record.command_id) for a in acks}))
        for ack in sorted(acks, key=lambda a: (a.vehicle_id, a.record.ts, a.record.seq)):
            command = commands.get(int(ack.record.command_id))
            if command is None or command.vehicle_id != ack.vehicle_id:
                rejections.append(_rejection(session, ack, f"no command {ack.record.command_id} of this vehicle"))
                continue
            state = ACK_STATES[ack.record.state]
            was_delivered = command.delivered_at is not None
            if command.state == CommandState.QUEUED and move(
                session, command, CommandState.SENT, ack.received_at, "shown by the unit's ack"
            ):
                command.sent_at = ack.received_at
            detail = ack.record.error if state is not CommandState.DELIVERED else None
            if not move(session, command, state, ack.received_at, detail):
                continue
            if not was_delivered:
                command.delivered_at = ack.received_at
                if on_delivered:
                    on_delivered((ack.received_at - command.created_at).total_seconds())
            if state is not CommandState.DELIVERED:
                command.result = ack.record.result
                command.error = ack.record.error
        # Releases the session's savepoint into ingest's transaction, which commits (or rolls back) the batch.
        session.commit()
    return rejections


def _rejection(session: Session, ack: Ack, detail: str) -> Rejection:
    tenant_id, device_id = registry.devices_by_vehicle_id(session, {ack.vehicle_id})[ack.vehicle_id]
    payload = json.dumps(ack.record.model_dump(mode="json", exclude_none=True), separators=(",", ":")).encode()
    return Rejection(uplink_topic(device_id, Stream.ACK), device_id, tenant_id, REASON_UNKNOWN_COMMAND, detail, payload)
