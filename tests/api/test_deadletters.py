"""Dead letters: only the caller's, newest first, paginated by id."""

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from fleet.db.models import DeadLetter
from tests.api.conftest import SeededTenant

pytestmark = pytest.mark.integration


def add_dead_letter(sessions: sessionmaker[Session], tenant_id: int | None, payload: bytes, reason: str) -> int:
    """Insert one dead letter and return its id."""
    with sessions() as session:
        letter = DeadLetter(
            topic="fleet/v1/x/pos", device_id="x", tenant_id=tenant_id, reason=reason, detail="d", payload=payload
        )
        session.add(letter)
        session.commit()
        return letter.id


def test_lists_only_own_dead_letters_newest_first(
    client: TestClient, tenant: SeededTenant, other_tenant: SeededTenant, pg_sessions: sessionmaker[Session]
) -> None:
    first = add_dead_letter(pg_sessions, tenant.id, b'{"ts": 1}', "invalid")
    add_dead_letter(pg_sessions, other_tenant.id, b"secret of b", "invalid")
    add_dead_letter(pg_sessions, None, b"unknown device", "unknown_device")
    second = add_dead_letter(pg_sessions, tenant.id, b"caf\xc3\xa9 \xff\xfe", "not_json")

    response = client.get("/v1/deadletters", headers=tenant.headers)

    assert response.status_code == 200
    body = response.json()
    assert [d["id"] for d in body["items"]] == [second, first]
    assert body["items"][0]["payload"] == "café \ufffd\ufffd"
    assert body["items"][1]["payload"] == '{"ts": 1}'
    assert set(body["items"][0]) == {
        "id",
        "received_at",
        "topic",
        "device_id",
        "reason",
        "detail",
        "payload",
        "replayed_at",
    }
    assert body["next_before_id"] is None
    assert "secret of b" not in response.text


def test_before_id_pages_through(client: TestClient, tenant: SeededTenant, pg_sessions: sessionmaker[Session]) -> None:
    ids = [add_dead_letter(pg_sessions, tenant.id, b"p", "invalid") for _ in range(5)]

    seen: list[int] = []
    params: dict[str, str] = {"limit": "2"}
    while True:
        body = client.get("/v1/deadletters", params=params, headers=tenant.headers).json()
        seen += [d["id"] for d in body["items"]]
        if body["next_before_id"] is None:
            break
        params["before_id"] = str(body["next_before_id"])

    assert seen == ids[::-1]


@pytest.mark.parametrize(
    "params",
    [{"limit": "0"}, {"limit": "201"}, {"limit": "x"}, {"before_id": "0"}, {"before_id": "9" * 40}, {"before_id": "x"}],
)
def test_bad_parameters_are_422(client: TestClient, tenant: SeededTenant, params: dict[str, str]) -> None:
    response = client.get("/v1/deadletters", params=params, headers=tenant.headers)

    assert response.status_code == 422
    assert response.json()["detail"]


@pytest.mark.parametrize("ids", [[-1], [0], [2**63], [-1, 0, 2**63], ["x"]])
def test_replay_of_impossible_ids_is_422(client: TestClient, tenant: SeededTenant, ids: list[object]) -> None:
    response = client.post("/v1/deadletters/replay", headers=tenant.headers, json={"ids": ids})

    assert response.status_code == 422
    errors = response.json()["detail"]
    assert [e["loc"] for e in errors] == [["body", "ids", i] for i in range(len(ids))]
    assert all(e["msg"] for e in errors)


def test_replay_accepts_the_extreme_ids(client: TestClient, tenant: SeededTenant) -> None:
    # Neither is the tenant's, so nothing is queued.
    response = client.post("/v1/deadletters/replay", headers=tenant.headers, json={"ids": [1, 2**63 - 1]})

    assert response.status_code == 202
    assert response.json() == {"queued": 0, "skipped": 0}
