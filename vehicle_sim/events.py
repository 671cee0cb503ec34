"""The unit's own events (stream `evt`), decided from its bus's state: driver monitoring, ADAS, diagnostics; no I/O.

Each kind is a Poisson process over the time its condition holds (driving, above 30 km/h, ...) at a real fleet's
rate per hour times the fleet's multiplier. An event with a duration is two records with one `event_id`: the start,
then the end with `ended_at`. A DTC goes active and is cleared minutes later; a tell-tale lights and goes off.
"""

import heapq
import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from fleet.contract.events import EVENT_TYPES, EventRecord, Severity
from vehicle_sim.bus import Bus, HardStop
from vehicle_sim.chance import Occurrences

Condition = Literal["driving", "fast", "slow", "always"]
# The bundled routes are in Vienna (CET); summer time's hour makes no difference to what counts as night.
LOCAL_UTC_OFFSET = timedelta(hours=1)
NIGHT_HOURS = frozenset({22, 23, 0, 1, 2, 3, 4})
NIGHT_FATIGUE_FACTOR = 8.0
MOVING_KMH = 5.0
# ADAS warns of the road ahead above this speed; pedestrian warnings come below it, in town traffic.
FAST_KMH = 30.0
DSM_CAMERA, ADAS_CAMERA = "cabin", "front"


@dataclass(frozen=True, slots=True)
class Occasion:
    """A kind of event: its type, its rate per hour of its condition, how long it lasts (None: an instant)."""

    type: str
    per_hour: float
    when: Condition
    duration_s: tuple[float, float] | None


OCCASIONS = (
    Occasion("fatigue", 0.05, "driving", (2.0, 8.0)),
    Occasion("distraction", 0.3, "driving", (3.0, 10.0)),
    Occasion("phone_use", 0.1, "driving", (10.0, 60.0)),
    Occasion("smoking", 0.03, "driving", (30.0, 180.0)),
    Occasion("seatbelt", 0.05, "driving", (20.0, 120.0)),
    Occasion("headway", 0.4, "fast", (3.0, 15.0)),
    Occasion("forward_collision", 0.1, "fast", None),
    Occasion("lane_departure", 0.3, "fast", None),
    Occasion("pedestrian_collision", 0.03, "slow", None),
    Occasion("panic_button", 0.01, "always", None),
    Occasion("dtc", 0.1, "always", (120.0, 900.0)),
    Occasion("telltale", 0.1, "always", (60.0, 600.0)),
)
OCCASIONS_BY_TYPE = {o.type: o for o in OCCASIONS}


@dataclass(frozen=True, slots=True)
class Dtc:
    """A J1939 DM1 trouble code a bus's ECUs raise: source address, SPN, FMI, the lamps it lights."""

    source_address: int
    spn: int
    fmi: int
    lamps: tuple[str, ...]
    diesel: bool

    @property
    def code(self) -> tuple[int, int, int]:
        """Source address, SPN and FMI: what a cleared record names."""
        return self.source_address, self.spn, self.fmi


# Source addresses: 0 engine, 3 transmission, 11 brakes (EBS), 61 exhaust aftertreatment.
DTCS = (
    Dtc(0, 110, 0, ("red_stop",), diesel=True),  # coolant temperature above normal
    Dtc(0, 100, 1, ("red_stop",), diesel=True),  # oil pressure below normal
    Dtc(0, 157, 18, ("amber_warning",), diesel=True),  # injector rail pressure moderately low
    Dtc(0, 3251, 0, ("amber_warning",), diesel=True),  # particulate filter differential pressure high
    Dtc(61, 3216, 2, ("amber_warning", "mil"), diesel=True),  # aftertreatment intake NOx erratic
    Dtc(61, 4364, 18, ("mil",), diesel=True),  # SCR conversion efficiency low
    Dtc(3, 177, 0, ("amber_warning",), diesel=True),  # transmission oil temperature high
    Dtc(11, 789, 5, ("amber_warning",), diesel=False),  # front left wheel speed sensor open circuit
    Dtc(11, 790, 2, ("amber_warning",), diesel=False),  # front right wheel speed sensor erratic
    Dtc(0, 168, 1, (), diesel=False),  # supply voltage below normal
)
# FMS tell-tales (block, number in the block) and the colour each lights in.
TELLTALES: tuple[tuple[int, int, Literal["red", "yellow", "info"]], ...] = (
    (0, 8, "red"),  # brake system failure
    (0, 12, "red"),  # battery charging
    (0, 10, "yellow"),  # fuel level
    (1, 3, "yellow"),  # engine MIL
    (1, 4, "info"),  # service call for maintenance
    (1, 8, "yellow"),  # worn brake linings
    (1, 9, "info"),  # windscreen washer fluid
    (1, 10, "yellow"),  # tyre failure
    (2, 11, "yellow"),  # AdBlue
)
LAMPS = ("protect", "amber_warning", "red_stop", "mil")
TELLTALE_SEVERITY: dict[str, Severity] = {"red": "critical", "yellow": "warning", "info": "info", "off": "info"}
LAMP_SEVERITY: tuple[tuple[str, Severity], ...] = (
    ("red_stop", "critical"),
    ("amber_warning", "warning"),
    ("mil", "warning"),
    ("protect", "warning"),
)

Fields = dict[str, Any]


def _iso_ms(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def is_night(moment: datetime) -> bool:
    """Whether `moment` is night where the buses drive (22:00 to 05:00)."""
    return (moment.astimezone(UTC) + LOCAL_UTC_OFFSET).hour in NIGHT_HOURS


class EventUnit:
    """The event sources of one bus's unit; `poll` after each step of the bus gives what happened since the last."""

    def __init__(self, bus: Bus, rng: random.Random, multiplier: float, panic_after_s: float | None = None) -> None:
        self._bus = bus
        self._rng = rng
        self._polled = bus.now
        self._occurrences = [(o, Occurrences(rng, o.per_hour * multiplier)) for o in OCCASIONS]
        self._panic_at = None if panic_after_s is None else bus.now + timedelta(seconds=panic_after_s)
        # A heap of the ends to come: (when, order of scheduling, the record's fields).
        self._ending: list[tuple[datetime, int, Fields]] = []
        self._scheduled = itertools.count()
        self._active_dtcs: set[tuple[int, int, int]] = set()
        self._dtc_occurrences: dict[tuple[int, int, int], int] = {}
        self._lit: set[tuple[int, int]] = set()
        self._made = 0
        self._seq = 0
        self._builders: dict[str, Callable[[], Fields | None]] = {
            "fatigue": self._fatigue,
            "headway": self._headway,
            "forward_collision": self._forward_collision,
            "lane_departure": self._lane_departure,
            "pedestrian_collision": lambda: {"level": 2, "camera": ADAS_CAMERA},
            "panic_button": lambda: {"button": "driver"},
            "dtc": self._dtc,
            "telltale": self._telltale,
        }

    def poll(self) -> list[EventRecord]:
        """The evt records of what happened since the last poll, oldest first, each with the next `seq`."""
        now = self._bus.now
        elapsed = (now - self._polled).total_seconds()
        self._polled = now
        drafts = [(stop.at, self._hard_braking(stop)) for stop in self._bus.take_hard_stops()]
        drafts += self._ended(now)
        if elapsed > 0:
            # The conditions once per poll, not once per kind: the fleet's ticker polls every bus every second.
            exposures = self._exposures()
            for occasion, occurrences in self._occurrences:
                exposure = exposures[occasion.when]
                if exposure and occasion.type == "fatigue" and is_night(now):
                    exposure = NIGHT_FATIGUE_FACTOR
                if exposure and occurrences.due(elapsed * exposure):
                    drafts += self._happen(occasion, now)
        if self._panic_at is not None and now >= self._panic_at:
            self._panic_at = None
            drafts += self._happen(OCCASIONS_BY_TYPE["panic_button"], now)
        return [self._record(ts, fields) for ts, fields in sorted(drafts, key=lambda draft: draft[0])]

    def _exposures(self) -> dict[Condition, float]:
        """How much the time now counts towards each condition: 1 while it holds, else 0."""
        speed = self._bus.speed_kmh
        return {
            "driving": float(speed > MOVING_KMH),
            "fast": float(speed > FAST_KMH),
            "slow": float(MOVING_KMH < speed <= FAST_KMH),
            "always": 1.0,
        }

    def _happen(self, occasion: Occasion, now: datetime) -> list[tuple[datetime, Fields]]:
        """The start of an event of `occasion` at `now`, its end scheduled; none if the unit has none to raise."""
        build = self._builders.get(occasion.type, self._driver_monitoring)
        data = build()
        if data is None:
            return []
        point = self._bus.position
        fields: Fields = {
            "type": occasion.type,
            "severity": self._severity(occasion.type, data),
            "lat": round(point.lat, 6),
            "lon": round(point.lon, 6),
            "speed_kmh": round(self._bus.speed_kmh, 1),
            "data": data,
        }
        if occasion.duration_s is not None:
            if occasion.type not in ("dtc", "telltale"):
                # DTCs and tell-tales are known by their code; every other event with a duration by its id.
                fields["event_id"] = self._event_id(occasion.type, now)
            ends = now + timedelta(seconds=self._rng.uniform(*occasion.duration_s))
            heapq.heappush(self._ending, (ends, next(self._scheduled), self._end_of(fields, ends)))
        return [(now, fields)]

    def _end_of(self, fields: Fields, ends: datetime) -> Fields:
        """The record that ends the event begun with `fields`."""
        data = fields["data"]
        if fields["type"] == "dtc":
            lamps = dict.fromkeys(LAMPS, False)
            return {**fields, "severity": "info", "data": {**data, "state": "cleared", "lamps": lamps}}
        if fields["type"] == "telltale":
            return {**fields, "severity": "info", "data": {**data, "state": "off"}}
        return {**fields, "ended_at": _iso_ms(ends)}

    def _ended(self, now: datetime) -> list[tuple[datetime, Fields]]:
        """The ends that have come by `now`; the codes and tell-tales they free may come again."""
        ended = []
        while self._ending and self._ending[0][0] <= now:
            at, _, fields = heapq.heappop(self._ending)
            ended.append((at, fields))
        for _, fields in ended:
            data = fields["data"]
            if fields["type"] == "dtc":
                self._active_dtcs.discard((data["source_address"], data["spn"], data["fmi"]))
            elif fields["type"] == "telltale":
                self._lit.discard((data["block"], data["telltale"]))
        return ended

    def _record(self, ts: datetime, fields: Fields) -> EventRecord:
        seq, self._seq = self._seq, self._seq + 1
        return EventRecord.model_validate({"ts": _iso_ms(ts), "seq": seq, **fields})

    def _event_id(self, event_type: str, now: datetime) -> str:
        self._made += 1
        return f"{event_type}-{now.astimezone(UTC):%Y%m%dT%H%M%S}-{self._made}"

    @staticmethod
    def _severity(event_type: str, data: Fields) -> Severity:
        if event_type == "dtc":
            lamps = data["lamps"]
            return next((severity for lamp, severity in LAMP_SEVERITY if lamps.get(lamp)), "info")
        if event_type == "telltale":
            return TELLTALE_SEVERITY[data["state"]]
        return EVENT_TYPES[event_type].severity

    # --- data of each type ------------------------------------------------------------------------

    def _confidence(self) -> float:
        return round(self._rng.uniform(0.7, 0.99), 2)

    def _driver_monitoring(self) -> Fields:
        return {"level": self._rng.choice((1, 1, 2)), "camera": DSM_CAMERA, "confidence": self._confidence()}

    def _fatigue(self) -> Fields:
        # Night fatigue is deeper: yawning by day, eyes closing at night.
        degree = self._rng.randint(4, 10) if is_night(self._bus.now) else self._rng.randint(1, 6)
        level = 2 if degree >= 7 else 1
        return {"level": level, "camera": DSM_CAMERA, "confidence": self._confidence(), "fatigue_degree": degree}

    def _front_speed(self, slower_by: tuple[float, float]) -> float:
        return round(max(0.0, self._bus.speed_kmh - self._rng.uniform(*slower_by)), 1)

    def _headway(self) -> Fields:
        headway = round(self._rng.uniform(0.5, 1.0), 1)
        return {
            "level": 1,
            "camera": ADAS_CAMERA,
            "headway_s": headway,
            "front_speed_kmh": self._front_speed((-3.0, 5.0)),
        }

    def _forward_collision(self) -> Fields:
        headway = round(self._rng.uniform(0.3, 0.8), 1)
        front = self._front_speed((10.0, 30.0))
        return {"level": 2, "camera": ADAS_CAMERA, "headway_s": headway, "front_speed_kmh": front}

    def _lane_departure(self) -> Fields:
        return {"level": 1, "camera": ADAS_CAMERA, "side": self._rng.choice(("left", "right"))}

    def _dtc(self) -> Fields | None:
        electric = self._bus.electric
        choices = [d for d in DTCS if not (d.diesel and electric) and d.code not in self._active_dtcs]
        if not choices:
            return None
        dtc = self._rng.choice(choices)
        self._active_dtcs.add(dtc.code)
        # DM1 counts how often the code has gone active, up to 126.
        count = min(126, self._dtc_occurrences.get(dtc.code, 0) + 1)
        self._dtc_occurrences[dtc.code] = count
        return {
            "source_address": dtc.source_address,
            "spn": dtc.spn,
            "fmi": dtc.fmi,
            "occurrence_count": count,
            "lamps": {lamp: lamp in dtc.lamps for lamp in LAMPS},
            "state": "active",
        }

    def _telltale(self) -> Fields | None:
        choices = [t for t in TELLTALES if (t[0], t[1]) not in self._lit]
        if not choices:
            return None
        block, number, state = self._rng.choice(choices)
        self._lit.add((block, number))
        return {"block": block, "telltale": number, "state": state}

    def _hard_braking(self, stop: HardStop) -> Fields:
        """The accelerometer's harsh braking of an emergency stop."""
        return {
            "type": "harsh_braking",
            "severity": EVENT_TYPES["harsh_braking"].severity,
            "lat": round(stop.point.lat, 6),
            "lon": round(stop.point.lon, 6),
            "speed_kmh": round(stop.from_kmh, 1),
            "data": {"g": round(stop.g, 2), "duration_ms": round(stop.duration_s * 1000)},
        }
