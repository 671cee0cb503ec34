"""Every write of ingest: device lookup, time series, latest state, dead letters; one transaction per batch."""

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import psycopg
from sqlalchemy import Connection, Engine, Table, or_, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite

from fleet.commands.acks import Ack, apply_acks
from fleet.contract.topics import Stream
from fleet.db.models import Base, Vehicle, VehicleState, utcnow
from fleet.db.partitions import ensure_partitions
from fleet.deadletters.service import Rejection, record_rejections
from fleet.events.detection.runner import Detection
from fleet.events.reports import UnitEvent, apply_unit_events
from fleet.events.service import Changes
from fleet.files.reports import Report, apply_reports
from fleet.streams import SEQ, STREAMS, TS, VEHICLE_ID, Row, StreamSpec
from ingest.batch import Device, Rows
from ingest.live import LivePositions, detection_samples

logger = logging.getLogger(__name__)

# Registrations rarely change; a minute bounds how long a moved or deleted device keeps its old tenant.
DEVICE_CACHE_SECONDS = 60.0


def _state_from_stage(spec: StreamSpec[Any]) -> str:
    """SQL that moves each vehicle's latest state forward from the newest row of the stream's staging table."""
    assert spec.table and spec.state_prefix, "a stored stream with a latest state"
    ts, seq, columns = f"{spec.state_prefix}_ts", f"{spec.state_prefix}_seq", spec.state_columns
    updates = ", ".join(f"{c} = excluded.{c}" for c in (ts, seq, *columns, "updated_at"))
    return (
        f"INSERT INTO vehicle_state AS s (vehicle_id, {ts}, {seq}, {', '.join(columns)}, updated_at) "
        f"SELECT DISTINCT ON (vehicle_id) vehicle_id, ts, seq, {', '.join(columns)}, received_at "
        f"FROM stage_{spec.table} ORDER BY vehicle_id, ts DESC, seq DESC "
        f"ON CONFLICT (vehicle_id) DO UPDATE SET {updates} "
        f"WHERE s.{ts} IS NULL OR (excluded.{ts}, excluded.{seq}) > (s.{ts}, s.{seq})"
    )


STATE_FROM_STAGE = {
    stream: _state_from_stage(spec) for stream, spec in STREAMS.items() if spec.table and spec.state_prefix
}


def _conflicts_in_stage(spec: StreamSpec[Any]) -> str:
    """SQL counting, per vehicle, the staged rows whose key is stored with other values (seq or a value column).

    Rows that were inserted equal what is stored, and so do redeliveries: only a record claiming a stored key with
    different contents is counted, such as a forged or corrupted record, or a unit re-using a timestamp.
    """
    assert spec.table, "a stored stream"
    values = [c for c in spec.columns if c not in (VEHICLE_ID, "ts", "received_at")]
    staged, stored = ", ".join(f"s.{c}" for c in values), ", ".join(f"t.{c}" for c in values)
    return (
        f"SELECT s.vehicle_id, count(*) FROM stage_{spec.table} s JOIN {spec.table} t "
        "ON t.vehicle_id = s.vehicle_id AND t.ts = s.ts "
        f"WHERE ({staged}) IS DISTINCT FROM ({stored}) GROUP BY s.vehicle_id"
    )


CONFLICTS_IN_STAGE = {stream: _conflicts_in_stage(spec) for stream, spec in STREAMS.items() if spec.table}


def _apply_file_reports(
    connection: Connection, data: list[Row], changes: Changes, counts: "WriteCounts"
) -> list[Rejection]:
    return apply_reports(connection, [Report(row[VEHICLE_ID], row[REPORT], row[-1]) for row in data])


def _apply_acks(connection: Connection, data: list[Row], changes: Changes, counts: "WriteCounts") -> list[Rejection]:
    acks = [Ack(row[VEHICLE_ID], row[REPORT], row[-1]) for row in data]
    # Kept for the histogram, observed once the batch commits: a batch rolled back and written again (a database
    # fault, a message isolated) applies its acks again and must not count their deliveries twice.
    return apply_acks(connection, acks, counts.command_delivery_seconds.append)


def _apply_unit_events(
    connection: Connection, data: list[Row], changes: Changes, counts: "WriteCounts"
) -> list[Rejection]:
    return apply_unit_events(connection, [UnitEvent(row[VEHICLE_ID], row[REPORT], row[-1]) for row in data], changes)


# The domains that apply report streams (fleet.streams.StreamSpec.applied_by), in the batch's transaction.
APPLIERS: dict[str, Callable[[Connection, list[Row], Changes, "WriteCounts"], list[Rejection]]] = {
    "files": _apply_file_reports,
    "commands": _apply_acks,
    "events": _apply_unit_events,
}
# Where a report row (fleet.streams.REPORT_COLUMNS) holds its record.
REPORT = 3


@dataclass(slots=True)
class WriteCounts:
    """Rows newly stored per stream (the rest of what was offered were duplicates, or conflicts)."""

    stored: dict[str, int] = field(default_factory=dict)
    # Per stream: records not stored because their (vehicle, ts) is stored with different values.
    conflicts: dict[str, int] = field(default_factory=dict)
    # Per reason: dead letters of retained messages that were dead-lettered before, skipped.
    retained_repeats: Counter[str] = field(default_factory=Counter)
    # Reports a domain could not apply (a file never offered, ...): dead letters written with the batch's own.
    refused_reports: list[Rejection] = field(default_factory=list)
    # Events created (by the unit's records and the detection), by (type label, source).
    events: Counter[tuple[str, str]] = field(default_factory=Counter)
    # Vehicles whose detection started again from before a late record.
    recomputed: int = 0
    # Seconds from queued to delivered of each command this batch delivered (the unit's first ack of it).
    command_delivery_seconds: list[float] = field(default_factory=list)


class Store:
    """Writes batches to PostgreSQL (COPY + upsert) or SQLite (INSERT OR IGNORE)."""

    def __init__(self, engine: Engine, detection: bool = True, live_position_interval_seconds: float = 2.0) -> None:
        self.engine = engine
        self.detection = Detection() if detection else None
        self.live_positions = LivePositions(live_position_interval_seconds)
        self._postgres = engine.dialect.name == "postgresql"
        self._devices: dict[str, Device] = {}
        self._devices_loaded_at = time.monotonic()
        self._partitions: set[tuple[str, date]] = set()
        # Type OIDs of each table's COPY columns, read once: binary COPY needs them.
        self._copy_types: dict[str, list[int]] = {}

    def resolve_devices(self, connection: Connection, device_ids: Iterable[str]) -> dict[str, Device]:
        """Registered devices among `device_ids` (cached; unknown ids are looked up each batch)."""
        if time.monotonic() - self._devices_loaded_at > DEVICE_CACHE_SECONDS:
            self._devices.clear()
            self._devices_loaded_at = time.monotonic()
        wanted = set(device_ids)
        missing = wanted - self._devices.keys()
        if missing:
            found = connection.execute(
                select(Vehicle.device_id, Vehicle.id, Vehicle.tenant_id).where(Vehicle.device_id.in_(missing))
            )
            for device_id, vehicle_id, tenant_id in found:
                self._devices[device_id] = Device(vehicle_id, tenant_id)
                self.live_positions.know(vehicle_id, tenant_id, device_id)
        return {d: self._devices[d] for d in wanted if d in self._devices}

    def write(self, connection: Connection, rows: Rows) -> tuple[WriteCounts, set[tuple[str, date]]]:
        """Write `rows` inside the caller's transaction; return counts and partitions it created."""
        counts = WriteCounts()
        changes = Changes()
        created: set[tuple[str, date]] = set()
        for stream, data in rows.series.items():
            if not data:
                continue
            spec = STREAMS[stream]
            if spec.applied_by is not None:
                refused = APPLIERS[spec.applied_by](connection, data, changes, counts)
                counts.stored[stream.value] = len(data) - len(refused)
                counts.refused_reports.extend(refused)
                continue
            if spec.table is None:
                state = _state_rows(spec, data)
                self._upsert_state(connection, spec, state)
                counts.stored[stream.value] = len(state)
                continue
            if spec.partitioned:
                created |= self._ensure_partitions(connection, spec.table, {row[TS].date() for row in data})
            stored = self._insert_new(connection, Base.metadata.tables[spec.table], spec, data)
            counts.stored[stream.value] = stored
            if stored < len(data):
                # Only when a key was taken already (a redelivery, an overlap, or a conflict): the hot path of new
                # records runs no extra statement.
                counts.conflicts[stream.value] = self._count_conflicts(connection, spec, data)
            if spec.state_prefix is None:
                continue
            if self._postgres:
                # The staging table still holds this batch: derive the latest state there, in one statement.
                connection.exec_driver_sql(STATE_FROM_STAGE[stream])
            else:
                self._upsert_state(connection, spec, _state_rows(spec, data))
        now = utcnow()
        if self.detection is not None:
            samples, vehicle_ids = detection_samples(rows.series)
            counts.recomputed = self.detection.run(connection, samples, vehicle_ids, changes, now)
        changes.messages.extend(self.live_positions.messages(rows.series.get(Stream.POS, ())))
        changes.publish(connection, now)
        counts.events = changes.created
        if rows.dead_letters or counts.refused_reports:
            rejections = [*_rejections(rows), *counts.refused_reports]
            counts.retained_repeats = record_rejections(connection, rejections, utcnow())
        return counts, created

    def remember_partitions(self, created: set[tuple[str, date]]) -> None:
        """Record partitions whose creating transaction has committed."""
        self._partitions |= created

    def _ensure_partitions(self, connection: Connection, table: str, days: set[date]) -> set[tuple[str, date]]:
        if not self._postgres:
            return set()
        new = {(table, day) for day in days} - self._partitions
        if new:
            ensure_partitions(connection, table, [day for _, day in new])
        return new

    def _insert_new(self, connection: Connection, table: Table, spec: StreamSpec[Any], data: Iterable[Row]) -> int:
        columns = spec.columns
        if self._postgres:
            raw = connection.connection.driver_connection
            assert isinstance(raw, psycopg.Connection), "a live psycopg connection"
            if table.name not in self._copy_types:
                self._copy_types[table.name] = _column_types(raw, table.name, columns)
            return _copy_insert(raw, table.name, columns, self._copy_types[table.name], data)
        records = [dict(zip(columns, row, strict=True)) for row in data]
        result = connection.execute(sqlite.insert(table).on_conflict_do_nothing(), records)
        return int(result.rowcount)

    def _count_conflicts(self, connection: Connection, spec: StreamSpec[Any], data: Sequence[Row]) -> int:
        """Records of `data` whose key is stored with different values; logs the vehicles concerned."""
        if self._postgres:
            # The staging table still holds this batch's rows: compare them with the stored ones in one statement.
            per_vehicle = {int(v): int(n) for v, n in connection.exec_driver_sql(CONFLICTS_IN_STAGE[spec.stream])}
        else:
            per_vehicle = _sqlite_conflicts(connection, spec, data)
        total = sum(per_vehicle.values())
        if total:
            logger.warning(
                "%d %s record(s) not stored: their (vehicle, ts) is stored with other values; vehicle ids: %s",
                total,
                spec.stream.value,
                ", ".join(f"{v} ({n})" for v, n in sorted(per_vehicle.items())[:20]),
            )
        return total

    def _upsert_state(self, connection: Connection, spec: StreamSpec[Any], data: list[dict[str, Any]]) -> None:
        if not data:
            return
        ts, seq = f"{spec.state_prefix}_ts", f"{spec.state_prefix}_seq"
        dialect_insert = postgresql.insert if self._postgres else sqlite.insert
        statement = dialect_insert(VehicleState)
        table = VehicleState.__table__
        columns = [c for c in data[0] if c != "vehicle_id"]
        statement = statement.on_conflict_do_update(
            index_elements=["vehicle_id"],
            set_={c: statement.excluded[c] for c in columns},
            # Late or re-sent data never moves the latest state backwards.
            where=or_(
                table.c[ts].is_(None),
                tuple_(statement.excluded[ts], statement.excluded[seq]) > tuple_(table.c[ts], table.c[seq]),
            ),
        )
        connection.execute(statement, data)


def _rejections(rows: Rows) -> list[Rejection]:
    return [
        Rejection(d.topic, d.device_id, tenant_id, d.reason.value, d.detail, d.payload, d.retained)
        for d, tenant_id in zip(rows.dead_letters, rows.tenant_of_dead_letter, strict=True)
    ]


def _sqlite_conflicts(connection: Connection, spec: StreamSpec[Any], data: Sequence[Row]) -> dict[int, int]:
    """What CONFLICTS_IN_STAGE computes on PostgreSQL, for SQLite: compare each row with the stored one."""
    assert spec.table, "a stored stream"
    table = Base.metadata.tables[spec.table]
    compared = [i for i, c in enumerate(spec.columns) if c not in (VEHICLE_ID, "ts", "received_at")]
    stored: dict[tuple[Any, ...], tuple[Any, ...]] = {}
    keys = sorted({(row[VEHICLE_ID], row[TS]) for row in data})
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        found = connection.execute(
            select(*(table.c[c] for c in spec.columns)).where(tuple_(table.c.vehicle_id, table.c.ts).in_(chunk))
        )
        for found_row in found:
            stored[(found_row[VEHICLE_ID], found_row[TS])] = tuple(found_row[i] for i in compared)
    per_vehicle: Counter[int] = Counter()
    for row in data:
        if stored.get((row[VEHICLE_ID], row[TS])) != tuple(row[i] for i in compared):
            per_vehicle[row[VEHICLE_ID]] += 1
    return dict(per_vehicle)


def _state_rows(spec: StreamSpec[Any], data: list[Row]) -> list[dict[str, Any]]:
    """Latest-state rows from each vehicle's newest row in (ts, seq): what the PostgreSQL path derives in SQL."""
    newest: dict[int, Row] = {}
    for row in data:
        current = newest.get(row[VEHICLE_ID])
        if current is None or (row[TS], row[SEQ]) > (current[TS], current[SEQ]):
            newest[row[VEHICLE_ID]] = row
    state_index = [(column, spec.index(column)) for column in spec.state_columns]
    received_at = spec.index("received_at")
    return [
        {
            "vehicle_id": vehicle_id,
            f"{spec.state_prefix}_ts": row[TS],
            f"{spec.state_prefix}_seq": row[SEQ],
            **{column: row[i] for column, i in state_index},
            "updated_at": row[received_at],
        }
        for vehicle_id, row in newest.items()
    ]


def _column_types(raw: "psycopg.Connection[Any]", table: str, columns: tuple[str, ...]) -> list[int]:
    """Type OIDs of `columns` of `table`, as the server reports them."""
    with raw.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(columns)} FROM {table} LIMIT 0")
        assert cursor.description is not None
        return [column.type_code for column in cursor.description]


def _copy_insert(
    raw: "psycopg.Connection[Any]", table: str, columns: tuple[str, ...], types: list[int], data: Iterable[Row]
) -> int:
    """COPY rows into a temporary staging table, then insert the ones not stored yet."""
    column_list = ", ".join(columns)
    stage = f"stage_{table}"
    with raw.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {stage} (LIKE {table} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
        )
        # Binary COPY costs a tenth of the CPU of text COPY.
        with cursor.copy(f"COPY {stage} ({column_list}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(types)
            for row in data:
                copy.write_row(row)
        cursor.execute(f"INSERT INTO {table} ({column_list}) SELECT {column_list} FROM {stage} ON CONFLICT DO NOTHING")
        return int(cursor.rowcount)
