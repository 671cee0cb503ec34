"""Graceful overload: past capacity, or with the database slow or away, the API answers 503 with Retry-After quickly,
never 500, and the requests it admitted still complete."""

import shutil
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from sqlalchemy import Engine, event, text

from api.app import api_engine, create_app
from api.overload import BUSY, DATABASE_DOWN, NO_CONNECTION, TOO_SLOW
from fleet.db.engine import make_engine, make_session_factory
from fleet.db.migrate import upgrade
from fleet.settings import ApiSettings, SharedSettings
from tests.api.conftest import UNREACHABLE_BROKER, SeededTenant, seed_tenant
from tests.fixtures.api_server import ApiServer
from tests.fixtures.ingest_runner import wait_until
from tests.fixtures.postgres import PostgresServer
from tests.fixtures.table_lock import locked, waiting_for

pytestmark = pytest.mark.integration

LIMIT = 2
SHED = 4
# The admitted requests wait on the lock at least this long, so that "quick" has something to be compared with.
HOLD_SECONDS = 1.5


def overload_app(database_url: str, **settings: Any) -> FastAPI:
    """An app on `database_url` with these FLEET_API_* settings."""
    return create_app(SharedSettings(database_url=database_url, mqtt_url=UNREACHABLE_BROKER), ApiSettings(**settings))


def shed_total(reason: str) -> float:
    """Current value of fleet_api_shed_total for one reason."""
    return REGISTRY.get_sample_value("fleet_api_shed_total", {"reason": reason}) or 0.0


def timed_get(url: str, headers: dict[str, str]) -> tuple[httpx.Response, float, float]:
    """The answer to GET `url` on a connection of its own, how long it took, and when it came (monotonic)."""
    started = time.monotonic()
    response = httpx.get(url, headers=headers, timeout=60)
    answered = time.monotonic()
    return response, answered - started, answered


def assert_unavailable(response: httpx.Response, detail: str) -> None:
    """A 503 in the API's error format, with Retry-After."""
    assert response.status_code == 503, response.text
    assert response.json() == {"detail": detail}
    assert response.headers["retry-after"] == "1"


def positions_url(tenant: SeededTenant) -> str:
    """The positions of the tenant's first vehicle: a query on the positions table."""
    return f"/v1/vehicles/{tenant.device_ids[0]}/positions"


def test_requests_past_the_admission_limit_are_shed_at_once_and_the_admitted_complete(
    pg_url: str, pg_engine: Engine, tenant: SeededTenant
) -> None:
    server = ApiServer()
    server.serve(overload_app(pg_url, max_concurrent_requests=LIMIT, statement_timeout_seconds=60))
    url = server.url + positions_url(tenant)
    shed_before = shed_total("concurrency")
    try:
        with ThreadPoolExecutor(LIMIT + SHED) as pool:
            with locked(pg_engine, "positions"):
                started = time.monotonic()
                admitted = [pool.submit(timed_get, url, tenant.headers) for _ in range(LIMIT)]
                wait_until(lambda: waiting_for(pg_engine, "positions") == LIMIT, "the admitted requests at the lock")
                beyond = [pool.submit(timed_get, url, tenant.headers) for _ in range(SHED)]
                shed = [future.result() for future in beyond]
                # The probes and the scrape are not counted: a saturated replica is not a dead one.
                probes = [httpx.get(server.url + path, timeout=10) for path in ("/healthz", "/readyz", "/metrics")]
                time.sleep(max(0.0, HOLD_SECONDS - (time.monotonic() - started)))
            completed = [future.result() for future in admitted]
    finally:
        server.close()

    for response, _, _ in shed:
        assert_unavailable(response, BUSY)
    assert [response.status_code for response, _, _ in completed] == [200] * LIMIT
    slowest_shed = max(elapsed for _, elapsed, _ in shed)
    quickest_admitted = min(elapsed for _, elapsed, _ in completed)
    # Answered once the lock was released, whatever the lag of each request's own start behind `started`.
    assert min(answered for _, _, answered in completed) - started >= HOLD_SECONDS
    assert slowest_shed < quickest_admitted / 5, (slowest_shed, quickest_admitted)
    assert [probe.status_code for probe in probes] == [200, 200, 200]
    assert 'fleet_api_shed_total{reason="concurrency"}' in probes[2].text
    assert shed_total("concurrency") == shed_before + SHED


def test_no_free_connection_is_a_503_within_the_pool_timeout(pg_url: str, tenant: SeededTenant) -> None:
    # Two: a token's first request in a minute records its use on a second connection (api/deps.py).
    app = overload_app(pg_url, db_pool_size=2, db_max_overflow=0, db_pool_timeout_seconds=0.5)
    shed_before = shed_total("pool_timeout")
    with TestClient(app) as client:
        with app.state.engine.connect() as held, app.state.engine.connect() as also_held:
            held.execute(text("SELECT 1"))  # the pool's connections, both checked out
            also_held.execute(text("SELECT 1"))
            started = time.monotonic()
            refused = client.get("/v1/vehicles", headers=tenant.headers)
            elapsed = time.monotonic() - started
        served = client.get("/v1/vehicles", headers=tenant.headers)

    assert_unavailable(refused, NO_CONNECTION)
    assert 0.5 <= elapsed < 3.0, elapsed
    assert served.status_code == 200
    assert shed_total("pool_timeout") == shed_before + 1


def test_a_statement_past_the_statement_timeout_is_a_503_saying_so(
    pg_url: str, pg_engine: Engine, tenant: SeededTenant
) -> None:
    app = overload_app(pg_url, statement_timeout_seconds=0.3)
    shed_before = shed_total("statement_timeout")
    with TestClient(app) as client:
        with locked(pg_engine, "positions"):
            started = time.monotonic()
            cancelled = client.get(positions_url(tenant), headers=tenant.headers)
            elapsed = time.monotonic() - started
        served = client.get(positions_url(tenant), headers=tenant.headers)
        with app.state.engine.connect() as connection:
            api_timeout = connection.execute(text("SHOW statement_timeout")).scalar_one()
    ingest_engine = make_engine(pg_url)  # as ingest makes its engine: no statement timeout
    with ingest_engine.connect() as connection:
        ingest_timeout = connection.execute(text("SHOW statement_timeout")).scalar_one()
    ingest_engine.dispose()

    assert_unavailable(cancelled, TOO_SLOW)
    assert 0.3 <= elapsed < 3.0, elapsed
    assert served.status_code == 200
    assert (api_timeout, ingest_timeout) == ("300ms", "0")
    assert shed_total("statement_timeout") == shed_before + 1


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    """A private PostgreSQL cluster, running, for a test that stops it."""
    base = Path(tempfile.mkdtemp(prefix="fleet-pg-overload-"))
    server = PostgresServer(base)
    server.start()
    yield server
    if (server.dir / "postmaster.pid").exists():  # still running: the test failed before it started it again
        server.stop("immediate")
    shutil.rmtree(base, ignore_errors=True)


def test_a_stopped_database_is_a_503_and_the_api_recovers_when_it_is_back(own_postgres: PostgresServer) -> None:
    url = own_postgres.create_database("fleet")
    upgrade(url)
    seeding = make_engine(url)
    tenant = seed_tenant(make_session_factory(seeding), "stopped", ["stopped-1"])
    seeding.dispose()
    shed_before = shed_total("database")
    with TestClient(overload_app(url)) as client:
        assert client.get("/v1/vehicles", headers=tenant.headers).status_code == 200  # a pooled connection
        own_postgres.stop()
        started = time.monotonic()
        down = [
            client.get(path, headers=tenant.headers) for path in ("/v1/vehicles", positions_url(tenant), "/v1/live")
        ]
        elapsed = time.monotonic() - started
        own_postgres.start()
        back = client.get("/v1/vehicles", headers=tenant.headers)

    for response in down:
        assert_unavailable(response, DATABASE_DOWN)
    assert elapsed < 10, elapsed
    assert back.status_code == 200
    assert shed_total("database") == shed_before + len(down)


def test_the_default_pool_keeps_a_connection_for_every_admitted_request_and_two_more(pg_url: str) -> None:
    settings = ApiSettings()
    engine = api_engine(SharedSettings(database_url=pg_url), settings)
    opened: list[object] = []
    event.listen(engine, "connect", lambda connection, _record: opened.append(connection))
    busiest = settings.max_concurrent_requests + 2
    try:
        for _ in range(2):
            held = [engine.connect() for _ in range(busiest)]
            for connection in held:
                connection.close()
    finally:
        engine.dispose()

    # A connection beyond the pool is closed when given back: the second round would open those again.
    assert len(opened) == busiest
