"""Live state of the tenant's fleet, and the cache of its answers."""

import threading
import time
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from api.app import create_app
from api.live.cache import LiveCache
from fleet.db.models import VehicleState
from fleet.settings import ApiSettings, SharedSettings
from tests.api.conftest import UNREACHABLE_BROKER, SeededTenant

pytestmark = pytest.mark.integration


def test_live_lists_own_vehicles_with_state(
    client: TestClient, tenant: SeededTenant, other_tenant: SeededTenant, pg_sessions: sessionmaker[Session]
) -> None:
    with_pos, with_can = tenant.device_ids
    ts = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    with pg_sessions() as session:
        session.add_all(
            [
                VehicleState(vehicle_id=tenant.vehicle_ids[with_pos], pos_ts=ts, pos_seq=3, lat=1.5, lon=2.5),
                VehicleState(
                    vehicle_id=tenant.vehicle_ids[with_can],
                    can_ts=ts,
                    can_seq=4,
                    passenger_count=12,
                    doors_open_mask=0b10,
                    door_count=2,
                    status_ts=ts,
                    status_seq=1,
                    online=False,
                ),
                VehicleState(vehicle_id=other_tenant.vehicle_ids[other_tenant.device_ids[0]], online=True),
            ]
        )
        session.commit()

    response = client.get("/v1/live", headers=tenant.headers)

    assert response.status_code == 200
    items = {i["device_id"]: i for i in response.json()["items"]}
    assert list(items) == tenant.device_ids
    assert set(items[with_pos]) == {"device_id", "label", "online", "position", "can", "status_ts"}
    assert items[with_pos]["position"]["lat"] == 1.5
    assert set(items[with_pos]["position"]) == {"ts", "seq", "lat", "lon", "speed_kmh", "heading_deg"}
    assert items[with_pos]["can"] is None
    assert items[with_pos]["online"] is None
    assert items[with_can]["position"] is None
    assert items[with_can]["can"]["passenger_count"] == 12
    assert items[with_can]["can"]["doors_open"] == [False, True]
    assert set(items[with_can]["can"]) == {
        "ts",
        "fuel_level_pct",
        "distance_total_km",
        "passenger_count",
        "battery_soc_pct",
        "doors_open",
    }
    assert items[with_can]["online"] is False
    assert datetime.fromisoformat(items[with_can]["status_ts"]) == ts


def test_live_omits_vehicles_without_state(client: TestClient, tenant: SeededTenant) -> None:
    response = client.get("/v1/live", headers=tenant.headers)

    assert response.json() == {"items": []}


def test_live_never_shows_another_tenants_vehicles(
    client: TestClient, tenant: SeededTenant, other_tenant: SeededTenant, pg_sessions: sessionmaker[Session]
) -> None:
    with pg_sessions() as session:
        session.add(VehicleState(vehicle_id=other_tenant.vehicle_ids[other_tenant.device_ids[0]], online=True))
        session.commit()

    assert client.get("/v1/live", headers=tenant.headers).json() == {"items": []}
    assert [i["device_id"] for i in client.get("/v1/live", headers=other_tenant.headers).json()["items"]] == (
        other_tenant.device_ids
    )


def test_an_answer_serves_the_tenants_polls_for_the_cache_time_then_a_new_one_is_made(
    pg_url: str, tenant: SeededTenant, pg_sessions: sessionmaker[Session]
) -> None:
    vehicle = tenant.vehicle_ids[tenant.device_ids[0]]
    shared = SharedSettings(database_url=pg_url, mqtt_url=UNREACHABLE_BROKER)
    with TestClient(create_app(shared, ApiSettings(live_cache_seconds=0.3))) as client:
        before = client.get("/v1/live", headers=tenant.headers).json()
        with pg_sessions() as session:
            session.add(VehicleState(vehicle_id=vehicle, online=True))
            session.commit()
        cached = client.get("/v1/live", headers=tenant.headers).json()
        time.sleep(0.35)
        fresh = client.get("/v1/live", headers=tenant.headers).json()

    assert before == cached == {"items": []}
    assert [item["online"] for item in fresh["items"]] == [True]


def test_the_cache_makes_one_answer_for_concurrent_polls_and_none_when_off() -> None:
    clock = [0.0]
    cache = LiveCache(1.0, clock=lambda: clock[0])
    made: list[int] = []
    started, release = threading.Event(), threading.Event()

    def slow() -> bytes:
        made.append(1)
        started.set()
        release.wait(5)
        return b"first"

    first = threading.Thread(target=cache.answer, args=(1, slow))
    first.start()
    assert started.wait(5)
    waiting: list[bytes] = []
    second = threading.Thread(target=lambda: waiting.append(cache.answer(1, lambda: b"second")))
    second.start()
    release.set()
    first.join(5)
    second.join(5)

    assert waiting == [b"first"] and len(made) == 1
    assert cache.answer(2, lambda: b"other tenant") == b"other tenant"
    clock[0] = 1.0
    assert cache.answer(1, lambda: b"later") == b"later"
    assert [LiveCache(0).answer(1, lambda: b"each") for _ in range(2)] == [b"each", b"each"]
