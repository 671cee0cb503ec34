"""The bus model: motion, stops, CAN values and records, all in simulated time."""

import itertools
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from fleet.contract.records import CanRecord, PositionRecord
from fleet.contract.topics import Stream
from tests.vehicle_sim.helpers import decode_records
from vehicle_sim.bus import DWELL_S, IDLE_RPM, Bus
from vehicle_sim.routes import GeoPoint, Route, bundled_routes, haversine_m

START = datetime(2026, 11, 23, 7, 30, tzinfo=UTC)
ROUTES = bundled_routes()


def known(value: float | None) -> float:
    """A CAN value the bus must report."""
    assert value is not None
    return value


def make_bus(seed: int = 1, route: Route | None = None, electric: bool = False) -> Bus:
    """A bus on the first bundled route (or `route`) starting at START."""
    return Bus(route or ROUTES[0], random.Random(seed), START, electric=electric)


def drive(bus: Bus, seconds: int) -> Iterator[Bus]:
    """Advance `bus` one simulated second at a time, yielding it after each step."""
    for _ in range(seconds):
        bus.step(bus.now + timedelta(seconds=1))
        yield bus


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.route_id)
def test_speed_stays_within_city_bus_bounds(route: Route) -> None:
    bus = make_bus(3, route)
    speeds = [b.speed_kmh for b in drive(bus, 1800)]
    assert all(0.0 <= s <= 50.5 for s in speeds)
    moving = [s for s in speeds if s > 1.0]
    assert 15.0 < sum(moving) / len(moving) < 45.0
    assert max(speeds) > 30.0
    assert speeds.count(0.0) > 60  # it does stop, at stops


def test_buses_start_moving_away_from_stops() -> None:
    for seed in range(40):
        bus = make_bus(seed, ROUTES[seed % len(ROUTES)])
        assert bus.dwelling_at is None
        assert bus.speed_kmh > 5.0


def test_positions_move_along_the_route() -> None:
    bus = make_bus(4)
    previous: PositionRecord | None = None
    travelled = 0.0
    for b in drive(bus, 600):
        record = b.position_record()
        on_route = bus.route.point_at(b.distance_along_m)
        assert haversine_m(GeoPoint(record.lat, record.lon), on_route) < 15.0
        if previous is not None:
            step = haversine_m(GeoPoint(previous.lat, previous.lon), GeoPoint(record.lat, record.lon))
            # One second at up to 50 km/h, plus GNSS noise of a few metres.
            assert step < 14.0 + 15.0
            travelled += step
        previous = record
    assert travelled > 2_000.0


def test_heading_follows_the_segment_and_stays_in_range() -> None:
    bus = make_bus(5, ROUTES[1])
    for b in drive(bus, 900):
        record = b.position_record()
        assert record.heading_deg is not None and 0.0 <= record.heading_deg < 360.0
        expected = b.route.heading_at(b.distance_along_m, b.forward)
        assert abs((record.heading_deg - expected + 180) % 360 - 180) < 0.1


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.route_id)
def test_odometer_and_fuel_grow_monotonically_with_distance(route: Route) -> None:
    bus = make_bus(6, route)
    records: list[CanRecord] = []
    integrated_km = 0.0
    for b in drive(bus, 1800):
        integrated_km += b.speed_kmh / 3600
        if int((b.now - START).total_seconds()) % 5 == 0:
            records.append(b.can_record())
    odometer = [known(r.distance_total_km) for r in records]
    fuel_used = [known(r.fuel_used_total_l) for r in records]
    assert all(a <= b for a, b in itertools.pairwise(odometer))
    assert all(a <= b for a, b in itertools.pairwise(fuel_used))
    km, litres = odometer[-1] - odometer[0], fuel_used[-1] - fuel_used[0]
    assert km == pytest.approx(integrated_km, rel=0.05)
    assert 5.0 < km < 25.0
    # About 0.4 L/km while driving, plus a little for idling at stops.
    assert 0.38 < litres / km < 0.6
    assert known(records[-1].fuel_level_pct) < known(records[0].fuel_level_pct)


def test_engine_hours_grow_with_time_and_coolant_warms_to_85() -> None:
    bus = make_bus(7)
    first = bus.can_record()
    temperatures = []
    for b in drive(bus, 3600):
        if int((b.now - START).total_seconds()) % 60 == 0:
            temperatures.append(known(b.can_record().coolant_temp_c))
    last = bus.can_record()
    hours = known(last.engine_hours_total_h) - known(first.engine_hours_total_h)
    assert hours == pytest.approx(1.0, abs=0.01)
    assert known(first.coolant_temp_c) < 30.0
    assert all(a <= b for a, b in itertools.pairwise(temperatures))
    assert last.coolant_temp_c == pytest.approx(85.0, abs=1.0)


def test_engine_idles_when_stopped_and_revs_when_moving() -> None:
    bus = make_bus(8)
    seen_idle = seen_moving = False
    for b in drive(bus, 900):
        rpm = b.can_record().engine_speed_rpm
        assert rpm is not None
        if b.speed_kmh == 0.0:
            assert rpm == IDLE_RPM
            seen_idle = True
        elif b.speed_kmh > 10.0:
            assert 800.0 <= rpm <= 2100.0
            seen_moving = True
    assert seen_idle and seen_moving


def test_dwell_at_a_stop_opens_the_doors_and_moves_passengers() -> None:
    bus = make_bus(9)
    for b in drive(bus, 600):
        if b.dwelling_at is not None:
            break
        assert b.doors_open == [False, False, False]
    stop = bus.dwelling_at
    assert stop in {s.name for s in bus.route.stops}
    assert bus.speed_kmh == 0.0
    arrived_with = bus.passengers
    dwell_seconds, door_states, counts = 1, [], []
    for b in drive(bus, 30):
        if b.dwelling_at is None:
            break
        dwell_seconds += 1
        assert b.speed_kmh == 0.0
        record = b.can_record()
        door_states.append(record.doors_open)
        counts.append(record.passenger_count)
    assert DWELL_S[0] <= dwell_seconds <= DWELL_S[1] + 1
    assert [True, True, True] in door_states
    assert door_states[-1] == [False, False, False]  # closed before it pulls away
    assert all(0 <= c <= 90 for c in counts)
    assert arrived_with >= 0
    assert bus.speed_kmh > 0.0


def test_non_loop_route_reverses_at_the_terminus() -> None:
    line = next(r for r in ROUTES if not r.loop)
    bus = make_bus(10, line)
    directions = {b.forward for b in drive(bus, 3600)}
    assert directions == {True, False}


def test_loop_route_comes_round_again() -> None:
    loop = next(r for r in ROUTES if r.loop)
    bus = make_bus(11, loop)
    start_distance = bus.distance_along_m
    wrapped = any(b.distance_along_m < start_distance - 1000 for b in drive(bus, 3600))
    assert wrapped


def test_seq_counts_up_by_one_per_stream() -> None:
    bus = make_bus(12)
    pos, can = [], []
    for i, b in enumerate(drive(bus, 60)):
        pos.append(b.position_record().seq)
        if i % 5 == 0:
            can.append(b.can_record().seq)
    assert pos == list(range(60))
    assert can == list(range(12))


@pytest.mark.parametrize("electric", [False, True], ids=["diesel", "electric"])
def test_every_record_passes_the_contract(electric: bool) -> None:
    bus = make_bus(13, ROUTES[2], electric=electric)
    for b in drive(bus, 600):
        for stream, record in ((Stream.POS, b.position_record()), (Stream.CAN, b.can_record())):
            decoded = decode_records("sim-0001", stream, [record], b.now)
            assert decoded.rejected == []
            assert decoded.unknown_fields == 0
            assert decoded.records == [record]
            assert decoded.records[0].ts == b.now.replace(microsecond=0)


def test_electric_bus_reports_battery_instead_of_fuel() -> None:
    bus = make_bus(14, electric=True)
    first = bus.can_record()
    for _ in drive(bus, 1200):
        pass
    last = bus.can_record()
    for record in (first, last):
        assert record.fuel_level_pct is None and record.fuel_used_total_l is None
        assert record.engine_speed_rpm is None
    assert known(last.battery_soc_pct) < known(first.battery_soc_pct)
    assert known(last.distance_total_km) > known(first.distance_total_km)


def test_same_seed_same_bus() -> None:
    a, b = make_bus(15), make_bus(15)
    for _ in range(300):
        now = a.now + timedelta(seconds=1)
        a.step(now)
        b.step(now)
        assert a.position_record() == b.position_record()
        assert a.can_record() == b.can_record()


def test_time_never_runs_backwards() -> None:
    bus = make_bus(16)
    bus.step(START + timedelta(seconds=10))
    where = bus.distance_along_m
    bus.step(START + timedelta(seconds=5))
    assert bus.distance_along_m == where
    assert bus.now == START + timedelta(seconds=10)


def test_naive_start_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Bus(ROUTES[0], random.Random(0), datetime(2026, 1, 1))
