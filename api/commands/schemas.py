"""Request and response bodies of the commands module."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from fleet.commands.service import DEFAULT_EXPIRY, MAX_EXPIRY, MIN_EXPIRY
from fleet.commands.states import CommandState
from fleet.contract.commands import CommandType
from fleet.db.models import Command, CommandTransition

# Fields of the answer that are not columns of the row.
DERIVED = frozenset({"device_id", "history"})
STATE_DESCRIPTION = (
    "queued -> sent (the broker has it) -> delivered (the unit said `received`) -> done | failed | rejected; "
    "queued or sent -> expired (not delivered by `expires_at`) or cancelled"
)


class CommandIn(BaseModel):
    """A command for the vehicle's unit: its type, the type's params and how long it may wait for the unit."""

    model_config = ConfigDict(extra="forbid")

    type: CommandType = Field(description="What the unit is to do; the types and their params are listed above")
    params: dict[str, Any] = Field(
        default_factory=dict, description="Exactly the fields of the type's params (JSON Schema: cmd-params.json)"
    )
    expires_in_seconds: int = Field(
        default=int(DEFAULT_EXPIRY.total_seconds()),
        ge=int(MIN_EXPIRY.total_seconds()),
        le=int(MAX_EXPIRY.total_seconds()),
        description="Seconds from now after which an undelivered command expires instead (10 s to 30 days)",
    )


class CommandOut(BaseModel):
    """A command to one of your units and where it stands."""

    id: int
    device_id: str
    type: str
    params: dict[str, Any]
    state: CommandState = Field(description=STATE_DESCRIPTION)
    created_at: datetime
    expires_at: datetime = Field(description="Not delivered by then: expired, and never sent after")
    sent_at: datetime | None = Field(description="When the broker acknowledged the message to the unit")
    delivered_at: datetime | None = Field(description="When the unit's first ack arrived")
    finished_at: datetime | None = Field(description="When the command reached its final state")
    result: dict[str, Any] | None = Field(description="What the unit reported on `done`, by type")
    error: str | None = Field(description="The unit's reason for `failed` or `rejected`")
    created_by: str = Field(description="The name of the token that queued it (`cli` from the command line)")

    @classmethod
    def from_row(cls, command: Command, device_id: str) -> "CommandOut":
        """Build from a commands row and its vehicle's device id."""
        values = {name: getattr(command, name) for name in cls.model_fields if name not in DERIVED}
        return cls(**values, device_id=device_id)


class TransitionOut(BaseModel):
    """One step of a command's history."""

    model_config = ConfigDict(from_attributes=True)

    state: CommandState
    at: datetime
    detail: str | None = Field(description="Who cancelled or queued it, why it expired, the unit's error")


class CommandDetail(CommandOut):
    """A command with its history, oldest step first."""

    history: list[TransitionOut]

    @classmethod
    def with_history(cls, command: Command, device_id: str, history: Sequence[CommandTransition]) -> "CommandDetail":
        """Build from a commands row, its device id and its transitions in order."""
        base = CommandOut.from_row(command, device_id)
        return cls(**base.model_dump(), history=[TransitionOut.model_validate(t) for t in history])


class CommandPage(BaseModel):
    """A page of a vehicle's commands, newest first."""

    items: list[CommandOut]
    next: str | None = Field(description="Cursor of the next page, or null on the last page")
