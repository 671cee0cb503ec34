"""Door open while moving pairs a speed and a door state only when they are close in time, also at 5 s intervals."""

from datetime import UTC, datetime, timedelta

from fleet.events.detection.machine import CAN, POS, Machine, Sample, VehicleRules
from fleet.events.rules import DoorOpenMovingRule, HarshRule, IdlingRule, LowLevelRule, OverspeedRule, Rule

START = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
CLOSED, FRONT_OPEN = 0, 1

RULES = VehicleRules(
    overspeed=OverspeedRule(),
    harsh=HarshRule(),
    door_open_moving=DoorOpenMovingRule(),
    idling=IdlingRule(),
    geofence=Rule(severity="warning"),
    low_fuel=LowLevelRule(),
    low_battery=LowLevelRule(),
)


def pos(second: float, speed: float) -> Sample:
    return Sample(START + timedelta(seconds=second), POS, int(second * 10), lat=48.2, lon=16.37, speed_kmh=speed)


def can(second: float, mask: int) -> Sample:
    return Sample(START + timedelta(seconds=second), CAN, int(second * 10), doors_open_mask=mask, door_count=3)


def door_events(samples: list[Sample]) -> list[tuple[datetime, datetime | None]]:
    machine = Machine(RULES)
    machine.feed(samples)
    episodes = [*machine.touched.values(), *machine.open_episodes()]
    return sorted({(e.started_at, e.ended_at) for e in episodes if e.type == "door_open_moving"}, key=str)


def test_doors_opening_at_a_stop_are_not_paired_with_the_speed_of_seconds_before() -> None:
    # Positions every 5 s: 15 km/h while braking for the stop at 0 s, stopped at 5 s; the doors open at 4 s (CAN
    # sent on the change), close at 12 s; the periodic CAN records come with the positions.
    samples = [pos(0, 15.0), can(0, CLOSED), can(4, FRONT_OPEN), pos(5, 0.0), can(5, FRONT_OPEN)]
    samples += [pos(10, 0.0), can(10, FRONT_OPEN), can(12, CLOSED), pos(15, 12.0), can(15, CLOSED)]
    assert door_events(samples) == []


def test_doors_opening_2_s_after_a_slow_position_are_not_paired_with_its_speed() -> None:
    # Braking for the stop at 8.6 km/h at 0 s, standing at 1 s, the doors open at 2 s (CAN sent on the change).
    samples = [pos(0, 8.6), can(0, CLOSED), can(2, FRONT_OPEN), pos(5, 0.0), can(5, FRONT_OPEN)]
    samples += [pos(10, 0.0), can(10, FRONT_OPEN), can(11, CLOSED), pos(15, 20.0), can(15, CLOSED)]
    assert door_events(samples) == []


def test_a_bus_leaving_a_stop_is_not_paired_with_the_doors_of_seconds_before() -> None:
    # Standing with the doors open at 0 s; they close at 2 s, but the unit reports it only with its next periodic
    # record, at 5 s, when the bus does 5.4 km/h: that position comes before its CAN record of the same instant.
    samples = [pos(0, 0.0), can(0, FRONT_OPEN), pos(5, 5.4), can(5, CLOSED), pos(10, 16.5), can(10, CLOSED)]
    assert door_events(samples) == []


def test_a_door_open_while_moving_is_found_at_5_s_intervals() -> None:
    # The front door opens at 11 km/h before the stop: the CAN record of the change and a position 1 s later.
    samples = [pos(0, 30.0), can(0, CLOSED), can(3, FRONT_OPEN), pos(4, 11.0), can(5, FRONT_OPEN)]
    samples += [pos(9, 0.0), can(10, FRONT_OPEN), can(14, CLOSED), pos(14, 0.0)]
    assert door_events(samples) == [(START + timedelta(seconds=4), START + timedelta(seconds=9))]


def test_at_1_hz_a_door_opened_at_speed_is_found_on_its_first_sample() -> None:
    samples = [pos(s, 12.0 - 2 * s) for s in range(7)] + [can(1.5, FRONT_OPEN), can(6.5, CLOSED)]
    assert door_events(samples) == [(START + timedelta(seconds=1.5), START + timedelta(seconds=4))]
