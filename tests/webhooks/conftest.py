"""Fixtures of the webhook tests: a private database, tenants, a real HTTP receiver on loopback, worker steps."""

import json
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from fleet.db.engine import make_engine, make_session_factory
from fleet.db.migrate import upgrade
from fleet.db.models import WebhookDelivery, utcnow
from fleet.live import feed
from fleet.live.feed import Kind, Message
from fleet.settings import WebhookSettings
from fleet.tenancy.service import create_tenant
from fleet.webhooks import service, signing
from fleet.webhooks.service import Filter
from tests.fixtures.postgres import PostgresServer
from worker.webhooks import WebhookStep

# Back-off of tenths of a second, so a test sees several retries in about a second.
FAST = WebhookSettings(timeout_seconds=2, backoff_initial_seconds=0.05, backoff_max_seconds=0.2, batch_size=50)


@dataclass
class Received:
    """One request the receiver got, and what it answered."""

    headers: dict[str, str]
    body: bytes
    status: int

    @property
    def message(self) -> dict[str, Any]:
        """The decoded body."""
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


@dataclass
class Receiver:
    """A webhook receiver on a free loopback port answering `status` to every POST, keeping what it got."""

    status: int = 503
    requests: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    port: int = 0
    # Its own path: a port the system hands out again must not bring it an earlier test's deliveries.
    path: str = field(default_factory=lambda: f"/hook/{uuid.uuid4().hex}")

    @property
    def url(self) -> str:
        """Where it listens."""
        return f"http://127.0.0.1:{self.port}{self.path}"

    def delivered(self) -> list[Received]:
        """The requests it answered with a 2xx, in arrival order."""
        with self.lock:
            return [r for r in self.requests if 200 <= r.status < 300]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A running receiver, answering 503 until a test sets its status."""
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            with state.lock:
                status = state.status if self.path == state.path else 404
                if self.path == state.path:
                    state.requests.append(Received(dict(self.headers.items()), body, status))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def closed_url() -> str:
    """A loopback URL nothing listens on: every attempt is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"


@pytest.fixture(scope="module")
def webhooks_pg_url(postgres: PostgresServer) -> str:
    """A private PostgreSQL database for the module: the fan-out's cursor and the deliveries are global."""
    url = postgres.create_database(f"webhooks_{uuid.uuid4().hex[:8]}")
    upgrade(url)
    return url


@pytest.fixture(params=["postgresql", "sqlite"])
def sessions(request: pytest.FixtureRequest) -> Iterator[sessionmaker[Session]]:
    """Sessions on the module's PostgreSQL database, then on a fresh SQLite one."""
    name = "webhooks_pg_url" if request.param == "postgresql" else "sqlite_url"
    engine = make_engine(request.getfixturevalue(name))
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture
def pg_sessions(webhooks_pg_url: str) -> Iterator[sessionmaker[Session]]:
    """Sessions on the module's PostgreSQL database only (for concurrent transactions)."""
    engine = make_engine(webhooks_pg_url)
    yield make_session_factory(engine)
    engine.dispose()


def add_tenant(sessions: sessionmaker[Session]) -> tuple[int, str]:
    """A new tenant: its id and its admin token."""
    with sessions() as session:
        tenant, token = create_tenant(session, f"t-{uuid.uuid4().hex[:8]}")
        session.commit()
        return tenant.id, token


def add_webhook(
    sessions: sessionmaker[Session], tenant_id: int, url: str, spec: Filter, now: datetime | None = None
) -> tuple[int, str]:
    """A webhook of the tenant: its id and secret."""
    with sessions() as session:
        webhook, secret = service.create(session, tenant_id, url, spec, now=now)
        session.commit()
        return webhook.id, secret


def publish(sessions: sessionmaker[Session], messages: list[Message], now: datetime | None = None) -> None:
    """Write messages to the live feed, one transaction each (distinct ids in this order)."""
    for message in messages:
        with sessions() as session:
            feed.publish(session.connection(), [message], now)
            session.commit()


def event(tenant_id: int, n: int, type: str = "harsh_braking", severity: str = "warning") -> Message:
    """An event message numbered `n`."""
    return Message(tenant_id, Kind.EVENT, {"id": n, "type": type, "severity": severity})


def deliveries_of(sessions: sessionmaker[Session], webhook_id: int) -> list[WebhookDelivery]:
    """The webhook's deliveries in feed order."""
    with sessions() as session:
        stmt = select(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook_id).order_by(WebhookDelivery.feed_id)
        return list(session.scalars(stmt))


def step(
    sessions: sessionmaker[Session], settings: WebhookSettings = FAST, clock: Callable[[], datetime] = utcnow
) -> WebhookStep:
    """A worker's webhook step with fast back-off."""
    return WebhookStep(sessions, settings, clock=clock)


def run_until(worker: WebhookStep, condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    """Run passes of `worker` until `condition()` holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        worker.run()
        time.sleep(0.02)


def verified(received: Received, secret: str) -> bool:
    """Whether the request's signature checks with `secret`, as a receiver checks it."""
    return signing.verify(secret, received.headers[signing.SIGNATURE_HEADER], received.body)


ALL_KINDS = Filter(kinds=[k.value for k in Kind])
EARLIER = timedelta(hours=3)
