"""Replaying dead letters through the API: queued in the request, published by the dispatcher."""

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from fleet.db.models import DeadLetter, Position, Tenant, Vehicle
from fleet.registry.service import add_vehicles
from tests.api.conftest import SeededTenant, make_app
from tests.fixtures.downlink import DispatcherThread
from tests.fixtures.ingest_runner import IngestThread, wait_until
from tests.fixtures.mosquitto import MosquittoServer

pytestmark = pytest.mark.integration


@pytest.fixture
def replay_client(pg_url: str, mosquitto: MosquittoServer) -> Iterator[TestClient]:
    with TestClient(make_app(pg_url, mosquitto.url)) as test_client:
        yield test_client


def letter(sessions: sessionmaker[Session], device_id: str, payload: dict[str, object]) -> int:
    with sessions() as session:
        row = DeadLetter(
            topic=f"fleet/v1/{device_id}/pos",
            device_id=device_id,
            tenant_id=None,
            reason="unknown_device",
            detail=f"device {device_id!r} is not registered",
            payload=json.dumps(payload).encode(),
        )
        session.add(row)
        session.commit()
        return row.id


def test_a_tenant_sees_and_replays_letters_of_devices_it_registered_later(
    replay_client: TestClient,
    pg_url: str,
    pg_sessions: sessionmaker[Session],
    mosquitto: MosquittoServer,
    tenant: SeededTenant,
    other_tenant: SeededTenant,
    unique: str,
) -> None:
    device = f"late-{unique}"
    record = {"ts": datetime.now(UTC).isoformat(), "seq": 1, "lat": 48.2, "lon": 16.3}
    mine = letter(pg_sessions, device, record)
    strangers = letter(pg_sessions, f"stranger-{unique}", record)

    assert replay_client.get("/v1/deadletters", headers=tenant.headers).json()["items"] == []
    with pg_sessions() as session:
        add_vehicles(session, session.get_one(Tenant, tenant.id), [device])
        session.commit()
    listed = [d["id"] for d in replay_client.get("/v1/deadletters", headers=tenant.headers).json()["items"]]
    assert listed == [mine]

    other = replay_client.post("/v1/deadletters/replay", headers=other_tenant.headers, json={"ids": [mine]})
    assert other.status_code == 202 and other.json() == {"queued": 0, "skipped": 0}

    runner = IngestThread(pg_url, mosquitto.url).start()
    dispatcher = DispatcherThread(pg_url, mosquitto.url).start()
    try:
        response = replay_client.post("/v1/deadletters/replay", headers=tenant.headers, json={"ids": [mine, strangers]})
        assert response.status_code == 202 and response.json() == {"queued": 1, "skipped": 0}

        def stored() -> int:
            with pg_sessions() as session:
                return int(
                    session.scalar(
                        select(func.count())
                        .select_from(Position)
                        .join(Vehicle, Vehicle.id == Position.vehicle_id)
                        .where(Vehicle.device_id == device)
                    )
                )

        wait_until(lambda: stored() == 1, "replayed record stored")

        def replayed() -> bool:
            with pg_sessions() as session:
                row = session.get_one(DeadLetter, mine)
                return row.replayed_at is not None and row.replay_requested_at is None

        wait_until(replayed, "the letter marked replayed by the dispatcher")
    finally:
        dispatcher.stop()
        runner.stop()
    again = replay_client.post("/v1/deadletters/replay", headers=tenant.headers)
    assert again.json() == {"queued": 0, "skipped": 0}
    with pg_sessions() as session:
        assert session.get_one(DeadLetter, strangers).replayed_at is None


def test_a_replay_request_publishes_nothing_and_waits_for_the_dispatcher(
    client: TestClient, pg_sessions: sessionmaker[Session], tenant: SeededTenant
) -> None:
    # The client's broker is unreachable: the request does not need it.
    pending = letter(pg_sessions, tenant.device_ids[0], {"ts": datetime.now(UTC).isoformat(), "seq": 1})
    response = client.post("/v1/deadletters/replay", headers=tenant.headers, json={"ids": [pending]})

    assert response.status_code == 202 and response.json() == {"queued": 1, "skipped": 0}
    with pg_sessions() as session:
        row = session.get_one(DeadLetter, pending)
        assert row.replay_requested_at is not None and row.replayed_at is None
