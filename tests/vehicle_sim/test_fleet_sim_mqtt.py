"""A short run of the simulated fleet against a real Mosquitto."""

import gc
import json
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from fleet.contract.codec import decode_message
from fleet.contract.records import StatusRecord
from fleet.contract.topics import Stream, parse_uplink_topic, uplink_topic
from fleet.mqtt.url import parse_mqtt_url
from fleet.settings import SimSettings
from tests.fixtures.mosquitto import MosquittoServer
from tests.vehicle_sim.helpers import LIMITS
from vehicle_sim.fleet_sim import device_id_for, run_simulation

pytestmark = pytest.mark.integration


@dataclass(frozen=True, slots=True)
class Received:
    """One message as a subscriber saw it."""

    topic: str
    payload: bytes
    retain: bool
    at: datetime


class Subscriber:
    """A paho subscriber collecting every message on one filter."""

    def __init__(self, server: MosquittoServer, topic_filter: str, persistent: bool = False) -> None:
        self.messages: list[Received] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        # A persistent session makes the broker keep queueing for us across its own restart.
        self._client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"test-{uuid.uuid4().hex[:8]}", clean_session=not persistent
        )
        self._client.reconnect_delay_set(1, 1)
        self._client.on_connect = lambda c, *_: c.subscribe(topic_filter, qos=1)
        self._client.on_subscribe = lambda *_: self._subscribed.set()
        self._client.on_message = self._on_message
        self._client.connect("127.0.0.1", server.port)
        self._client.loop_start()
        assert self._subscribed.wait(5), "subscription not acknowledged"

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append(Received(message.topic, message.payload, message.retain, datetime.now(UTC)))

    def snapshot(self) -> list[Received]:
        """Messages received so far."""
        with self._lock:
            return list(self.messages)

    def close(self) -> None:
        """Disconnect and stop the network thread."""
        self._client.disconnect()
        self._client.loop_stop()


def retained_status(server: MosquittoServer, device_ids: list[str]) -> dict[str, StatusRecord]:
    """The retained status of each device, as a fresh subscriber receives it."""
    subscriber = Subscriber(server, "fleet/v1/+/status")
    deadline = time.monotonic() + 5
    found: dict[str, StatusRecord] = {}
    try:
        while time.monotonic() < deadline and len(found) < len(device_ids):
            for message in subscriber.snapshot():
                device_id, _ = parse_uplink_topic(message.topic)
                if device_id in device_ids and message.retain:
                    decoded = decode_message(message.topic, message.payload, datetime.now(UTC), LIMITS)
                    record = decoded.records[0]
                    assert isinstance(record, StatusRecord)
                    found[device_id] = record
            time.sleep(0.05)
    finally:
        subscriber.close()
    return found


@pytest.mark.parametrize("protocol", [mqtt.MQTTv311, mqtt.MQTTv5], ids=["mqtt311", "mqtt5"])
def test_three_buses_publish_positions_and_status(mosquitto: MosquittoServer, protocol: int) -> None:
    prefix = f"t{uuid.uuid4().hex[:6]}-"
    device_ids = [device_id_for(prefix, n) for n in (1, 2, 3)]
    settings = SimSettings(
        vehicles=3,
        prefix=prefix,
        pos_interval_seconds=1.0,
        can_interval_seconds=1.0,
        dropout_probability_per_minute=0.05,
        seed=42,
    )
    subscriber = Subscriber(mosquitto, "fleet/v1/+/+")
    stop = threading.Event()
    runner = threading.Thread(
        target=run_simulation, args=(parse_mqtt_url(mosquitto.url), settings, stop, protocol), daemon=True
    )
    runner.start()
    try:
        time.sleep(2.0)
        online = retained_status(mosquitto, device_ids)
        time.sleep(1.0)
    finally:
        stop.set()
        stopped_at = time.monotonic()
        runner.join(timeout=5)
    assert not runner.is_alive()
    assert time.monotonic() - stopped_at < 2.0

    assert sorted(online) == device_ids
    assert all(r.state == "online" for r in online.values())

    messages = [m for m in subscriber.snapshot() if parse_uplink_topic(m.topic)[0] in device_ids]
    subscriber.close()
    pos_by_device: dict[str, list[int]] = {d: [] for d in device_ids}
    for message in messages:
        decoded = decode_message(message.topic, message.payload, message.at, LIMITS)
        assert decoded.rejected == [], decoded.rejected
        assert decoded.unknown_fields == 0
        if decoded.stream is Stream.POS:
            pos_by_device[decoded.device_id].extend(r.seq for r in decoded.records)
    for device_id, seqs in pos_by_device.items():
        assert len(seqs) >= 2, f"{device_id} sent too few positions: {seqs}"
        assert seqs == list(range(len(seqs)))
    can_topics = {m.topic for m in messages}
    assert {uplink_topic(d, Stream.CAN) for d in device_ids} <= can_topics

    offline = retained_status(mosquitto, device_ids)
    assert sorted(offline) == device_ids
    for device_id, record in offline.items():
        assert record.state == "offline"
        assert record.seq == online[device_id].seq + 1


def positions_in(messages: list[Received]) -> int:
    """How many pos records `messages` carry (a backlog message carries several)."""
    return sum(len(json.loads(m.payload).get("records", [None])) for m in messages if m.topic.endswith("/pos"))


def test_a_broker_restart_is_survived_without_losing_records(tmp_path: Path) -> None:
    broker = MosquittoServer(tmp_path)
    broker.start()
    prefix = f"r{uuid.uuid4().hex[:6]}-"
    device_id = device_id_for(prefix, 1)
    settings = SimSettings(vehicles=1, prefix=prefix, pos_interval_seconds=1.0, can_interval_seconds=5.0, seed=1)
    subscriber = Subscriber(broker, f"fleet/v1/{device_id}/+", persistent=True)
    stop = threading.Event()
    runner = threading.Thread(target=run_simulation, args=(parse_mqtt_url(broker.url), settings, stop), daemon=True)
    runner.start()
    try:
        time.sleep(1.5)
        broker.stop()
        # The bus keeps driving and buffers until its first reconnect attempt, a second after the loss.
        time.sleep(0.5)
        broker.start()
        deadline = time.monotonic() + 8
        batch_seen = False
        while time.monotonic() < deadline and not batch_seen:
            time.sleep(0.2)
            batch_seen = any(b"records" in m.payload for m in subscriber.snapshot())
        # A few live positions after the backlog: the bus starts at a random point of its interval and waits out a
        # jittered back-off before it reconnects, so when the fifth comes varies.
        while time.monotonic() < deadline + 3 and positions_in(subscriber.snapshot()) < 5:
            time.sleep(0.2)
        time.sleep(0.5)
    finally:
        stop.set()
        runner.join(timeout=5)
        subscriber.close()
        broker.stop()
    assert batch_seen, "the backlog of the outage never arrived"
    pos_seqs: list[int] = []
    statuses: list[StatusRecord] = []
    for message in subscriber.snapshot():
        decoded = decode_message(message.topic, message.payload, message.at, LIMITS)
        assert decoded.rejected == []
        if decoded.stream is Stream.POS:
            pos_seqs.extend(r.seq for r in decoded.records)
        elif decoded.stream is Stream.STATUS:
            statuses.extend(r for r in decoded.records if isinstance(r, StatusRecord))
    # Nothing lost, nothing duplicated, in order (QoS 1 could duplicate in theory; a restart here does not).
    assert pos_seqs == list(range(len(pos_seqs)))
    assert len(pos_seqs) >= 5
    # Each connection announces online (seq n) with offline (n + 1) as its will; a stopping broker sends the
    # wills of the clients it drops, and the clean stop at the end publishes the last offline itself.
    assert [(s.state, s.seq) for s in statuses] == [("online", 0), ("offline", 1), ("online", 2), ("offline", 3)]


@pytest.mark.usefixtures("thawed_collector")
def test_a_run_keeps_its_buses_out_of_the_collectors_full_passes(mosquitto: MosquittoServer) -> None:
    settings = SimSettings(vehicles=20, prefix=f"g{uuid.uuid4().hex[:6]}-", seed=3)
    stop = threading.Event()
    stop.set()

    run_simulation(parse_mqtt_url(mosquitto.url), settings, stop)

    assert gc.get_freeze_count() > 0, "the buses built for the run stay in the generations a full pass rescans"
