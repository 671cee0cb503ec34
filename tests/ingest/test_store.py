"""The store's two write paths (PostgreSQL: binary COPY + SQL-derived state; SQLite: inserts) behave alike."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select

from fleet.contract.codec import DecodeLimits
from fleet.db.engine import make_engine
from fleet.db.migrate import upgrade
from fleet.db.models import CanSample, Position, Vehicle, VehicleState
from ingest.batch import build_rows, decode_all, device_ids
from ingest.messages import InboundMessage
from ingest.store import Store, WriteCounts
from tests.fixtures.factories import seed_tenant

pytestmark = pytest.mark.integration

LIMITS = DecodeLimits(max_payload_bytes=1 << 20, max_future=timedelta(minutes=5), max_age=timedelta(days=30))
NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(params=["postgresql", "sqlite"])
def engine(request: pytest.FixtureRequest, unique: str) -> Engine:
    if request.param == "postgresql":
        engine: Engine = request.getfixturevalue("pg_engine")
    else:
        url = request.getfixturevalue("sqlite_url")
        upgrade(url)
        engine = make_engine(url)
    seed_tenant(engine, f"store-{unique}", [f"s-{unique}"])
    return engine


def message(device: str, stream: str, body: object) -> InboundMessage:
    return InboundMessage(f"fleet/v1/{device}/{stream}", json.dumps(body).encode(), 1, 1, 1, 0.0)


def write(engine: Engine, messages: list[InboundMessage]) -> WriteCounts:
    store = Store(engine)
    decoded = decode_all(messages, NOW, LIMITS)
    with engine.begin() as connection:
        devices = store.resolve_devices(connection, device_ids(decoded))
        counts, _ = store.write(connection, build_rows(messages, decoded, devices, NOW))
    return counts


def vehicle_of(engine: Engine, device: str) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(select(Vehicle.id).where(Vehicle.device_id == device)))


def pos(ts: datetime, seq: int, lat: float) -> dict[str, object]:
    return {"ts": ts.isoformat(), "seq": seq, "lat": lat, "lon": 13.4, "speed_kmh": 20.0, "sats": 9}


def test_rows_are_stored_once_and_state_takes_the_newest_in_ts_then_seq(engine: Engine, unique: str) -> None:
    device = f"s-{unique}"
    first = [pos(NOW - timedelta(seconds=10), 1, 50.0), pos(NOW - timedelta(seconds=5), 2, 51.0)]
    write(engine, [message(device, "pos", {"records": first}), message(device, "pos", first[0])])
    # A later batch: one record newer than the state, one older (late), one repeating a stored key.
    second = [pos(NOW - timedelta(seconds=1), 3, 52.0), pos(NOW - timedelta(hours=2), 0, 40.0), first[1]]
    write(engine, [message(device, "pos", {"records": second})])
    late = [pos(NOW - timedelta(hours=1), 9, 30.0)]
    write(engine, [message(device, "pos", {"records": late})])

    with engine.connect() as connection:
        vid = vehicle_of(engine, device)
        stored = connection.execute(
            select(Position.seq, Position.lat, Position.sats).where(Position.vehicle_id == vid).order_by(Position.ts)
        ).all()
        state = connection.execute(select(VehicleState).where(VehicleState.vehicle_id == vid)).one()
    assert [(row.seq, row.lat, row.sats) for row in stored] == [
        (0, 40.0, 9),
        (9, 30.0, 9),
        (1, 50.0, 9),
        (2, 51.0, 9),
        (3, 52.0, 9),
    ]
    assert (state.pos_seq, state.lat, state.speed_kmh) == (3, 52.0, 20.0)
    assert state.pos_ts == NOW - timedelta(seconds=1)


def test_a_key_stored_with_other_values_is_a_conflict_and_an_identical_one_a_duplicate(
    engine: Engine, unique: str
) -> None:
    device = f"s-{unique}"
    first = pos(NOW - timedelta(seconds=10), 1, 50.0)
    assert write(engine, [message(device, "pos", first)]).conflicts == {}
    other_values = {**first, "seq": 2, "lat": 51.0}
    same_seq_other_value = {**first, "speed_kmh": 99.0}
    new, new_rival = pos(NOW - timedelta(seconds=5), 3, 52.0), pos(NOW - timedelta(seconds=5), 4, 53.0)
    batch = [first, other_values, same_seq_other_value, new, new_rival]  # the last two race for one new key

    counts = write(engine, [message(device, "pos", {"records": batch})])

    # Stored: one of the rivals; conflicts: two against the stored key, the losing rival; duplicate: `first`.
    assert counts.stored == {"pos": 1} and counts.conflicts == {"pos": 3}
    with engine.connect() as connection:
        lats = connection.scalars(select(Position.lat).where(Position.vehicle_id == vehicle_of(engine, device)))
        assert sorted(lats) in ([50.0, 52.0], [50.0, 53.0])
    assert write(engine, [message(device, "pos", first)]).conflicts == {"pos": 0}


def test_can_samples_keep_door_masks_and_their_own_state(engine: Engine, unique: str) -> None:
    device = f"s-{unique}"
    samples = [
        {"ts": (NOW - timedelta(seconds=4)).isoformat(), "seq": 1, "fuel_level_pct": 80, "doors_open": [True, False]},
        {"ts": (NOW - timedelta(seconds=2)).isoformat(), "seq": 2, "fuel_level_pct": 79.5, "passenger_count": 12,
         "doors_open": [False, True, True]},
    ]  # fmt: skip
    write(engine, [message(device, "can", {"records": samples})])

    with engine.connect() as connection:
        vid = vehicle_of(engine, device)
        stored = connection.execute(
            select(CanSample.seq, CanSample.doors_open_mask, CanSample.door_count)
            .where(CanSample.vehicle_id == vid)
            .order_by(CanSample.ts)
        ).all()
        state = connection.execute(select(VehicleState).where(VehicleState.vehicle_id == vid)).one()
    assert [tuple(row) for row in stored] == [(1, 0b01, 2), (2, 0b110, 3)]
    assert (state.can_seq, state.fuel_level_pct, state.passenger_count, state.doors_open_mask) == (2, 79.5, 12, 0b110)
    assert state.pos_ts is None


def test_every_field_lands_in_its_own_column(engine: Engine, unique: str) -> None:
    """Rows are positional tuples: distinct values per field show that no two columns are swapped."""
    device = f"s-{unique}"
    ts = NOW - timedelta(seconds=30)
    position = {
        "ts": ts.isoformat(), "seq": 11, "lat": 48.1, "lon": 16.2, "speed_kmh": 33.3, "heading_deg": 44.4,
        "alt_m": 555.5, "sats": 6, "hdop": 0.7,
    }  # fmt: skip
    sample = {
        "ts": ts.isoformat(), "seq": 12, "fuel_level_pct": 81.5, "fuel_used_total_l": 1234.5,
        "distance_total_km": 98765.4, "engine_speed_rpm": 1450.0, "engine_hours_total_h": 4321.0,
        "coolant_temp_c": 88.0, "doors_open": [False, True, False, True], "passenger_count": 37,
        "battery_soc_pct": 64.5,
    }  # fmt: skip
    write(engine, [message(device, "pos", position), message(device, "can", sample)])

    vid = vehicle_of(engine, device)
    with engine.connect() as connection:
        stored_position = connection.execute(select(Position).where(Position.vehicle_id == vid)).one()._mapping
        stored_sample = connection.execute(select(CanSample).where(CanSample.vehicle_id == vid)).one()._mapping
    expected_position = {**position, "ts": ts, "vehicle_id": vid, "received_at": NOW}
    assert {column: stored_position[column] for column in expected_position} == expected_position
    doors = sample.pop("doors_open")
    expected_sample = {**sample, "ts": ts, "vehicle_id": vid, "received_at": NOW, "doors_open_mask": 0b1010}
    assert {column: stored_sample[column] for column in expected_sample} == expected_sample
    assert stored_sample["door_count"] == len(doors)


INTEGER_RANGES = {"SMALLINT": 2**15 - 1, "INTEGER": 2**31 - 1, "BIGINT": 2**63 - 1}


def test_contract_bounds_fit_the_integer_columns() -> None:
    """Binary COPY wraps integers that overflow their column silently: the contract must keep every value inside."""
    from sqlalchemy.dialects import postgresql

    from fleet.contract.records import CanRecord, PositionRecord

    def column_maximum(column: object) -> int:
        return INTEGER_RANGES[column.type.compile(dialect=postgresql.dialect()).upper()]  # type: ignore[attr-defined]

    for record_type, table in ((PositionRecord, Position.__table__), (CanRecord, CanSample.__table__)):
        schema = record_type.model_json_schema()["properties"]
        for name, column in table.columns.items():
            if name in schema and column.type.python_type is int:
                options = [o for o in schema[name].get("anyOf", [schema[name]]) if o.get("type") == "integer"]
                bound = max(option.get("maximum", 2**63) for option in options)
                assert bound <= column_maximum(column), f"{table.name}.{name}: the contract allows {bound}"
    doors = CanRecord.model_json_schema()["properties"]["doors_open"]["anyOf"][0]["maxItems"]
    assert 2**doors - 1 <= column_maximum(CanSample.__table__.c.doors_open_mask)
    assert doors <= column_maximum(CanSample.__table__.c.door_count)
