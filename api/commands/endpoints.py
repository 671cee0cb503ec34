"""HTTP routes of the commands module."""

from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Response, status

from api.commands import service
from api.commands.schemas import CommandDetail, CommandIn, CommandOut, CommandPage
from api.deps import OperatorDep, SessionDep, ViewerDep
from api.errors import FORBIDDEN_RESPONSE, NOT_FOUND_RESPONSE, UNAUTHORIZED_RESPONSE, ErrorOut
from api.timeseries.window import MAX_CURSOR_LENGTH
from fleet.commands.states import CommandState

router = APIRouter(tags=["commands"], responses={**UNAUTHORIZED_RESPONSE})

Responses = dict[int | str, dict[str, Any]]
COMMAND_NOT_FOUND: Responses = {404: {"model": ErrorOut, "description": "No such command among yours"}}
# A page holds small rows: params are a few fields each.
MAX_LIMIT = 500
# 1-200 printable ASCII characters; no space at either end (HTTP would strip it).
IDEMPOTENCY_KEY_PATTERN = r"^[!-~]([ -~]{0,198}[!-~])?$"
CommandIdPath = Annotated[int, Path(description="The command's `id`; one that is not yours is a 404")]

CREATE_DESCRIPTION = """Queue a command for one of your vehicles' units; needs the operator role, audited
(`command.create`). The dispatcher publishes it to `fleet/v1/{device_id}/cmd` (QoS 1); the unit answers on its
`ack` stream, which moves the command along: follow it with `GET /v1/commands/{id}`.

The command types and their `params` (exactly these fields; params that do not fit are a 422 naming the problem).
The params of each type are published as JSON Schema in `fleet/contract/schemas/v1/cmd-params.json` (one `$defs`
entry per type):

- `driver_message`: show a message on the driver's display. `text`: 1-500 characters, required.
- `request_file`: upload a file through the file flow, carrying this command's id (it then appears in
  `GET /v1/files` with this `command_id`). `kind`: `tachograph_vu`, `tachograph_card` or `video`, required;
  `camera` (1-64 of `A-Za-z0-9_.:-`), `started_at`, `ended_at` (RFC 3339 with an offset): optional, but a `video`
  needs `started_at` before `ended_at`, at most an hour apart.
- `set_reporting`: change how often the unit reports. `pos_interval_seconds`, `can_interval_seconds`: 0.5-3600,
  at least one of them.
- `reboot`: restart the unit (it reconnects afterwards). No params: `{}`.

With an `Idempotency-Key` a retried request (a timeout, a lost answer) returns the command created the first
time, with 200 instead of 201, and queues nothing; the same key with another vehicle, type or params is a 409.
Keys are your tenant's: another tenant's keys never collide with yours."""


@router.post(
    "/v1/vehicles/{device_id}/commands",
    summary="Send a command",
    description=CREATE_DESCRIPTION,
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"model": CommandOut, "description": "A repeat of an earlier request with this Idempotency-Key"},
        201: {"description": "Queued: the new command"},
        409: {
            "model": ErrorOut,
            "description": "This Idempotency-Key was used for another command, or its first request is still running",
        },
        **NOT_FOUND_RESPONSE,
        **FORBIDDEN_RESPONSE,
    },
)
def create_command(
    session: SessionDep,
    principal: OperatorDep,
    response: Response,
    device_id: str,
    body: CommandIn,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            pattern=IDEMPOTENCY_KEY_PATTERN,
            description="1-200 printable ASCII characters naming this request, e.g. a UUID: a retry returns its "
            "command",
        ),
    ] = None,
) -> CommandOut:
    command, is_new = service.create_command(session, principal, device_id, body, idempotency_key)
    if not is_new:
        response.status_code = status.HTTP_200_OK
    return command


@router.get("/v1/vehicles/{device_id}/commands", summary="List a vehicle's commands", responses={**NOT_FOUND_RESPONSE})
def vehicle_commands(
    session: SessionDep,
    principal: ViewerDep,
    device_id: str,
    state: Annotated[CommandState | None, Query(description="Only commands in this state")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size")] = 100,
    cursor: Annotated[
        str | None, Query(max_length=MAX_CURSOR_LENGTH, description="`next` of the previous page")
    ] = None,
) -> CommandPage:
    """The commands sent to one of your vehicles, newest first; pass `next` as `cursor` with the same `state`."""
    return service.vehicle_commands(session, principal.tenant_id, device_id, state, limit, cursor)


@router.get("/v1/commands/{id}", summary="Get a command", responses={**COMMAND_NOT_FOUND})
def get_command(session: SessionDep, principal: ViewerDep, id: CommandIdPath) -> CommandDetail:
    """One of your commands with its history: each state it reached, when, and why (oldest first)."""
    return service.get_command(session, principal.tenant_id, id)


@router.post(
    "/v1/commands/{id}/cancel",
    summary="Cancel a command",
    responses={
        **COMMAND_NOT_FOUND,
        **FORBIDDEN_RESPONSE,
        409: {"model": ErrorOut, "description": "The unit has it already (delivered), or it has ended"},
    },
)
def cancel_command(session: SessionDep, principal: OperatorDep, id: CommandIdPath) -> CommandOut:
    """Cancel a queued or sent command: a queued one is never published; a sent one may still reach the unit,
    whose answers are then ignored. Needs the operator role; audited (`command.cancel`)."""
    return service.cancel_command(session, principal, id)
