"""Bearer token authentication on every tenant route."""

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import SeededTenant

pytestmark = pytest.mark.integration

TENANT_ROUTES = [
    "/v1/vehicles",
    "/v1/vehicles/{device}",
    "/v1/vehicles/{device}/positions",
    "/v1/vehicles/{device}/can",
    "/v1/live",
    "/v1/deadletters",
]

BAD_HEADERS = [
    pytest.param({}, id="missing"),
    pytest.param({"Authorization": "Bearer flt_not-a-real-token"}, id="unknown"),
    pytest.param({"Authorization": "Bearer"}, id="scheme-only"),
    pytest.param({"Authorization": "Bearer "}, id="empty-token"),
    pytest.param({"Authorization": "Basic dXNlcjpwYXNz"}, id="basic"),
    pytest.param({"Authorization": "flt_token-without-scheme"}, id="no-scheme"),
]


@pytest.mark.parametrize("headers", BAD_HEADERS)
@pytest.mark.parametrize("route", TENANT_ROUTES)
def test_tenant_routes_refuse_without_a_valid_token(
    client: TestClient, tenant: SeededTenant, route: str, headers: dict[str, str]
) -> None:
    response = client.get(route.format(device=tenant.device_ids[0]), headers=headers)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.headers["content-type"] == "application/json"
    assert isinstance(response.json()["detail"], str)


def test_auth_is_checked_before_parameters(client: TestClient, tenant: SeededTenant) -> None:
    response = client.get(f"/v1/vehicles/{tenant.device_ids[0]}/positions", params={"limit": "abc"})

    assert response.status_code == 401


def test_token_scheme_is_case_insensitive(client: TestClient, tenant: SeededTenant) -> None:
    response = client.get("/v1/vehicles", headers={"Authorization": f"bearer {tenant.token}"})

    assert response.status_code == 200
