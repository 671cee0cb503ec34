"""Every write of ingest: device lookup, time series, latest state, dead letters; one transaction per batch."""

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import psycopg
from sqlalchemy import Connection, Engine, Table, insert, or_, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite

from fleet.db.models import Base, DeadLetter, Vehicle, VehicleState
from fleet.db.partitions import ensure_partitions
from fleet.streams import SEQ, STREAMS, TS, VEHICLE_ID, Row, StreamSpec
from ingest.batch import Device, Rows

# Registrations rarely change; a minute bounds how long a moved or deleted device keeps its old tenant.
DEVICE_CACHE_SECONDS = 60.0


def _state_from_stage(spec: StreamSpec[Any]) -> str:
    assert spec.table and spec.state_prefix, "a stored stream with a latest state"
    """SQL that moves each vehicle's latest state forward from the newest row of the stream's staging table."""
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


@dataclass(slots=True)
class WriteCounts:
    """Rows newly stored per stream (the rest of what was offered were duplicates)."""

    stored: dict[str, int] = field(default_factory=dict)


class Store:
    """Writes batches to PostgreSQL (COPY + upsert) or SQLite (INSERT OR IGNORE)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
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
        return {d: self._devices[d] for d in wanted if d in self._devices}

    def write(self, connection: Connection, rows: Rows) -> tuple[WriteCounts, set[tuple[str, date]]]:
        """Write `rows` inside the caller's transaction; return counts and partitions it created."""
        counts = WriteCounts()
        created: set[tuple[str, date]] = set()
        for stream, data in rows.series.items():
            if not data:
                continue
            spec = STREAMS[stream]
            if spec.table is None:
                state = _state_rows(spec, data)
                self._upsert_state(connection, spec, state)
                counts.stored[stream.value] = len(state)
                continue
            if spec.partitioned:
                created |= self._ensure_partitions(connection, spec.table, {row[TS].date() for row in data})
            counts.stored[stream.value] = self._insert_new(connection, Base.metadata.tables[spec.table], spec, data)
            if spec.state_prefix is None:
                continue
            if self._postgres:
                # The staging table still holds this batch: derive the latest state there, in one statement.
                connection.exec_driver_sql(STATE_FROM_STAGE[stream])
            else:
                self._upsert_state(connection, spec, _state_rows(spec, data))
        if rows.dead_letters:
            connection.execute(
                insert(DeadLetter),
                [
                    {
                        "topic": d.topic,
                        "device_id": d.device_id,
                        "tenant_id": tenant_id,
                        "reason": d.reason.value,
                        "detail": d.detail,
                        "payload": d.payload,
                    }
                    for d, tenant_id in zip(rows.dead_letters, rows.tenant_of_dead_letter, strict=True)
                ],
            )
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
