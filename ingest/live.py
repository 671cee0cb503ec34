"""What ingest hands on from a batch besides its rows: the samples the detection reads, and the vehicles' newest
positions for the live feed (at most one per vehicle per interval of record time)."""

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from fleet.contract.topics import Stream
from fleet.events.detection.machine import CAN, POS, Sample
from fleet.live.feed import Kind, Message
from fleet.streams import CAN_SAMPLES, POSITIONS, SEQ, TS, VEHICLE_ID, Row

_LAT, _LON, _SPEED, _HEADING = (POSITIONS.index(c) for c in ("lat", "lon", "speed_kmh", "heading_deg"))
_MASK, _DOORS, _RPM, _FUEL, _SOC = (
    CAN_SAMPLES.index(c)
    for c in ("doors_open_mask", "door_count", "engine_speed_rpm", "fuel_level_pct", "battery_soc_pct")
)


def detection_samples(series: Mapping[Stream, Sequence[Row]]) -> tuple[list[Sample], list[int]]:
    """The batch's positions and CAN rows as detection samples, with the vehicle of each."""
    samples: list[Sample] = []
    vehicles: list[int] = []
    for row in series.get(Stream.POS, ()):
        samples.append(Sample(row[TS], POS, row[SEQ], row[_LAT], row[_LON], row[_SPEED]))
        vehicles.append(row[VEHICLE_ID])
    for row in series.get(Stream.CAN, ()):
        samples.append(
            Sample(row[TS], CAN, row[SEQ], doors_open_mask=row[_MASK], door_count=row[_DOORS],
                   engine_speed_rpm=row[_RPM], fuel_level_pct=row[_FUEL], battery_soc_pct=row[_SOC])
        )  # fmt: skip
        vehicles.append(row[VEHICLE_ID])
    return samples, vehicles


class LivePositions:
    """Throttles the positions ingest puts on the live feed: a vehicle's newest, once per interval."""

    def __init__(self, interval_seconds: float) -> None:
        self.interval_seconds = interval_seconds
        self._devices: dict[int, tuple[int, str]] = {}
        self._sent: dict[int, datetime] = {}

    def know(self, vehicle_id: int, tenant_id: int, device_id: str) -> None:
        """Remember a vehicle's tenant and device id (from ingest's device lookup)."""
        self._devices[vehicle_id] = (tenant_id, device_id)

    def messages(self, rows: Iterable[Row]) -> list[Message]:
        """Feed messages of the newest position of each vehicle in `rows` that is due one."""
        newest: dict[int, Row] = {}
        for row in rows:
            current = newest.get(row[VEHICLE_ID])
            if current is None or (row[TS], row[SEQ]) > (current[TS], current[SEQ]):
                newest[row[VEHICLE_ID]] = row
        messages = []
        for vehicle_id, row in newest.items():
            sent, device = self._sent.get(vehicle_id), self._devices.get(vehicle_id)
            if device is None or (sent is not None and (row[TS] - sent).total_seconds() < self.interval_seconds):
                continue
            self._sent[vehicle_id] = row[TS]
            payload = {
                "device_id": device[1], "ts": row[TS].isoformat(), "lat": row[_LAT], "lon": row[_LON],
                "speed_kmh": row[_SPEED], "heading_deg": row[_HEADING],
            }  # fmt: skip
            messages.append(Message(device[0], Kind.POSITION, payload))
        return messages
