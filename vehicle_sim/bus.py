"""A deterministic model of one city bus: driving its route, dwelling at stops, and its CAN values; no I/O."""

import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from fleet.contract.records import CanRecord, PositionRecord
from vehicle_sim.chance import Occurrences
from vehicle_sim.routes import GeoPoint, Route, Stop, normalize_heading

# Largest integration step: the kinematics stay smooth even when the caller ticks rarely.
STEP_S = 0.5
# Comfortable acceleration and service braking of a city bus with standing passengers (about 1 m/s²).
ACCELERATION_MPS2 = 1.0
BRAKING_MPS2 = 1.0
# Speed at which a bus creeps the last metre to the stop, so the approach ends in finite time.
CREEP_MPS = 1.0
# Urban traffic: the driver's target speed between stops is redrawn in this band (50 km/h limit in town).
CRUISE_KMH = (30.0, 50.0)
# How long the driver holds one target speed before traffic changes it.
CRUISE_HOLD_S = (15.0, 40.0)
# Time at a stop, and how long after stopping the doors open and before leaving they close.
DWELL_S = (8.0, 15.0)
DOOR_OPEN_DELAY_S = 1.0
DOOR_CLOSE_LEAD_S = 1.5
DOORS = 3
# A 12 m city bus: about 30 seats and 60 standing places.
CAPACITY = 90
# Share of riders leaving at an ordinary stop, and the most who board at one.
ALIGHT_SHARE = 0.25
MAX_BOARDING = 12
# A stop this close to the end of a line is its terminus.
AT_END_M = 0.5
# Start far enough from the next stop that every bus is seen moving at the start of a run.
MIN_START_GAP_M = 120.0
# Odometers and hour meters of buses some years into service.
ODOMETER_START_KM = (60_000.0, 650_000.0)
ENGINE_HOURS_START = (3_000.0, 35_000.0)

# Diesel: a 12 m city bus averages 35-45 L/100 km, and an idling engine burns about 2 L/h.
FUEL_L_PER_KM = 0.4
IDLE_FUEL_L_PER_H = 2.0
TANK_L = 300.0
# Below this level the bus "goes to the depot" and comes back full, so long runs stay in range.
REFUEL_BELOW_PCT = 8.0
REFUEL_TO_PCT = 95.0
IDLE_RPM = 600.0
# Automatic gearbox: upshift speeds in km/h, and the rpm band the converter keeps the engine in.
GEAR_TOP_KMH = (12.0, 22.0, 35.0, 50.0, 80.0)
SHIFT_LOW_RPM, SHIFT_HIGH_RPM = 1000.0, 1900.0
LAUNCH_RPM = 800.0
ACCELERATING_EXTRA_RPM = 150.0
# The thermostat holds the coolant near 85 °C; a warm-up takes about 15 minutes (three time constants).
COOLANT_TARGET_C = 85.0
COOLANT_TAU_S = 300.0
COOLANT_START_C = (12.0, 25.0)

# Electric: a 12 m e-bus uses about 1.2 kWh/km plus about 6 kW for heating, air and auxiliaries.
ENERGY_KWH_PER_KM = 1.2
AUX_POWER_KW = 6.0
BATTERY_KWH = 350.0
RECHARGE_BELOW_PCT = 15.0
RECHARGE_TO_PCT = 90.0

# Incidents, per hour of driving of a real fleet (Habits scales them). Overspeed: the driver skips request stops
# nobody asked for until the leg is long enough to hold 85-95 km/h for 10-60 s past the 80 km/h the backend allows.
OVERSPEED_PER_H = 0.3
OVERSPEED_KMH = (85.0, 95.0)
OVERSPEED_LEG_M = 1000.0
# A rare emergency stop above 30 km/h, at 0.4-0.56 g: beyond the 12 km/h/s the backend calls harsh braking, which
# service braking (at most 1.5 m/s², 5.4 km/h/s) never reaches. It needs room before the halt, then the bus stands.
EMERGENCY_STOPS_PER_H = 0.1
EMERGENCY_MIN_KMH = 30.0
EMERGENCY_BRAKING_MPS2 = (4.0, 5.5)
EMERGENCY_ROOM_M = 60.0
EMERGENCY_STAND_S = (2.0, 5.0)
STANDARD_GRAVITY = 9.80665
# A driver who opens the front door before the bus has stopped, at 10-15 km/h in the last metres.
EARLY_DOOR_PER_H = 0.2
EARLY_DOOR_KMH = (10.0, 15.0)
EARLY_DOOR_WITHIN_M = 20.0
# A layover lasts this share of Habits.terminus_layover_s.
LAYOVER_SHARE = (0.6, 1.4)

# GNSS fix quality: a few metres of noise, as from a roof antenna in a street canyon.
GNSS_NOISE_M = 1.5
METRES_PER_DEGREE_LAT = 111_320.0


@dataclass(frozen=True, slots=True)
class Habits:
    """How a bus's drivers misbehave: the multiplier of the incident rates (0: never), the layover at the line's end."""

    incident_multiplier: float = 0.0
    terminus_layover_s: float = 0.0


@dataclass(frozen=True, slots=True)
class HardStop:
    """An emergency stop as the unit's accelerometer saw it: when it began, its peak deceleration, its length."""

    at: datetime
    g: float
    duration_s: float
    from_kmh: float
    point: GeoPoint


@dataclass(frozen=True, slots=True)
class Halt:
    """Where the bus will stop next: a named stop, or the end of the line where it turns."""

    name: str
    distance_m: float
    turns: bool


def _iso_ms(moment: datetime) -> str:
    # The record schema accepts RFC 3339 text; devices report to the millisecond.
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def _engine_rpm(speed_kmh: float, accelerating: bool) -> float:
    """Engine speed of a diesel with an automatic gearbox at `speed_kmh`."""
    if speed_kmh < 1.0:
        return IDLE_RPM
    low = 0.0
    for top in GEAR_TOP_KMH:
        if speed_kmh <= top or top == GEAR_TOP_KMH[-1]:
            fraction = min(1.0, (speed_kmh - low) / (top - low))
            floor = LAUNCH_RPM if low == 0.0 else SHIFT_LOW_RPM
            rpm = floor + (SHIFT_HIGH_RPM - floor) * fraction
            return rpm + (ACCELERATING_EXTRA_RPM if accelerating else 0.0)
        low = top
    raise AssertionError("unreachable: the last gear takes every speed")


class Bus:
    """One bus on one route; the caller advances time with `step`, then asks for records."""

    def __init__(
        self, route: Route, rng: random.Random, start: datetime, electric: bool = False, habits: Habits = Habits()
    ) -> None:
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        self.route = route
        self.electric = electric
        self.habits = habits
        self._rng = rng
        # Separate streams of randomness, so how often records are read never changes how the bus drives.
        self._gnss_rng = random.Random(rng.getrandbits(64))
        self._start = start
        self._now = start
        self._clock_s = 0.0
        self._forward = True if route.loop else rng.random() < 0.5
        self._distance_m = 0.0
        self._halt = Halt("", 0.0, False)
        self._to_halt_m = 0.0
        self._overspeed_mps: float | None = None
        self._place_at_start()
        self._cruise_mps = 0.0
        self._cruise_until_s = 0.0
        self._pick_cruise()
        self._speed_mps = min(self._cruise_mps, math.sqrt(2 * BRAKING_MPS2 * self._to_halt_m))
        self._accelerating = False
        self._dwell: _Dwell | None = None
        self._passengers = rng.randint(5, 40)

        self._odometer_km = rng.uniform(*ODOMETER_START_KM)
        self._engine_hours = rng.uniform(*ENGINE_HOURS_START)
        self._fuel_used_l = self._odometer_km * FUEL_L_PER_KM * rng.uniform(0.95, 1.1)
        self._fuel_level_pct = rng.uniform(40.0, 95.0)
        self._coolant_c = rng.uniform(*COOLANT_START_C)
        self._soc_pct = rng.uniform(45.0, 95.0)
        self._seq = {"pos": 0, "can": 0}
        self._init_incidents(random.Random(rng.getrandbits(64)))

    def _init_incidents(self, rng: random.Random) -> None:
        self._incident_rng = rng
        scale = self.habits.incident_multiplier
        self._overspeeds = Occurrences(rng, OVERSPEED_PER_H * scale)
        self._emergencies = Occurrences(rng, EMERGENCY_STOPS_PER_H * scale)
        self._early_doors = Occurrences(rng, EARLY_DOOR_PER_H * scale)
        self._overspeed_armed = False
        self._early_door_kmh: float | None = None
        self._door_early = False
        self._hard_braking_mps2: float | None = None
        self._standing_until_s = 0.0
        self._hard_stops: list[HardStop] = []

    # --- state, for callers and tests -------------------------------------------------------------

    @property
    def now(self) -> datetime:
        """Simulated time the bus has been advanced to."""
        return self._now

    @property
    def speed_kmh(self) -> float:
        """Current speed."""
        return self._speed_mps * 3.6

    @property
    def distance_along_m(self) -> float:
        """Position as a distance from the start of the route."""
        return self._distance_m

    @property
    def forward(self) -> bool:
        """Whether the bus runs in the direction of the route's points."""
        return self._forward

    @property
    def dwelling_at(self) -> str | None:
        """Name of the stop the bus stands at, or None while driving."""
        return self._dwell.stop if self._dwell else None

    @property
    def odometer_km(self) -> float:
        """Total distance driven."""
        return self._odometer_km

    @property
    def passengers(self) -> int:
        """Riders on board right now."""
        return self._dwell.passengers_at(self._clock_s) if self._dwell else self._passengers

    @property
    def doors_open(self) -> list[bool]:
        """One entry per door, front first."""
        is_open = self._dwell is not None and self._dwell.doors_open_at(self._clock_s)
        # A front door opened before the stop stays open until the dwell opens them all.
        early = self._door_early and (self._dwell is None or self._clock_s < self._dwell.since_s + DOOR_OPEN_DELAY_S)
        return [is_open or early] + [is_open] * (DOORS - 1)

    @property
    def position(self) -> GeoPoint:
        """Where the bus is, without GNSS noise."""
        return self.route.point_at(self._distance_m)

    def take_hard_stops(self) -> list[HardStop]:
        """The emergency stops begun since the last call, oldest first."""
        stops, self._hard_stops = self._hard_stops, []
        return stops

    # --- time -------------------------------------------------------------------------------------

    def step(self, now: datetime) -> None:
        """Advance the simulation to `now`; a time at or before the current one changes nothing."""
        remaining = (now - self._now).total_seconds()
        if remaining <= 0:
            return
        while remaining > 1e-9:
            dt = min(STEP_S, remaining)
            self._advance(dt)
            remaining -= dt
        self._now = now

    def _advance(self, dt: float) -> None:
        self._clock_s += dt
        self._engine_hours += dt / 3600
        if self._dwell is not None:
            if self._clock_s >= self._dwell.until_s:
                self._depart()
            self._burn(0.0, dt)
            return
        if self._clock_s < self._standing_until_s:
            self._burn(0.0, dt)
            return
        if self._clock_s >= self._cruise_until_s:
            self._pick_cruise()
        self._arm_incidents(dt)
        before = self._speed_mps
        after = self._next_speed(before, dt)
        self._accelerating = after > before
        moved = (before + after) / 2 * dt
        if moved >= self._to_halt_m:
            moved = self._to_halt_m
            self._move(moved)
            self._arrive()
        else:
            self._speed_mps = after
            self._move(moved)
            self._after_move()
        self._burn(moved, dt)

    def _next_speed(self, before: float, dt: float) -> float:
        """The speed `dt` seconds on: towards the target, or down at the emergency stop's deceleration."""
        if self._hard_braking_mps2 is not None:
            return max(0.0, before - self._hard_braking_mps2 * dt)
        # The fastest speed from which the bus can still stop at the halt with comfortable braking.
        limit = max(CREEP_MPS, math.sqrt(2 * BRAKING_MPS2 * self._to_halt_m))
        target = min(self._cruise_mps, limit)
        if before < target:
            return min(target, before + ACCELERATION_MPS2 * dt)
        # A bit more than comfortable braking is allowed, so the bus never overshoots the halt.
        return max(target, before - 1.5 * BRAKING_MPS2 * dt)

    def _arm_incidents(self, dt: float) -> None:
        """Let the incidents' clocks run while driving; an emergency stop starts at once, the others when they can."""
        if self._overspeeds.due(dt):
            self._overspeed_armed = True
        if self._early_doors.due(dt):
            self._early_door_kmh = self._incident_rng.uniform(*EARLY_DOOR_KMH)
        room = self._to_halt_m > EMERGENCY_ROOM_M and self._hard_braking_mps2 is None
        if self._emergencies.due(dt if room and self.speed_kmh > EMERGENCY_MIN_KMH else 0.0):
            self._hard_braking_mps2 = self._incident_rng.uniform(*EMERGENCY_BRAKING_MPS2)
            moment = self._start + timedelta(seconds=self._clock_s)
            duration = self._speed_mps / self._hard_braking_mps2
            g = self._hard_braking_mps2 / STANDARD_GRAVITY
            self._hard_stops.append(HardStop(moment, g, duration, self.speed_kmh, self.position))

    def _after_move(self) -> None:
        """End an emergency stop that came to a standstill; open the front door early if the driver means to."""
        if self._hard_braking_mps2 is not None and self._speed_mps == 0.0:
            self._hard_braking_mps2 = None
            self._accelerating = False
            self._standing_until_s = self._clock_s + self._incident_rng.uniform(*EMERGENCY_STAND_S)
            self._pick_cruise()
        door_kmh = self._early_door_kmh
        if door_kmh is not None and self._to_halt_m < EARLY_DOOR_WITHIN_M and 0.0 < self.speed_kmh < door_kmh:
            self._door_early = True
            self._early_door_kmh = None

    def _move(self, metres: float) -> None:
        self._to_halt_m -= metres
        self._odometer_km += metres / 1000
        self._distance_m = self.route.clamp(self._distance_m + (metres if self._forward else -metres))

    def _burn(self, metres: float, dt: float) -> None:
        if self.electric:
            used_kwh = metres / 1000 * ENERGY_KWH_PER_KM + AUX_POWER_KW * dt / 3600
            self._soc_pct -= used_kwh / BATTERY_KWH * 100
            if self._soc_pct < RECHARGE_BELOW_PCT:
                self._soc_pct = RECHARGE_TO_PCT
            return
        used_l = metres / 1000 * FUEL_L_PER_KM + IDLE_FUEL_L_PER_H * dt / 3600
        self._fuel_used_l += used_l
        self._fuel_level_pct -= used_l / TANK_L * 100
        if self._fuel_level_pct < REFUEL_BELOW_PCT:
            self._fuel_level_pct = REFUEL_TO_PCT
        self._coolant_c += (COOLANT_TARGET_C - self._coolant_c) * (1 - math.exp(-dt / COOLANT_TAU_S))

    # --- stops ------------------------------------------------------------------------------------

    def _place_at_start(self) -> None:
        # A few tries find a spot well before a stop on any sensible route; the last try stands otherwise.
        for _ in range(50):
            self._distance_m = self._rng.uniform(0.0, self.route.length_m)
            self._choose_halt()
            if self._to_halt_m >= MIN_START_GAP_M:
                return

    def _choose_halt(self, ahead: float = 0.5) -> None:
        """Find the next halt at least `ahead` metres on (the stop the bus is leaving is not the next one)."""
        route, here = self.route, self._distance_m
        stop: Stop | None
        if route.loop:
            stop = min(route.stops, key=lambda s: (s.distance_m - here - ahead) % route.length_m)
            gap = (stop.distance_m - here) % route.length_m
            self._halt = Halt(stop.name, stop.distance_m, turns=False)
            self._to_halt_m = gap if gap >= ahead else gap + route.length_m
            return
        if self._forward:
            candidates = [s for s in route.stops if s.distance_m > here + ahead]
            stop = candidates[0] if candidates else None
            end = route.length_m
        else:
            candidates = [s for s in route.stops if s.distance_m < here - ahead]
            stop = candidates[-1] if candidates else None
            end = 0.0
        if stop is not None and abs(stop.distance_m - end) > AT_END_M:
            self._halt = Halt(stop.name, stop.distance_m, turns=False)
        else:
            self._halt = Halt(stop.name if stop else "terminus", end, turns=True)
        self._to_halt_m = abs(self._halt.distance_m - here)

    def _arrive(self) -> None:
        self._speed_mps = 0.0
        self._accelerating = False
        self._distance_m = self._halt.distance_m
        on_board = self._passengers
        share = 1.0 if self._halt.turns else ALIGHT_SHARE
        alighting = sum(1 for _ in range(on_board) if self._rng.random() < share)
        boarding = min(self._rng.randint(0, MAX_BOARDING), CAPACITY - (on_board - alighting))
        dwell = self._rng.uniform(*DWELL_S)
        if self._at_line_end() and self.habits.terminus_layover_s > 0:
            dwell = self.habits.terminus_layover_s * self._incident_rng.uniform(*LAYOVER_SHARE)
        self._overspeed_mps = None
        self._dwell = _Dwell(self._halt.name, self._clock_s, self._clock_s + dwell, on_board, alighting, boarding)

    def _at_line_end(self) -> bool:
        """Whether the halt is where the line ends: where it turns, or a loop's first stop."""
        return self._halt.turns or (self.route.loop and self._halt.name == self.route.stops[0].name)

    def _depart(self) -> None:
        assert self._dwell is not None
        self._passengers = self._dwell.passengers_after
        self._dwell = None
        self._door_early = False
        if self._halt.turns:
            self._forward = not self._forward
        self._choose_halt()
        if self._overspeed_armed:
            self._start_overspeed()
        self._pick_cruise()

    def _start_overspeed(self) -> None:
        """Skip the stops within OVERSPEED_LEG_M and speed on that leg; on a shorter last leg, wait for the next one."""
        self._choose_halt(OVERSPEED_LEG_M)
        if self._to_halt_m < OVERSPEED_LEG_M:
            self._choose_halt()
            return
        self._overspeed_armed = False
        self._overspeed_mps = self._incident_rng.uniform(*OVERSPEED_KMH) / 3.6

    def _pick_cruise(self) -> None:
        if self._overspeed_mps is not None:
            self._cruise_mps, self._cruise_until_s = self._overspeed_mps, math.inf
            return
        self._cruise_mps = self._rng.uniform(*CRUISE_KMH) / 3.6
        self._cruise_until_s = self._clock_s + self._rng.uniform(*CRUISE_HOLD_S)

    # --- records ----------------------------------------------------------------------------------

    def position_record(self) -> PositionRecord:
        """GNSS fix at the current time; each call takes the next `pos` sequence number."""
        point = self._noisy(self.route.point_at(self._distance_m))
        heading = normalize_heading(round(self.route.heading_at(self._distance_m, self._forward), 1))
        return PositionRecord(
            ts=_iso_ms(self._now),
            seq=self._next_seq("pos"),
            lat=round(point.lat, 6),
            lon=round(point.lon, 6),
            speed_kmh=round(self.speed_kmh, 1),
            heading_deg=heading,
            alt_m=round(self.route.alt_m + self._gnss_rng.gauss(0.0, 2 * GNSS_NOISE_M), 1),
            sats=self._gnss_rng.randint(7, 14),
            hdop=round(self._gnss_rng.uniform(0.6, 1.6), 1),
        )

    def can_record(self) -> CanRecord:
        """Bus-FMS values at the current time; each call takes the next `can` sequence number."""
        common = {
            "ts": _iso_ms(self._now),
            "seq": self._next_seq("can"),
            "distance_total_km": round(self._odometer_km, 3),
            "engine_hours_total_h": round(self._engine_hours, 2),
            "doors_open": self.doors_open,
            "passenger_count": self.passengers,
        }
        if self.electric:
            return CanRecord(**common, battery_soc_pct=round(self._soc_pct, 1))
        return CanRecord(
            **common,
            fuel_level_pct=round(self._fuel_level_pct, 1),
            fuel_used_total_l=round(self._fuel_used_l, 2),
            engine_speed_rpm=round(_engine_rpm(self.speed_kmh, self._accelerating)),
            coolant_temp_c=round(self._coolant_c, 1),
        )

    def _next_seq(self, stream: str) -> int:
        seq = self._seq[stream]
        self._seq[stream] = seq + 1
        return seq

    def _noisy(self, point: GeoPoint) -> GeoPoint:
        north = self._gnss_rng.gauss(0.0, GNSS_NOISE_M)
        east = self._gnss_rng.gauss(0.0, GNSS_NOISE_M)
        metres_per_degree_lon = METRES_PER_DEGREE_LAT * math.cos(math.radians(point.lat))
        return GeoPoint(point.lat + north / METRES_PER_DEGREE_LAT, point.lon + east / metres_per_degree_lon)


@dataclass(frozen=True, slots=True)
class _Dwell:
    """A stop in progress: riders leave during the first half of the door time, board in the second."""

    stop: str
    since_s: float
    until_s: float
    on_arrival: int
    alighting: int
    boarding: int

    @property
    def passengers_after(self) -> int:
        """Riders on board when the doors have closed."""
        return self.on_arrival - self.alighting + self.boarding

    def doors_open_at(self, clock_s: float) -> bool:
        """Whether the doors are open at `clock_s`."""
        return self.since_s + DOOR_OPEN_DELAY_S <= clock_s < self.until_s - DOOR_CLOSE_LEAD_S

    def passengers_at(self, clock_s: float) -> int:
        """Riders on board at `clock_s`, moving linearly while the doors are open."""
        opens, closes = self.since_s + DOOR_OPEN_DELAY_S, self.until_s - DOOR_CLOSE_LEAD_S
        progress = min(1.0, max(0.0, (clock_s - opens) / (closes - opens)))
        left = round(self.alighting * min(1.0, progress * 2))
        came = round(self.boarding * max(0.0, progress * 2 - 1))
        return self.on_arrival - left + came
