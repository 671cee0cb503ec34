"""What the archive holds: the archived tables, their Parquet schemas, and the object keys, built only here.

    tenants/<tenant_id>/archive/<table>/<YYYY>/<MM>/<DD>/part-<n>.parquet   a tenant's rows of a day (part n)
    archive/<table>/<YYYY>/<MM>/<DD>/manifest.json                         the day's parts, rows, times, SHA-256

A file holds the rows of one tenant, so a tenant's prefix holds all of its data (an export, a deletion, an IAM
policy), and the vehicle appears as its `device_id`: the database's vehicle id is internal and may differ in the
database a day is restored into. Rows are in (device_id, time, seq or id) order, so the same rows always make
the same bytes.
"""

from dataclasses import dataclass
from datetime import date

import pyarrow as pa

from fleet.blobs.keys import validate_key

_TIME = pa.timestamp("us", tz="UTC")


def _schema(fields: list[tuple[str, pa.DataType]]) -> pa.Schema:
    """A Parquet schema of (name, type) pairs, in order."""
    return pa.schema(fields)


@dataclass(frozen=True)
class ArchivedTable:
    """A table of the hot tier whose closed days the archive exports."""

    name: str
    # The column whose UTC date puts a row on a day.
    time_column: str
    # True for a table with a partition per day on PostgreSQL: retention drops whole partitions.
    partitioned: bool
    # The file's columns in order; `device_id` stands for the database's vehicle_id.
    schema: pa.Schema
    # The columns that order a vehicle's rows of a day.
    order: tuple[str, ...]

    @property
    def columns(self) -> tuple[str, ...]:
        """The file's column names, in order."""
        return tuple(self.schema.names)


POSITIONS = ArchivedTable(
    name="positions",
    time_column="ts",
    partitioned=True,
    schema=_schema(
        [
            ("device_id", pa.string()),
            ("ts", _TIME),
            ("seq", pa.int64()),
            ("lat", pa.float64()),
            ("lon", pa.float64()),
            ("speed_kmh", pa.float64()),
            ("heading_deg", pa.float64()),
            ("alt_m", pa.float64()),
            ("sats", pa.int16()),
            ("hdop", pa.float64()),
            ("received_at", _TIME),
        ]
    ),
    order=("ts", "seq"),
)
CAN_SAMPLES = ArchivedTable(
    name="can_samples",
    time_column="ts",
    partitioned=True,
    schema=_schema(
        [
            ("device_id", pa.string()),
            ("ts", _TIME),
            ("seq", pa.int64()),
            ("fuel_level_pct", pa.float64()),
            ("fuel_used_total_l", pa.float64()),
            ("distance_total_km", pa.float64()),
            ("engine_speed_rpm", pa.float64()),
            ("engine_hours_total_h", pa.float64()),
            ("coolant_temp_c", pa.float64()),
            ("doors_open_mask", pa.int32()),
            ("door_count", pa.int16()),
            ("passenger_count", pa.int32()),
            ("battery_soc_pct", pa.float64()),
            ("received_at", _TIME),
        ]
    ),
    order=("ts", "seq"),
)
EVENTS = ArchivedTable(
    name="events",
    time_column="started_at",
    partitioned=False,
    schema=_schema(
        [
            ("device_id", pa.string()),
            ("id", pa.int64()),
            ("key", pa.string()),
            ("source", pa.string()),
            ("type", pa.string()),
            ("severity", pa.string()),
            ("started_at", _TIME),
            ("ended_at", _TIME),
            ("lat", pa.float64()),
            ("lon", pa.float64()),
            ("speed_kmh", pa.float64()),
            # The event's `data` as JSON text: its shape depends on the type.
            ("data", pa.string()),
            ("unit_event_id", pa.string()),
            ("received_at", _TIME),
            ("updated_at", _TIME),
        ]
    ),
    order=("started_at", "id"),
)

ARCHIVED_TABLES: dict[str, ArchivedTable] = {table.name: table for table in (POSITIONS, CAN_SAMPLES, EVENTS)}


def archived_table(name: str) -> ArchivedTable:
    """The archived table called `name`; ValueError for any other."""
    try:
        return ARCHIVED_TABLES[name]
    except KeyError:
        raise ValueError(f"{name} is not archived (archived: {', '.join(ARCHIVED_TABLES)})") from None


def part_key(table: ArchivedTable, day: date, tenant_id: int, part: int) -> str:
    """Key of part `part` (from 1) of `tenant_id`'s rows of `table` on `day`."""
    if tenant_id < 1 or part < 1:
        raise ValueError("tenant ids and part numbers start at 1")
    return validate_key(f"tenants/{tenant_id}/archive/{table.name}/{day:%Y/%m/%d}/part-{part}.parquet")


def manifest_key(table: ArchivedTable, day: date) -> str:
    """Key of the manifest of `table`'s archive of `day`."""
    return validate_key(f"archive/{table.name}/{day:%Y/%m/%d}/manifest.json")
