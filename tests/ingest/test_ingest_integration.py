"""Ingest against a real Mosquitto and a real PostgreSQL: storage, idempotency, dead letters, latest state."""

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select

from fleet.db.models import CanSample, DeadLetter, Position, Vehicle, VehicleState
from tests.fixtures.factories import SeededTenant, seed_tenant
from tests.fixtures.ingest_runner import IngestThread, wait_until
from tests.fixtures.mosquitto import MosquittoServer
from tests.fixtures.publisher import Publisher

pytestmark = pytest.mark.integration


def iso(ts: datetime) -> str:
    return ts.isoformat().replace("+00:00", "Z")


def pos(ts: datetime, seq: int, lat: float = 52.5, lon: float = 13.4, **extra: object) -> dict[str, object]:
    return {"ts": iso(ts), "seq": seq, "lat": lat, "lon": lon, **extra}


@pytest.fixture
def tenant(pg_engine: Engine, unique: str) -> SeededTenant:
    return seed_tenant(pg_engine, f"ingest-{unique}", [f"bus-{unique}-1", f"bus-{unique}-2"])


@pytest.fixture
def ingest(pg_url: str, mosquitto: MosquittoServer) -> Iterator[IngestThread]:
    runner = IngestThread(pg_url, mosquitto.url).start()
    yield runner
    runner.stop()


@pytest.fixture
def publisher(mosquitto: MosquittoServer) -> Iterator[Publisher]:
    client = Publisher(mosquitto.port)
    yield client
    client.close()


def vehicle_id(engine: Engine, device_id: str) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(select(Vehicle.id).where(Vehicle.device_id == device_id)))


def count_positions(engine: Engine, vid: int) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(Position).where(Position.vehicle_id == vid)))


def dead_letters_of(engine: Engine, topic_part: str) -> list[DeadLetter]:
    with engine.connect() as connection:
        rows = connection.execute(select(DeadLetter).where(DeadLetter.topic.contains(topic_part)))
        return list(rows)  # type: ignore[arg-type]


def test_positions_can_and_status_are_stored_with_latest_state(
    pg_engine: Engine, tenant: SeededTenant, ingest: IngestThread, publisher: Publisher
) -> None:
    device = tenant.device_ids[0]
    now = datetime.now(UTC).replace(microsecond=0)
    publisher.publish(f"fleet/v1/{device}/status", {"ts": iso(now), "seq": 1, "state": "online"})
    publisher.publish(f"fleet/v1/{device}/pos", pos(now, 1, speed_kmh=31.5, heading_deg=90))
    publisher.publish(
        f"fleet/v1/{device}/can",
        {
            "ts": int(now.timestamp() * 1000),
            "seq": 1,
            "fuel_level_pct": 80.5,
            "doors_open": [True, False, True],
            "passenger_count": 12,
            "distance_total_km": 1234.5,
        },
    )
    vid = vehicle_id(pg_engine, device)

    def state() -> VehicleState | None:
        with pg_engine.connect() as connection:
            row = connection.execute(select(VehicleState).where(VehicleState.vehicle_id == vid)).first()
            return row if row is not None and row.can_ts is not None and row.pos_ts is not None else None  # type: ignore[return-value]

    wait_until(state, "latest state with position and CAN")
    latest = state()
    assert latest is not None
    assert (latest.lat, latest.lon, latest.speed_kmh, latest.online) == (52.5, 13.4, 31.5, True)
    assert latest.doors_open_mask == 0b101 and latest.door_count == 3 and latest.passenger_count == 12
    with pg_engine.connect() as connection:
        sample = connection.execute(select(CanSample).where(CanSample.vehicle_id == vid)).one()
    assert sample.ts == now and sample.fuel_level_pct == 80.5


def test_duplicate_delivery_is_stored_once(
    pg_engine: Engine, tenant: SeededTenant, ingest: IngestThread, publisher: Publisher
) -> None:
    device = tenant.device_ids[0]
    now = datetime.now(UTC)
    payload = json.dumps({"records": [pos(now - timedelta(seconds=i), 10 - i) for i in range(5)]})
    for _ in range(3):
        publisher.publish(f"fleet/v1/{device}/pos", payload)
    marker = pos(now + timedelta(seconds=1), 11)
    publisher.publish(f"fleet/v1/{device}/pos", marker)
    vid = vehicle_id(pg_engine, device)
    wait_until(lambda: count_positions(pg_engine, vid) >= 6, "positions stored")
    assert count_positions(pg_engine, vid) == 6


def test_bad_messages_are_dead_lettered_and_good_ones_around_them_stored(
    pg_engine: Engine, tenant: SeededTenant, ingest: IngestThread, publisher: Publisher, unique: str
) -> None:
    device = tenant.device_ids[1]
    now = datetime.now(UTC)
    topic = f"fleet/v1/{device}/pos"
    publisher.publish(topic, pos(now - timedelta(seconds=10), 1))
    publisher.publish(topic, b"{not json")
    publisher.publish(topic, {"ts": iso(now), "seq": 2, "lat": 123.0, "lon": 0})  # latitude out of range
    publisher.publish(topic, b"{" + b" " * 300_000 + b"}")  # oversized
    publisher.publish(f"fleet/v1/unregistered-{unique}/pos", pos(now, 1))
    publisher.publish(topic, pos(now + timedelta(hours=1), 3))  # from the future
    publisher.publish(
        topic,
        {
            "records": [
                pos(now - timedelta(seconds=5), 4),
                {"ts": "yesterday", "seq": 5, "lat": 1, "lon": 1},
                pos(now - timedelta(seconds=4), 6),
            ]
        },
    )
    publisher.publish(topic, pos(now - timedelta(seconds=1), 7))

    vid = vehicle_id(pg_engine, device)
    wait_until(lambda: count_positions(pg_engine, vid) >= 4, "good positions stored")
    letters = dead_letters_of(pg_engine, device) + dead_letters_of(pg_engine, f"unregistered-{unique}")
    wait_until(lambda: len(dead_letters_of(pg_engine, device)) >= 5, "dead letters written")
    letters = dead_letters_of(pg_engine, device) + dead_letters_of(pg_engine, f"unregistered-{unique}")
    reasons = sorted(letter.reason for letter in letters)
    assert reasons == sorted(["bad_json", "schema", "oversized", "unknown_device", "future", "schema"])
    assert count_positions(pg_engine, vid) == 4
    schema_letters = [letter for letter in letters if letter.reason == "schema"]
    assert any(b"yesterday" in letter.payload and b'"seq":5' in letter.payload for letter in schema_letters)
    assert all(letter.detail for letter in letters)
    assert all(letter.tenant_id == tenant.id for letter in letters if letter.device_id == device)


def test_late_data_is_stored_but_never_moves_latest_state_back(
    pg_engine: Engine, tenant: SeededTenant, ingest: IngestThread, publisher: Publisher
) -> None:
    device = tenant.device_ids[0]
    now = datetime.now(UTC).replace(microsecond=0)
    topic = f"fleet/v1/{device}/pos"
    publisher.publish(topic, pos(now, 100, lat=50.0))
    vid = vehicle_id(pg_engine, device)
    wait_until(lambda: count_positions(pg_engine, vid) == 1, "first position")
    late = [pos(now - timedelta(hours=3, seconds=i), 50 - i, lat=40.0) for i in range(3)]
    publisher.publish(topic, json.dumps({"records": late}))
    wait_until(lambda: count_positions(pg_engine, vid) == 4, "late batch stored")
    with pg_engine.connect() as connection:
        latest = connection.execute(select(VehicleState).where(VehicleState.vehicle_id == vid)).one()
    assert latest.pos_ts == now and latest.lat == 50.0


def test_ingest_on_sqlite(sqlite_url: str, mosquitto: MosquittoServer, unique: str) -> None:
    from fleet.db.engine import make_engine

    engine = make_engine(sqlite_url)
    tenant = seed_tenant(engine, f"sqlite-{unique}", [f"lite-{unique}"])
    runner = IngestThread(sqlite_url, mosquitto.url).start()
    publisher = Publisher(mosquitto.port)
    try:
        now = datetime.now(UTC)
        topic = f"fleet/v1/{tenant.device_ids[0]}/pos"
        publisher.publish(topic, pos(now, 1))
        publisher.publish(topic, pos(now, 1))
        publisher.publish(topic, pos(now + timedelta(seconds=1), 2))
        vid = vehicle_id(engine, tenant.device_ids[0])
        wait_until(lambda: count_positions(engine, vid) == 2, "positions in SQLite")
    finally:
        publisher.close()
        runner.stop()
    assert count_positions(engine, vid) == 2


def test_late_batch_lands_in_new_daily_partitions(
    pg_engine: Engine, tenant: SeededTenant, ingest: IngestThread, publisher: Publisher
) -> None:
    from sqlalchemy import text

    from fleet.db.partitions import partition_name

    device = tenant.device_ids[1]
    old = datetime.now(UTC).replace(hour=23, minute=59, second=59, microsecond=0) - timedelta(days=3)
    records = [pos(old + timedelta(seconds=i), 200 + i) for i in range(3)]  # crosses midnight
    publisher.publish(f"fleet/v1/{device}/pos", json.dumps({"records": records}))
    vid = vehicle_id(pg_engine, device)
    wait_until(lambda: count_positions(pg_engine, vid) >= 3, "late records stored")
    with pg_engine.connect() as connection:
        for day in {old.date(), (old + timedelta(seconds=2)).date()}:
            name = partition_name("positions", day)
            rows = connection.scalar(text(f"SELECT count(*) FROM {name} WHERE vehicle_id = :v"), {"v": vid})
            assert rows and rows >= 1, f"{name} holds the records of {day}"
