"""Geofences over HTTP: added (201, default severity by kind) and deleted by an admin, audited; names unique per
tenant (409); polygons checked (422); another tenant's never seen."""

from typing import Any

import pytest
from sqlalchemy import select

from fleet.db.models import AuditEntry
from tests.events_api.conftest import Env

pytestmark = pytest.mark.integration

SQUARE = [[11.50, 48.10], [11.51, 48.10], [11.51, 48.11], [11.50, 48.11]]


def add(env: Env, role: str = "admin", headers: dict[str, str] | None = None, **body: Any) -> Any:
    """POST /v1/geofences (a square depot unless `body` says otherwise)."""
    payload = {"name": "Depot North", "kind": "depot", "polygon": SQUARE, **body}
    return env.client.post("/v1/geofences", headers=headers or env.headers[role], json=payload)


def test_a_geofence_is_added_listed_and_deleted_audited(env: Env) -> None:
    created = add(env)
    add(env, name="Airport", kind="no_go", polygon=[*SQUARE, SQUARE[0]])
    add(env, name="Centre", kind="zone", severity="critical")

    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["name"], body["kind"], body["polygon"], body["severity"]) == ("Depot North", "depot", SQUARE, "info")
    listed = env.get("/v1/geofences").json()["items"]
    assert [(g["name"], g["severity"]) for g in listed] == [
        ("Airport", "warning"), ("Centre", "critical"), ("Depot North", "info"),
    ]  # fmt: skip
    assert env.send("DELETE", f"/v1/geofences/{body['id']}", "admin").status_code == 204
    assert env.send("DELETE", f"/v1/geofences/{body['id']}", "admin").status_code == 404
    assert [g["name"] for g in env.get("/v1/geofences").json()["items"]] == ["Airport", "Centre"]
    with env.sessions() as session:
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.tenant_id == env.tenant.id, AuditEntry.action == "geofence.change")
            .order_by(AuditEntry.id)
        ).all()  # fmt: skip
    assert [(e.detail["change"], e.detail["name"]) for e in entries] == [
        ("created", "Depot North"), ("created", "Airport"), ("created", "Centre"), ("deleted", "Depot North"),
    ]  # fmt: skip
    assert entries[-1].target == str(body["id"])


def test_a_name_is_unique_per_tenant(env: Env) -> None:
    assert add(env).status_code == 201

    again = add(env, kind="zone")
    theirs = add(env, headers=env.other.headers)

    assert again.status_code == 409 and again.json() == {"detail": "a geofence named 'Depot North' exists"}
    assert theirs.status_code == 201
    assert [g["kind"] for g in env.get("/v1/geofences").json()["items"]] == ["depot"]


def test_another_tenants_geofences_are_never_seen_or_deleted(env: Env) -> None:
    theirs = add(env, headers=env.other.headers).json()["id"]

    assert env.get("/v1/geofences").json()["items"] == []
    assert env.send("DELETE", f"/v1/geofences/{theirs}", "admin").status_code == 404
    assert env.send("DELETE", f"/v1/geofences/{2**40}", "admin").status_code == 404
    assert len(env.client.get("/v1/geofences", headers=env.other.headers).json()["items"]) == 1


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"polygon": SQUARE[:2]}, id="two-points"),
        pytest.param({"polygon": [*SQUARE[:2], SQUARE[0]]}, id="closed-two-points"),
        pytest.param({"polygon": [[0, 0], [1, 1], [2, 2]]}, id="collinear"),
        pytest.param({"polygon": [[0, 0], [0, 0], [0, 0], [1, 1]]}, id="repeated-points"),
        pytest.param({"polygon": [[11.5, 91], [11.6, 48], [11.7, 48.1]]}, id="latitude-out-of-range"),
        pytest.param({"polygon": [[181, 48], [11.6, 48], [11.7, 48.1]]}, id="longitude-out-of-range"),
        pytest.param({"polygon": [[11.5, 48, 500], [11.6, 48], [11.7, 48.1]]}, id="three-coordinates"),
        pytest.param({"polygon": [[i / 1000, (i % 2) / 1000] for i in range(1001)]}, id="too-many-points"),
        pytest.param({"kind": "parking"}, id="unknown-kind"),
        pytest.param({"severity": "fatal"}, id="unknown-severity"),
        pytest.param({"name": ""}, id="empty-name"),
        pytest.param({"name": "x" * 101}, id="long-name"),
        pytest.param({"name": "tab\there"}, id="control-character"),
        pytest.param({"colour": "red"}, id="unknown-field"),
    ],
)
def test_a_bad_geofence_is_422(env: Env, body: dict[str, Any]) -> None:
    response = add(env, **body)

    assert response.status_code == 422, response.text
    assert env.get("/v1/geofences").json()["items"] == []


def test_a_ring_of_1000_points_closed_by_a_repeat_is_taken(env: Env) -> None:
    ring = [[i / 1000, (i % 2) / 1000] for i in range(999)] + [[0.5, 0.5]]

    assert add(env, polygon=[*ring, ring[0]]).status_code == 201


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_only_an_admin_changes_geofences(env: Env, role: str) -> None:
    mine = add(env).json()["id"]

    assert add(env, role=role, name="Other").status_code == 403
    assert env.send("DELETE", f"/v1/geofences/{mine}", role).status_code == 403
    assert env.get("/v1/geofences", role=role).status_code == 200
