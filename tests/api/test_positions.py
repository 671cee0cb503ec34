"""Positions: windows, limits, cursor pagination and parameter validation."""

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session, sessionmaker

from tests.api.conftest import BASE_TS, SeededTenant, insert_positions, iso, parse

pytestmark = pytest.mark.integration

POSITION_FIELDS = {"ts", "seq", "lat", "lon", "speed_kmh", "heading_deg", "alt_m", "sats", "hdop"}


@pytest.fixture
def device(tenant: SeededTenant) -> str:
    """The tenant's first device."""
    return tenant.device_ids[0]


def test_positions_in_window(
    client: TestClient, tenant: SeededTenant, device: str, pg_sessions: sessionmaker[Session]
) -> None:
    stamps = [BASE_TS + timedelta(minutes=i, microseconds=123000) for i in range(5)]
    insert_positions(pg_sessions, tenant.vehicle_ids[device], reversed(stamps))

    response = client.get(
        f"/v1/vehicles/{device}/positions",
        params={"since": iso(BASE_TS), "until": iso(BASE_TS + timedelta(hours=1))},
        headers=tenant.headers,
    )

    assert response.status_code == 200
    body = response.json()
    assert body["next"] is None
    assert [parse(p["ts"]) for p in body["items"]] == stamps
    assert set(body["items"][0]) == POSITION_FIELDS
    assert body["items"][0]["ts"] in ("2026-03-01T00:00:00.123000Z", "2026-03-01T00:00:00.123000+00:00")


def test_since_inclusive_until_exclusive(
    client: TestClient, tenant: SeededTenant, device: str, pg_sessions: sessionmaker[Session]
) -> None:
    stamps = [BASE_TS + timedelta(seconds=i) for i in range(10)]
    insert_positions(pg_sessions, tenant.vehicle_ids[device], stamps)

    response = client.get(
        f"/v1/vehicles/{device}/positions",
        params={"since": iso(stamps[2]), "until": iso(stamps[7])},
        headers=tenant.headers,
    )

    assert [parse(p["ts"]) for p in response.json()["items"]] == stamps[2:7]


def test_offsets_are_honoured(
    client: TestClient, tenant: SeededTenant, device: str, pg_sessions: sessionmaker[Session]
) -> None:
    insert_positions(pg_sessions, tenant.vehicle_ids[device], [BASE_TS, BASE_TS + timedelta(hours=2)])

    # 01:30+02:00 is 23:30Z the day before: the window [23:30Z, 01:00Z) holds only BASE_TS.
    response = client.get(
        f"/v1/vehicles/{device}/positions",
        params={"since": "2026-03-01T01:30:00+02:00", "until": "2026-03-01T01:00:00Z"},
        headers=tenant.headers,
    )

    assert [parse(p["ts"]) for p in response.json()["items"]] == [BASE_TS]


def test_default_window_is_the_last_24_hours(
    client: TestClient, tenant: SeededTenant, device: str, pg_sessions: sessionmaker[Session]
) -> None:
    now = datetime.now(UTC)
    recent = [now - timedelta(hours=23), now - timedelta(minutes=5)]
    insert_positions(pg_sessions, tenant.vehicle_ids[device], [now - timedelta(hours=25), *recent])

    response = client.get(f"/v1/vehicles/{device}/positions", headers=tenant.headers)

    assert [parse(p["ts"]) for p in response.json()["items"]] == recent


@pytest.mark.parametrize("given", ["since", "until"])
def test_one_bound_derives_the_other_by_24_hours(
    client: TestClient, tenant: SeededTenant, device: str, pg_sessions: sessionmaker[Session], given: str
) -> None:
    stamps = [BASE_TS - timedelta(hours=25), BASE_TS - timedelta(hours=1), BASE_TS, BASE_TS + timedelta(hours=23)]
    stamps.append(BASE_TS + timedelta(hours=24))
    insert_positions(pg_sessions, tenant.vehicle_ids[device], stamps)

    response = client.get(f"/v1/vehicles/{device}/positions", params={given: iso(BASE_TS)}, headers=tenant.headers)

    expected = stamps[2:4] if given == "since" else stamps[1:2]
    assert [parse(p["ts"]) for p in response.json()["items"]] == expected


@pytest.mark.parametrize("limit", [1, 7, 50, 99, 100, 101])
def test_cursor_walks_all_pages_without_gap_or_duplicate(
    client: TestClient, tenant: SeededTenant, device: str, pg_sessions: sessionmaker[Session], limit: int
) -> None:
    # Irregular spacing, across a day boundary (two partitions), with sub-millisecond neighbours.
    stamps = sorted(
        BASE_TS + timedelta(hours=20, seconds=i * 37 + (i % 3), microseconds=(i * 7919) % 1000) for i in range(100)
    )
    stamps += [stamps[-1] + timedelta(microseconds=1)]
    insert_positions(pg_sessions, tenant.vehicle_ids[device], stamps)
    params = {"since": iso(BASE_TS), "until": iso(BASE_TS + timedelta(days=2)), "limit": str(limit)}

    seen: list[datetime] = []
    pages = 0
    cursor: str | None = None
    while True:
        page_params = {**params, "cursor": cursor} if cursor else params
        body = client.get(f"/v1/vehicles/{device}/positions", params=page_params, headers=tenant.headers).json()
        pages += 1
        assert len(body["items"]) <= limit
        seen += [parse(p["ts"]) for p in body["items"]]
        cursor = body["next"]
        if cursor is None:
            break
        assert len(body["items"]) == limit

    assert seen == stamps
    # A full last page is known to be last because limit + 1 rows were asked for.
    assert pages == -(-len(stamps) // limit)


def test_next_is_null_when_the_page_is_exactly_full(
    client: TestClient, tenant: SeededTenant, device: str, pg_sessions: sessionmaker[Session]
) -> None:
    insert_positions(pg_sessions, tenant.vehicle_ids[device], [BASE_TS + timedelta(seconds=i) for i in range(4)])

    body = client.get(
        f"/v1/vehicles/{device}/positions", params={"since": iso(BASE_TS), "limit": "4"}, headers=tenant.headers
    ).json()

    assert len(body["items"]) == 4
    assert body["next"] is None


def test_cursor_is_opaque_urlsafe(
    client: TestClient, tenant: SeededTenant, device: str, pg_sessions: sessionmaker[Session]
) -> None:
    insert_positions(pg_sessions, tenant.vehicle_ids[device], [BASE_TS + timedelta(seconds=i) for i in range(3)])

    cursor = client.get(
        f"/v1/vehicles/{device}/positions", params={"since": iso(BASE_TS), "limit": "1"}, headers=tenant.headers
    ).json()["next"]

    assert cursor and all(c.isalnum() or c in "-_" for c in cursor)


def test_windows_up_to_31_days_are_accepted(client: TestClient, tenant: SeededTenant, device: str) -> None:
    params = {"since": iso(BASE_TS), "until": iso(BASE_TS + timedelta(days=31))}

    response = client.get(f"/v1/vehicles/{device}/positions", params=params, headers=tenant.headers)

    assert response.status_code == 200


def garble(text: str) -> str:
    """Encode `text` the way cursors are encoded, to forge one."""
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


BAD_PARAMS = [
    pytest.param({"since": iso(BASE_TS), "until": iso(BASE_TS + timedelta(days=31, microseconds=1))}, id="32-days"),
    pytest.param({"since": iso(BASE_TS), "until": iso(BASE_TS)}, id="empty-window"),
    pytest.param({"since": iso(BASE_TS), "until": iso(BASE_TS - timedelta(hours=1))}, id="reversed"),
    pytest.param({"since": "2026-03-01T00:00:00"}, id="naive-since"),
    pytest.param({"until": "2026-03-01"}, id="date-only-until"),
    pytest.param({"since": "99999-01-01"}, id="year-99999"),
    pytest.param({"since": "99999-01-01T00:00:00Z"}, id="year-99999-z"),
    pytest.param({"since": "2026-13-45T99:00:00Z"}, id="impossible-date"),
    pytest.param({"since": "abc"}, id="since-abc"),
    pytest.param({"since": ""}, id="since-empty"),
    pytest.param({"since": "2026-03-01T00:00:00 00:00"}, id="unencoded-plus"),
    pytest.param({"since": "99999999999999999999999999999"}, id="since-huge-int"),
    pytest.param({"since": "-99999999999999"}, id="since-negative-int"),
    pytest.param({"since": "nan"}, id="since-nan"),
    pytest.param({"until": "0001-01-01T00:00:00Z"}, id="until-at-year-1"),
    pytest.param({"since": "9999-12-31T12:00:00Z"}, id="since-at-year-9999"),
    pytest.param({"since": "0001-01-01T00:00:00+05:00"}, id="since-before-year-1-in-utc"),
    pytest.param({"until": "9999-12-31T23:00:00-05:00"}, id="until-after-year-9999-in-utc"),
    pytest.param({"limit": "abc"}, id="limit-abc"),
    pytest.param({"limit": "0"}, id="limit-0"),
    pytest.param({"limit": "-1"}, id="limit-negative"),
    pytest.param({"limit": "10001"}, id="limit-10001"),
    pytest.param({"limit": "1.5"}, id="limit-float"),
    pytest.param({"limit": "9" * 50}, id="limit-huge"),
    pytest.param({"cursor": "!!!"}, id="cursor-punctuation"),
    pytest.param({"cursor": ""}, id="cursor-empty"),
    pytest.param({"cursor": "a"}, id="cursor-bad-padding"),
    pytest.param({"cursor": "é"}, id="cursor-non-ascii"),
    pytest.param({"cursor": "A" * 5000}, id="cursor-long"),
    pytest.param({"cursor": garble("hello")}, id="cursor-text"),
    pytest.param({"cursor": garble("1:not a date")}, id="cursor-bad-date"),
    pytest.param({"cursor": garble("1:2026-03-01T00:00:00")}, id="cursor-naive"),
    pytest.param({"cursor": garble("2:2026-03-01T00:00:00+00:00")}, id="cursor-other-version"),
    pytest.param({"cursor": base64.urlsafe_b64encode(b"\xff\xfe1:").decode()}, id="cursor-not-utf8"),
]


@pytest.mark.parametrize("params", BAD_PARAMS)
@pytest.mark.parametrize("stream", ["positions", "can"])
def test_bad_parameters_are_422_with_json_detail(
    client: TestClient, tenant: SeededTenant, device: str, params: dict[str, str], stream: str
) -> None:
    # The client re-raises any server exception, so a 500 from bad input fails here rather than passing.
    response = client.get(f"/v1/vehicles/{device}/{stream}", params=params, headers=tenant.headers)

    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json()["detail"]


def test_another_tenants_positions_are_not_found(
    client: TestClient, tenant: SeededTenant, other_tenant: SeededTenant, pg_sessions: sessionmaker[Session]
) -> None:
    foreign = other_tenant.device_ids[0]
    insert_positions(pg_sessions, other_tenant.vehicle_ids[foreign], [BASE_TS])

    response = client.get(f"/v1/vehicles/{foreign}/positions", params={"since": iso(BASE_TS)}, headers=tenant.headers)

    assert response.status_code == 404
    assert "lat" not in response.text


def test_a_window_from_yesterday_on_skips_the_archive_and_an_older_one_asks_it(
    client: TestClient, tenant: SeededTenant, device: str
) -> None:
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    yesterday = datetime.combine(datetime.now(UTC).date() - timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    event.listen(Engine, "before_cursor_execute", record)
    try:
        for since in (yesterday, yesterday - timedelta(microseconds=1)):
            params = {"since": iso(since), "until": iso(since + timedelta(hours=1))}
            assert (
                client.get(f"/v1/vehicles/{device}/positions", params=params, headers=tenant.headers).status_code == 200
            )
            statements.append("-- next request")
    finally:
        event.remove(Engine, "before_cursor_execute", record)

    recent, older = "\n".join(statements).split("-- next request")[:2]
    assert "archive_parts" not in recent, "no retention is shorter than a day: yesterday is never purged"
    assert "archive_parts" in older
