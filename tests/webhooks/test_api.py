"""The webhooks API: an admin creates (secret shown once), lists, deletes, pages deliveries and retries one; another
tenant's are 404s, bad input a 422, every change audited."""

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from fleet.db.models import AuditEntry, utcnow
from fleet.tenancy.roles import Role
from fleet.tenancy.service import create_token
from fleet.webhooks import service
from fleet.webhooks.service import Filter
from tests.api.conftest import bearer, make_app
from tests.webhooks.conftest import (
    EARLIER,
    FAST,
    Receiver,
    add_tenant,
    deliveries_of,
    event,
    publish,
    run_until,
    step,
)

pytestmark = pytest.mark.integration

BODY = {"url": "https://hooks.example.com/fleet", "kinds": ["event", "alarm"], "event_types": ["overspeed"]}


@pytest.fixture
def client(webhooks_pg_url: str) -> Iterator[TestClient]:
    """A client of an app on the module's database."""
    with TestClient(make_app(webhooks_pg_url)) as test_client:
        yield test_client


def test_an_admin_creates_lists_and_deletes_a_webhook_audited(
    client: TestClient, pg_sessions: sessionmaker[Session]
) -> None:
    tenant, token = add_tenant(pg_sessions)

    created = client.post("/v1/webhooks", headers=bearer(token), json=BODY)
    listed = client.get("/v1/webhooks", headers=bearer(token))

    assert created.status_code == 201, created.text
    webhook = created.json()
    assert webhook["secret"].startswith("whsec_") and len(webhook["secret"]) > 40
    assert (webhook["url"], webhook["kinds"], webhook["event_types"]) == (
        BODY["url"],
        ["alarm", "event"],
        ["overspeed"],
    )
    assert (webhook["min_severity"], webhook["active"], webhook["created_by"]) == ("info", True, "initial-admin")
    assert listed.json() == {"items": [{k: v for k, v in webhook.items() if k != "secret"}]}

    deleted = client.delete(f"/v1/webhooks/{webhook['id']}", headers=bearer(token))
    assert deleted.status_code == 204
    assert client.get("/v1/webhooks", headers=bearer(token)).json() == {"items": []}
    assert client.delete(f"/v1/webhooks/{webhook['id']}", headers=bearer(token)).status_code == 404
    with pg_sessions() as session:
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.tenant_id == tenant, AuditEntry.action == "webhook.change")
        ).all()
    assert [(e.target, e.detail["change"]) for e in entries] == [
        (f"webhook {webhook['id']}", c) for c in ("create", "delete")
    ]
    assert "secret" not in str([e.detail for e in entries])


@pytest.mark.parametrize(
    "change",
    [
        {"url": "ftp://hooks.example.com/x"},
        {"url": "file:///etc/passwd"},
        {"url": "https://"},
        {"url": "https://user:pass@hooks.example.com/"},
        {"url": "https://hooks.example.com/a b"},
        {"url": "https://hooks.example.com:99999/"},
        {"url": "https://hooks.example.com/\u0000"},
        {"kinds": []},
        {"kinds": ["telemetry"]},
        {"event_types": ["Overspeed"]},
        {"min_severity": "fatal"},
        {"secret": "mine"},
    ],
)
def test_a_bad_url_kind_type_or_severity_is_422(
    client: TestClient, pg_sessions: sessionmaker[Session], change: dict[str, object]
) -> None:
    _, token = add_tenant(pg_sessions)

    response = client.post("/v1/webhooks", headers=bearer(token), json=BODY | change)

    assert response.status_code == 422, response.text
    assert client.get("/v1/webhooks", headers=bearer(token)).json() == {"items": []}


def test_webhooks_need_the_admin_role(client: TestClient, pg_sessions: sessionmaker[Session]) -> None:
    tenant, _ = add_tenant(pg_sessions)
    with pg_sessions() as session:
        _, operator = create_token(session, tenant, name="operator", role=Role.OPERATOR)
        session.commit()

    assert client.get("/v1/webhooks", headers=bearer(operator)).status_code == 403
    assert client.post("/v1/webhooks", headers=bearer(operator), json=BODY).status_code == 403


def test_dead_deliveries_are_listed_and_retried_once_the_receiver_is_back(
    client: TestClient, pg_sessions: sessionmaker[Session], receiver: Receiver, closed_url: str
) -> None:
    tenant, token = add_tenant(pg_sessions)
    other, other_token = add_tenant(pg_sessions)
    # Created as if earlier, for the messages of two hours ago.
    with pg_sessions() as session:
        webhook, _ = service.create(session, tenant, closed_url, Filter(["event"]), now=utcnow() - EARLIER)
        webhook_id = webhook.id
        session.commit()
    publish(pg_sessions, [event(tenant, 1), event(tenant, 2)], now=utcnow() - timedelta(hours=2))
    worker = step(pg_sessions, FAST.model_copy(update={"give_up_hours": 1.0}))
    worker.run()
    worker.run()  # the second message waited for the first's attempt
    url = f"/v1/webhooks/{webhook_id}/deliveries"

    dead = client.get(url, headers=bearer(token), params={"state": "dead"}).json()
    first = client.get(url, headers=bearer(token), params={"limit": 1}).json()
    second = client.get(url, headers=bearer(token), params={"limit": 1, "before_id": first["next_before_id"]}).json()

    assert [(d["state"], d["attempts"], d["payload"]["id"]) for d in dead["items"]] == [("dead", 1, 2), ("dead", 1, 1)]
    assert "ConnectionRefusedError" in dead["items"][0]["last_error"]
    assert [d["id"] for d in first["items"] + second["items"]] == [d["id"] for d in dead["items"]]
    assert second["next_before_id"] is None
    assert client.get(url, headers=bearer(token), params={"state": "pending"}).json()["items"] == []
    assert client.get(url, headers=bearer(token), params={"state": "lost"}).status_code == 422

    # Another tenant sees none of it, and cannot retry or delete it.
    delivery_id = dead["items"][0]["id"]
    assert client.get(url, headers=bearer(other_token)).status_code == 404
    assert client.post(f"{url}/{delivery_id}/retry", headers=bearer(other_token)).status_code == 404
    assert client.delete(f"/v1/webhooks/{webhook_id}", headers=bearer(other_token)).status_code == 404
    assert client.get("/v1/webhooks", headers=bearer(other_token)).json() == {"items": []}
    assert other != tenant

    # The receiver is back (at its new address): a retried dead delivery is sent at the next pass.
    with pg_sessions() as session:
        service.find(session, tenant, webhook_id).url = receiver.url
        session.commit()
    receiver.status = 200
    retried = client.post(f"{url}/{delivery_id}/retry", headers=bearer(token))
    assert retried.status_code == 200 and retried.json()["state"] == "pending"
    run_until(step(pg_sessions), lambda: receiver.delivered() != [], "the retried delivery")

    assert [r.message["data"]["id"] for r in receiver.delivered()] == [2]
    states = {d.id: d.state for d in deliveries_of(pg_sessions, webhook_id)}
    assert states[delivery_id] == "delivered" and list(states.values()).count("dead") == 1
    assert client.post(f"{url}/{delivery_id}/retry", headers=bearer(token)).status_code == 409
    assert client.post(f"{url}/{2**62}/retry", headers=bearer(token)).status_code == 404
