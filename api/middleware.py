"""Pure ASGI middleware recording request counts and durations by route template."""

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.metrics import EXPORT_DURATION, REQUEST_DURATION, REQUESTS

KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"


def route_label(scope: Scope) -> str:
    """Template of the route the router matched, or "unmatched"."""
    path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) else UNMATCHED


def method_label(method: str) -> str:
    """The method, or "other" so a client cannot invent label values."""
    return method if method in KNOWN_METHODS else "other"


class MetricsMiddleware:
    """Counts and times every HTTP request; the route is read from the scope after the router has run."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status: int | None = None
        export = False

        async def send_and_capture(message: Message) -> None:
            nonlocal status, export
            if message["type"] == "http.response.start":
                status = int(message["status"])
                export = _is_attachment(message)
            await send(message)

        try:
            await self.app(scope, receive, send_and_capture)
        finally:
            # An exception escaping here becomes a 500 in the outer ServerErrorMiddleware.
            status_class = f"{(status or 500) // 100}xx"
            method, route = method_label(scope["method"]), route_label(scope)
            REQUESTS.labels(method, route, status_class).inc()
            duration = time.perf_counter() - start
            if export:
                EXPORT_DURATION.labels(route).observe(duration)
            else:
                REQUEST_DURATION.labels(method, route).observe(duration)


def _is_attachment(start: Message) -> bool:
    """Whether a response is a download (an export), by its Content-Disposition."""
    return any(
        name.lower() == b"content-disposition" and value.lower().startswith(b"attachment")
        for name, value in start.get("headers", ())
    )
