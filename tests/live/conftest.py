"""Fixtures of the live stream tests: the API served by uvicorn on a real socket, an SSE reader, feed publishing."""

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from api.app import create_app
from api.stream.server import Server
from fleet.db.engine import make_session_factory
from fleet.live import feed
from fleet.live.feed import Kind, Message
from fleet.settings import ApiSettings, LiveSettings, SharedSettings
from fleet.tenancy.roles import Role
from tests.api.conftest import UNREACHABLE_BROKER, SeededTenant, add_token, seed_tenant

STARTUP_TIMEOUT_SECONDS = 15.0
# Short, so a test waits for a line at most this long and knows its stream is attached from the first one.
HEARTBEAT_SECONDS = 0.2
# No read may hang a test: a stream sends a heartbeat every HEARTBEAT_SECONDS.
TIMEOUT = httpx.Timeout(5.0)


def live_app(database_url: str, **live: Any) -> FastAPI:
    """An app on `database_url` whose streams beat every HEARTBEAT_SECONDS (and follow `live`)."""
    settings = LiveSettings(**{"heartbeat_seconds": HEARTBEAT_SECONDS, **live})
    return create_app(
        SharedSettings(database_url=database_url, mqtt_url=UNREACHABLE_BROKER), ApiSettings(), live=settings
    )


class Served:
    """An app served by `api.stream.server.Server` on a free loopback port, in a thread, until `stop()`."""

    def __init__(self, app: FastAPI) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"
        # The graceful timeout is a safety net only: the server ends its streams itself.
        config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=10)
        self.server = Server(config, app.state.streams)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self._socket]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "the API server did not start"
            time.sleep(0.02)

    def stop(self) -> float:
        """Shut the server down; the seconds it took."""
        start = time.monotonic()
        self.server.should_exit = True
        self.thread.join(timeout=15)
        self._socket.close()
        return time.monotonic() - start


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """The URL of `app` served for the block."""
    served = Served(app)
    try:
        yield served.url
    finally:
        served.stop()


@dataclass
class Event:
    """One SSE message as a client sees it."""

    event: str
    data: str
    id: int | None = None

    def json(self) -> Any:
        """The data as JSON."""
        return json.loads(self.data)


@dataclass
class Sse:
    """An open stream, read line by line in the test's thread (heartbeats keep the lines coming)."""

    response: httpx.Response
    heartbeats: int = 0
    _lines: Iterator[str] = field(init=False)

    def __post_init__(self) -> None:
        self._lines = self.response.iter_lines()

    def until_attached(self) -> "Sse":
        """Wait for the first heartbeat: from then on the stream gets every new message."""
        deadline = time.monotonic() + 5
        while self.heartbeats == 0:
            assert time.monotonic() < deadline, "no heartbeat"
            assert self._read(deadline) is None, "a message before the first heartbeat"
        return self

    def events(self, count: int, within: float = 3.0) -> list[Event]:
        """The next `count` messages, all within `within` seconds."""
        deadline = time.monotonic() + within
        found: list[Event] = []
        while len(found) < count:
            assert time.monotonic() < deadline, f"got {len(found)} of {count} messages in {within}s: {found}"
            event = self._read(deadline)
            if event is not None:
                found.append(event)
        return found

    def quiet(self, seconds: float) -> None:
        """Assert no message comes for `seconds`."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            event = self._read(deadline)
            assert event is None, f"unexpected {event}"

    def _read(self, deadline: float) -> Event | None:
        """The next message, or None after a heartbeat (or at the deadline)."""
        fields: dict[str, str] = {}
        for line in self._lines:
            if line.startswith(":"):
                self.heartbeats += 1
                return None
            if line:
                name, _, value = line.partition(":")
                fields[name] = value.removeprefix(" ")
                continue
            if fields:
                return Event(
                    fields.get("event", "message"),
                    fields.get("data", ""),
                    int(fields["id"]) if "id" in fields else None,
                )
            if time.monotonic() >= deadline:
                return None
        raise AssertionError("the stream ended")

    def ended(self, within: float = 5.0) -> bool:
        """Whether the server closes the stream within `within` seconds (heartbeats aside)."""
        deadline = time.monotonic() + within
        try:
            for line in self._lines:
                assert line == "" or line.startswith(":"), f"unexpected line {line!r}"
                if time.monotonic() > deadline:
                    return False
        except httpx.HTTPError:
            return False
        return True


@contextmanager
def stream(base_url: str, token: str, **params: Any) -> Iterator[Sse]:
    """An open `GET /v1/stream` of `token`'s tenant (`last_event_id_header` sends Last-Event-ID)."""
    headers = {"Authorization": f"Bearer {token}"}
    if (header := params.pop("last_event_id_header", None)) is not None:
        headers["Last-Event-ID"] = str(header)
    with (
        httpx.Client(base_url=base_url, timeout=TIMEOUT) as client,
        client.stream("GET", "/v1/stream", headers=headers, params=params) as response,
    ):
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        yield Sse(response)


def publish(engine: Engine, tenant_id: int, kind: Kind, payload: dict[str, Any], **at: Any) -> None:
    """Add one message to the feed in a committed transaction of its own."""
    with engine.begin() as connection:
        feed.publish(connection, [Message(tenant_id, kind, payload)], **at)


@pytest.fixture
def pg_app(pg_url: str) -> FastAPI:
    """An app on the session's PostgreSQL."""
    return live_app(pg_url)


@pytest.fixture
def pg_server(pg_app: FastAPI) -> Iterator[str]:
    """The URL of that app, served."""
    with serving(pg_app) as url:
        yield url


@pytest.fixture
def pg_sessions(pg_engine: Engine) -> sessionmaker[Session]:
    """Session factory on the session's PostgreSQL database, for seeding."""
    return make_session_factory(pg_engine)


def viewer_tenant(sessions: sessionmaker[Session], name: str, device_ids: list[str]) -> SeededTenant:
    """A tenant with vehicles whose `token` is a viewer's: the role a stream needs."""
    seeded = seed_tenant(sessions, name, device_ids)
    return replace(seeded, token=add_token(sessions, seeded.id, Role.VIEWER, "viewer")[1])


@pytest.fixture
def tenant(pg_sessions: sessionmaker[Session], unique: str) -> SeededTenant:
    """A tenant with two vehicles and a viewer token."""
    return viewer_tenant(pg_sessions, f"live-a-{unique}", [f"la-{unique}-1", f"la-{unique}-2"])


@pytest.fixture
def other_tenant(pg_sessions: sessionmaker[Session], unique: str) -> SeededTenant:
    """Another tenant, whose messages `tenant` must never get."""
    return viewer_tenant(pg_sessions, f"live-b-{unique}", [f"lb-{unique}-1"])
