"""A uvicorn server that ends the open event streams as it begins to shut down.

uvicorn waits for every response to finish before it shuts the application down, and an event stream never
finishes by itself: without this the server would wait for its clients (or for the graceful-shutdown timeout).
"""

import socket

import uvicorn

from api.stream.hub import StreamHub


class Server(uvicorn.Server):
    """`uvicorn.Server` ending the streams of `hub` first when it shuts down (a signal or `should_exit`)."""

    def __init__(self, config: uvicorn.Config, hub: StreamHub) -> None:
        super().__init__(config)
        self._hub = hub

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """End the streams (each client reconnects elsewhere with its Last-Event-ID), then shut down."""
        self._hub.close()
        await super().shutdown(sockets)
