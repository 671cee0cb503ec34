"""Record schemas of contract v1; the JSON Schema files in schemas/v1 are generated from these."""

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema


def parse_timestamp(value: Any) -> datetime:
    """Accept RFC 3339 with an offset or integer epoch milliseconds (or an aware datetime); return UTC."""
    try:
        return _parse_timestamp(value)
    except OverflowError:
        # pydantic reports only ValueError as a validation error: e.g. 0001-01-01T00:00:00+01:00 has no UTC form.
        raise ValueError("ts out of range") from None


def _parse_timestamp(value: Any) -> datetime:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("ts needs a UTC offset")
        return value.astimezone(UTC)
    if isinstance(value, bool):
        raise ValueError("ts must be an RFC 3339 string or integer epoch milliseconds")
    if isinstance(value, int):
        try:
            return datetime.fromtimestamp(value / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise ValueError("ts epoch milliseconds out of range") from None
    if isinstance(value, str):
        if "T" not in value and "t" not in value:
            raise ValueError("ts must be RFC 3339, e.g. 2026-11-23T08:15:00Z")
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError("ts must be RFC 3339, e.g. 2026-11-23T08:15:00Z") from None
        if parsed.tzinfo is None:
            raise ValueError("ts needs a UTC offset (Z or +hh:mm)")
        return parsed.astimezone(UTC)
    raise ValueError("ts must be an RFC 3339 string or integer epoch milliseconds")


Timestamp = Annotated[
    datetime,
    BeforeValidator(parse_timestamp),
    WithJsonSchema(
        {
            "anyOf": [{"type": "string", "format": "date-time"}, {"type": "integer", "minimum": 0}],
            "description": "RFC 3339 with offset, or integer epoch milliseconds",
        }
    ),
]
Sequence = Annotated[
    int, Field(ge=0, le=2**63 - 1, description="Per device and stream, increasing; used for ordering and gaps")
]
Percent = Annotated[float, Field(ge=0, le=100)]


class Record(BaseModel):
    """Fields every record carries; unknown fields are kept aside, counted and ignored.

    Every number must be finite: `NaN`, `Infinity` (which Python's JSON parser accepts) and numbers beyond the
    64-bit float range such as `1e400` (which parse to infinity) fail validation, so no bound is passed by an
    infinity and no infinity reaches the database.
    """

    model_config = ConfigDict(extra="allow", frozen=True, strict=False, allow_inf_nan=False)

    ts: Timestamp
    seq: Sequence


class PositionRecord(Record):
    """GNSS fix (stream `pos`)."""

    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    speed_kmh: float | None = Field(default=None, ge=0, le=400)
    heading_deg: float | None = Field(default=None, ge=0, lt=360)
    alt_m: float | None = Field(default=None, ge=-500, le=10000)
    sats: int | None = Field(default=None, ge=0, le=255)
    hdop: float | None = Field(default=None, ge=0, le=100)


class CanRecord(Record):
    """Bus-FMS / J1939 values read from the CAN bus (stream `can`); every value is optional."""

    fuel_level_pct: Percent | None = None
    fuel_used_total_l: float | None = Field(default=None, ge=0, description="FMS engine total fuel used")
    distance_total_km: float | None = Field(default=None, ge=0, description="FMS high resolution total distance")
    engine_speed_rpm: float | None = Field(default=None, ge=0, le=8032)
    engine_hours_total_h: float | None = Field(default=None, ge=0)
    coolant_temp_c: float | None = Field(default=None, ge=-40, le=210)
    doors_open: list[bool] | None = Field(
        default=None, max_length=16, description="One entry per door, front first; true when open"
    )
    passenger_count: int | None = Field(default=None, ge=0, le=1000)
    battery_soc_pct: Percent | None = Field(default=None, description="Traction battery state of charge (EV)")


class StatusRecord(Record):
    """Connection state (stream `status`): published retained, and as the MQTT last will with state offline."""

    state: Literal["online", "offline"]


# The unit's own id of a file, unique per device (also a key segment of the object: fleet.blobs.keys).
FileId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
Sha256Hex = Annotated[str, Field(pattern=r"^[0-9a-fA-F]{64}$", description="SHA-256 of the bytes, hex")]
FileKind = Literal["tachograph_vu", "tachograph_card", "video", "image", "log"]
FileState = Literal["offered", "uploaded", "failed"]
# A short identifier chosen by the unit or the backend (camera names, event and command ids).
ShortId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]
# S3 refuses a single object above 5 TiB; far more than a unit's storage.
MAX_FILE_BYTES = 5 * 1024**4


class FileRecord(Record):
    """A state change of a file on the unit (stream `file`): offered for upload, uploaded, or failed on the unit."""

    file_id: FileId
    state: FileState
    kind: FileKind
    name: str = Field(min_length=1, max_length=255, pattern=r"^[^\x00-\x1f\x7f/\\]+$")
    size_bytes: int = Field(ge=0, le=MAX_FILE_BYTES)
    sha256: Sha256Hex
    content_type: str = Field(
        default="application/octet-stream", max_length=127, pattern=r"^[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+$"
    )
    started_at: Timestamp | None = None
    ended_at: Timestamp | None = None
    camera: ShortId | None = None
    # Driver card numbers (EU 799/2016): 16 characters; some issuers use fewer.
    driver_card_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9]{1,32}$")
    event_id: ShortId | None = None
    command_id: ShortId | None = None
    error: str | None = Field(default=None, max_length=2000)


# A command's id on the wire: the decimal id the backend gave it.
CommandId = Annotated[str, Field(pattern=r"^[1-9][0-9]{0,18}$")]
AckState = Literal["received", "done", "failed", "rejected"]


class AckRecord(Record):
    """The unit's answer to a command (stream `ack`): received, then done, failed or rejected."""

    command_id: CommandId
    state: AckState
    result: dict[str, Any] | None = Field(default=None, description="What the command produced, by type")
    error: str | None = Field(default=None, max_length=2000)
