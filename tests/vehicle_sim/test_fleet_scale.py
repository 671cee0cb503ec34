"""The simulator at fleet scale against a real Mosquitto: one network loop for many buses, a paced ramp-up,
every bus back after a broker restart."""

import json
import logging
import resource
import threading
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from fleet.contract.topics import Stream, parse_uplink_topic
from fleet.mqtt.url import parse_mqtt_url
from fleet.settings import SimSettings
from tests.fixtures.ingest_runner import wait_until
from tests.fixtures.mosquitto import MosquittoServer
from vehicle_sim.fleet_sim import SimulatedFleet, device_id_for
from vehicle_sim.limits import raise_open_files_limit
from vehicle_sim.network import CONNECTOR_THREADS

pytestmark = pytest.mark.integration

# Quiet buses: no drop-outs, no files, no incidents; only their status and positions.
QUIET = {
    "dropout_probability_per_minute": 0,
    "clips_per_hour": 0,
    "event_rate_multiplier": 0,
    "tachograph_vu_interval_seconds": 90 * 86400,
    "tachograph_card_interval_seconds": 28 * 86400,
}


class Uplink:
    """A subscriber to every bus's status and positions: the online ones and the pos seqs of each bus."""

    def __init__(self, server: MosquittoServer, persistent: bool = False) -> None:
        self.online: set[str] = set()
        self.pos: dict[str, list[int]] = defaultdict(list)
        self.statuses: dict[str, list[tuple[str, int]]] = defaultdict(list)
        # Seconds from each live position's ts to its arrival here.
        self.delays: list[float] = []
        self._lock = threading.Lock()
        subscribed = threading.Event()
        # A persistent session makes the broker queue for this subscriber across its own restart.
        self._client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"scale-{uuid.uuid4().hex[:8]}", clean_session=not persistent
        )
        self._client.reconnect_delay_set(1, 1)
        self._client.on_connect = lambda c, *_: c.subscribe([("fleet/v1/+/status", 1), ("fleet/v1/+/pos", 1)])
        self._client.on_subscribe = lambda *_: subscribed.set()
        self._client.on_message = self._on_message
        self._client.connect("127.0.0.1", server.port)
        self._client.loop_start()
        assert subscribed.wait(5), "subscription not acknowledged"

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        device_id, stream = parse_uplink_topic(message.topic)
        body = json.loads(message.payload)
        records = body.get("records", [body])
        with self._lock:
            if stream is Stream.POS:
                self.pos[device_id].extend(r["seq"] for r in records)
                if "ts" in body:
                    self.delays.append((datetime.now(UTC) - datetime.fromisoformat(body["ts"])).total_seconds())
                return
            for record in records:
                self.statuses[device_id].append((record["state"], record["seq"]))
                if record["state"] == "online":
                    self.online.add(device_id)
                else:
                    self.online.discard(device_id)

    def count_online(self) -> int:
        """Buses whose latest status is online."""
        with self._lock:
            return len(self.online)

    def close(self) -> None:
        """Disconnect and stop the network thread."""
        self._client.disconnect()
        self._client.loop_stop()


def fleet_of(server: MosquittoServer, vehicles: int, **settings: float) -> SimulatedFleet:
    """A fleet of quiet buses with a fresh prefix on `server`."""
    options: dict[str, Any] = {"vehicles": vehicles, "prefix": f"s{uuid.uuid4().hex[:5]}-", "seed": 9}
    return SimulatedFleet(parse_mqtt_url(server.url), SimSettings(**options, **QUIET, **settings))


def test_the_simulators_event_loop_holds_many_buses(tmp_path: Path) -> None:
    broker = MosquittoServer(tmp_path, max_open_files=4096)
    broker.start()
    uplink = Uplink(broker)
    fleet = fleet_of(broker, 1000, connect_rate_per_second=500, pos_interval_seconds=1)
    threads_before = threading.active_count()
    stop = threading.Event()
    ticker = threading.Thread(target=fleet.run, args=(stop,), daemon=True)
    try:
        fleet.start()
        assert fleet.wait_connected(stop, 15), f"{fleet.connected} of 1000 buses connected"
        wait_until(lambda: uplink.count_online() == 1000, "every bus's online status", timeout=10)
        ticker.start()
        # Each bus's first position comes within its first interval (the buses start at random points of it).
        wait_until(lambda: len(uplink.pos) == 1000, "a position of every bus", timeout=10)
        # ...and every position goes out at once: the one loop never leaves a socket waiting (1,000 a second here).
        wait_until(lambda: min(len(seqs) for seqs in uplink.pos.values()) >= 3, "three positions of each", timeout=10)
        delays = sorted(uplink.delays)
        assert delays[int(len(delays) * 0.99)] < 0.5, delays[-20:]
        # The network loop, its connectors and the ticker, however many buses: not a thread per bus.
        assert threading.active_count() - threads_before <= 1 + CONNECTOR_THREADS + 1
    finally:
        stop.set()
        ticker.join(timeout=5)
        fleet.close()
    wait_until(lambda: uplink.count_online() == 0, "every bus's offline status", timeout=10)
    uplink.close()
    broker.stop()


def test_connections_ramp_up_at_the_connect_rate(mosquitto: MosquittoServer) -> None:
    rate, vehicles = 40.0, 100
    fleet = fleet_of(mosquitto, vehicles, connect_rate_per_second=rate)
    samples: list[tuple[float, int]] = []
    started = time.monotonic()
    fleet.start()
    try:
        while fleet.connected < vehicles and time.monotonic() - started < 10:
            samples.append((time.monotonic() - started, fleet.connected))
            time.sleep(0.02)
        took = time.monotonic() - started
        assert fleet.connected == vehicles
    finally:
        fleet.close()
    # Never ahead of the rate (one connect of slack)...
    assert all(count <= rate * at + 1 for at, count in samples), [s for s in samples if s[1] > rate * s[0] + 1]
    # ...and not far behind it either: a hundred buses in about 2.5 s.
    assert (vehicles - 2) / rate <= took < vehicles / rate + 1.5, took


def test_a_broker_restart_brings_every_bus_back_without_losing_records(tmp_path: Path) -> None:
    broker = MosquittoServer(tmp_path)
    broker.start()
    vehicles = 300
    uplink = Uplink(broker, persistent=True)
    fleet = fleet_of(broker, vehicles, pos_interval_seconds=1)
    device_ids = [device_id_for(fleet.settings.prefix, n) for n in range(1, vehicles + 1)]
    stop = threading.Event()
    ticker = threading.Thread(target=fleet.run, args=(stop,), daemon=True)
    try:
        fleet.start()
        assert fleet.wait_connected(stop, 10)
        ticker.start()
        wait_until(lambda: len(uplink.pos) == vehicles, "a position of every bus", timeout=10)
        before = {d: len(uplink.pos[d]) for d in device_ids}
        broker.stop()
        # The buses keep driving and store their records until they are back, each after its own back-off.
        wait_until(lambda: fleet.connected == 0, "every bus noticing the loss", timeout=5)
        time.sleep(0.5)
        broker.start()
        wait_until(lambda: fleet.connected == vehicles, "every bus reconnected", timeout=15)
        # A few more positions after the backlog, then a clean stop.
        time.sleep(2.0)
    finally:
        stop.set()
        ticker.join(timeout=5)
        fleet.close()
    # Each bus's offline 3 reached the broker before its socket closed, as the clean stop's publish or as its will;
    # on a loaded machine the broker may still be delivering the last of them.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not all(("offline", 3) in uplink.statuses[d] for d in device_ids):
        time.sleep(0.1)
    uplink.close()
    broker.stop()
    for device_id in device_ids:
        seqs = sorted(set(uplink.pos[device_id]))
        # Positions from before, during and after the outage, none missing (QoS 1 may bring one twice).
        assert seqs == list(range(len(seqs))) and len(seqs) >= before[device_id] + 3, (device_id, seqs)
        # Connected twice: online 0 with its will 1, online 2 with the clean stop's offline 3.
        assert ("online", 2) in uplink.statuses[device_id] and ("offline", 3) in uplink.statuses[device_id]


def test_the_open_files_limit_is_raised_and_a_shortfall_logged(caplog: pytest.LogCaptureFixture) -> None:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    assert raise_open_files_limit(10, "ten buses") == resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if hard == resource.RLIM_INFINITY:
        return
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == hard
    with caplog.at_level(logging.ERROR, logger="vehicle_sim.limits"):
        raise_open_files_limit(hard + 1, "too many buses")
    assert any("too many buses need about" in m for m in caplog.messages)
