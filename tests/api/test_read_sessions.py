"""A dashboard's reads run on autocommit connections, one statement for a vehicle; a change still runs in a
transaction of its own."""

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session, sessionmaker

from tests.api.conftest import BASE_TS, SeededTenant, insert_positions, iso

pytestmark = pytest.mark.integration

# The statements of a token's lookup and of recording its use: their own transactions, not the request's.
TOKEN_TABLE = "api_tokens"


@pytest.fixture
def statements(client: TestClient) -> Iterator[list[tuple[str, bool]]]:
    """Each statement the app runs from now on, with whether its connection was in autocommit."""
    engine: Engine = client.app.state.engine  # type: ignore[attr-defined]
    seen: list[tuple[str, bool]] = []

    def record(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if TOKEN_TABLE not in statement:
            seen.append((statement, conn.connection.dbapi_connection.autocommit))

    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


def test_the_dashboard_reads_begin_no_transaction(
    client: TestClient,
    tenant: SeededTenant,
    pg_sessions: sessionmaker[Session],
    statements: list[tuple[str, bool]],
) -> None:
    device_id = tenant.device_ids[0]
    insert_positions(pg_sessions, tenant.vehicle_ids[device_id], [BASE_TS, BASE_TS + timedelta(seconds=1)])
    window = f"since={iso(BASE_TS)}&until={iso(BASE_TS + timedelta(hours=1))}"
    paths = ["/v1/vehicles", f"/v1/vehicles/{device_id}", f"/v1/vehicles/{device_id}/positions?{window}", "/v1/live"]

    answers = [client.get(path, headers=tenant.headers).status_code for path in paths]

    assert answers == [200] * len(paths)
    assert statements
    assert all(autocommit for _, autocommit in statements), statements


def test_a_vehicle_and_its_state_are_one_statement(
    client: TestClient, tenant: SeededTenant, statements: list[tuple[str, bool]]
) -> None:
    response = client.get(f"/v1/vehicles/{tenant.device_ids[0]}", headers=tenant.headers)

    assert response.status_code == 200
    assert len(statements) == 1


def test_a_change_runs_in_a_transaction(
    client: TestClient, tenant: SeededTenant, statements: list[tuple[str, bool]]
) -> None:
    url = f"/v1/admin/vehicles/{tenant.device_ids[0]}"

    response = client.patch(url, headers=tenant.headers, json={"label": "Line 7"})

    assert response.status_code == 200
    assert statements
    assert not any(autocommit for _, autocommit in statements), statements
