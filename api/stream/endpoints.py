"""HTTP route of the live stream: `GET /v1/stream`."""

from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Query, Request
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from api.deps import ViewerDep
from api.errors import UNAUTHORIZED_RESPONSE, ErrorOut
from api.stream.events import events
from api.stream.hub import Stream, StreamHub, TooManyStreams
from fleet.errors import Invalid
from fleet.live.feed import Kind

router = APIRouter(prefix="/v1/stream", tags=["live"], responses={**UNAUTHORIZED_RESPONSE})

MAX_ID = 2**63 - 1
# Seconds a client refused for the stream limit waits before it tries again (perhaps reaching another replica).
RETRY_AFTER_SECONDS = 5
KINDS = ", ".join(kind.value for kind in Kind)


class EventStreamResponse(StreamingResponse):
    """A `text/event-stream` response that leaves its tenant's reader when it ends, however it ends."""

    media_type = "text/event-stream"

    def __init__(self, stream: Stream, heartbeat_seconds: float, last_event_id: int | None) -> None:
        # No caching, and no buffering by a proxy (nginx honours X-Accel-Buffering), or messages arrive in lumps.
        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        super().__init__(events(stream, last_event_id, heartbeat_seconds), headers=headers)
        self._stream = stream

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._stream.close()


def parse_kinds(kinds: str | None) -> frozenset[str] | None:
    """The kinds of a comma-separated list, None for all; Invalid naming an unknown one."""
    if kinds is None:
        return None
    names = frozenset(name.strip() for name in kinds.split(",") if name.strip())
    unknown = sorted(names - set(Kind))
    if unknown or not names:
        raise Invalid(f"unknown kind {unknown[0][:40]!r}; kinds are {KINDS}" if unknown else f"kinds: one of {KINDS}")
    return names


def parse_last_event_id(header: str | None, query: int | None) -> int | None:
    """The id the client resumes after: the header a reconnecting EventSource sends, else the query parameter."""
    if header is None or not header.strip():
        return query
    value = header.strip()
    if not value.isdigit() or int(value) > MAX_ID:
        raise Invalid("Last-Event-ID must be the id of a message of this stream")
    return int(value)


@router.get(
    "",
    summary="Live messages of your fleet (Server-Sent Events)",
    response_class=EventStreamResponse,
    status_code=200,
    responses={
        200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}, "description": "The event stream"},
        503: {
            "model": ErrorOut,
            "description": "This server has FLEET_LIVE_MAX_STREAMS streams open (or shuts down): retry, perhaps on "
            "another replica",
            "headers": {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}},
        },
    },
)
async def stream(
    request: Request,
    principal: ViewerDep,
    kinds: Annotated[
        str | None, Query(max_length=200, description=f"Comma-separated kinds ({KINDS}); all if unset")
    ] = None,
    last_event_id: Annotated[
        int | None, Query(ge=0, le=MAX_ID, description="Resume after this message id (the Last-Event-ID header wins)")
    ] = None,
    last_event_id_header: Annotated[str | None, Header(alias="Last-Event-ID", include_in_schema=False)] = None,
) -> EventStreamResponse:
    """Every message of your tenant's live feed as it happens, as `id: <id>`, `event: <kind>` (position, event,
    alarm, command) and `data: <JSON>`, with a `: keep-alive` comment when quiet. Reconnect with `Last-Event-ID`
    (EventSource does) to get what you missed, in order and once; `event: gap` first means some of it was pruned
    (FLEET_LIVE_RETENTION_SECONDS): reload your state. A client that falls too far behind is disconnected."""
    wanted = parse_kinds(kinds)
    after = parse_last_event_id(last_event_id_header, last_event_id)
    hub: StreamHub = request.app.state.streams
    try:
        opened = await hub.open(principal.tenant_id, wanted)
    except TooManyStreams:
        detail = f"this server streams to {hub.settings.max_streams} clients already; retry later"
        raise HTTPException(503, detail, headers={"Retry-After": str(RETRY_AFTER_SECONDS)}) from None
    return EventStreamResponse(opened, hub.settings.heartbeat_seconds, after)
