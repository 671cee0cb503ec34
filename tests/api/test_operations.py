"""Health, readiness, metrics, OpenAPI docs and the generic error handler."""

import logging
import time

import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from api.app import package_version
from tests.api.conftest import SeededTenant, make_app

pytestmark = pytest.mark.integration

UNREACHABLE_URL = "postgresql+psycopg://postgres@127.0.0.1:1/x"


def requests_total(method: str, route: str, status: str) -> float:
    """Current value of fleet_api_requests_total for one label set."""
    labels = {"method": method, "route": route, "status": status}
    return REGISTRY.get_sample_value("fleet_api_requests_total", labels) or 0.0


def test_healthz_needs_no_database() -> None:
    with TestClient(make_app(UNREACHABLE_URL)) as client:
        response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_ok(client: TestClient) -> None:
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_503_when_database_unreachable() -> None:
    with TestClient(make_app(UNREACHABLE_URL)) as client:
        started = time.monotonic()
        response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json() == {"detail": "database unreachable"}
    assert time.monotonic() - started < 5


def test_metrics_label_requests_by_route_template(client: TestClient, tenant: SeededTenant) -> None:
    route = "/v1/vehicles/{device_id}/positions"
    ok_before = requests_total("GET", route, "2xx")
    missing_before = requests_total("GET", route, "4xx")
    unmatched_before = requests_total("GET", "unmatched", "4xx")

    client.get(f"/v1/vehicles/{tenant.device_ids[0]}/positions", headers=tenant.headers)
    client.get("/v1/vehicles/no-such-device/positions", headers=tenant.headers)
    client.get("/no/such/path")
    text = client.get("/metrics").text

    assert requests_total("GET", route, "2xx") == ok_before + 1
    assert requests_total("GET", route, "4xx") == missing_before + 1
    assert requests_total("GET", "unmatched", "4xx") == unmatched_before + 1
    assert 'fleet_api_request_duration_seconds_bucket{le="0.25",method="GET",route="' + route + '"}' in text
    assert tenant.device_ids[0] not in text
    assert "no-such-device" not in text


def test_metrics_bound_the_method_label(client: TestClient) -> None:
    before = requests_total("other", "unmatched", "4xx")

    client.request("FROBNICATE", "/nowhere")

    assert requests_total("other", "unmatched", "4xx") == before + 1


def test_metrics_exposition_format(client: TestClient) -> None:
    response = client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "# TYPE fleet_api_requests_total counter" in response.text
    assert "# TYPE fleet_api_request_duration_seconds histogram" in response.text


def test_openapi_and_docs(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()

    assert spec["info"]["title"] == "fleet API"
    assert spec["info"]["version"] == package_version()
    assert "/v1/vehicles/{device_id}/positions" in spec["paths"]
    assert "offset" in spec["paths"]["/v1/vehicles/{device_id}/positions"]["get"]["description"]
    assert client.get("/docs").status_code == 200


def test_unexpected_errors_are_generic_json_500s(pg_url: str, caplog: pytest.LogCaptureFixture) -> None:
    app = make_app(pg_url)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("internal secret")

    before = requests_total("GET", "/boom", "5xx")
    with TestClient(app, raise_server_exceptions=False) as client, caplog.at_level(logging.ERROR, logger="api"):
        response = client.get("/boom")

    assert response.status_code == 500
    assert response.json() == {"detail": "internal server error"}
    assert "secret" not in response.text
    assert any(r.exc_info and "internal secret" in str(r.exc_info[1]) for r in caplog.records)
    assert requests_total("GET", "/boom", "5xx") == before + 1


def test_unknown_routes_and_methods_are_json(client: TestClient) -> None:
    not_found = client.get("/v2/anything")
    not_allowed = client.post("/v1/vehicles")

    assert not_found.status_code == 404
    assert not_found.json()["detail"]
    assert not_allowed.status_code == 405
    assert not_allowed.json()["detail"]
