"""The audit log: entries of the caller's tenant, newest first, paged by id, filtered by action; replays recorded."""

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from fleet.db.models import DeadLetter
from fleet.tenancy.roles import Role
from fleet.tenancy.service import INITIAL_TOKEN_NAME
from tests.api.conftest import SeededTenant, add_token, bearer, make_app
from tests.fixtures.mosquitto import MosquittoServer

pytestmark = pytest.mark.integration


def test_entries_page_newest_first_and_filter_by_action(client: TestClient, tenant: SeededTenant) -> None:
    for i in range(3):
        client.post("/v1/admin/tokens", headers=tenant.headers, json={"name": f"t{i}", "role": "viewer"})

    seen, before_id = [], None
    while True:
        params = {"limit": 2} | ({"before_id": before_id} if before_id else {})
        page = client.get("/v1/audit", headers=tenant.headers, params=params).json()
        seen += page["items"]
        if (before_id := page["next_before_id"]) is None:
            break
    # The CLI created the tenant's first token and registered its two vehicles (the seeding).
    assert [(e["action"], e["target"]) for e in seen] == [
        ("token.create", "t2"),
        ("token.create", "t1"),
        ("token.create", "t0"),
        *(("vehicle.create", d) for d in sorted(tenant.vehicle_ids, key=lambda d: -tenant.vehicle_ids[d])),
        ("token.create", INITIAL_TOKEN_NAME),
    ]
    assert [e["id"] for e in seen] == sorted((e["id"] for e in seen), reverse=True)
    cli = seen[-1]
    assert (cli["actor"], cli["token_id"], cli["address"]) == ("cli", None, None)
    assert (seen[0]["actor"], seen[0]["address"]) == (INITIAL_TOKEN_NAME, "testclient")
    assert set(seen[0]) == {"id", "ts", "actor", "token_id", "action", "target", "address", "detail"}

    creates = client.get("/v1/audit", headers=tenant.headers, params={"action": "vehicle.create"}).json()
    assert {e["target"] for e in creates["items"]} == set(tenant.device_ids)
    assert client.get("/v1/audit", headers=tenant.headers, params={"action": "nope"}).status_code == 422
    assert client.get("/v1/audit", headers=tenant.headers, params={"before_id": 0}).status_code == 422


def test_an_action_that_fails_records_nothing(client: TestClient, tenant: SeededTenant) -> None:
    before = client.get("/v1/audit", headers=tenant.headers).json()["items"]

    taken = tenant.device_ids[0]
    body = [{"device_id": "fresh"}, {"device_id": taken}]
    conflict = client.post("/v1/admin/vehicles", headers=tenant.headers, json=body)

    assert conflict.status_code == 409
    assert client.get("/v1/audit", headers=tenant.headers).json()["items"] == before


@pytest.fixture
def replay_client(pg_url: str, mosquitto: MosquittoServer) -> Iterator[TestClient]:
    with TestClient(make_app(pg_url, mosquitto.url), client=("198.51.100.4", 40000)) as test_client:
        yield test_client


def test_a_replay_is_recorded_as_the_operators(
    replay_client: TestClient, pg_sessions: sessionmaker[Session], tenant: SeededTenant
) -> None:
    token_id, operator = add_token(pg_sessions, tenant.id, Role.OPERATOR, "night-shift")
    record = {"ts": datetime.now(UTC).isoformat(), "seq": 1, "lat": 48.2, "lon": 16.3}
    with pg_sessions() as session:
        letters = [
            DeadLetter(
                topic=f"fleet/v1/{tenant.device_ids[0]}/pos",
                device_id=tenant.device_ids[0],
                tenant_id=tenant.id,
                reason="schema",
                detail="d",
                payload=json.dumps(record).encode(),
            )
            for _ in range(2)
        ]
        session.add_all(letters)
        session.commit()
        ids = [letter.id for letter in letters]

    nothing = replay_client.post("/v1/deadletters/replay", headers=bearer(operator), json={"ids": [ids[0] + 1000]})
    replayed = replay_client.post("/v1/deadletters/replay", headers=bearer(operator), json={"ids": ids})

    assert nothing.json() == {"queued": 0, "skipped": 0}
    assert replayed.json() == {"queued": 2, "skipped": 0}
    [entry] = replay_client.get("/v1/audit", headers=tenant.headers, params={"action": "deadletters.replay"}).json()[
        "items"
    ]  # the replay that published nothing is not an entry
    assert (entry["actor"], entry["token_id"], entry["address"], entry["target"]) == (
        "night-shift",
        token_id,
        "198.51.100.4",
        None,
    )
    assert entry["detail"] == {"queued": 2, "skipped": 0, "ids": ids}
