"""The admin API: tokens (create, list, revoke) and vehicles (create one or many, change one or many, delete one
or many), with their groups."""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from fleet.blobs.s3 import S3BlobStore
from fleet.db.models import ApiToken, File, Position, Vehicle, VehicleState
from fleet.errors import NotFound
from fleet.registry.service import MAX_GROUPS
from fleet.tenancy.service import INITIAL_TOKEN_NAME, TOKEN_PREFIX
from tests.api.conftest import (
    BASE_TS,
    Database,
    SeededTenant,
    add_file,
    bearer,
    insert_positions,
    make_app,
    seed_tenant,
)
from tests.fixtures.s3 import SeaweedServer, s3_store_for

pytestmark = pytest.mark.integration

ADDRESS = "203.0.113.7"


@pytest.fixture
def admin(pg_url: str) -> Iterator[TestClient]:
    """A client calling from ADDRESS."""
    with TestClient(make_app(pg_url), client=(ADDRESS, 50000)) as test_client:
        yield test_client


@dataclass
class Env:
    """A client calling from ADDRESS on one database (PostgreSQL or SQLite), a tenant with two vehicles, another."""

    client: TestClient
    sessions: sessionmaker[Session]
    tenant: SeededTenant
    other: SeededTenant

    def vehicles(self, **params: Any) -> dict[str, dict[str, Any]]:
        """The tenant's vehicles as GET /v1/vehicles lists them, by device id."""
        response = self.client.get("/v1/vehicles", headers=self.tenant.headers, params=params)
        assert response.status_code == 200, response.text
        return {v["device_id"]: v for v in response.json()["items"]}

    def bulk(self, vehicles: Any) -> Any:
        """PATCH /v1/admin/vehicles with `vehicles`."""
        return self.client.patch("/v1/admin/vehicles", headers=self.tenant.headers, json={"vehicles": vehicles})


@pytest.fixture
def env(database: Database, unique: str) -> Iterator[Env]:
    """The admin API on PostgreSQL, then on SQLite."""
    tenant = seed_tenant(database.sessions, f"groups-{unique}", [f"g-{unique}-1", f"g-{unique}-2"])
    other = seed_tenant(database.sessions, f"groups-other-{unique}", [f"g-{unique}-9"])
    with TestClient(make_app(database.url), client=(ADDRESS, 50000)) as client:
        yield Env(client, database.sessions, tenant, other)


def audit(client: TestClient, tenant: SeededTenant, **params: Any) -> list[dict[str, Any]]:
    response = client.get("/v1/audit", headers=tenant.headers, params=params)
    assert response.status_code == 200
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def initial_token_id(sessions: sessionmaker[Session], tenant: SeededTenant) -> int:
    with sessions() as session:
        return session.scalars(
            select(ApiToken.id).where(ApiToken.tenant_id == tenant.id, ApiToken.name == INITIAL_TOKEN_NAME)
        ).one()


def test_create_use_list_and_revoke_a_token(
    admin: TestClient, pg_sessions: sessionmaker[Session], tenant: SeededTenant
) -> None:
    new = {"name": "wall-display", "role": "viewer", "expires_in_days": 30}
    created = admin.post("/v1/admin/tokens", headers=tenant.headers, json=new)
    assert created.status_code == 201
    body = created.json()
    assert body["token"].startswith(TOKEN_PREFIX)
    assert (body["name"], body["role"], body["revoked_at"]) == ("wall-display", "viewer", None)
    assert body["last_used_at"] is None
    expires = datetime.fromisoformat(body["expires_at"]) - datetime.fromisoformat(body["created_at"])
    assert abs(expires - timedelta(days=30)) < timedelta(seconds=5)

    assert admin.get("/v1/vehicles", headers=bearer(body["token"])).status_code == 200
    listed = admin.get("/v1/admin/tokens", headers=tenant.headers).json()["items"]
    assert [t["name"] for t in listed] == [INITIAL_TOKEN_NAME, "wall-display"]
    assert all("token" not in t and "token_hash" not in t for t in listed)
    assert listed[1]["last_used_at"] is not None

    revoked = admin.delete(f"/v1/admin/tokens/{body['id']}", headers=tenant.headers)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    refused = admin.get("/v1/vehicles", headers=bearer(body["token"]))
    assert refused.status_code == 401 and "revoked" in refused.json()["detail"]
    again = admin.delete(f"/v1/admin/tokens/{body['id']}", headers=tenant.headers)
    assert again.status_code == 200 and again.json()["revoked_at"] == revoked.json()["revoked_at"]

    entries = audit(admin, tenant)
    mine = initial_token_id(pg_sessions, tenant)
    assert [(e["action"], e["target"]) for e in entries[:2]] == [
        ("token.revoke", "wall-display"),
        ("token.create", "wall-display"),
    ]  # revoking again recorded nothing
    assert {(e["actor"], e["token_id"], e["address"]) for e in entries[:2]} == {(INITIAL_TOKEN_NAME, mine, ADDRESS)}
    assert entries[1]["detail"] == {"token_id": body["id"], "role": "viewer", "expires_at": body["expires_at"]}


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"name": INITIAL_TOKEN_NAME, "role": "viewer"}, 409),
        ({"name": "12345", "role": "viewer"}, 422),  # a name is never an id
        ({"name": "has space", "role": "viewer"}, 422),
        ({"name": "x" * 101, "role": "viewer"}, 422),
        ({"name": "ok", "role": "root"}, 422),
        ({"name": "ok", "role": "viewer", "expires_in_days": 0}, 422),
        ({"name": "ok", "role": "viewer", "expires_in_days": 3651}, 422),
        ({"name": "ok", "role": "viewer", "tenant": "other"}, 422),
    ],
)
def test_bad_tokens_are_refused(admin: TestClient, tenant: SeededTenant, body: dict[str, Any], status: int) -> None:
    response = admin.post("/v1/admin/tokens", headers=tenant.headers, json=body)

    assert response.status_code == status
    assert [t["name"] for t in admin.get("/v1/admin/tokens", headers=tenant.headers).json()["items"]] == [
        INITIAL_TOKEN_NAME
    ]


def test_a_revoked_tokens_name_stays_taken(admin: TestClient, tenant: SeededTenant) -> None:
    first = admin.post("/v1/admin/tokens", headers=tenant.headers, json={"name": "ci", "role": "operator"}).json()
    admin.delete(f"/v1/admin/tokens/{first['id']}", headers=tenant.headers)

    again = admin.post("/v1/admin/tokens", headers=tenant.headers, json={"name": "ci", "role": "operator"})

    assert again.status_code == 409 and "revoked token keeps its name" in again.json()["detail"]


def test_an_admin_may_revoke_its_own_token(admin: TestClient, tenant: SeededTenant) -> None:
    own = admin.get("/v1/admin/tokens", headers=tenant.headers).json()["items"][0]["id"]

    assert admin.delete(f"/v1/admin/tokens/{own}", headers=tenant.headers).status_code == 200
    assert admin.get("/v1/admin/tokens", headers=tenant.headers).status_code == 401


def test_use_is_recorded_at_most_once_a_minute(
    admin: TestClient, pg_sessions: sessionmaker[Session], tenant: SeededTenant
) -> None:
    token_id = initial_token_id(pg_sessions, tenant)

    def last_used() -> datetime | None:
        with pg_sessions() as session:
            return session.get_one(ApiToken, token_id).last_used_at

    assert last_used() is None
    assert admin.get("/v1/vehicles/nobodys-bus", headers=tenant.headers).status_code == 404  # a failed request
    first = last_used()
    assert first is not None and datetime.now(UTC) - first < timedelta(seconds=10)
    admin.get("/v1/live", headers=tenant.headers)
    assert last_used() == first

    with pg_sessions() as session:
        session.get_one(ApiToken, token_id).last_used_at = first - timedelta(seconds=61)
        session.commit()
    admin.get("/v1/live", headers=tenant.headers)
    later = last_used()
    assert later is not None and later >= first


def test_register_one_or_many_vehicles(admin: TestClient, tenant: SeededTenant, unique: str) -> None:
    one = admin.post("/v1/admin/vehicles", headers=tenant.headers, json={"device_id": f"n-{unique}", "label": "L7"})
    many = admin.post(
        "/v1/admin/vehicles",
        headers=tenant.headers,
        json=[{"device_id": f"m-{unique}-1", "plate": "W-1"}, {"device_id": f"m-{unique}-2"}],
    )

    assert one.status_code == many.status_code == 201
    assert [(v["device_id"], v["label"]) for v in one.json()["items"]] == [(f"n-{unique}", "L7")]
    assert [(v["device_id"], v["plate"]) for v in many.json()["items"]] == [
        (f"m-{unique}-1", "W-1"),
        (f"m-{unique}-2", None),
    ]
    listed = {v["device_id"] for v in admin.get("/v1/vehicles", headers=tenant.headers).json()["items"]}
    assert {f"n-{unique}", f"m-{unique}-1", f"m-{unique}-2"} <= listed
    created = audit(admin, tenant, action="vehicle.create", limit=3)
    assert [e["target"] for e in created] == [f"m-{unique}-2", f"m-{unique}-1", f"n-{unique}"]
    assert created[2]["detail"] == {"label": "L7", "plate": None}
    assert {(e["actor"], e["address"]) for e in created} == {(INITIAL_TOKEN_NAME, ADDRESS)}


@pytest.mark.parametrize(
    "body",
    [
        [],
        [{"device_id": "ok-1"}, {"device_id": "bad id"}],
        [{"device_id": "ok-1", "label": "x" * 101}],
        [{"device_id": "ok-1", "plate": "x" * 33}],
        [{"device_id": "ok-1", "colour": "red"}],
        [{"device_id": f"ok-{i}"} for i in range(1001)],
    ],
    ids=["empty", "bad-id", "long-label", "long-plate", "unknown-field", "too-many"],
)
def test_bad_registrations_register_nothing(admin: TestClient, tenant: SeededTenant, body: list[Any]) -> None:
    response = admin.post("/v1/admin/vehicles", headers=tenant.headers, json=body)

    assert response.status_code == 422
    listed = admin.get("/v1/vehicles", headers=tenant.headers).json()["items"]
    assert [v["device_id"] for v in listed] == tenant.device_ids


def test_registering_a_registered_device_is_a_conflict_and_registers_nothing(
    admin: TestClient, tenant: SeededTenant, unique: str
) -> None:
    taken = tenant.device_ids[0]

    response = admin.post(
        "/v1/admin/vehicles", headers=tenant.headers, json=[{"device_id": f"new-{unique}"}, {"device_id": taken}]
    )

    assert response.status_code == 409
    assert response.json() == {"detail": f"device {taken!r} is already registered to you"}
    assert admin.get(f"/v1/vehicles/new-{unique}", headers=tenant.headers).status_code == 404
    twice = [{"device_id": f"new-{unique}"}, {"device_id": f"new-{unique}", "label": "other"}]
    assert admin.post("/v1/admin/vehicles", headers=tenant.headers, json=twice).status_code == 409


def test_change_a_vehicle(admin: TestClient, tenant: SeededTenant) -> None:
    device = tenant.device_ids[0]
    url = f"/v1/admin/vehicles/{device}"

    labelled = admin.patch(url, headers=tenant.headers, json={"label": "Line 7", "plate": "W-123"})
    cleared = admin.patch(url, headers=tenant.headers, json={"plate": None})
    unchanged = admin.patch(url, headers=tenant.headers, json={"label": "Line 7"})

    assert labelled.status_code == cleared.status_code == unchanged.status_code == 200
    assert (labelled.json()["label"], labelled.json()["plate"]) == ("Line 7", "W-123")
    assert (cleared.json()["label"], cleared.json()["plate"]) == ("Line 7", None)
    assert admin.get(url.replace("/admin", ""), headers=tenant.headers).json()["plate"] is None
    updates = audit(admin, tenant, action="vehicle.update")
    assert [e["detail"] for e in updates] == [  # the unchanged one recorded nothing
        {"plate": {"from": "W-123", "to": None}},
        {"label": {"from": None, "to": "Line 7"}, "plate": {"from": None, "to": "W-123"}},
    ]
    assert admin.patch(url, headers=tenant.headers, json={"plate": "x" * 33}).status_code == 422


def test_delete_a_vehicle_with_its_state_and_telemetry(
    admin: TestClient, pg_sessions: sessionmaker[Session], tenant: SeededTenant
) -> None:
    device, kept = tenant.device_ids
    vehicle_id = tenant.vehicle_ids[device]
    insert_positions(pg_sessions, vehicle_id, [BASE_TS, BASE_TS + timedelta(days=1)])
    insert_positions(pg_sessions, tenant.vehicle_ids[kept], [BASE_TS])
    with pg_sessions() as session:
        session.add(VehicleState(vehicle_id=vehicle_id, pos_ts=BASE_TS, pos_seq=1, lat=1.0, lon=1.0))
        session.commit()

    response = admin.delete(f"/v1/admin/vehicles/{device}", headers=tenant.headers)

    assert response.status_code == 204 and response.content == b""
    assert admin.get(f"/v1/vehicles/{device}", headers=tenant.headers).status_code == 404
    assert admin.delete(f"/v1/admin/vehicles/{device}", headers=tenant.headers).status_code == 404
    with pg_sessions() as session:
        assert session.get(Vehicle, vehicle_id) is None and session.get(VehicleState, vehicle_id) is None

        def positions(vid: int) -> int:
            stmt = select(func.count()).select_from(Position).where(Position.vehicle_id == vid)
            return int(session.scalar(stmt) or 0)

        assert (positions(vehicle_id), positions(tenant.vehicle_ids[kept])) == (0, 1)
    [entry] = audit(admin, tenant, action="vehicle.delete")
    assert (entry["target"], entry["actor"], entry["address"]) == (device, INITIAL_TOKEN_NAME, ADDRESS)


def test_bulk_delete_is_all_or_nothing(admin: TestClient, tenant: SeededTenant) -> None:
    first, second = tenant.device_ids

    refused = admin.request(
        "DELETE", "/v1/admin/vehicles", headers=tenant.headers, json={"device_ids": [first, "nobodys-bus"]}
    )
    assert refused.status_code == 404 and refused.json() == {"detail": "no vehicle 'nobodys-bus'"}
    assert len(admin.get("/v1/vehicles", headers=tenant.headers).json()["items"]) == 2

    deleted = admin.request(
        "DELETE", "/v1/admin/vehicles", headers=tenant.headers, json={"device_ids": [second, first, second]}
    )
    assert deleted.status_code == 200 and deleted.json() == {"deleted": [second, first]}
    assert admin.get("/v1/vehicles", headers=tenant.headers).json()["items"] == []
    assert [e["target"] for e in audit(admin, tenant, action="vehicle.delete")] == [first, second]
    empty = admin.request("DELETE", "/v1/admin/vehicles", headers=tenant.headers, json={"device_ids": []})
    assert empty.status_code == 422


def test_a_deleted_device_may_be_registered_again_without_its_old_data(
    admin: TestClient, pg_sessions: sessionmaker[Session], tenant: SeededTenant, other_tenant: SeededTenant
) -> None:
    device = tenant.device_ids[0]
    insert_positions(pg_sessions, tenant.vehicle_ids[device], [BASE_TS])
    admin.delete(f"/v1/admin/vehicles/{device}", headers=tenant.headers)

    again = admin.post("/v1/admin/vehicles", headers=other_tenant.headers, json={"device_id": device})

    assert again.status_code == 201
    since = (BASE_TS - timedelta(hours=1)).isoformat()
    page = admin.get(f"/v1/vehicles/{device}/positions", headers=other_tenant.headers, params={"since": since})
    assert page.status_code == 200 and page.json()["items"] == []


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("OPTIONS", "/v1/admin/tokens", "GET, POST"),
        ("PUT", "/v1/admin/vehicles", "DELETE, PATCH, POST"),
        ("POST", "/v1/admin/vehicles/bus-1", "DELETE, PATCH"),
        ("DELETE", "/v1/vehicles", "GET"),
    ],
)
def test_a_wrong_method_names_every_allowed_one(client: TestClient, method: str, path: str, allow: str) -> None:
    response = client.request(method, path)

    assert response.status_code == 405
    assert response.headers["Allow"] == allow


# --- groups and bulk changes, on PostgreSQL and SQLite -------------------------------------------------------------


def test_groups_are_set_on_registration_shown_and_filtered(env: Env, unique: str) -> None:
    new = [
        {"device_id": f"n-{unique}-1", "groups": ["north", "Depot 2", "north"]},
        {"device_id": f"n-{unique}-2", "groups": ["northern"]},
        {"device_id": f"n-{unique}-3", "groups": None},
        {"device_id": f"n-{unique}-4"},
    ]

    created = env.client.post("/v1/admin/vehicles", headers=env.tenant.headers, json=new)

    assert created.status_code == 201, created.text
    assert [v["groups"] for v in created.json()["items"]] == [["Depot 2", "north"], ["northern"], [], []]
    listed = env.vehicles()
    assert listed[f"n-{unique}-1"]["groups"] == ["Depot 2", "north"]
    assert listed[env.tenant.device_ids[0]]["groups"] == []
    detail = env.client.get(f"/v1/vehicles/n-{unique}-1", headers=env.tenant.headers).json()
    assert detail["groups"] == ["Depot 2", "north"]
    assert list(env.vehicles(group="north")) == [f"n-{unique}-1"]  # not "northern"
    assert list(env.vehicles(group="Depot 2")) == [f"n-{unique}-1"]
    assert list(env.vehicles(group="depot 2")) == []  # names are case-sensitive
    assert list(env.vehicles(group="nowhere")) == []
    entries = audit(env.client, env.tenant, action="vehicle.create", limit=4)
    assert [e["detail"] for e in reversed(entries)] == [
        {"label": None, "plate": None, "groups": ["Depot 2", "north"]},
        {"label": None, "plate": None, "groups": ["northern"]},
        {"label": None, "plate": None},
        {"label": None, "plate": None},
    ]


def test_a_change_replaces_keeps_or_clears_the_groups(env: Env) -> None:
    device = env.tenant.device_ids[0]
    url = f"/v1/admin/vehicles/{device}"

    def patch(body: dict[str, Any]) -> list[str]:
        response = env.client.patch(url, headers=env.tenant.headers, json=body)
        assert response.status_code == 200, response.text
        groups: list[str] = response.json()["groups"]
        return groups

    assert patch({"groups": ["south", "north"]}) == ["north", "south"]
    assert patch({"groups": ["east"]}) == ["east"]  # replaced, not added
    assert patch({"label": "Line 7"}) == ["east"]  # omitted: kept
    assert patch({"groups": ["east"]}) == ["east"]  # the same set: nothing recorded
    assert list(env.vehicles(group="east")) == [device]
    assert patch({"groups": None}) == []  # null clears
    assert patch({"groups": ["east"]}) == ["east"]
    assert patch({"groups": []}) == []
    assert env.vehicles(group="east") == {}
    updates = audit(env.client, env.tenant, action="vehicle.update")
    assert [e["detail"] for e in reversed(updates)] == [
        {"groups": {"from": [], "to": ["north", "south"]}},
        {"groups": {"from": ["north", "south"], "to": ["east"]}},
        {"label": {"from": None, "to": "Line 7"}},
        {"groups": {"from": ["east"], "to": []}},
        {"groups": {"from": [], "to": ["east"]}},
        {"groups": {"from": ["east"], "to": []}},
    ]
    assert {(e["actor"], e["address"]) for e in updates} == {(INITIAL_TOKEN_NAME, ADDRESS)}


BAD_GROUPS = [
    pytest.param([""], id="empty-name"),
    pytest.param(["x" * 65], id="long-name"),
    pytest.param(["north/south"], id="slash"),
    pytest.param([" north"], id="leading-space"),
    pytest.param(["north "], id="trailing-space"),
    pytest.param(["Zürich"], id="non-ascii"),
    pytest.param(["a\u0000b"], id="nul"),
    pytest.param([f"g{i}" for i in range(MAX_GROUPS + 1)], id="too-many"),
    pytest.param("north", id="a-string"),
    pytest.param([7], id="a-number"),
]


@pytest.mark.parametrize("groups", BAD_GROUPS)
def test_bad_groups_change_nothing(env: Env, unique: str, groups: Any) -> None:
    device = env.tenant.device_ids[0]
    env.client.patch(f"/v1/admin/vehicles/{device}", headers=env.tenant.headers, json={"groups": ["kept"]})

    create = env.client.post(
        "/v1/admin/vehicles", headers=env.tenant.headers, json={"device_id": f"bad-{unique}", "groups": groups}
    )
    single = env.client.patch(
        f"/v1/admin/vehicles/{device}", headers=env.tenant.headers, json={"label": "changed", "groups": groups}
    )
    bulk = env.bulk(
        [{"device_id": env.tenant.device_ids[1], "label": "changed"}, {"device_id": device, "groups": groups}]
    )

    assert (create.status_code, single.status_code, bulk.status_code) == (422, 422, 422)
    listed = env.vehicles()
    assert list(listed) == env.tenant.device_ids
    assert [(v["label"], v["groups"]) for v in listed.values()] == [(None, ["kept"]), (None, [])]


@pytest.mark.parametrize("group", ["", " north", "x" * 65, "a/b", "Zürich"])
def test_a_filter_by_an_impossible_group_is_refused(env: Env, group: str) -> None:
    response = env.client.get("/v1/vehicles", headers=env.tenant.headers, params={"group": group})

    assert response.status_code == 422


def test_a_bulk_change_changes_each_vehicle_as_a_single_change_would(env: Env) -> None:
    first, second = env.tenant.device_ids
    env.client.patch(f"/v1/admin/vehicles/{second}", headers=env.tenant.headers, json={"plate": "W-2"})

    response = env.bulk(
        [
            {"device_id": second, "plate": None, "groups": ["north"], "tachograph_required": False},
            {"device_id": first, "label": "Line 7", "groups": ["north", "south"]},
        ]
    )

    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert [v["device_id"] for v in items] == [second, first]  # the request's order
    assert [(v["label"], v["plate"], v["groups"], v["tachograph_required"]) for v in items] == [
        (None, None, ["north"], False),
        ("Line 7", None, ["north", "south"], True),
    ]
    assert list(env.vehicles(group="north")) == [first, second]
    assert list(env.vehicles(group="south")) == [first]
    kept = env.bulk([{"device_id": first, "plate": "W-1"}, {"device_id": second, "label": None}])
    assert kept.status_code == 200
    assert [(v["label"], v["plate"], v["groups"]) for v in kept.json()["items"]] == [
        ("Line 7", "W-1", ["north", "south"]),  # omitted fields kept
        (None, None, ["north"]),
    ]
    updates = audit(env.client, env.tenant, action="vehicle.update", limit=4)
    exempted = {
        "plate": {"from": "W-2", "to": None},
        "tachograph_required": {"from": True, "to": False},
        "groups": {"from": [], "to": ["north"]},
    }
    assert [(e["target"], e["detail"]) for e in reversed(updates[:3])] == [  # the unchanged one recorded nothing
        (second, exempted),
        (first, {"label": {"from": None, "to": "Line 7"}, "groups": {"from": [], "to": ["north", "south"]}}),
        (first, {"plate": {"from": None, "to": "W-1"}}),
    ]
    assert {(e["actor"], e["address"]) for e in updates} == {(INITIAL_TOKEN_NAME, ADDRESS)}


def test_a_bulk_change_is_all_or_nothing(env: Env) -> None:
    first, second = env.tenant.device_ids
    foreign = env.other.device_ids[0]
    change = {"device_id": first, "label": "changed", "groups": ["changed"]}

    unknown = env.bulk([change, {"device_id": "nobodys-bus", "label": "x"}])
    theirs = env.bulk([change, {"device_id": foreign, "label": "taken over"}])
    impossible = env.bulk([change, {"device_id": "bus\u0000" + "x" * 5000}])
    twice = env.bulk([change, {"device_id": second}, {"device_id": first, "label": "other"}])
    bad_field = env.bulk([change, {"device_id": second, "plate": "x" * 33}])

    assert unknown.status_code == 404 and unknown.json() == {"detail": "no vehicle 'nobodys-bus'"}
    assert theirs.status_code == 404 and theirs.json() == {"detail": f"no vehicle {foreign!r}"}
    assert impossible.status_code == 404 and len(impossible.json()["detail"]) < 100
    assert twice.status_code == 409 and twice.json() == {"detail": f"device {first!r} is given more than once"}
    assert bad_field.status_code == 422
    assert [(v["label"], v["groups"]) for v in env.vehicles().values()] == [(None, [])] * 2
    assert audit(env.client, env.tenant, action="vehicle.update") == []
    other = env.client.get(f"/v1/vehicles/{foreign}", headers=env.other.headers).json()
    assert (other["label"], other["groups"]) == (None, [])


@pytest.mark.parametrize(
    "body",
    [
        {"vehicles": []},
        {"vehicles": [{"device_id": f"bus-{i}"} for i in range(1001)]},
        {"vehicles": [{"device_id": "bus-1", "colour": "red"}]},
        {"vehicles": [{"label": "no device id"}]},
        {"vehicles": [{"device_id": "bus-1", "tachograph_required": None}]},
        {"device_ids": ["bus-1"]},
        [{"device_id": "bus-1"}],
    ],
    ids=["empty", "too-many", "unknown-field", "no-device-id", "null-tachograph", "wrong-key", "a-list"],
)
def test_bad_bulk_changes_are_refused(env: Env, body: Any) -> None:
    response = env.client.patch("/v1/admin/vehicles", headers=env.tenant.headers, json=body)

    assert response.status_code == 422


def test_a_bulk_change_of_the_most_vehicles_allowed(env: Env, unique: str) -> None:
    devices = [f"max-{unique}-{i:04}" for i in range(1000)]
    created = env.client.post(
        "/v1/admin/vehicles", headers=env.tenant.headers, json=[{"device_id": d} for d in devices]
    )
    assert created.status_code == 201

    response = env.bulk([{"device_id": d, "groups": ["depot"]} for d in devices])

    assert response.status_code == 200
    assert list(env.vehicles(group="depot")) == devices


# --- deleting vehicles with files ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bucket(s3: SeaweedServer) -> str:
    """A fresh bucket for the module's files."""
    return s3.create_bucket()


@dataclass
class Files:
    """A client whose app keeps files in a SeaweedFS bucket, that store, and the session's database."""

    client: TestClient
    store: S3BlobStore
    sessions: sessionmaker[Session]

    def add(self, tenant: SeededTenant, device_id: str, file_id: str, held: bool = False) -> str:
        """A verified file of the vehicle with its object stored, on legal hold if `held`; the object's key."""
        file = add_file(self.sessions, tenant, device_id, file_id, size_bytes=len(file_id), legal_hold=held)
        key = self.file(file).object_key
        self.store.put_bytes(key, file_id.encode())
        return key

    def file(self, id: int) -> File:
        """A file's row."""
        with self.sessions() as session:
            return session.get_one(File, id)

    def file_ids(self, tenant: SeededTenant) -> list[str]:
        """The unit file ids of the tenant's files, sorted."""
        with self.sessions() as session:
            return sorted(session.scalars(select(File.file_id).where(File.tenant_id == tenant.id)))


@pytest.fixture
def files(pg_url: str, s3: SeaweedServer, bucket: str, pg_sessions: sessionmaker[Session]) -> Iterator[Files]:
    """The admin API with its files in SeaweedFS."""
    store = s3_store_for(s3, bucket)
    with TestClient(make_app(pg_url, blob_store=store)) as client:
        yield Files(client, store, pg_sessions)


def test_a_vehicle_with_a_file_on_legal_hold_is_not_deleted(files: Files, tenant: SeededTenant) -> None:
    device = tenant.device_ids[0]
    keys = [files.add(tenant, device, "clip-1"), files.add(tenant, device, "clip-2", held=True)]

    refused = files.client.delete(f"/v1/admin/vehicles/{device}", headers=tenant.headers)

    assert refused.status_code == 409
    assert refused.json() == {
        "detail": f"1 file is on legal hold (vehicle {device!r} (1 file)): release the holds first; nothing was deleted"
    }
    assert files.client.get(f"/v1/vehicles/{device}", headers=tenant.headers).status_code == 200
    assert files.file_ids(tenant) == ["clip-1", "clip-2"]
    assert all(files.store.head(key) is not None for key in keys)
    assert audit(files.client, tenant, action="vehicle.delete") == []


def test_deleting_a_vehicle_deletes_its_files_from_the_store(files: Files, tenant: SeededTenant) -> None:
    device, kept = tenant.device_ids
    gone_keys = [files.add(tenant, device, "clip-1"), files.add(tenant, device, "vu-1")]
    kept_key = files.add(tenant, kept, "clip-9")
    # An upload under way (a part stored) goes too, or its parts would stay in the bucket.
    uploading = add_file(files.sessions, tenant, device, "big-1", state="offered", size_bytes=6 * 1024**2)
    key = files.file(uploading).object_key
    upload_id = files.store.start_multipart(key)
    part = files.store.presign_part(key, upload_id, 1, 3)
    stored = httpx.put(part.url, content=b"abc", headers=part.headers)
    assert stored.status_code == 200 and len(files.store.list_parts(key, upload_id)) == 1
    with files.sessions() as session:
        session.get_one(File, uploading).upload_id = upload_id
        session.commit()

    response = files.client.delete(f"/v1/admin/vehicles/{device}", headers=tenant.headers)

    assert response.status_code == 204
    assert [files.store.head(k) for k in gone_keys] == [None, None]
    with pytest.raises(NotFound):
        files.store.list_parts(key, upload_id)
    assert files.store.head(kept_key) is not None and files.file_ids(tenant) == ["clip-9"]
    [entry] = audit(files.client, tenant, action="vehicle.delete")
    assert (entry["target"], entry["detail"]) == (device, {"label": None, "plate": None, "files": 3})


def test_bulk_delete_is_refused_whole_while_a_file_is_held(files: Files, tenant: SeededTenant) -> None:
    first, second = tenant.device_ids
    keys = [files.add(tenant, first, "clip-1")]
    keys += [files.add(tenant, second, f"clip-{n}", held=True) for n in (2, 3)]

    refused = files.client.request(
        "DELETE", "/v1/admin/vehicles", headers=tenant.headers, json={"device_ids": [first, second]}
    )

    assert refused.status_code == 409
    assert refused.json()["detail"] == (
        f"2 files are on legal hold (vehicle {second!r} (2 files)): release the holds first; nothing was deleted"
    )
    assert len(files.client.get("/v1/vehicles", headers=tenant.headers).json()["items"]) == 2
    assert files.file_ids(tenant) == ["clip-1", "clip-2", "clip-3"]
    assert all(files.store.head(key) is not None for key in keys)


def test_bulk_refusal_names_every_vehicle_with_held_files(files: Files, tenant: SeededTenant) -> None:
    first, second = tenant.device_ids
    files.add(tenant, first, "clip-1", held=True)
    files.add(tenant, second, "clip-2", held=True)

    refused = files.client.request(
        "DELETE", "/v1/admin/vehicles", headers=tenant.headers, json={"device_ids": [second, first]}
    )

    assert refused.status_code == 409
    assert f"(vehicles {first!r} (1 file), {second!r} (1 file))" in refused.json()["detail"]


def test_the_vehicle_deletes_declare_the_legal_hold_conflict(files: Files) -> None:
    paths = files.client.get("/openapi.json").json()["paths"]

    for path in ("/v1/admin/vehicles/{device_id}", "/v1/admin/vehicles"):
        responses = paths[path]["delete"]["responses"]
        assert "legal hold" in responses["409"]["description"], path
        assert "503" in responses, path
