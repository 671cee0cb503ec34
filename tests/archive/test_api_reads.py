"""GET /v1/vehicles/{id}/positions past retention: the archived rows, in the same shape, merged with the database's."""

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import delete, update

import api.positions.service
from api.app import create_app
from fleet.archive.layout import POSITIONS
from fleet.archive.runner import run_day
from fleet.blobs.s3 import S3BlobStore
from fleet.db.models import ArchivePart, Position
from fleet.registry.service import add_vehicles
from fleet.settings import ApiSettings, SharedSettings
from fleet.tenancy.service import create_tenant
from tests.archive.conftest import Archive
from tests.archive.seed import add_positions, at, vehicle_ids

OLD_DAY = date(2026, 1, 5)
NEXT_DAY = OLD_DAY + timedelta(days=1)
NOW = datetime(2026, 6, 1, tzinfo=UTC)


def iso(ts: datetime) -> str:
    """RFC 3339 with a Z."""
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")


def client_for(archive: Archive, store: Any = None) -> TestClient:
    """An API client on the archive's database and store."""
    shared = SharedSettings(database_url=archive.url, mqtt_url="mqtt://127.0.0.1:1")
    return TestClient(create_app(shared, ApiSettings(), blob_store=store or archive.store))


def seed(archive: Archive, tenant: str, device_id: str) -> tuple[str, int]:
    """A tenant with one vehicle: its token and the vehicle's id."""
    with archive.sessions() as session:
        created, token = create_tenant(session, tenant)
        add_vehicles(session, created, [device_id])
        session.commit()
    return token, vehicle_ids(archive.sessions, [device_id])[device_id]


def purge(archive: Archive, day: date) -> None:
    """What retention does to a verified day: its rows leave the database, its parts are marked purged."""
    with archive.sessions() as session:
        start = at(day, 0)
        session.execute(delete(Position).where(Position.ts >= start, Position.ts < start + timedelta(days=1)))
        session.execute(update(ArchivePart).where(ArchivePart.day == day).values(purged_at=NOW))
        session.commit()


def all_pages(client: TestClient, token: str, device_id: str, since: datetime, until: datetime, limit: int) -> list:
    """Every item of the window, page by page; the `archived` flag of each page."""
    items, flags, cursor = [], [], None
    while True:
        params = {"since": iso(since), "until": iso(until), "limit": str(limit)}
        if cursor:
            params["cursor"] = cursor
        answer = client.get(
            f"/v1/vehicles/{device_id}/positions", params=params, headers={"Authorization": f"Bearer {token}"}
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        items += body["items"]
        flags.append(body["archived"])
        cursor = body["next"]
        if cursor is None:
            return [items, flags]


def test_a_purged_day_is_served_from_the_archive_in_the_same_shape_and_pages_across_the_tiers(
    archive: Archive,
) -> None:
    token, vehicle = seed(archive, "acme", "bus-a")
    add_positions(archive.sessions, vehicle, OLD_DAY, 30, start=86_400 - 30)
    add_positions(archive.sessions, vehicle, NEXT_DAY, 20)
    client = client_for(archive)
    window = (at(OLD_DAY, 0), at(NEXT_DAY, 86_399))
    before, before_flags = all_pages(client, token, "bus-a", *window, limit=7)
    assert len(before) == 50 and not any(before_flags)

    assert run_day(archive.sessions, archive.store, POSITIONS, OLD_DAY, 1000, NOW).outcome == "verified"
    purge(archive, OLD_DAY)
    after, after_flags = all_pages(client, token, "bus-a", *window, limit=7)

    assert after == before, "the archived rows come back exactly, in order, each once, across the page boundaries"
    assert after_flags[0] is True and after_flags[-1] is False

    # Another tenant's token never reaches these archived rows.
    other, _ = seed(archive, "other", "bus-b")
    answer = client.get(
        "/v1/vehicles/bus-a/positions",
        params={"since": iso(window[0]), "until": iso(window[1])},
        headers={"Authorization": f"Bearer {other}"},
    )
    assert answer.status_code == 404


def test_an_export_reaches_into_the_archive_like_the_pages(archive: Archive, monkeypatch: Any) -> None:
    token, vehicle = seed(archive, "acme", "bus-a")
    add_positions(archive.sessions, vehicle, OLD_DAY, 30, start=86_400 - 30)
    add_positions(archive.sessions, vehicle, NEXT_DAY, 20)
    assert run_day(archive.sessions, archive.store, POSITIONS, OLD_DAY, 1000, NOW).outcome == "verified"
    purge(archive, OLD_DAY)
    client = client_for(archive)
    window = (at(OLD_DAY, 0), at(NEXT_DAY, 86_399))
    pages, _ = all_pages(client, token, "bus-a", *window, limit=7)
    monkeypatch.setattr(api.positions.service, "BATCH_ROWS", 7)  # batches that end on both tiers

    answer = client.get(
        "/v1/vehicles/bus-a/positions",
        params={"since": iso(window[0]), "until": iso(window[1]), "format": "ndjson"},
        headers={"Authorization": f"Bearer {token}"},
    )

    assert answer.status_code == 200
    assert [json.loads(line) for line in answer.text.splitlines()] == pages


def test_a_restored_day_is_shown_once(archive: Archive) -> None:
    token, vehicle = seed(archive, "acme", "bus-a")
    add_positions(archive.sessions, vehicle, OLD_DAY, 12)
    assert run_day(archive.sessions, archive.store, POSITIONS, OLD_DAY, 1000, NOW).outcome == "verified"
    # The parts are purged but the rows are (back) in the database, as after `fleet archive restore`.
    with archive.sessions() as session:
        session.execute(update(ArchivePart).values(purged_at=NOW))
        session.commit()

    items, _ = all_pages(client_for(archive), token, "bus-a", at(OLD_DAY, 0), at(NEXT_DAY, 0), limit=5)

    assert [item["seq"] for item in items] == list(range(12))


def test_an_unreadable_archive_answers_503_naming_the_day_and_the_restore_command(archive: Archive) -> None:
    token, vehicle = seed(archive, "acme", "bus-a")
    add_positions(archive.sessions, vehicle, OLD_DAY, 5)
    assert run_day(archive.sessions, archive.store, POSITIONS, OLD_DAY, 1000, NOW).outcome == "verified"
    purge(archive, OLD_DAY)
    # Nothing listens on port 1: the store is down.
    down = S3BlobStore("fleet", endpoint_url="http://127.0.0.1:1", region="us-east-1", max_attempts=1)

    answer = client_for(archive, down).get(
        "/v1/vehicles/bus-a/positions",
        params={"since": iso(at(OLD_DAY, 0)), "until": iso(at(NEXT_DAY, 0))},
        headers={"Authorization": f"Bearer {token}"},
    )

    assert answer.status_code == 503
    assert f"fleet archive restore --day {OLD_DAY}" in answer.json()["detail"]
    assert answer.headers["Retry-After"]
