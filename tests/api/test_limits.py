"""Abuse limits: oversized bodies, a token past its rate, an address that keeps failing authentication."""

import asyncio
import json
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from api.limits import WINDOW_SECONDS, BodyLimit, RateLimit
from tests.api.conftest import make_app


def echo_app(**limits: Any) -> tuple[TestClient, list[float]]:
    """A tiny app behind the limits: 401 without `Authorization: Bearer good`, else echoes the body size."""
    now = [0.0]
    app = FastAPI()

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, int]:
        return {"bytes": len(await request.body())}

    @app.get("/me")
    async def me(request: Request) -> Any:
        from fastapi.responses import JSONResponse

        ok = request.headers.get("authorization") == "Bearer good"
        return {"ok": True} if ok else JSONResponse({"detail": "invalid bearer token"}, status_code=401)

    app.add_middleware(BodyLimit, max_bytes=limits.get("max_bytes", 1000))
    app.add_middleware(
        RateLimit,
        per_minute=limits.get("per_minute", 5),
        auth_failures_per_minute=limits.get("failures", 3),
        clock=lambda: now[0],
    )
    return TestClient(app), now


def test_a_declared_oversized_body_is_refused_before_it_is_read() -> None:
    client, _ = echo_app()

    assert client.post("/echo", content=b"x" * 1000).json() == {"bytes": 1000}
    response = client.post("/echo", content=b"x" * 1001)
    assert response.status_code == 413 and "1000 bytes" in response.json()["detail"]


def test_a_streamed_body_is_cut_off_at_the_limit() -> None:
    received: list[int] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            received.append(len(message.get("body", b"")))
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    chunks = [{"type": "http.request", "body": b"x" * 400, "more_body": True} for _ in range(10)]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return chunks.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "headers": [], "method": "POST", "path": "/"}
    asyncio.run(BodyLimit(app, max_bytes=1000)(scope, receive, send))

    assert sent[0]["status"] == 413
    assert sum(received) <= 1000, "the app saw more than the limit"
    assert json.loads(sent[1]["body"])["detail"].startswith("request body larger")


def test_a_token_past_its_rate_gets_429_with_retry_after_until_the_minute_ends() -> None:
    client, now = echo_app(per_minute=5)
    headers = {"Authorization": "Bearer good"}
    assert [client.get("/me", headers=headers).status_code for _ in range(5)] == [200] * 5

    refused = client.get("/me", headers=headers)
    assert refused.status_code == 429 and 1 <= int(refused.headers["retry-after"]) <= 60
    assert client.get("/me", headers={"Authorization": "Bearer other"}).status_code == 401, "other tokens unaffected"

    now[0] += WINDOW_SECONDS
    assert client.get("/me", headers=headers).status_code == 200


def test_an_address_that_keeps_failing_authentication_is_throttled() -> None:
    client, now = echo_app(failures=3, per_minute=100)
    bad = {"Authorization": "Bearer wrong"}
    assert [client.get("/me", headers=bad).status_code for _ in range(3)] == [401] * 3

    # Even a good token from that address waits: the throttle comes before any token lookup.
    assert client.get("/me", headers={"Authorization": "Bearer good"}).status_code == 429
    now[0] += WINDOW_SECONDS
    assert client.get("/me", headers={"Authorization": "Bearer good"}).status_code == 200


@pytest.mark.parametrize("length", ["abc", "-1", "99999999999999999999"])
def test_a_garbled_content_length_is_refused(length: str) -> None:
    client, _ = echo_app()

    assert client.post("/echo", content=b"x", headers={"Content-Length": length}).status_code in (400, 413)


def test_the_api_refuses_a_large_unauthenticated_replay_body_before_parsing_it(sqlite_url: str) -> None:
    client = TestClient(make_app(sqlite_url))
    body = b'{"ids": [' + b"1," * (2 * 1024 * 1024) + b"1]}"

    response = client.post("/v1/deadletters/replay", content=body, headers={"Content-Type": "application/json"})

    assert response.status_code == 413
    assert "traceback" not in response.text.lower() and "select" not in response.text.lower()
