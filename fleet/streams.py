"""The stream registry: everything the system knows of an uplink stream, in one spec per stream.

A spec names the stream's record type (the wire contract), the row ingest builds from a record and its column
order, the table the rows go to (None: the stream only moves the latest state), whether that table is
partitioned by day, and which columns of the newest row become the vehicle's latest state. A stream of reports
(`applied_by` a domain, e.g. `file`) is neither: each record is a state change that its domain applies in
ingest's batch transaction. Ingest, the partition
maintenance and the API read it; adding a stream is one spec here, one migration (with its model) and one API
module. Pure data: it imports the contract, never the database.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from fleet.contract.events import EventRecord
from fleet.contract.records import AckRecord, CanRecord, FileRecord, PositionRecord, Record, StatusRecord
from fleet.contract.topics import Stream
from fleet.doors import pack_doors

R = TypeVar("R", bound=Record)
Row = tuple[Any, ...]

# Every row starts with its key and sequence number and ends with the arrival time.
VEHICLE_ID, TS, SEQ = 0, 1, 2
KEY_COLUMNS = ("vehicle_id", "ts", "seq")
RECEIVED_AT = "received_at"


@dataclass(frozen=True, slots=True)
class StreamSpec(Generic[R]):
    """One uplink stream: wire record, stored row, table and latest-state columns."""

    stream: Stream
    record_type: type[R]
    # Row columns in order: vehicle_id, ts, seq, the values, received_at.
    columns: tuple[str, ...]
    row: Callable[[int, R, datetime], Row]
    table: str | None
    partitioned: bool
    # vehicle_state holds <prefix>_ts and <prefix>_seq of the newest row and these columns of it; a stream
    # without a latest state (one whose records are each an event of their own) has no prefix.
    state_prefix: str | None
    state_columns: tuple[str, ...]
    # The core domain that applies the records (ingest looks up its handler); None for time series and state.
    applied_by: str | None = None

    @property
    def value_columns(self) -> tuple[str, ...]:
        """The columns a reader of the time series gets: ts, seq and the values."""
        return tuple(c for c in self.columns if c not in ("vehicle_id", RECEIVED_AT))

    def index(self, column: str) -> int:
        """Position of `column` in a row."""
        return self.columns.index(column)


def _position_row(vehicle_id: int, r: PositionRecord, received_at: datetime) -> Row:
    return (vehicle_id, r.ts, r.seq, r.lat, r.lon, r.speed_kmh, r.heading_deg, r.alt_m, r.sats, r.hdop, received_at)


def _can_row(vehicle_id: int, r: CanRecord, received_at: datetime) -> Row:
    mask, door_count = pack_doors(r.doors_open)
    return (
        vehicle_id, r.ts, r.seq, r.fuel_level_pct, r.fuel_used_total_l, r.distance_total_km, r.engine_speed_rpm,
        r.engine_hours_total_h, r.coolant_temp_c, mask, door_count, r.passenger_count, r.battery_soc_pct,
        received_at,
    )  # fmt: skip


def _status_row(vehicle_id: int, r: StatusRecord, received_at: datetime) -> Row:
    return (vehicle_id, r.ts, r.seq, r.state == "online", received_at)


POSITIONS = StreamSpec(
    stream=Stream.POS,
    record_type=PositionRecord,
    columns=(*KEY_COLUMNS, "lat", "lon", "speed_kmh", "heading_deg", "alt_m", "sats", "hdop", RECEIVED_AT),
    row=_position_row,
    table="positions",
    partitioned=True,
    state_prefix="pos",
    state_columns=("lat", "lon", "speed_kmh", "heading_deg"),
)
CAN_COLUMNS = (
    *KEY_COLUMNS, "fuel_level_pct", "fuel_used_total_l", "distance_total_km", "engine_speed_rpm",
    "engine_hours_total_h", "coolant_temp_c", "doors_open_mask", "door_count", "passenger_count", "battery_soc_pct",
    RECEIVED_AT,
)  # fmt: skip
CAN_STATE_COLUMNS = (
    "fuel_level_pct", "distance_total_km", "passenger_count", "battery_soc_pct", "doors_open_mask", "door_count",
)  # fmt: skip
CAN_SAMPLES = StreamSpec(
    stream=Stream.CAN,
    record_type=CanRecord,
    columns=CAN_COLUMNS,
    row=_can_row,
    table="can_samples",
    partitioned=True,
    state_prefix="can",
    state_columns=CAN_STATE_COLUMNS,
)
STATUS = StreamSpec(
    stream=Stream.STATUS,
    record_type=StatusRecord,
    columns=(*KEY_COLUMNS, "online", RECEIVED_AT),
    row=_status_row,
    table=None,
    partitioned=False,
    state_prefix="status",
    state_columns=("online",),
)


def _report_row(vehicle_id: int, r: Record, received_at: datetime) -> Row:
    return (vehicle_id, r.ts, r.seq, r, received_at)


# A report row carries the record itself: its domain reads the fields it needs.
REPORT_COLUMNS = (*KEY_COLUMNS, "record", RECEIVED_AT)


def report_stream(stream: Stream, record: type[R], domain: str) -> StreamSpec[R]:
    """The spec of a stream of reports: no table, no latest state; `domain` applies each record."""
    return StreamSpec(
        stream=stream,
        record_type=record,
        columns=REPORT_COLUMNS,
        row=_report_row,
        table=None,
        partitioned=False,
        state_prefix=None,
        state_columns=(),
        applied_by=domain,
    )


FILES = report_stream(Stream.FILE, FileRecord, "files")
ACKS = report_stream(Stream.ACK, AckRecord, "commands")
EVENTS = report_stream(Stream.EVT, EventRecord, "events")

STREAMS: dict[Stream, StreamSpec[Any]] = {
    spec.stream: spec for spec in (POSITIONS, CAN_SAMPLES, STATUS, FILES, ACKS, EVENTS)
}
PARTITIONED_TABLES = tuple(spec.table for spec in STREAMS.values() if spec.table and spec.partitioned)


def record_type(stream: Stream) -> type[Record]:
    """The record type of `stream`."""
    return STREAMS[stream].record_type
