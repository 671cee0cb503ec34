"""The detectors' rules over HTTP: defaults, the tenant's override and group overrides as they resolve, set and
removed by an admin (audited), checked with the reason of a 422; each tenant sees only its own."""

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from fleet.db.models import AuditEntry
from fleet.events.rules import RULES, load
from tests.events_api.conftest import Env

pytestmark = pytest.mark.integration


def rules(env: Env, role: str = "viewer", headers: dict[str, str] | None = None) -> dict[str, dict[str, Any]]:
    """GET /v1/event-rules by detector."""
    response = env.client.get("/v1/event-rules", headers=headers or env.headers[role])
    assert response.status_code == 200, response.text
    return {rule["detector"]: rule for rule in response.json()["items"]}


def test_without_overrides_every_detector_has_its_defaults(env: Env) -> None:
    found = rules(env)

    assert list(found) == list(RULES)
    overspeed = found["overspeed"]
    assert overspeed == {
        "detector": "overspeed",
        "defaults": {"enabled": True, "severity": "warning", "limit_kmh": 80.0, "min_duration_s": 10.0},
        "override": None,
        "effective": overspeed["defaults"],
        "groups": [],
    }


def test_tenant_and_group_overrides_resolve_as_detection_does(env: Env) -> None:
    tenant = env.send("PUT", "/v1/event-rules/overspeed", "admin", {"limit_kmh": "70"})
    group = env.send("PUT", "/v1/event-rules/overspeed/groups/night buses", "admin", {"min_duration_s": 30})
    env.send("PUT", "/v1/event-rules/overspeed/groups/airport", "admin", {"enabled": False})

    assert tenant.status_code == 200, tenant.text
    assert tenant.json()["override"] == {"limit_kmh": 70.0}  # stored as the rule reads it
    assert tenant.json()["effective"]["limit_kmh"] == 70.0
    assert group.status_code == 200, group.text
    overspeed = rules(env)["overspeed"]
    assert [(g["group"], g["override"]) for g in overspeed["groups"]] == [
        ("airport", {"enabled": False}),
        ("night buses", {"min_duration_s": 30.0}),
    ]
    night = overspeed["groups"][1]["effective"]
    assert (night["limit_kmh"], night["min_duration_s"], night["enabled"]) == (70.0, 30.0, True)
    with env.sessions() as session:
        resolved = load(session, [env.tenant.id])[env.tenant.id]
        assert resolved.for_vehicle("overspeed", ["night buses"]).model_dump() == night
        assert resolved.for_vehicle("overspeed", []).model_dump() == overspeed["effective"]
    assert rules(env, headers=env.other.headers)["overspeed"]["override"] is None


def test_changes_are_audited_and_a_group_override_can_be_removed(env: Env) -> None:
    env.send("PUT", "/v1/event-rules/idling", "admin", {"min_duration_s": 600})
    env.send("PUT", "/v1/event-rules/idling", "admin", {"min_duration_s": 900})
    env.send("PUT", "/v1/event-rules/idling/groups/depot", "admin", {"enabled": False})

    removed = env.send("DELETE", "/v1/event-rules/idling/groups/depot", "admin")
    again = env.send("DELETE", "/v1/event-rules/idling/groups/depot", "admin")

    assert removed.status_code == 200 and removed.json()["groups"] == []
    assert removed.json()["effective"]["min_duration_s"] == 900.0
    assert again.status_code == 404
    with env.sessions() as session:
        assert [(e.action, e.target, e.detail) for e in audit(session, env.tenant.id)] == [
            ("tenant.event_rules", "idling", {"group": None, "from": None, "to": {"min_duration_s": 600.0}}),
            ("tenant.event_rules", "idling", {"group": None, "from": {"min_duration_s": 600.0},
                                              "to": {"min_duration_s": 900.0}}),
            ("tenant.event_rules", "idling", {"group": "depot", "from": None, "to": {"enabled": False}}),
            ("tenant.event_rules", "idling", {"group": "depot", "from": {"enabled": False}, "to": None}),
        ]  # fmt: skip


def audit(session: Session, tenant_id: int) -> list[AuditEntry]:
    """The tenant's rule changes, oldest first."""
    query = select(AuditEntry).where(AuditEntry.tenant_id == tenant_id, AuditEntry.action == "tenant.event_rules")
    return list(session.scalars(query.order_by(AuditEntry.id)))


@pytest.mark.parametrize(
    ("path", "body", "reason"),
    [
        ("/v1/event-rules/overspeed", {"limit_kmh": 0}, "rule overspeed: limit_kmh: Input should be greater than 0"),
        ("/v1/event-rules/overspeed", {"speed": 70}, "rule overspeed: speed: Extra inputs are not permitted"),
        ("/v1/event-rules/silent/groups/g1", {"severity": "fatal"}, "rule silent: severity: Input should be"),
    ],
)
def test_a_rule_that_cannot_be_is_422_with_the_reason(env: Env, path: str, body: dict[str, Any], reason: str) -> None:
    response = env.send("PUT", path, "admin", body)

    assert response.status_code == 422
    assert response.json()["detail"].startswith(reason)
    assert rules(env)["overspeed"]["override"] is None


@pytest.mark.parametrize(
    "path",
    [
        "/v1/event-rules/no_such_detector",
        "/v1/event-rules/overspeed/groups/ bad",
        "/v1/event-rules/harsh/groups/" + "g" * 65,
    ],
)
def test_an_unknown_detector_or_a_bad_group_name_is_422(env: Env, path: str) -> None:
    assert env.send("PUT", path, "admin", {}).status_code == 422


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_only_an_admin_changes_rules(env: Env, role: str) -> None:
    assert env.send("PUT", "/v1/event-rules/overspeed", role, {"limit_kmh": 50}).status_code == 403
    assert env.send("PUT", "/v1/event-rules/overspeed/groups/g", role, {}).status_code == 403
    assert env.send("DELETE", "/v1/event-rules/overspeed/groups/g", role).status_code == 403
