"""Ingest against a real Mosquitto and a real PostgreSQL: storage, idempotency, dead letters, latest state."""

import json
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import Engine, func, select

from fleet.contract.topics import DOWNLINK_SUFFIXES, downlink_topic
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


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


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


def test_topics_with_a_level_too_many_or_too_few_are_dead_lettered_and_downlink_is_ignored(
    pg_engine: Engine, tenant: SeededTenant, ingest: IngestThread, publisher: Publisher
) -> None:
    device = tenant.device_ids[0]
    now = datetime.now(UTC)
    bad_topic_before = sample("fleet_ingest_dead_letters_total", reason="bad_topic")
    ignored_before = {s: sample("fleet_ingest_downlink_ignored_total", suffix=s) for s in DOWNLINK_SUFFIXES}
    extra, missing = f"fleet/v1/{device}/pos/x", f"fleet/v1/{device}"
    publisher.publish(extra, pos(now, 1))
    publisher.publish(missing, pos(now, 2))
    for suffix in DOWNLINK_SUFFIXES:  # what the backend publishes to the vehicle comes back to ingest: ignored
        publisher.publish(downlink_topic(device, suffix), {"command": "reboot"})
    publisher.publish(f"fleet/v1/{device}/pos", pos(now, 3))

    vid = vehicle_id(pg_engine, device)
    wait_until(lambda: count_positions(pg_engine, vid) == 1, "the position after them")
    wait_until(lambda: len(dead_letters_of(pg_engine, device)) >= 2, "dead letters of the bad topics")
    wait_until(lambda: sample("fleet_ingest_dead_letters_total", reason="bad_topic") >= bad_topic_before + 2, "count")
    letters = dead_letters_of(pg_engine, device)
    assert sorted((letter.topic, letter.reason) for letter in letters) == [(missing, "bad_topic"), (extra, "bad_topic")]
    assert all(letter.detail for letter in letters)
    assert sample("fleet_ingest_dead_letters_total", reason="bad_topic") == bad_topic_before + 2
    for suffix in DOWNLINK_SUFFIXES:
        assert sample("fleet_ingest_downlink_ignored_total", suffix=suffix) == ignored_before[suffix] + 1
    wait_until(lambda: not ingest.service._pending_since, "every message acknowledged, the downlink too")


def test_a_record_claiming_a_stored_key_with_other_values_is_counted_as_a_conflict(
    pg_engine: Engine, tenant: SeededTenant, ingest: IngestThread, publisher: Publisher
) -> None:
    device = tenant.device_ids[1]
    topic = f"fleet/v1/{device}/pos"
    now = datetime.now(UTC).replace(microsecond=0)
    conflicts_before = sample("fleet_ingest_records_total", stream="pos", result="conflict")
    duplicates_before = sample("fleet_ingest_records_total", stream="pos", result="duplicate")
    forged, genuine = pos(now, 7, lat=10.0), pos(now, 7, lat=52.5)
    vid = vehicle_id(pg_engine, device)
    publisher.publish(topic, forged)
    wait_until(lambda: count_positions(pg_engine, vid) == 1, "the first record of the key")
    publisher.publish(topic, genuine)  # same key, other values: not stored, but counted
    publisher.publish(topic, forged)  # the same record again: a duplicate, a no-op
    publisher.publish(topic, pos(now + timedelta(seconds=1), 8))
    wait_until(lambda: count_positions(pg_engine, vid) == 2, "the record after them")
    wait_until(
        lambda: sample("fleet_ingest_records_total", stream="pos", result="duplicate") >= duplicates_before + 1, "count"
    )

    assert sample("fleet_ingest_records_total", stream="pos", result="conflict") == conflicts_before + 1
    assert sample("fleet_ingest_records_total", stream="pos", result="duplicate") == duplicates_before + 1
    with pg_engine.connect() as connection:
        lat = connection.scalar(select(Position.lat).where(Position.vehicle_id == vid, Position.ts == now))
    assert lat == 10.0  # the first record of a key stays: the conflict is visible, not resolved


@pytest.fixture
def private_broker() -> Iterator[MosquittoServer]:
    """A broker of this test's own: retained messages of other tests stay out, and this test's leave with it."""
    base = Path(tempfile.mkdtemp(prefix="fleet-mqtt-retained-"))
    server = MosquittoServer(base)
    server.start()
    yield server
    server.stop()
    shutil.rmtree(base, ignore_errors=True)


def test_a_retained_bad_message_is_dead_lettered_once_across_reconnects(
    pg_url: str, pg_engine: Engine, tenant: SeededTenant, private_broker: MosquittoServer, unique: str
) -> None:
    device = tenant.device_ids[0]
    now = datetime.now(UTC).replace(microsecond=0)
    good_can = {"ts": iso(now - timedelta(seconds=5)), "seq": 1, "fuel_level_pct": 50.0}
    bad_can = {"ts": iso(now - timedelta(seconds=4)), "seq": 2, "fuel_level_pct": 150.0}
    publisher = Publisher(private_broker.port)
    # Retained: the broker sends both again each time ingest subscribes, as it does on every reconnect.
    publisher.publish(f"fleet/v1/{device}/status", b"{not json", retain=True)
    publisher.publish(f"fleet/v1/{device}/can", json.dumps({"records": [good_can, bad_can]}), retain=True)
    skipped_before = {r: sample("fleet_ingest_retained_repeats_total", reason=r) for r in ("bad_json", "schema")}
    vid = vehicle_id(pg_engine, device)
    client_id = f"retained-{unique}"
    try:
        for connection in range(3):
            # The same persistent session each time, on a plain subscription like a single replica's.
            runner = IngestThread(pg_url, private_broker.url, client_id=client_id, share_group="").start()
            try:
                # Sent after the SUBACK, so after the retained messages: once it is stored, they were handled.
                publisher.publish(f"fleet/v1/{device}/pos", pos(now - timedelta(seconds=3 - connection), connection))
                wait_until(lambda n=connection: count_positions(pg_engine, vid) == n + 1, "the position after them")
            finally:
                runner.stop()
    finally:
        publisher.close()

    letters = dead_letters_of(pg_engine, device)
    assert sorted(letter.reason for letter in letters) == ["bad_json", "schema"], "one letter each, not one a connect"
    assert [letter.repeat_count for letter in letters] == [0, 0]
    for reason in ("bad_json", "schema"):
        assert sample("fleet_ingest_retained_repeats_total", reason=reason) == skipped_before[reason] + 2
    with pg_engine.connect() as connection_:
        assert connection_.scalar(select(func.count()).where(CanSample.vehicle_id == vid)) == 1
