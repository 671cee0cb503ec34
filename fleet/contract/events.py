"""The `evt` stream of contract v1: one record per event a unit reports, with a typed `data` per event type.

The types the backend knows are in EVENT_TYPES, each with the model of its `data`. A record of a type it does not
know yet (a newer unit's) is kept as it came: its `type` must be a lower-case name, its `data` a JSON object of at
most MAX_UNKNOWN_DATA_BYTES; it is stored, listed and alarmed by its severity like any other (its metric label is
`other`). The detected types (overspeed, ...) are listed too: the API shows the same `data` for them.
"""

import json
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from fleet.contract.records import Record, ShortId, Timestamp

Severity = Literal["info", "warning", "critical"]
SEVERITIES: tuple[Severity, ...] = ("info", "warning", "critical")
EVENT_TYPE_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"
MAX_UNKNOWN_DATA_BYTES = 4096
# JT/T 808 / T/JSATL 12 alarm levels of the ADAS and driver-monitoring units: 1 first level, 2 second (more urgent).
AlarmLevel = Annotated[int, Field(ge=1, le=2, description="The unit's alarm level: 1 first, 2 second (more urgent)")]
GForce = Annotated[float, Field(ge=0, le=50, description="Peak acceleration measured, in g")]


class EventData(BaseModel):
    """Fields of `data` common to every type; unknown fields are kept."""

    model_config = ConfigDict(extra="allow", frozen=True, allow_inf_nan=False)


class DriverMonitoringData(EventData):
    """Driver monitoring (DSM) camera alarm."""

    level: AlarmLevel | None = None
    camera: ShortId | None = None
    confidence: float | None = Field(default=None, ge=0, le=1)


class FatigueData(DriverMonitoringData):
    """Fatigue: the DSM's degree of fatigue besides the level."""

    fatigue_degree: int | None = Field(default=None, ge=1, le=10, description="T/JSATL 12 fatigue degree 1-10")


class AdasData(EventData):
    """Advanced driver assistance (ADAS) camera warning."""

    level: AlarmLevel | None = None
    camera: ShortId | None = None
    front_speed_kmh: float | None = Field(default=None, ge=0, le=250, description="Speed of the vehicle ahead")
    headway_s: float | None = Field(default=None, ge=0, le=10, description="Time gap to the vehicle ahead")


class LaneDepartureData(AdasData):
    """Lane departure: which side."""

    side: Literal["left", "right"] | None = None


class PanicButtonData(EventData):
    """The driver's panic (SOS) button."""

    button: ShortId | None = None


class TamperData(EventData):
    """Someone tampered with the unit, a camera or an antenna."""

    target: Literal["unit", "camera", "gnss_antenna", "cellular_antenna", "can", "other"] | None = None
    camera: ShortId | None = None


class PowerCutData(EventData):
    """The unit lost the vehicle's power (it runs on its backup battery)."""

    supply_voltage_v: float | None = Field(default=None, ge=0, le=60)


class HarshDrivingData(EventData):
    """Harsh acceleration, braking or cornering measured by the unit's accelerometer."""

    g: GForce
    duration_ms: int | None = Field(default=None, ge=0, le=60000)


class CrashData(EventData):
    """A crash (or roll-over) detected by the unit."""

    g: GForce
    rollover: bool | None = None


class Lamps(BaseModel):
    """The four DM1 lamps (SAE J1939-73): on or off."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    protect: bool = False
    amber_warning: bool = False
    red_stop: bool = False
    mil: bool = False


class DtcData(EventData):
    """A diagnostic trouble code of J1939 DM1 (PGN 65226): active when it appears, cleared when it goes."""

    source_address: int | None = Field(default=None, ge=0, le=255, description="J1939 source address of the ECU")
    spn: int = Field(ge=0, le=524287, description="Suspect parameter number (19 bits)")
    fmi: int = Field(ge=0, le=31, description="Failure mode identifier")
    occurrence_count: int | None = Field(default=None, ge=0, le=126)
    lamps: Lamps = Field(default_factory=Lamps)
    state: Literal["active", "cleared"]


class TelltaleData(EventData):
    """An FMS1 tell-tale (PGN 64893): block 0-4, tell-tale 1-15 of the block, its state."""

    block: int = Field(ge=0, le=4)
    telltale: int = Field(ge=1, le=15, description="Tell-tale number within the block")
    state: Literal["off", "red", "yellow", "info"]


class OverspeedData(EventData):
    """Detected: over the speed limit for at least the rule's duration."""

    limit_kmh: float
    peak_speed_kmh: float


class HarshSpeedChangeData(EventData):
    """Detected: a change of speed between consecutive positions beyond the rule's rate."""

    rate_kmh_per_s: float
    from_kmh: float
    to_kmh: float


class DoorOpenMovingData(EventData):
    """Detected: a door open while the bus moved."""

    doors: list[int] = Field(description="Doors open, numbered from 1 (front)")
    peak_speed_kmh: float


class IdlingData(EventData):
    """Detected: engine running, not moving, for at least the rule's duration."""

    min_duration_s: float


class GeofenceData(EventData):
    """Detected: inside one of the tenant's geofences, from entering to leaving."""

    geofence_id: int
    name: str
    kind: str


class SilentData(EventData):
    """Detected: online, but no record for longer than the rule allows."""

    last_record_at: Timestamp | None = None


class LowLevelData(EventData):
    """Detected: fuel level or state of charge below the rule's threshold."""

    threshold_pct: float
    lowest_pct: float


@dataclass(frozen=True, slots=True)
class EventType:
    """One event type: who reports it, its `data`, and its default severity (the unit's record carries its own)."""

    name: str
    category: Literal["driver_monitoring", "adas", "safety", "driving", "diagnostics", "detected"]
    data: type[EventData]
    severity: Severity


_TYPES = (
    EventType("fatigue", "driver_monitoring", FatigueData, "critical"),
    EventType("distraction", "driver_monitoring", DriverMonitoringData, "warning"),
    EventType("phone_use", "driver_monitoring", DriverMonitoringData, "warning"),
    EventType("smoking", "driver_monitoring", DriverMonitoringData, "warning"),
    EventType("driver_absent", "driver_monitoring", DriverMonitoringData, "critical"),
    EventType("seatbelt", "driver_monitoring", DriverMonitoringData, "warning"),
    EventType("forward_collision", "adas", AdasData, "critical"),
    EventType("lane_departure", "adas", LaneDepartureData, "warning"),
    EventType("headway", "adas", AdasData, "warning"),
    EventType("pedestrian_collision", "adas", AdasData, "critical"),
    EventType("panic_button", "safety", PanicButtonData, "critical"),
    EventType("tamper", "safety", TamperData, "critical"),
    EventType("power_cut", "safety", PowerCutData, "warning"),
    EventType("crash", "safety", CrashData, "critical"),
    EventType("harsh_acceleration", "driving", HarshDrivingData, "info"),
    EventType("harsh_braking", "driving", HarshDrivingData, "info"),
    EventType("harsh_cornering", "driving", HarshDrivingData, "info"),
    EventType("dtc", "diagnostics", DtcData, "info"),
    EventType("telltale", "diagnostics", TelltaleData, "info"),
)
# Types the unit reports, by name.
EVENT_TYPES: dict[str, EventType] = {t.name: t for t in _TYPES}
# Types the backend's detection produces from telemetry (harsh_* from speeds share the unit's names).
DETECTED_TYPES: dict[str, EventType] = {
    t.name: t
    for t in (
        EventType("overspeed", "detected", OverspeedData, "warning"),
        EventType("harsh_acceleration", "detected", HarshSpeedChangeData, "info"),
        EventType("harsh_braking", "detected", HarshSpeedChangeData, "info"),
        EventType("door_open_moving", "detected", DoorOpenMovingData, "critical"),
        EventType("idling", "detected", IdlingData, "info"),
        EventType("geofence", "detected", GeofenceData, "info"),
        EventType("silent", "detected", SilentData, "warning"),
        EventType("low_fuel", "detected", LowLevelData, "warning"),
        EventType("low_battery", "detected", LowLevelData, "warning"),
    )
}


class EventRecord(Record):
    """An event the unit reports (stream `evt`): an instant, or an interval once `ended_at` is known.

    Records with the same `event_id` are one event: a later one can end it (`ended_at`) or change its data. A `dtc`
    or `telltale` record ends the open event of the same code or tell-tale (`state` cleared or off).
    """

    type: str = Field(pattern=EVENT_TYPE_PATTERN)
    severity: Severity
    ended_at: Timestamp | None = None
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    speed_kmh: float | None = Field(default=None, ge=0, le=400)
    event_id: ShortId | None = Field(default=None, description="The unit's id of the event: files refer to it")
    data: dict[str, Any] = Field(default_factory=dict, description="By type: see evt-data.json")

    @model_validator(mode="after")
    def _check(self) -> "EventRecord":
        if self.ended_at is not None and self.ended_at < self.ts:
            raise ValueError("ended_at is before ts")
        known = EVENT_TYPES.get(self.type)
        if known is None:
            if len(json.dumps(self.data, separators=(",", ":"))) > MAX_UNKNOWN_DATA_BYTES:
                raise ValueError(f"data of an unknown type is at most {MAX_UNKNOWN_DATA_BYTES} bytes of JSON")
            return self
        try:
            known.data.model_validate(self.data)
        except ValidationError as error:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
            raise ValueError(f"data of {self.type}: {problems}") from None
        return self


def event_data_schema() -> dict[str, Any]:
    """JSON Schema of `data` of every known type, one definition per type."""
    defs = {name: t.data.model_json_schema() for name, t in EVENT_TYPES.items()}
    detected = {f"detected:{name}": t.data.model_json_schema() for name, t in DETECTED_TYPES.items()}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://fleet.example/schemas/v1/evt-data.json",
        "title": "data of fleet/v1/{device_id}/evt records, by type (and of detected events, as the API shows them)",
        "$defs": {**defs, **detected},
    }
