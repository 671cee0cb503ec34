"""Vehicle listing and detail, isolated per tenant."""

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from fleet.db.models import VehicleState
from tests.api.conftest import SeededTenant

pytestmark = pytest.mark.integration


def test_lists_own_vehicles_ordered_by_device_id(
    client: TestClient, tenant: SeededTenant, other_tenant: SeededTenant
) -> None:
    response = client.get("/v1/vehicles", headers=tenant.headers)

    assert response.status_code == 200
    items = response.json()["items"]
    assert [v["device_id"] for v in items] == tenant.device_ids
    assert set(items[0]) == {"device_id", "label", "plate", "tachograph_required", "groups", "created_at"}
    assert items[0]["tachograph_required"] is True
    assert items[0]["groups"] == []
    assert items[0]["created_at"].endswith(("Z", "+00:00"))


def test_vehicle_without_state(client: TestClient, tenant: SeededTenant) -> None:
    device_id = tenant.device_ids[0]

    response = client.get(f"/v1/vehicles/{device_id}", headers=tenant.headers)

    assert response.status_code == 200
    assert response.json()["device_id"] == device_id
    assert response.json()["state"] is None


def test_vehicle_with_state(client: TestClient, tenant: SeededTenant, pg_sessions: sessionmaker[Session]) -> None:
    device_id = tenant.device_ids[0]
    ts = datetime(2026, 3, 1, 8, 15, 0, 123000, tzinfo=UTC)
    with pg_sessions() as session:
        session.add(
            VehicleState(
                vehicle_id=tenant.vehicle_ids[device_id],
                pos_ts=ts,
                pos_seq=7,
                lat=48.1,
                lon=11.5,
                speed_kmh=42.0,
                heading_deg=90.0,
                status_ts=ts,
                status_seq=1,
                online=True,
            )
        )
        session.commit()

    state = client.get(f"/v1/vehicles/{device_id}", headers=tenant.headers).json()["state"]

    assert state["online"] is True
    assert state["can"] is None
    assert state["position"]["seq"] == 7
    assert state["position"]["lat"] == 48.1
    assert datetime.fromisoformat(state["position"]["ts"]) == ts


def test_another_tenants_vehicle_is_not_found(
    client: TestClient, tenant: SeededTenant, other_tenant: SeededTenant
) -> None:
    foreign = other_tenant.device_ids[0]

    response = client.get(f"/v1/vehicles/{foreign}", headers=tenant.headers)
    unknown = client.get("/v1/vehicles/never-registered-xyz", headers=tenant.headers)

    assert response.status_code == unknown.status_code == 404
    # Same answer as for a device nobody has: existence is never revealed.
    assert response.json()["detail"].replace(foreign, "X") == unknown.json()["detail"].replace(
        "never-registered-xyz", "X"
    )


@pytest.mark.parametrize(
    "device_id",
    ["bus%C3%A9", "%F0%9F%9A%8C", "%00", "a%20b", "x" * 65, "y" * 5000, "%27%3B--", "%FF"],
)
@pytest.mark.parametrize("suffix", ["", "/positions", "/can"])
def test_odd_device_ids_are_not_found(client: TestClient, tenant: SeededTenant, device_id: str, suffix: str) -> None:
    response = client.get(f"/v1/vehicles/{device_id}{suffix}", headers=tenant.headers)

    assert response.status_code == 404
    assert isinstance(response.json()["detail"], str)


def test_the_group_filter_sees_only_the_callers_vehicles(
    client: TestClient, tenant: SeededTenant, other_tenant: SeededTenant
) -> None:
    mine, theirs = tenant.device_ids[0], other_tenant.device_ids[0]
    for owner, device in ((tenant, mine), (other_tenant, theirs)):
        changed = client.patch(f"/v1/admin/vehicles/{device}", headers=owner.headers, json={"groups": ["depot"]})
        assert changed.status_code == 200

    listed = client.get("/v1/vehicles", headers=tenant.headers, params={"group": "depot"})

    assert listed.status_code == 200
    assert [(v["device_id"], v["groups"]) for v in listed.json()["items"]] == [(mine, ["depot"])]
    assert client.get(f"/v1/vehicles/{mine}", headers=tenant.headers).json()["groups"] == ["depot"]
