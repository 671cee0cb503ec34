"""CAN samples: fields, door rendering, pagination and isolation."""

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from tests.api.conftest import BASE_TS, SeededTenant, insert_can, iso, parse

pytestmark = pytest.mark.integration

CAN_FIELDS = {
    "ts",
    "seq",
    "fuel_level_pct",
    "fuel_used_total_l",
    "distance_total_km",
    "engine_speed_rpm",
    "engine_hours_total_h",
    "coolant_temp_c",
    "doors_open",
    "passenger_count",
    "battery_soc_pct",
}


@pytest.mark.parametrize(
    ("mask", "count", "doors"),
    [
        (0b101, 3, [True, False, True]),
        (0, 2, [False, False]),
        (0b1, None, [True]),
        (0b1000, None, [False, False, False, True]),
        (None, 3, None),
    ],
)
def test_doors_are_rendered_from_the_mask(
    client: TestClient,
    tenant: SeededTenant,
    pg_sessions: sessionmaker[Session],
    mask: int | None,
    count: int | None,
    doors: list[bool] | None,
) -> None:
    device = tenant.device_ids[0]
    sample = {"ts": BASE_TS, "seq": 1, "doors_open_mask": mask, "door_count": count, "fuel_level_pct": 55.5}
    insert_can(pg_sessions, tenant.vehicle_ids[device], [sample])

    body = client.get(f"/v1/vehicles/{device}/can", params={"since": iso(BASE_TS)}, headers=tenant.headers).json()

    (item,) = body["items"]
    assert set(item) == CAN_FIELDS
    assert item["doors_open"] == doors
    assert item["fuel_level_pct"] == 55.5
    assert parse(item["ts"]) == BASE_TS


def test_can_pagination_walks_every_sample(
    client: TestClient, tenant: SeededTenant, pg_sessions: sessionmaker[Session]
) -> None:
    device = tenant.device_ids[0]
    stamps = [BASE_TS + timedelta(seconds=5 * i) for i in range(23)]
    insert_can(pg_sessions, tenant.vehicle_ids[device], [{"ts": ts, "seq": i} for i, ts in enumerate(stamps)])

    seen, cursor = [], None
    while True:
        params = {"since": iso(BASE_TS), "limit": "5", **({"cursor": cursor} if cursor else {})}
        body = client.get(f"/v1/vehicles/{device}/can", params=params, headers=tenant.headers).json()
        seen += [parse(i["ts"]) for i in body["items"]]
        if (cursor := body["next"]) is None:
            break

    assert seen == stamps


def test_another_tenants_can_samples_are_not_found(
    client: TestClient, tenant: SeededTenant, other_tenant: SeededTenant, pg_sessions: sessionmaker[Session]
) -> None:
    foreign = other_tenant.device_ids[0]
    insert_can(pg_sessions, other_tenant.vehicle_ids[foreign], [{"ts": BASE_TS, "seq": 1}])

    response = client.get(f"/v1/vehicles/{foreign}/can", params={"since": iso(BASE_TS)}, headers=tenant.headers)

    assert response.status_code == 404
