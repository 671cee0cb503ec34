"""The buses' incidents and their units' events: an hour of a few buses, driven without a broker."""

import itertools
import json
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest

from fleet.contract.codec import decode_message
from fleet.contract.events import EventRecord
from fleet.contract.records import CanRecord, PositionRecord, Record
from fleet.contract.topics import Stream, uplink_topic
from fleet.mqtt.url import parse_mqtt_url
from fleet.settings import SimSettings
from tests.vehicle_sim.helpers import LIMITS, Clock, decode_records
from vehicle_sim.bus import Bus, Habits
from vehicle_sim.events import EventUnit, is_night
from vehicle_sim.fleet_sim import SimulatedFleet
from vehicle_sim.outbox import Outbox
from vehicle_sim.routes import bundled_routes

ROUTES = bundled_routes()
# 22:00 UTC is 23:00 in Vienna, night; 11:00 UTC is noon.
NIGHT = datetime(2026, 11, 23, 22, 0, tzinfo=UTC)
DAY = datetime(2026, 11, 23, 11, 0, tzinfo=UTC)
BUSES = 4
# Scaled up from a real fleet's rates, so an hour of four buses shows every kind of incident.
MULTIPLIER = 20.0
LAYOVER_S = 360.0


@dataclass
class Run:
    """What one bus sent during a run: a position and a can record every second, and its events."""

    bus: Bus
    positions: list[PositionRecord] = field(default_factory=list)
    cans: list[CanRecord] = field(default_factory=list)
    events: list[EventRecord] = field(default_factory=list)


def make_unit(
    number: int, start: datetime, multiplier: float, panic_after_s: float | None = None
) -> tuple[Bus, EventUnit]:
    """Bus `number` (every fourth electric) and its unit's events."""
    bus = Bus(
        ROUTES[number % len(ROUTES)],
        random.Random(f"7/{number}/bus"),
        start,
        electric=number % 4 == 3,
        habits=Habits(multiplier, LAYOVER_S),
    )
    return bus, EventUnit(bus, random.Random(f"7/{number}/events"), multiplier, panic_after_s)


def simulate(start: datetime, multiplier: float = MULTIPLIER, seconds: int = 3600, records: bool = True) -> list[Run]:
    """`BUSES` buses stepped a second at a time for `seconds`, polled for events after each step."""
    runs = []
    for number in range(BUSES):
        bus, unit = make_unit(number, start, multiplier)
        run = Run(bus)
        for _ in range(seconds):
            run.bus.step(run.bus.now + timedelta(seconds=1))
            if records:
                run.positions.append(run.bus.position_record())
                run.cans.append(run.bus.can_record())
            run.events.extend(unit.poll())
        runs.append(run)
    return runs


@pytest.fixture(scope="module")
def hour() -> list[Run]:
    """An hour of the buses, at night."""
    return simulate(NIGHT)


def events(runs: list[Run], event_type: str) -> list[EventRecord]:
    """Every event of `event_type` of the runs."""
    return [e for run in runs for e in run.events if e.type == event_type]


def test_every_event_passes_the_contract_with_seq_and_ts_in_order(hour: list[Run]) -> None:
    for run in hour:
        assert run.events
        decoded = decode_records("sim-0001", Stream.EVT, run.events, run.bus.now)
        assert decoded.rejected == []
        assert decoded.unknown_fields == 0
        assert decoded.records == run.events
        assert [e.seq for e in run.events] == list(range(len(run.events)))
        assert all(a.ts <= b.ts for a, b in itertools.pairwise(run.events))
        assert all(e.lat is not None and e.lon is not None for e in run.events)


def test_every_kind_of_event_occurs(hour: list[Run]) -> None:
    seen = Counter(e.type for run in hour for e in run.events)
    expected = {"fatigue", "distraction", "phone_use", "headway", "lane_departure", "dtc", "telltale", "harsh_braking"}
    assert expected <= set(seen), seen


def test_events_with_a_duration_start_and_end_with_one_event_id(hour: list[Run]) -> None:
    for run in hour:
        by_id: dict[str, list[EventRecord]] = {}
        for event in run.events:
            if event.event_id is not None:
                by_id.setdefault(event.event_id, []).append(event)
        assert by_id
        last_ts = run.events[-1].ts
        for records in by_id.values():
            start, *end = records
            assert start.ended_at is None
            if not end:
                continue  # still going when the run ended
            (finish,) = end
            assert (finish.type, finish.data, finish.lat) == (start.type, start.data, start.lat)
            assert finish.ended_at == finish.ts and start.ts < finish.ts <= last_ts


def test_dtcs_go_active_with_lamps_and_are_cleared_minutes_later(hour: list[Run]) -> None:
    pairs = 0
    for run in hour:
        active: dict[tuple[int, int, int], EventRecord] = {}
        for event in (e for e in run.events if e.type == "dtc"):
            data = event.data
            code = (data["source_address"], data["spn"], data["fmi"])
            if data["state"] == "active":
                assert code not in active
                assert any(data["lamps"].values()) or event.severity == "info"
                active[code] = event
            else:
                opened = active.pop(code)
                assert timedelta(minutes=2) <= event.ts - opened.ts <= timedelta(minutes=15)
                assert not any(data["lamps"].values())
                pairs += 1
        if run.bus.electric:
            assert all(e.data["source_address"] == 11 or e.data["spn"] == 168 for e in events([run], "dtc"))
    assert pairs >= 2


def test_telltales_light_and_go_off(hour: list[Run]) -> None:
    offs = 0
    for run in hour:
        lit: dict[tuple[int, int], str] = {}
        for event in (e for e in run.events if e.type == "telltale"):
            where = (event.data["block"], event.data["telltale"])
            if event.data["state"] == "off":
                assert where in lit
                del lit[where]
                offs += 1
            else:
                assert where not in lit
                lit[where] = event.data["state"]
    assert offs >= 2


def overspeed_runs(positions: list[PositionRecord]) -> list[int]:
    """Lengths, in positions, of the stretches above 80 km/h."""
    return [len(list(g)) for fast, g in itertools.groupby(positions, key=lambda p: (p.speed_kmh or 0) > 80) if fast]


def test_overspeed_lasts_long_enough_to_be_detected(hour: list[Run]) -> None:
    stretches = [n for run in hour for n in overspeed_runs(run.positions)]
    assert [n for n in stretches if 10 <= n <= 60], stretches
    assert all(n <= 60 for n in stretches)
    assert max((p.speed_kmh or 0) for run in hour for p in run.positions) <= 95.5


def test_speed_changes_are_plausible_and_hard_braking_matches_the_accelerometer(hour: list[Run]) -> None:
    harsh = 0
    for run in hour:
        brakings = events([run], "harsh_braking")
        for a, b in itertools.pairwise(run.positions):
            change = (b.speed_kmh or 0) - (a.speed_kmh or 0)
            assert change <= 10.0
            if change < -12.0:
                harsh += 1
                # Within the emergency stop the unit reported.
                assert any(timedelta(0) <= b.ts - e.ts <= timedelta(seconds=8) for e in brakings)
        for braking in brakings:
            assert 0.4 <= braking.data["g"] <= 0.6
            assert braking.speed_kmh is not None and braking.speed_kmh > 30
    assert harsh >= 1


def test_a_door_opens_rarely_before_the_bus_has_stopped(hour: list[Run]) -> None:
    episodes = 0
    for run in hour:
        moving_open = [
            (can.doors_open or [False])[0] and (pos.speed_kmh or 0) > 5
            for pos, can in zip(run.positions, run.cans, strict=True)
        ]
        episodes += sum(1 for opened, g in itertools.groupby(moving_open) if opened)
        for pos, can in zip(run.positions, run.cans, strict=True):
            if can.doors_open and any(can.doors_open[1:]):
                assert pos.speed_kmh == 0.0  # only the front door opens early
            if can.doors_open and can.doors_open[0]:
                assert (pos.speed_kmh or 0) <= 15.0
    # At 20 times a real fleet's 0.2 per driving hour, a handful in four bus-hours.
    assert 1 <= episodes <= 20


def test_a_diesel_bus_idles_for_minutes_at_the_end_of_its_line(hour: list[Run]) -> None:
    diesel = next(run for run in hour if not run.bus.electric)
    idle = [
        (p.speed_kmh or 0) < 2 and (c.engine_speed_rpm or 0) > 300
        for p, c in zip(diesel.positions, diesel.cans, strict=True)
    ]
    longest = max(len(list(g)) for still, g in itertools.groupby(idle) if still)
    assert 300 <= longest <= LAYOVER_S * 1.4 + 1


def test_fatigue_comes_more_often_and_deeper_at_night() -> None:
    assert is_night(NIGHT) and not is_night(DAY)
    night = events(simulate(NIGHT, records=False), "fatigue")
    day = events(simulate(DAY, records=False), "fatigue")
    night_starts = [e for e in night if e.ended_at is None]
    day_starts = [e for e in day if e.ended_at is None]
    assert len(night_starts) > 3 * max(1, len(day_starts)), (len(night_starts), len(day_starts))
    assert all(1 <= e.data["fatigue_degree"] <= 10 for e in night + day)
    assert sum(e.data["fatigue_degree"] for e in night_starts) / len(night_starts) > 5


def test_the_same_seed_gives_the_same_events() -> None:
    first = [run.events for run in simulate(DAY, seconds=900, records=False)]
    again = [run.events for run in simulate(DAY, seconds=900, records=False)]
    assert first == again


def test_without_a_multiplier_there_is_no_incident_and_no_event() -> None:
    for run in simulate(DAY, multiplier=0.0, seconds=1200):
        assert run.events == []
        assert max(p.speed_kmh or 0 for p in run.positions) <= 50.5
        assert all(
            not any(c.doors_open or []) or p.speed_kmh == 0.0 for p, c in zip(run.positions, run.cans, strict=True)
        )


def test_a_demo_panic_button_is_pressed_once_after_the_seconds_given() -> None:
    bus, unit = make_unit(0, DAY, 0.0, panic_after_s=3.0)
    pressed = []
    for _ in range(10):
        bus.step(bus.now + timedelta(seconds=1))
        pressed.extend(unit.poll())
    assert [(e.type, e.severity, e.ts) for e in pressed] == [("panic_button", "critical", DAY + timedelta(seconds=3))]


def record_send(
    sent: list[tuple[str, Stream, Record]], device_id: str, stream: Stream, record: Record, covered: bool
) -> None:
    """A device's `send` that keeps what it is given."""
    sent.append((device_id, stream, record))


def test_the_fleet_sends_events_on_evt_and_can_on_a_door_change() -> None:
    clock = Clock(DAY)
    settings = SimSettings(vehicles=2, seed=3, demo_panic_after_seconds=2.0, dropout_probability_per_minute=0)
    fleet = SimulatedFleet(parse_mqtt_url("mqtt://127.0.0.1:1"), settings, clock=clock)
    sent: list[tuple[str, Stream, Record]] = []
    for simulated in fleet.buses:
        simulated.device.send = partial(record_send, sent, simulated.device.device_id)  # type: ignore[method-assign]
    for second in range(120):
        fleet.tick(clock.advance(1), float(second))
    first = fleet.buses[0].device.device_id
    panics = [r for d, s, r in sent if s is Stream.EVT and isinstance(r, EventRecord) and r.type == "panic_button"]
    assert panics[0].ts == DAY + timedelta(seconds=2)
    assert [d for d, s, r in sent if r is panics[0]] == [first]
    doors = [r.doors_open for d, s, r in sent if isinstance(r, CanRecord) and d == first]
    assert any(a != b for a, b in itertools.pairwise(doors))


def test_buffered_events_go_out_later_with_their_own_ts() -> None:
    bus, unit = make_unit(1, DAY, MULTIPLIER)
    outbox = Outbox("sim-0002")
    held: list[EventRecord] = []
    while len(held) < 5:
        bus.step(bus.now + timedelta(seconds=1))
        for event in unit.poll():
            outbox.hold(Stream.EVT, event)
            held.append(event)
    (message,) = outbox.release()
    assert message.topic == uplink_topic("sim-0002", Stream.EVT)
    assert len(json.loads(message.payload)["records"]) == len(held)
    decoded = decode_message(message.topic, message.payload, bus.now, LIMITS)
    assert decoded.records == held
