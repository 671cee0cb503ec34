"""The detectors: one state machine per vehicle over its records in time order, pure (no database).

The machine reads a vehicle's positions and CAN samples merged by (ts, stream, seq), keeping the newest value of
each signal ("as of" the sample). Each detector follows a condition as a run: a run that holds long enough
(the rule's minimum duration) opens an episode, which ends at the first sample where the condition no longer
holds (or at the run's last sample, after a silence of more than MAX_GAP). The same samples in the same order
always give the same episodes, and the state after them (`State.to_json`) lets the next batch go on from there.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from operator import attrgetter
from typing import Any

from fleet.doors import unpack_doors
from fleet.events.detection.geometry import Fence
from fleet.events.rules import (
    DoorOpenMovingRule,
    HarshRule,
    IdlingRule,
    LowLevelRule,
    OverspeedRule,
    Rule,
)

# Longer without a sample and a run ends (a bus out of coverage is not known to be over the limit).
MAX_GAP = timedelta(seconds=60)
# How far apart a speed and a door state may be to be judged together, whichever came first. Positions often come
# every 5 s: a bus braking at 9 km/h stands a second later and opens its doors a second after that, so a speed of
# 2 s before the doors opened reads as a door open while moving. The other way round, a position takes a door state
# only as old: a unit's report of the doors closing can be late or missing (a busy unit sends it with the next
# periodic record), and the doors of seconds before would make the bus leaving the stop a false critical alarm.
DOORS_SPEED_GAP = timedelta(seconds=1)
POS, CAN = 0, 1


@dataclass(frozen=True, slots=True)
class Sample:
    """One record of a vehicle: a position (`kind` POS) or CAN sample (CAN); the other's fields are None."""

    ts: datetime
    kind: int
    seq: int
    lat: float | None = None
    lon: float | None = None
    speed_kmh: float | None = None
    doors_open_mask: int | None = None
    door_count: int | None = None
    engine_speed_rpm: float | None = None
    fuel_level_pct: float | None = None
    battery_soc_pct: float | None = None


# Where a sample goes in a vehicle's timeline.
TIMELINE_ORDER = attrgetter("ts", "kind", "seq")


@dataclass(frozen=True, slots=True)
class Episode:
    """An event the detection found: open while `ended_at` is None."""

    type: str
    qualifier: str
    severity: str
    started_at: datetime
    ended_at: datetime | None
    lat: float | None
    lon: float | None
    speed_kmh: float | None
    data: dict[str, Any]

    @property
    def key(self) -> str:
        """The event's key: detector type, qualifier (a geofence's id) and start."""
        qualifier = f"{self.qualifier}:" if self.qualifier else ""
        return f"d:{self.type}:{qualifier}{self.started_at.isoformat()}"


@dataclass(slots=True)
class Run:
    """A condition holding since `start`: its extreme value, where it began, and whether it opened an episode."""

    start: datetime
    last: datetime
    extreme: float
    first: float
    latest: float
    lat: float | None
    lon: float | None
    speed_kmh: float | None
    opened: bool = False
    # The extreme when the episode opened: what an episode under way shows (its final one comes at its end), so
    # that its data depends on the records only, not on how batches cut them.
    at_open: float = 0.0

    def to_json(self) -> list[Any]:
        """The run as JSON values."""
        return [self.start.isoformat(), self.last.isoformat(), self.extreme, self.first, self.latest, self.lat,
                self.lon, self.speed_kmh, self.opened, self.at_open]  # fmt: skip

    @classmethod
    def from_json(cls, value: list[Any]) -> "Run":
        """A run from `to_json`'s values."""
        start, last, *rest = value
        return cls(datetime.fromisoformat(start), datetime.fromisoformat(last), *rest)


@dataclass(slots=True)
class State:
    """The newest value of each signal, with its time, and the runs under way."""

    values: dict[str, tuple[datetime, float | None]] = field(default_factory=dict)
    runs: dict[str, Run] = field(default_factory=dict)
    # The kind of the last sample fed (at the checkpoint's `last_ts`): a CAN record of that same instant that comes
    # after its position, in the next batch, is still in timeline order. None: not known (read as CAN).
    last_kind: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The state as JSON values."""
        return {
            "values": {name: [ts.isoformat(), value] for name, (ts, value) in self.values.items()},
            "runs": {name: run.to_json() for name, run in self.runs.items()},
            "last_kind": self.last_kind,
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> "State":
        """A state from `to_json`'s values."""
        values = {name: (datetime.fromisoformat(ts), v) for name, (ts, v) in value.get("values", {}).items()}
        runs = {name: Run.from_json(run) for name, run in value.get("runs", {}).items()}
        return cls(values, runs, value.get("last_kind"))


@dataclass(frozen=True, slots=True)
class VehicleRules:
    """The rules of one vehicle and its tenant's geofences."""

    overspeed: OverspeedRule
    harsh: HarshRule
    door_open_moving: DoorOpenMovingRule
    idling: IdlingRule
    geofence: Rule
    low_fuel: LowLevelRule
    low_battery: LowLevelRule
    fences: Sequence[Fence] = ()

    @property
    def horizon(self) -> timedelta:
        """How far back a recomputation starts before a late record: beyond the longest minimum duration."""
        longest = max(self.overspeed.min_duration_s, self.idling.min_duration_s)
        return timedelta(seconds=longest) + MAX_GAP


class Machine:
    """The detectors of one vehicle, fed samples in time order."""

    def __init__(self, rules: VehicleRules, state: State | None = None) -> None:
        self.rules = rules
        self.state = state or State()
        # Episodes opened or ended by the samples fed, by key (the newest view of each).
        self.touched: dict[str, Episode] = {}

    def seed(self, samples: Iterable[Sample]) -> None:
        """Take the signals' values from samples before the ones to detect in, without detecting."""
        for sample in sorted(samples, key=TIMELINE_ORDER):
            self._remember(sample)

    def feed(self, samples: Iterable[Sample]) -> None:
        """Detect in `samples` (sorted here, a repeated record once), after those fed before."""
        previous: tuple[datetime, int] | None = None
        for sample in sorted(samples, key=TIMELINE_ORDER):
            if (sample.ts, sample.kind) == previous:
                continue
            previous = sample.ts, sample.kind
            self._detect(sample)
            self._remember(sample)
            self.state.last_kind = sample.kind

    def open_episodes(self) -> list[Episode]:
        """The episodes still under way."""
        return [self._episode(name, run, None) for name, run in self.state.runs.items() if run.opened]

    def _value(self, name: str, at: datetime, within: timedelta = MAX_GAP) -> float | None:
        """The newest value of a signal, unless it is older than `within`."""
        found = self.state.values.get(name)
        if found is None or at - found[0] > within:
            return None
        return found[1]

    def _remember(self, sample: Sample) -> None:
        values = self.state.values
        if sample.kind == POS:
            ts = sample.ts
            values["lat"], values["lon"], values["speed_kmh"] = (
                (ts, sample.lat),
                (ts, sample.lon),
                (ts, sample.speed_kmh),
            )
        else:
            for name in ("doors_open_mask", "engine_speed_rpm", "fuel_level_pct", "battery_soc_pct"):
                value = getattr(sample, name)
                if value is not None:
                    values[name] = (sample.ts, float(value))

    def _detect(self, sample: Sample) -> None:
        rules, ts = self.rules, sample.ts
        if sample.kind == POS:
            speed = sample.speed_kmh
            if rules.overspeed.enabled and speed is not None:
                over = speed > rules.overspeed.limit_kmh
                self._follow("overspeed", over, sample, speed, rules.overspeed.min_duration_s, gap=MAX_GAP)
            if rules.harsh.enabled:
                self._harsh(sample)
            if rules.geofence.enabled and sample.lat is not None and sample.lon is not None:
                for fence in rules.fences:
                    inside = fence.contains(sample.lon, sample.lat)
                    self._follow(f"geofence:{fence.id}", inside, sample, 0.0, 0, gap=None)
        else:
            self._level("low_fuel", rules.low_fuel, sample.fuel_level_pct, sample)
            self._level("low_battery", rules.low_battery, sample.battery_soc_pct, sample)
        speed_now = sample.speed_kmh if sample.kind == POS else self._value("speed_kmh", ts)
        if rules.door_open_moving.enabled:
            self._doors(sample)
        rpm = sample.engine_speed_rpm if sample.kind == CAN else self._value("engine_speed_rpm", ts)
        if rules.idling.enabled and speed_now is not None and rpm is not None:
            idle = rpm > rules.idling.min_rpm and speed_now < rules.idling.max_speed_kmh
            self._follow("idling", idle, sample, 0.0, rules.idling.min_duration_s, gap=MAX_GAP)

    def _doors(self, sample: Sample) -> None:
        """Door open while moving: a speed and a door state at most DOORS_SPEED_GAP apart; standing or every door
        closed ends it."""
        ts = sample.ts
        if sample.kind == POS:
            speed, mask = sample.speed_kmh, self._value("doors_open_mask", ts, DOORS_SPEED_GAP)
        else:
            speed, mask = self._value("speed_kmh", ts, DOORS_SPEED_GAP), sample.doors_open_mask
        moving = None if speed is None else speed > self.rules.door_open_moving.min_speed_kmh
        any_open = None if mask is None else bool(int(mask))
        if moving is False or any_open is False:
            # Standing, or every door closed: no door is open while moving, whatever the other signal was.
            self._follow("door_open_moving", False, sample, 0.0, 0, gap=MAX_GAP)
        elif moving and any_open:
            assert speed is not None and mask is not None
            self._follow("door_open_moving", True, sample, speed, 0, gap=MAX_GAP, first=float(mask))

    def _harsh(self, sample: Sample) -> None:
        rule, speed = self.rules.harsh, sample.speed_kmh
        before = self.state.values.get("speed_kmh")
        rate = 0.0
        if speed is not None and before is not None and before[1] is not None:
            elapsed = (sample.ts - before[0]).total_seconds()
            if 0 < elapsed <= rule.max_gap_s:
                rate = (speed - before[1]) / elapsed
        braking, accelerating = rate <= -rule.braking_kmh_per_s, rate >= rule.acceleration_kmh_per_s
        runs = self.state.runs
        if not (braking or accelerating or "harsh_braking" in runs or "harsh_acceleration" in runs):
            return  # the common case: nothing harsh now or just before
        start = before[0] if before else sample.ts
        first = before[1] if before and before[1] is not None else 0.0
        latest = speed if speed is not None else 0.0
        for name, harsh in (("harsh_braking", braking), ("harsh_acceleration", accelerating)):
            self._follow(
                name, harsh, sample, abs(rate), 0, gap=MAX_GAP, start=start, first=first, latest=latest,
                end_at_last=True,
            )  # fmt: skip

    def _level(self, name: str, rule: LowLevelRule, value: float | None, sample: Sample) -> None:
        if not rule.enabled or value is None:
            return
        limit = rule.threshold_pct + (rule.hysteresis_pct if name in self.state.runs else 0)
        # The lowest level is the run's extreme: kept negated, as the others keep their highest value.
        self._follow(name, value < limit, sample, -value, 0, gap=None)

    def _follow(
        self,
        name: str,
        holds: bool,
        sample: Sample,
        value: float,
        min_duration_s: float,
        gap: timedelta | None,
        start: datetime | None = None,
        first: float = 0.0,
        latest: float = 0.0,
        end_at_last: bool = False,
    ) -> None:
        """Move the run of `name` on by one sample where its condition `holds` or not."""
        runs, ts = self.state.runs, sample.ts
        run = runs.get(name)
        if run is not None and gap is not None and ts - run.last > gap:
            self._end(name, run, run.last)
            run = None
        if not holds:
            if run is not None:
                self._end(name, run, run.last if end_at_last else ts)
            return
        if run is None:
            lat, lon = self._value("lat", ts), self._value("lon", ts)
            speed = sample.speed_kmh if sample.kind == POS else self._value("speed_kmh", ts)
            run = runs[name] = Run(start or ts, ts, value, first, latest, lat, lon, speed)
        else:
            run.last, run.extreme, run.latest = ts, max(run.extreme, value), latest
        if not run.opened and (run.last - run.start).total_seconds() >= min_duration_s:
            run.opened, run.at_open = True, run.extreme
            episode = self._episode(name, run, None)
            self.touched[episode.key] = episode

    def _end(self, name: str, run: Run, at: datetime) -> None:
        del self.state.runs[name]
        if run.opened:
            episode = self._episode(name, run, at)
            self.touched[episode.key] = episode

    def _episode(self, name: str, run: Run, ended_at: datetime | None) -> Episode:
        detector, _, qualifier = name.partition(":")
        rules = self.rules
        extreme = run.extreme if ended_at is not None else run.at_open
        severity: str
        data: dict[str, Any]
        if detector == "overspeed":
            severity = rules.overspeed.severity
            data = {"limit_kmh": rules.overspeed.limit_kmh, "peak_speed_kmh": extreme}
        elif detector in ("harsh_braking", "harsh_acceleration"):
            severity = rules.harsh.severity
            data = {"rate_kmh_per_s": round(extreme, 3), "from_kmh": run.first, "to_kmh": run.latest}
        elif detector == "door_open_moving":
            doors = [i + 1 for i, is_open in enumerate(unpack_doors(int(run.first), 16) or []) if is_open]
            severity, data = rules.door_open_moving.severity, {"doors": doors, "peak_speed_kmh": extreme}
        elif detector == "idling":
            severity, data = rules.idling.severity, {"min_duration_s": rules.idling.min_duration_s}
        elif detector == "geofence":
            fence = next(f for f in rules.fences if str(f.id) == qualifier)
            severity, data = fence.severity, {"geofence_id": fence.id, "name": fence.name, "kind": fence.kind}
        else:
            rule = rules.low_fuel if detector == "low_fuel" else rules.low_battery
            severity, data = rule.severity, {"threshold_pct": rule.threshold_pct, "lowest_pct": -extreme}
        return Episode(detector, qualifier, severity, run.start, ended_at, run.lat, run.lon, run.speed_kmh, data)
