"""A simulated fleet: N buses on the bundled routes, obeying commands; one ticker for their streams, one network
loop for their connections, one upload pool."""

import contextlib
import logging
import math
import random
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime
from functools import partial

from paho.mqtt.enums import MQTTProtocolVersion

from fleet.contract.topics import Stream, uplink_topic
from fleet.heap import freeze_long_lived
from fleet.mqtt.credentials_file import read_credentials
from fleet.mqtt.url import MqttEndpoint
from fleet.settings import SimSettings
from vehicle_sim.bus import Bus, Habits
from vehicle_sim.commands import CommandUnit
from vehicle_sim.coverage import Coverage
from vehicle_sim.device import Device, utc_now
from vehicle_sim.events import EventUnit
from vehicle_sim.files import FileUnit
from vehicle_sim.limits import raise_open_files_limit
from vehicle_sim.network import NetworkLoop
from vehicle_sim.recordings import Recorder
from vehicle_sim.reporting import Reporting
from vehicle_sim.routes import Route, bundled_routes
from vehicle_sim.schedule import Schedule

logger = logging.getLogger(__name__)

# Every fourth bus is electric: fleets in European cities are converting, and a small demo shows one.
ELECTRIC_EVERY = 4
# How long a run waits for the connections beyond the ramp-up (vehicles / connect rate), so the first records go
# out live rather than as a backlog.
CONNECT_WAIT_S = 2.0
# Of the 2 s allowed for a clean shutdown, how long to wait for the brokers' acks of the offline status, and then
# for the DISCONNECTs to go out; the rest is the network loop's own end.
OFFLINE_ACK_BUDGET_S = 0.8
DISCONNECT_BUDGET_S = 0.8
# Every bus is passed at least this often, whatever its reporting intervals: coverage, doors, events and files
# move on, so an upload granted to a bus reporting hourly still starts within a second.
MAX_TICK_S = 1.0
# The ticker's shortest sleep: records due within it go out together, up to this late, rather than each with a
# wake-up of its own (a 10,000-bus fleet has about 2,000 due every second).
MIN_SLEEP_S = 0.01
# Buses advanced in one go on the network loop's thread (some 5 ms of work): its sockets wait no longer than that.
SLICE_BUSES = 200
# File descriptors beyond one socket per bus: the network loop's, uploads, logs, the interpreter's own.
SPARE_FILES = 64


def device_id_for(prefix: str, number: int) -> str:
    """Device id of the `number`-th bus (1-based): prefix plus a 4-digit zero-padded number."""
    return f"{prefix}{number:04d}"


@dataclass(slots=True)
class SimulatedBus:
    """One bus: its motion model, its coverage, its MQTT connection, its files, commands and reporting intervals."""

    bus: Bus
    coverage: Coverage
    device: Device
    files: FileUnit
    commands: CommandUnit
    reporting: Reporting
    events: EventUnit
    covered: bool = True
    # The doors of the last can record: a unit reports a change of the doors at once, not at its next interval.
    reported_doors: list[bool] | None = None


class SimulatedFleet:
    """The buses of one `fleet sim` run; `run` ticks them until stopped, `close` shuts them down cleanly."""

    def __init__(
        self,
        endpoint: MqttEndpoint,
        settings: SimSettings,
        protocol: MQTTProtocolVersion = MQTTProtocolVersion.MQTTv311,
        clock: Callable[[], datetime] = utc_now,
        routes: tuple[Route, ...] | None = None,
        passwords: Mapping[str, str] | None = None,
    ) -> None:
        """`passwords` maps device ids to their broker passwords; a bus without one connects anonymously."""
        if settings.vehicles < 1:
            raise ValueError(f"vehicles must be at least 1, got {settings.vehicles}")
        if settings.pos_interval_seconds <= 0 or settings.can_interval_seconds <= 0:
            raise ValueError("pos and can intervals must be positive")
        self.settings = settings
        self._clock = clock
        routes = routes or bundled_routes()
        # Without a seed, draw one and log it: a rerun with it gets the same buses, start points and behaviour
        # (not bit for bit: the model is stepped to wall-clock tick times, which jitter).
        self.seed = settings.seed if settings.seed is not None else random.SystemRandom().randrange(2**32)
        start = clock()
        # Shared by every bus; its threads start as uploads come.
        self._uploads = ThreadPoolExecutor(settings.upload_workers, thread_name_prefix="sim-upload")
        # Set at close: running uploads stop at their next chunk, and their outcomes are not reported.
        self._stopping = threading.Event()
        self._network = NetworkLoop(settings.connect_rate_per_second, random.Random(f"{self.seed}/network"))
        self._schedule = Schedule(settings.vehicles, MAX_TICK_S)
        # Set while `run` ticks the buses on the network loop.
        self._ticking = False
        self.buses: list[SimulatedBus] = []
        for number in range(1, settings.vehicles + 1):
            device_id = device_id_for(settings.prefix, number)
            uplink_topic(device_id, Stream.POS)  # fail fast on a prefix that makes invalid device ids
            # String seeds are hashed with SHA-512, so they are stable across processes and Python runs.
            bus = Bus(
                routes[(number - 1) % len(routes)],
                random.Random(f"{self.seed}/{device_id}/bus"),
                start,
                electric=number % ELECTRIC_EVERY == 0,
                habits=Habits(settings.event_rate_multiplier, settings.terminus_layover_seconds),
            )
            events = EventUnit(
                bus,
                random.Random(f"{self.seed}/{device_id}/events"),
                settings.event_rate_multiplier,
                settings.demo_panic_after_seconds if number == 1 else None,
            )
            coverage = Coverage(
                random.Random(f"{self.seed}/{device_id}/coverage"), settings.dropout_probability_per_minute, start
            )
            device = Device(device_id, _as_device(endpoint, device_id, passwords), self._network, protocol, clock)
            recorder = Recorder(device_id, f"{self.seed}/{device_id}/files", start, settings)
            files = FileUnit(
                device_id,
                recorder.due,
                device.send,
                self._uploads,
                self._stopping,
                clock,
                random.Random(f"{self.seed}/{device_id}/uploads"),
                settings.upload_interrupt_probability,
            )
            # Buses start their reporting at random points of the interval, as a real fleet's units do, so the broker
            # and ingest see a steady rate instead of the whole fleet at once.
            stagger = random.Random(f"{self.seed}/{device_id}/reporting").random()
            reporting = Reporting(settings.pos_interval_seconds, settings.can_interval_seconds, stagger)
            commands = CommandUnit(
                device_id,
                device.send,
                recorder.requested,
                files.request,
                reporting,
                partial(device.reboot, settings.reboot_seconds),
                clock,
                random.Random(f"{self.seed}/{device_id}/commands"),
                settings.command_failure_probability,
            )
            device.on_file_answer = files.answer
            device.on_command = commands.receive
            self.buses.append(SimulatedBus(bus, coverage, device, files, commands, reporting, events))
        logger.info(
            "simulating %d buses on %d routes (seed %d)", len(self.buses), min(len(routes), len(self.buses)), self.seed
        )

    @property
    def connected(self) -> int:
        """Buses connected to the broker, their online status sent."""
        return sum(1 for s in self.buses if s.device.connected)

    def start(self) -> None:
        """Open every bus's MQTT connection in the background, at most `connect_rate_per_second` a second."""
        raise_open_files_limit(len(self.buses) + SPARE_FILES, f"{len(self.buses)} buses")
        self._network.start()
        for simulated in self.buses:
            simulated.device.start()

    def wait_connected(self, stop: threading.Event, timeout: float) -> bool:
        """Wait until every bus is connected, `timeout` passes or `stop` is set; True if all are connected."""
        deadline = time.monotonic() + timeout
        waiting = iter(self.buses)
        simulated = next(waiting, None)
        while simulated is not None:
            # One pass over the fleet, not one per poll: a bus seen connected is not looked at again.
            if simulated.device.connected:
                simulated = next(waiting, None)
                continue
            if stop.wait(0.05) or time.monotonic() >= deadline:
                return False
        return True

    def tick(self, now: datetime, now_mono: float) -> float:
        """Advance the buses due at `now_mono` (every bus once per MAX_TICK_S) to `now` and send what they have.

        Returns when the next records are due (monotonic seconds), at most MAX_TICK_S ahead.
        """
        while self._advance_some(now, now_mono, len(self.buses)):
            pass
        return self._schedule.wake_at()

    def _advance_some(self, now: datetime, now_mono: float, most: int) -> bool:
        """Advance up to `most` of the buses due at `now_mono`; False when none was."""
        turns = self._schedule.take(now_mono, most)
        for index, full in turns:
            self._schedule.scheduled(index, self._advance(self.buses[index], now, now_mono, full))
        return bool(turns)

    def _advance(self, simulated: SimulatedBus, now: datetime, now_mono: float, full: bool) -> float:
        """Step one bus to `now` and send its records due at `now_mono`; its next due.

        In a `full` pass also a change of its doors, its unit's events and its files, which move once a second.
        """
        simulated.bus.step(now)
        covered = simulated.coverage.covered(now)
        if covered != simulated.covered:
            self._log_coverage(simulated, covered)
            simulated.covered = covered
        simulated.commands.covered = covered
        pos, can, next_due = simulated.reporting.poll(now_mono)
        if pos:
            simulated.device.send(Stream.POS, simulated.bus.position_record(), covered)
        if can or (full and simulated.bus.doors_open != simulated.reported_doors):
            record = simulated.bus.can_record()
            simulated.reported_doors = record.doors_open
            simulated.device.send(Stream.CAN, record, covered)
        if full:
            for event in simulated.events.poll():
                simulated.device.send(Stream.EVT, event, covered)
            simulated.files.tick(now, covered)
        return next_due

    def run(self, stop: threading.Event) -> None:
        """Tick at each bus's pos and can intervals, and at least every MAX_TICK_S, until `stop` is set.

        The ticking runs on the network loop's thread (`start` first), a slice of buses at a time between its reads
        and writes: a ticker thread of its own would contend with it for the GIL at every socket call.
        """
        self._ticking = True
        self._network.call_later(0, self._tick_slice)
        stop.wait()
        self._ticking = False
        # Once this runs on the loop, so has the last slice: nothing is sent after `run` returns.
        ticked = threading.Event()
        self._network.call_later(0, ticked.set)
        ticked.wait(1.0)

    def _tick_slice(self) -> None:
        """One slice of the ticking, on the network loop; it schedules the next."""
        if not self._ticking:
            return
        now_mono = time.monotonic()
        self._advance_some(self._clock(), now_mono, SLICE_BUSES)
        wake = self._schedule.wake_at()
        # A pass under way goes on after the loop's next round of I/O; otherwise at the next due, coalesced.
        delay = 0.0 if wake == -math.inf else max(MIN_SLEEP_S, wake - time.monotonic())
        self._network.call_later(delay, self._tick_slice)

    def close(self) -> None:
        """Publish every bus's offline status, then disconnect them all; within about 2 s even without a broker."""
        self._stopping.set()
        self._uploads.shutdown(wait=False, cancel_futures=True)
        deadline = time.monotonic() + OFFLINE_ACK_BUDGET_S
        pending = [s.device.announce_offline() for s in self.buses]
        for info in pending:
            if info is None:
                continue
            # Raised when the connection is gone: the broker then publishes the will instead.
            with contextlib.suppress(RuntimeError, ValueError):
                info.wait_for_publish(max(0.0, deadline - time.monotonic()))
        for simulated in self.buses:
            simulated.device.disconnect()
        self._network.close(DISCONNECT_BUDGET_S)
        logger.info("simulation stopped: %d buses offline", len(self.buses))

    @staticmethod
    def _log_coverage(simulated: SimulatedBus, covered: bool) -> None:
        device_id = simulated.device.device_id
        if covered:
            logger.info("%s has coverage again", device_id)
        else:
            left = simulated.coverage.outage_seconds_left or 0.0
            logger.info("%s lost 3G coverage for %.0f s; storing records", device_id, left)


def _as_device(endpoint: MqttEndpoint, device_id: str, passwords: Mapping[str, str] | None) -> MqttEndpoint:
    """The endpoint a bus connects to: as itself, like a real unit, when it has a password."""
    if passwords is None or device_id not in passwords:
        return endpoint
    return replace(endpoint, username=device_id, password=passwords[device_id])


def run_simulation(
    endpoint: MqttEndpoint,
    settings: SimSettings,
    stop: threading.Event,
    protocol: MQTTProtocolVersion = MQTTProtocolVersion.MQTTv311,
    passwords: Mapping[str, str] | None = None,
) -> None:
    """Simulate `settings.vehicles` buses against the broker at `endpoint` until `stop` is set."""
    if passwords is None and settings.credentials_file is not None:
        passwords = read_credentials(settings.credentials_file)
    fleet = SimulatedFleet(endpoint, settings, protocol, passwords=passwords)
    started = time.monotonic()
    fleet.start()
    try:
        ramp_up = settings.vehicles / settings.connect_rate_per_second
        if fleet.wait_connected(stop, ramp_up + CONNECT_WAIT_S):
            logger.info("all %d buses connected in %.1f s", settings.vehicles, time.monotonic() - started)
        elif not stop.is_set():
            logger.warning(
                "%d of %d buses reached the broker at %s:%s so far; the others keep retrying",
                fleet.connected,
                settings.vehicles,
                endpoint.host,
                endpoint.port,
            )
        # The buses and their connections (some 50 KiB a bus) live as long as the run.
        freeze_long_lived()
        fleet.run(stop)
    finally:
        fleet.close()
