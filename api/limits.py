"""Abuse limits as pure ASGI middleware: body size, requests per token, failed authentications per address.

They run before routing and before anything reads a body or queries the database, so an attacker's requests
cost little: an oversized body is refused from its Content-Length (or when its stream passes the limit), a
token over its rate and an address that keeps failing authentication get 429 with Retry-After. The counters
live in each API process (a limit per process: with N workers a token gets up to N times the rate).
"""

import hashlib
import json
import math
import time
from collections import OrderedDict
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import metrics

# Bounds the memory of the counters: the least recently seen keys are forgotten first.
MAX_TRACKED_KEYS = 100_000
WINDOW_SECONDS = 60.0


class BodyTooLarge(Exception):
    """The request body passed the limit while it was being read."""


async def _refuse(send: Send, status: int, detail: str, retry_after: float | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if retry_after is not None:
        headers.append((b"retry-after", str(max(1, math.ceil(retry_after))).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    """413 for a request body larger than `max_bytes`, declared or streamed, except under `unlimited_prefixes`
    (the blob endpoint, whose signed URLs fix each body's length)."""

    def __init__(self, app: ASGIApp, max_bytes: int, unlimited_prefixes: tuple[str, ...] = ()) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.unlimited_prefixes = unlimited_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(self.unlimited_prefixes):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            metrics.REFUSED.labels("body_too_large").inc()
            await _refuse(send, 413, f"request body larger than {self.max_bytes} bytes")
            return
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            metrics.REFUSED.labels("body_too_large").inc()
            if not started:
                await _refuse(send, 413, f"request body larger than {self.max_bytes} bytes")


class _Windows:
    """Counts per key in fixed one-minute windows, forgetting the least recently used keys."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._counts: OrderedDict[str, tuple[float, int]] = OrderedDict()

    def count(self, key: str) -> tuple[int, float]:
        """This window's count for `key` (not incremented) and the seconds until the window ends."""
        now = self._clock()
        start, count = self._counts.get(key, (now, 0))
        if now - start >= WINDOW_SECONDS:
            start, count = now, 0
            self._counts[key] = (start, count)
        return count, start + WINDOW_SECONDS - now

    def add(self, key: str) -> None:
        """Count one more for `key`."""
        now = self._clock()
        start, count = self._counts.pop(key, (now, 0))
        if now - start >= WINDOW_SECONDS:
            start, count = now, 0
        self._counts[key] = (start, count + 1)
        while len(self._counts) > MAX_TRACKED_KEYS:
            self._counts.popitem(last=False)


class RateLimit:
    """429 for a bearer token past `per_minute` requests in the current minute, and for a client address past
    `auth_failures_per_minute` answers of 401."""

    def __init__(
        self,
        app: ASGIApp,
        per_minute: int,
        auth_failures_per_minute: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.per_minute = per_minute
        self.auth_failures_per_minute = auth_failures_per_minute
        self._tokens = _Windows(clock)
        self._failures = _Windows(clock)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        address = scope["client"][0] if scope.get("client") else "unknown"
        failures, reset = self._failures.count(address)
        if failures >= self.auth_failures_per_minute:
            metrics.REFUSED.labels("auth_failures").inc()
            await _refuse(send, 429, "too many failed authentications from this address; retry later", reset)
            return
        token = _bearer(scope)
        if token is not None:
            used, reset = self._tokens.count(token)
            if used >= self.per_minute:
                metrics.REFUSED.labels("rate_limit").inc()
                await _refuse(send, 429, f"rate limit of {self.per_minute} requests per minute reached", reset)
                return
            self._tokens.add(token)

        async def watching_send(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 401:
                self._failures.add(address)
            await send(message)

        await self.app(scope, receive, watching_send)


def _bearer(scope: Scope) -> str | None:
    """A digest of the request's bearer token (never the token itself kept in memory), if it has one."""
    header = dict(scope["headers"]).get(b"authorization")
    if not header or header[:7].lower() != b"bearer ":
        return None
    return hashlib.sha256(header[7:].strip()).hexdigest()
