"""The Server-Sent Events text of a stream: its messages, the gap notice, the heartbeat."""

import json
import logging
from collections.abc import AsyncIterator

from sqlalchemy.exc import SQLAlchemyError

from api.stream.hub import Stream
from api.stream.repository import FeedRow

logger = logging.getLogger(__name__)

KEEP_ALIVE = ": keep-alive\n\n"


def render(rows: list[FeedRow]) -> str:
    """`rows` as SSE messages: the feed id, the kind as the event name, the payload as one line of JSON."""
    # json.dumps escapes every line break, so the payload is one `data:` line.
    return "".join(f"id: {row.id}\nevent: {row.kind}\ndata: {json.dumps(row.payload)}\n\n" for row in rows)


def gap(last_event_id: int) -> str:
    """The notice that messages after `last_event_id` were pruned: the client reloads the state it keeps."""
    data = {"last_event_id": last_event_id, "detail": "messages after last_event_id were pruned; reload the state"}
    # No id: the client's Last-Event-ID stays, and a reconnection before the next message is told again.
    return f"event: gap\ndata: {json.dumps(data)}\n\n"


async def events(stream: Stream, last_event_id: int | None, heartbeat_seconds: float) -> AsyncIterator[str]:
    """The stream as SSE text: what the client missed after `last_event_id`, then live messages and heartbeats,
    until the client goes, falls too far behind or the server shuts down."""
    try:
        resume = None
        if last_event_id is not None:
            resume = await stream.resume(last_event_id)
            if resume.gap:
                yield gap(last_event_id)
        if resume is None or resume.after is None:
            stream.attach()
        else:
            async for rows in stream.catch_up(resume.after):
                yield render(rows)
        while True:
            rows = await stream.subscription.take(heartbeat_seconds)
            if rows:
                yield render(rows)
            elif stream.subscription.ended is not None:
                return
            else:
                yield KEEP_ALIVE
    except SQLAlchemyError as error:
        # The client reconnects with its Last-Event-ID, perhaps to a replica that can read the feed.
        logger.warning("a live stream ended: the feed cannot be read: %s", error)
