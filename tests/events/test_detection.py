"""The detection works in event time: the same telemetry gives the same events in order, in reversed batches,
shuffled with duplicates, and arriving late; on PostgreSQL and SQLite."""

import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select

from fleet.contract.codec import DecodeLimits
from fleet.db.engine import make_engine
from fleet.db.migrate import upgrade
from fleet.db.models import Alarm, Event, Vehicle
from ingest.batch import build_rows, decode_all, device_ids
from ingest.messages import InboundMessage
from ingest.store import Store, WriteCounts
from tests.fixtures.factories import seed_tenant

pytestmark = pytest.mark.integration

LIMITS = DecodeLimits(max_payload_bytes=1 << 20, max_future=timedelta(minutes=5), max_age=timedelta(days=30))
START = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)


@pytest.fixture(params=["postgresql", "sqlite"])
def engine(request: pytest.FixtureRequest) -> Engine:
    if request.param == "postgresql":
        engine: Engine = request.getfixturevalue("pg_engine")
        return engine
    url = request.getfixturevalue("sqlite_url")
    upgrade(url)
    return make_engine(url)


def speed_at(second: int) -> float:
    """A trip at 50 km/h with ramps of 7 km/h/s: 92 km/h over 0:59-1:30, 85 for 5 s at 2:30, an emergency stop at
    3:19 (15 km/h/s), idling 3:23-10:30, then 40 km/h."""
    ramps = [(54, 60, 50, 92), (90, 96, 92, 50), (145, 150, 50, 85), (155, 160, 85, 50), (630, 636, 0, 40)]
    for start, end, low, high in ramps:
        if start <= second < end:
            step = 7 if high > low else -7
            return float(max(min(low, high), min(max(low, high), low + (second - start) * step)))
    if 60 <= second < 90:
        return 92.0
    if 150 <= second < 155:
        return 85.0
    if 199 <= second < 203:
        return 50.0 - (second - 199) * 15.0
    if 203 <= second < 630:
        return 0.0
    return 50.0 if second < 199 else 40.0


def at(second: int) -> datetime:
    return START + timedelta(seconds=second)


def timeline() -> list[tuple[str, dict[str, Any]]]:
    """Fourteen minutes of one bus at 1 Hz: (stream, record)."""
    records: list[tuple[str, dict[str, Any]]] = []
    for second in range(840):
        ts = at(second).isoformat()
        records.append(("pos", {"ts": ts, "seq": second, "lat": 52.5, "lon": 13.4 + second * 1e-4,
                                "speed_kmh": speed_at(second)}))  # fmt: skip
        door_open = 110 <= second < 114
        fuel = 12.0 - second * 0.005
        rpm = 700.0 if 203 <= second < 630 else 1400.0
        records.append(("can", {"ts": ts, "seq": second, "doors_open": [door_open, False], "fuel_level_pct": fuel,
                                "engine_speed_rpm": rpm}))  # fmt: skip
    return records


def batches(records: list[tuple[str, dict[str, Any]]], size: int) -> list[list[tuple[str, dict[str, Any]]]]:
    return [records[i : i + size] for i in range(0, len(records), size)]


def write(store: Store, engine: Engine, device: str, batch: list[tuple[str, dict[str, Any]]]) -> WriteCounts:
    messages = [
        InboundMessage(f"fleet/v1/{device}/{stream}", json.dumps({"records": [r for s, r in batch if s == stream]})
                       .encode(), 1, 1, 1, 0.0)
        for stream in ("pos", "can") if any(s == stream for s, _ in batch)
    ]  # fmt: skip
    now = datetime.now(UTC)
    decoded = decode_all(messages, now, LIMITS)
    with engine.begin() as connection:
        devices = store.resolve_devices(connection, device_ids(decoded))
        counts, _ = store.write(connection, build_rows(messages, decoded, devices, now))
    return counts


def events_of(engine: Engine, device: str) -> list[tuple[Any, ...]]:
    with engine.connect() as connection:
        vehicle_id = connection.scalar(select(Vehicle.id).where(Vehicle.device_id == device))
        rows = connection.execute(
            select(Event.type, Event.started_at, Event.ended_at, Event.severity, Event.data)
            .where(Event.vehicle_id == vehicle_id)
            .order_by(Event.started_at, Event.type)
        ).all()
    return [(t, s, e, sev, json.dumps(d, sort_keys=True)) for t, s, e, sev, d in rows]


def open_alarms(engine: Engine, device: str) -> list[tuple[str, datetime]]:
    with engine.connect() as connection:
        vehicle_id = connection.scalar(select(Vehicle.id).where(Vehicle.device_id == device))
        rows = connection.execute(
            select(Alarm.type, Alarm.opened_at).where(Alarm.vehicle_id == vehicle_id, Alarm.state != "closed")
        ).all()
    return sorted((t, o) for t, o in rows)


def test_the_same_telemetry_in_any_order_gives_the_same_events(engine: Engine, unique: str) -> None:
    devices = [f"evt-{unique}-{n}" for n in ("order", "reversed", "shuffled")]
    seed_tenant(engine, f"evt-{unique}", devices)
    records = timeline()
    store = Store(engine)
    for batch in batches(records, 60):
        write(store, engine, devices[0], batch)
    for batch in reversed(batches(records, 90)):
        write(store, engine, devices[1], batch)
    shuffled = batches(records, 45) * 2
    random.Random(7).shuffle(shuffled)
    for batch in shuffled:
        write(store, engine, devices[2], batch)

    expected = events_of(engine, devices[0])
    by_type = {t: (s, e, json.loads(d)) for t, s, e, _, d in expected}
    assert sorted(by_type) == ["door_open_moving", "harsh_braking", "idling", "low_fuel", "overspeed"]
    assert len(expected) == 5, expected
    started, ended, data = by_type["overspeed"]
    assert (started, ended, data["peak_speed_kmh"]) == (at(59), at(92), 92.0)
    assert by_type["idling"][:2] == (at(203), at(631))
    assert by_type["door_open_moving"][:2] == (at(110), at(114))
    assert by_type["door_open_moving"][2]["doors"] == [1]
    assert by_type["harsh_braking"][:2] == (at(199), at(202))
    assert by_type["harsh_braking"][2]["rate_kmh_per_s"] == 15.0
    assert by_type["low_fuel"][1] is None, "still under way at the end of the telemetry"
    assert events_of(engine, devices[1]) == expected
    assert events_of(engine, devices[2]) == expected
    # Overspeed (warning) ended: its alarm closed; door open while moving (critical) too; low fuel is still open.
    for device in devices:
        assert open_alarms(engine, device) == [("low_fuel", by_type["low_fuel"][0])]


def test_a_late_store_and_forward_batch_gives_events_at_the_time_they_happened(engine: Engine, unique: str) -> None:
    device = f"late-{unique}"
    seed_tenant(engine, f"late-{unique}", [device])
    records = timeline()
    store = Store(engine)
    # The bus lost its connection from 0:40 to 2:30 and sends that stretch after the rest.
    early, gap, rest = records[:80], records[80:300], records[300:]
    in_order = [write(store, engine, device, batch) for batch in [*batches(early, 20), *batches(rest, 100)]]
    late = write(store, engine, device, gap)
    # Records in order go on from the checkpoint; only the late batch starts the vehicle's detection again (and on
    # SQLite the first, which does not look whether a new vehicle has history before its first records).
    first = 0 if engine.dialect.name == "postgresql" else 1
    assert [counts.recomputed for counts in in_order] == [first] + [0] * (len(in_order) - 1)
    assert late.recomputed == 1

    overspeed = [e for e in events_of(engine, device) if e[0] == "overspeed"]
    assert [(e[1], e[2]) for e in overspeed] == [(at(59), at(92))]


def test_a_position_and_the_can_record_of_its_instant_in_two_batches_need_no_recomputation(
    engine: Engine, unique: str
) -> None:
    devices = [f"split-{unique}-{n}" for n in ("whole", "split")]
    seed_tenant(engine, f"split-{unique}", devices)
    records = timeline()
    store = Store(engine)
    for batch in batches(records, 60):
        write(store, engine, devices[0], batch)
    # 45 records a batch: every batch ends with a position whose CAN record opens the next one.
    split = [write(store, engine, devices[1], batch) for batch in batches(records, 45)]

    first = 0 if engine.dialect.name == "postgresql" else 1
    assert [counts.recomputed for counts in split] == [first] + [0] * (len(split) - 1)
    assert events_of(engine, devices[1]) == events_of(engine, devices[0])
    # A CAN record repeated at the checkpoint's instant is still a repeat: the vehicle's detection starts again.
    repeat = write(store, engine, devices[1], [records[-1]])
    assert repeat.recomputed == 1
    assert events_of(engine, devices[1]) == events_of(engine, devices[0])
