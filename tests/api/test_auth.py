"""Authentication and roles on every route: 401 without a usable token, 403 below the route's role, 404 across tenants.

The tables below name every route of the app; a new route fails `test_every_route_declares_its_role` until it is
added with the role it needs, and the role matrix then checks it for every kind of caller.
"""

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from api.app import create_app
from api.files.service import MAX_ID
from fleet.commands import service as commands
from fleet.db.models import ApiToken, Command, File, Vehicle
from fleet.settings import ApiSettings, SharedSettings
from fleet.tenancy.roles import Role
from fleet.tenancy.service import INITIAL_TOKEN_NAME, MAX_TOKEN_ID
from tests.api.conftest import UNREACHABLE_BROKER, SeededTenant, add_file, add_token, bearer

pytestmark = pytest.mark.integration

VIEWER, OPERATOR, ADMIN, PUBLIC = Role.VIEWER, Role.OPERATOR, Role.ADMIN, None

# Every route of the app and the role it needs (None: public, no token needed).
ROUTE_ROLES: dict[tuple[str, str], Role | None] = {
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/metrics"): PUBLIC,
    ("GET", "/openapi.json"): PUBLIC,
    ("GET", "/docs"): PUBLIC,
    ("GET", "/docs/oauth2-redirect"): PUBLIC,
    ("GET", "/redoc"): PUBLIC,
    ("GET", "/v1/vehicles"): VIEWER,
    ("GET", "/v1/vehicles/{device_id}"): VIEWER,
    ("GET", "/v1/vehicles/{device_id}/positions"): VIEWER,
    ("GET", "/v1/vehicles/{device_id}/can"): VIEWER,
    ("GET", "/v1/live"): VIEWER,
    ("GET", "/v1/deadletters"): VIEWER,
    ("POST", "/v1/deadletters/replay"): OPERATOR,
    ("GET", "/v1/files"): VIEWER,
    ("GET", "/v1/files/{id}"): VIEWER,
    ("GET", "/v1/files/{id}/content"): VIEWER,
    ("PUT", "/v1/files/{id}/legal-hold"): OPERATOR,
    ("GET", "/v1/compliance/tachograph"): VIEWER,
    ("PUT", "/v1/compliance/tachograph/periods"): ADMIN,
    ("POST", "/v1/vehicles/{device_id}/commands"): OPERATOR,
    ("GET", "/v1/vehicles/{device_id}/commands"): VIEWER,
    ("GET", "/v1/commands/{id}"): VIEWER,
    ("POST", "/v1/commands/{id}/cancel"): OPERATOR,
    ("POST", "/v1/admin/tokens"): ADMIN,
    ("GET", "/v1/admin/tokens"): ADMIN,
    ("DELETE", "/v1/admin/tokens/{token_id}"): ADMIN,
    ("POST", "/v1/admin/vehicles"): ADMIN,
    ("PATCH", "/v1/admin/vehicles/{device_id}"): ADMIN,
    ("PATCH", "/v1/admin/vehicles"): ADMIN,
    ("DELETE", "/v1/admin/vehicles/{device_id}"): ADMIN,
    ("DELETE", "/v1/admin/vehicles"): ADMIN,
    ("POST", "/v1/admin/vehicles/{device_id}/credentials"): ADMIN,
    ("DELETE", "/v1/admin/vehicles/{device_id}/credentials"): ADMIN,
    ("GET", "/v1/audit"): ADMIN,
    ("GET", "/v1/events"): VIEWER,
    ("GET", "/v1/events/counts"): VIEWER,
    ("GET", "/v1/events/{id}"): VIEWER,
    ("GET", "/v1/vehicles/{device_id}/events"): VIEWER,
    ("GET", "/v1/alarms"): VIEWER,
    ("GET", "/v1/alarms/counts"): VIEWER,
    ("GET", "/v1/alarms/{id}"): VIEWER,
    ("POST", "/v1/alarms/{id}/acknowledge"): OPERATOR,
    ("POST", "/v1/alarms/{id}/close"): OPERATOR,
    ("GET", "/v1/event-rules"): VIEWER,
    ("PUT", "/v1/event-rules/{detector}"): ADMIN,
    ("PUT", "/v1/event-rules/{detector}/groups/{group}"): ADMIN,
    ("DELETE", "/v1/event-rules/{detector}/groups/{group}"): ADMIN,
    ("GET", "/v1/geofences"): VIEWER,
    ("POST", "/v1/geofences"): ADMIN,
    ("DELETE", "/v1/geofences/{id}"): ADMIN,
    ("POST", "/v1/webhooks"): ADMIN,
    ("GET", "/v1/webhooks"): ADMIN,
    ("DELETE", "/v1/webhooks/{id}"): ADMIN,
    ("GET", "/v1/webhooks/{id}/deliveries"): ADMIN,
    ("POST", "/v1/webhooks/{id}/deliveries/{delivery_id}/retry"): ADMIN,
    ("GET", "/v1/stream"): VIEWER,
}
# Routes whose grant is a signed URL, not a token: the local blob store's endpoint.
SIGNED_ROUTES = {("PUT", "/v1/blobs/{key:path}"), ("GET", "/v1/blobs/{key:path}")}
CALLERS = ["none", "viewer", "operator", "admin", "expired", "revoked"]
# Path parameters of the role matrix: ids nobody has, so no request of the matrix changes anything.
NOBODYS = {
    "device_id": "nobodys-bus",
    "token_id": str(MAX_TOKEN_ID),
    "id": str(MAX_ID),
    "key:path": "no/such/key",
    # No such detector: the rule routes answer 422 to whoever may call them, and change nothing.
    "detector": "no_such_detector",
    "group": "nobodys-group",
    "delivery_id": str(MAX_ID),
}
# Bodies that pass validation, for the role matrix and the cross-tenant requests (which must then fail on the ids
# alone).
BODIES: dict[tuple[str, str], Any] = {
    ("PATCH", "/v1/admin/vehicles/{device_id}"): {"label": "taken over"},
    ("PATCH", "/v1/admin/vehicles"): {"vehicles": [{"device_id": NOBODYS["device_id"], "groups": ["taken"]}]},
    ("PUT", "/v1/files/{id}/legal-hold"): {"hold": True, "reason": "taken over"},
    ("POST", "/v1/vehicles/{device_id}/commands"): {"type": "reboot"},
}
# An event stream never ends: a kind it refuses makes its answer a 422 for whoever may call it.
QUERIES: dict[tuple[str, str], dict[str, str]] = {("GET", "/v1/stream"): {"kinds": "no_such_kind"}}

BAD_HEADERS = [
    pytest.param({}, id="missing"),
    pytest.param({"Authorization": "Bearer flt_not-a-real-token"}, id="unknown"),
    pytest.param({"Authorization": "Bearer"}, id="scheme-only"),
    pytest.param({"Authorization": "Bearer "}, id="empty-token"),
    pytest.param({"Authorization": "Basic dXNlcjpwYXNz"}, id="basic"),
    pytest.param({"Authorization": "flt_token-without-scheme"}, id="no-scheme"),
]


@pytest.fixture
def client(pg_url: str) -> Iterator[TestClient]:
    """A client of an app on PostgreSQL that lets one address fail authentication on every route within a minute:
    the matrix and the token checks send one request per route."""
    shared = SharedSettings(database_url=pg_url, mqtt_url=UNREACHABLE_BROKER)
    with TestClient(create_app(shared, ApiSettings(auth_failures_per_minute=1000))) as test_client:
        yield test_client


def add_command(sessions: sessionmaker[Session], device_id: str) -> int:
    """Queue a command for the vehicle `device_id` as the CLI would; its id."""
    with sessions() as session:
        vehicle = session.scalars(select(Vehicle).where(Vehicle.device_id == device_id)).one()
        command, _ = commands.create(session, vehicle, "reboot", {})
        session.commit()
        return command.id


def app_routes(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path template) of every route of `app` (HEAD, which Starlette adds to GET, left out)."""
    # FastAPI keeps included routers as routes of their own; iter_route_contexts flattens them, as the OpenAPI
    # schema does (which would miss the routes left out of it, like /metrics).
    routes = set()
    for route in iter_route_contexts(app.routes):
        assert route.path is not None and route.methods, f"a route of an unexpected kind: {route}"
        routes |= {(method, route.path) for method in route.methods - {"HEAD"}}
    return routes


def fill(path: str, values: dict[str, str]) -> str:
    """`path` with each `{param}` replaced by its value."""
    return re.sub(r"\{([\w:]+)\}", lambda m: values[m.group(1)], path)


def expected(caller: str, needed: Role | None) -> str:
    """What a caller gets from a route needing `needed`: "401", "403" or "allowed" (any answer but those two and a
    server error)."""
    if needed is None:
        return "allowed"
    if caller in ("none", "expired", "revoked"):
        return "401"
    return "allowed" if Role(caller).includes(needed) else "403"


def outcome(status: int) -> str:
    """How the matrix counts an answer: a server error is never expected, so it always fails the matrix."""
    if status >= 500:
        return f"server error {status}"
    return str(status) if status in (401, 403) else "allowed"


def test_every_route_declares_its_role(client: TestClient) -> None:
    routes = app_routes(client.app)  # type: ignore[arg-type]

    declared = set(ROUTE_ROLES) | SIGNED_ROUTES
    assert sorted(routes - declared) == [], "new routes: add them to ROUTE_ROLES with the role they need"
    assert sorted(declared - routes) == [], "routes gone: remove them from ROUTE_ROLES"
    assert all(role is not None for (_, path), role in ROUTE_ROLES.items() if path.startswith("/v1/"))


@pytest.mark.parametrize("caller", CALLERS)
def test_role_matrix(client: TestClient, callers: dict[str, dict[str, str]], caller: str) -> None:
    mismatches = []
    for (method, path), needed in sorted(ROUTE_ROLES.items(), key=lambda item: item[0][1]):
        body = BODIES.get((method, path))
        query = QUERIES.get((method, path))
        response = client.request(method, fill(path, NOBODYS), headers=callers[caller], json=body, params=query)
        if outcome(response.status_code) != expected(caller, needed):
            mismatches.append(f"{method} {path}: {response.status_code} {response.text[:100]}")
        if response.status_code in (401, 403):
            assert isinstance(response.json()["detail"], str)
        if response.status_code == 401:
            assert response.headers["WWW-Authenticate"] == "Bearer"

    assert mismatches == []


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_the_role_matrix_never_counts_a_server_error_as_allowed(status: int) -> None:
    assert outcome(status) not in {expected(caller, needed) for caller in CALLERS for needed in (*Role, None)}


@pytest.mark.parametrize(
    ("caller", "needed", "detail"),
    [
        ("viewer", "operator", "this needs the operator role; token 'viewer' has the viewer role"),
        ("operator", "admin", "this needs the admin role; token 'operator' has the operator role"),
    ],
)
def test_a_role_too_low_is_403_saying_which_role_is_needed(
    client: TestClient, callers: dict[str, dict[str, str]], caller: str, needed: str, detail: str
) -> None:
    route = "/v1/deadletters/replay" if needed == "operator" else "/v1/admin/tokens"
    response = client.request("POST", route, headers=callers[caller], json={})

    assert response.status_code == 403
    assert response.json() == {"detail": detail}


@pytest.mark.parametrize(("caller", "word"), [("expired", "expired at"), ("revoked", "was revoked at")])
def test_an_expired_or_revoked_token_is_401_saying_so(
    client: TestClient, callers: dict[str, dict[str, str]], caller: str, word: str
) -> None:
    response = client.get("/v1/vehicles", headers=callers[caller])

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert f"token {caller!r} {word} " in response.json()["detail"]
    assert "ask an admin" in response.json()["detail"]


@pytest.mark.parametrize("caller", CALLERS)
def test_signed_routes_take_no_token_and_refuse_a_missing_signature(
    client: TestClient, callers: dict[str, dict[str, str]], caller: str
) -> None:
    for method, path in sorted(SIGNED_ROUTES):
        response = client.request(method, fill(path, NOBODYS), headers=callers[caller])

        assert response.status_code == 403, f"{method} {path}"
        assert response.json() == {"detail": "malformed signed URL"}


def test_every_route_answers_404_for_another_tenants_ids(
    client: TestClient, pg_sessions: sessionmaker[Session], tenant: SeededTenant, other_tenant: SeededTenant
) -> None:
    foreign_token_id, _ = add_token(pg_sessions, other_tenant.id, Role.VIEWER, "foreign")
    foreign_file_id = add_file(pg_sessions, other_tenant, other_tenant.device_ids[0], "foreign")
    foreign_command_id = add_command(pg_sessions, other_tenant.device_ids[0])
    foreign = {"device_id": other_tenant.device_ids[0], "token_id": str(foreign_token_id), "id": str(foreign_file_id)}
    foreign["delivery_id"] = "1"  # under a webhook id that is not the caller's
    # `{id}` is a command's id under /v1/commands, a file's elsewhere.
    foreign_command = foreign | {"id": str(foreign_command_id)}
    # The rules of a detector are every tenant's own: their paths name no one's ids.
    with_ids = [
        (m, p)
        for (m, p), role in ROUTE_ROLES.items()
        if "{" in p and role is not None and not p.startswith("/v1/event-rules/")
    ]
    assert {name for _, path in with_ids for name in re.findall(r"\{(\w+)\}", path)} <= set(foreign)

    answers = {
        f"{method} {path}": client.request(
            method,
            fill(path, foreign_command if path.startswith("/v1/commands/") else foreign),
            headers=tenant.headers,
            json=BODIES.get((method, path)),
        ).status_code
        for method, path in with_ids
    }

    assert answers == dict.fromkeys(answers, 404)
    with pg_sessions() as session:  # nothing of the other tenant's changed
        vehicle = session.scalars(select(Vehicle).where(Vehicle.device_id == other_tenant.device_ids[0])).one()
        assert (vehicle.tenant_id, vehicle.label) == (other_tenant.id, None)
        assert session.get_one(ApiToken, foreign_token_id).revoked_at is None
        assert session.get_one(File, foreign_file_id).legal_hold is False
        assert session.get_one(Command, foreign_command_id).state == "queued"
        assert session.scalars(select(Command).where(Command.tenant_id == tenant.id)).all() == []


def test_body_ids_of_another_tenant_are_not_found_or_taken(
    client: TestClient, tenant: SeededTenant, other_tenant: SeededTenant
) -> None:
    foreign, mine = other_tenant.device_ids[0], tenant.device_ids[0]
    takeover = {"label": "taken over", "groups": ["taken"]}

    bulk = client.request("DELETE", "/v1/admin/vehicles", headers=tenant.headers, json={"device_ids": [foreign]})
    create = client.post("/v1/admin/vehicles", headers=tenant.headers, json={"device_id": foreign})
    change = client.patch(
        "/v1/admin/vehicles",
        headers=tenant.headers,
        json={"vehicles": [{"device_id": mine, **takeover}, {"device_id": foreign, **takeover}]},
    )

    assert bulk.status_code == 404 and bulk.json() == {"detail": f"no vehicle {foreign!r}"}
    assert create.status_code == 409
    assert change.status_code == 404 and change.json() == {"detail": f"no vehicle {foreign!r}"}
    theirs = client.get(f"/v1/vehicles/{foreign}", headers=other_tenant.headers)
    assert theirs.status_code == 200 and (theirs.json()["label"], theirs.json()["groups"]) == (None, [])
    own = client.get(f"/v1/vehicles/{mine}", headers=tenant.headers).json()
    assert (own["label"], own["groups"]) == (None, [])  # all or none: the caller's own vehicle is unchanged too
    assert client.get("/v1/vehicles", headers=tenant.headers, params={"group": "taken"}).json()["items"] == []


def test_lists_hold_only_the_callers_tenant(
    client: TestClient, tenant: SeededTenant, other_tenant: SeededTenant
) -> None:
    client.post("/v1/admin/tokens", headers=other_tenant.headers, json={"name": "theirs", "role": "viewer"})

    tokens = client.get("/v1/admin/tokens", headers=tenant.headers).json()["items"]
    audit = client.get("/v1/audit", headers=tenant.headers).json()["items"]

    assert [t["name"] for t in tokens] == [INITIAL_TOKEN_NAME]
    assert {e["target"] for e in audit} == {INITIAL_TOKEN_NAME, *tenant.device_ids}


@pytest.mark.parametrize("headers", BAD_HEADERS)
def test_v1_routes_refuse_without_a_valid_token(client: TestClient, headers: dict[str, str]) -> None:
    for method, path in (key for key, role in ROUTE_ROLES.items() if role is not None):
        response = client.request(method, fill(path, NOBODYS), headers=headers)

        assert response.status_code == 401, f"{method} {path}"
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert response.headers["content-type"] == "application/json"
        assert isinstance(response.json()["detail"], str)


def test_auth_is_checked_before_parameters(client: TestClient, tenant: SeededTenant) -> None:
    response = client.get(f"/v1/vehicles/{tenant.device_ids[0]}/positions", params={"limit": "abc"})

    assert response.status_code == 401


def test_roles_are_checked_before_the_body(client: TestClient, callers: dict[str, dict[str, str]]) -> None:
    response = client.post("/v1/admin/vehicles", headers=callers["viewer"], json={"no": "such field"})

    assert response.status_code == 403


def test_token_scheme_is_case_insensitive(client: TestClient, tenant: SeededTenant) -> None:
    response = client.get("/v1/vehicles", headers={"Authorization": f"bearer {tenant.token}"})

    assert response.status_code == 200


def test_a_tenants_first_token_is_an_admin_token(client: TestClient, tenant: SeededTenant) -> None:
    response = client.get("/v1/admin/tokens", headers=bearer(tenant.token))

    assert response.status_code == 200
    assert [(t["name"], t["role"]) for t in response.json()["items"]] == [(INITIAL_TOKEN_NAME, "admin")]
