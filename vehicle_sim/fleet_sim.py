"""A simulated fleet: N buses on the bundled routes, obeying commands; one ticker for their streams, one upload pool."""

import contextlib
import logging
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
from fleet.mqtt.credentials_file import read_credentials
from fleet.mqtt.url import MqttEndpoint
from fleet.settings import SimSettings
from vehicle_sim.bus import Bus, Habits
from vehicle_sim.commands import CommandUnit
from vehicle_sim.coverage import Coverage
from vehicle_sim.device import Device, utc_now
from vehicle_sim.events import EventUnit
from vehicle_sim.files import FileUnit
from vehicle_sim.recordings import Recorder
from vehicle_sim.reporting import Reporting
from vehicle_sim.routes import Route, bundled_routes

logger = logging.getLogger(__name__)

# Every fourth bus is electric: fleets in European cities are converting, and a small demo shows one.
ELECTRIC_EVERY = 4
# How long a run waits for the first connections, so the first records go out live rather than as a backlog.
CONNECT_WAIT_S = 2.0
# Of the 2 s allowed for a clean shutdown, how long to wait for the brokers' acks of the offline status;
# the rest covers paho's network threads, which notice a disconnect within a second.
OFFLINE_ACK_BUDGET_S = 0.8
# The ticker's longest sleep: coverage and files move at least this often, whatever a bus's reporting intervals, so
# an upload granted to a bus reporting hourly still starts within a second.
MAX_TICK_S = 1.0


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
            device = Device(device_id, _as_device(endpoint, device_id, passwords), protocol, clock)
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
            reporting = Reporting(settings.pos_interval_seconds, settings.can_interval_seconds)
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

    def start(self) -> None:
        """Open every bus's MQTT connection in the background."""
        for simulated in self.buses:
            simulated.device.start()

    def wait_connected(self, stop: threading.Event, timeout: float) -> bool:
        """Wait until every bus is connected, `timeout` passes or `stop` is set; True if all are connected."""
        deadline = time.monotonic() + timeout
        while not all(s.device.connected for s in self.buses):
            if stop.wait(0.05) or time.monotonic() >= deadline:
                return False
        return True

    def tick(self, now: datetime, now_mono: float) -> float:
        """Advance every bus to `now`, send the records due at `now_mono` and its unit's events, move its files along.

        Returns when the next records are due (monotonic seconds), at most MAX_TICK_S ahead.
        """
        wake = now_mono + MAX_TICK_S
        for simulated in self.buses:
            simulated.bus.step(now)
            covered = simulated.coverage.covered(now)
            if covered != simulated.covered:
                self._log_coverage(simulated, covered)
                simulated.covered = covered
            simulated.commands.covered = covered
            pos, can, next_due = simulated.reporting.poll(now_mono)
            wake = min(wake, next_due)
            if pos:
                simulated.device.send(Stream.POS, simulated.bus.position_record(), covered)
            if can or simulated.bus.doors_open != simulated.reported_doors:
                record = simulated.bus.can_record()
                simulated.reported_doors = record.doors_open
                simulated.device.send(Stream.CAN, record, covered)
            for event in simulated.events.poll():
                simulated.device.send(Stream.EVT, event, covered)
            simulated.files.tick(now, covered)
        return wake

    def run(self, stop: threading.Event) -> None:
        """Tick at each bus's pos and can intervals, and at least every MAX_TICK_S, until `stop` is set."""
        while not stop.is_set():
            wake = self.tick(self._clock(), time.monotonic())
            stop.wait(max(0.0, wake - time.monotonic()))

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
        # Disconnect all first, so the network threads wind down in parallel rather than one by one.
        for simulated in self.buses:
            simulated.device.disconnect()
        for simulated in self.buses:
            simulated.device.join()
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
    fleet.start()
    try:
        if not fleet.wait_connected(stop, CONNECT_WAIT_S) and not stop.is_set():
            logger.warning(
                "not every bus reached the broker at %s:%s yet; they keep retrying", endpoint.host, endpoint.port
            )
        fleet.run(stop)
    finally:
        fleet.close()
