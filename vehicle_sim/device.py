"""One bus unit's MQTT connection: status and last will, QoS 1 uplink, store-and-forward while unreachable."""

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTProtocolVersion

from fleet.contract.codec import encode_message
from fleet.contract.records import Record, StatusRecord
from fleet.contract.topics import Stream, uplink_topic
from fleet.mqtt.client import make_client
from fleet.mqtt.url import MqttEndpoint
from vehicle_sim.outbox import Outbox

logger = logging.getLogger(__name__)

# Contract v1: telemetry and status travel at QoS 1.
QOS = 1
# The broker publishes the last will 1.5 keepalives after a unit falls silent: 45 s for a vanished bus.
KEEPALIVE_S = 30


def utc_now() -> datetime:
    """Current wall-clock time, timezone-aware UTC."""
    return datetime.now(UTC)


def _status(state: Literal["online", "offline"], seq: int, ts: datetime) -> StatusRecord:
    return StatusRecord(ts=ts.astimezone(UTC).isoformat(timespec="milliseconds"), seq=seq, state=state)


class Device:
    """MQTT client of one bus, driven by `paho`'s network thread (`loop_start`), reconnecting by itself."""

    def __init__(
        self,
        device_id: str,
        endpoint: MqttEndpoint,
        protocol: MQTTProtocolVersion = MQTTProtocolVersion.MQTTv311,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.device_id = device_id
        self._status_topic = uplink_topic(device_id, Stream.STATUS)
        self._clock = clock
        self._outbox = Outbox(device_id)
        self._lock = threading.Lock()
        self._ready = False
        self._stopping = False
        # Status records come in pairs per connection: online seq n when connected, offline n + 1 as the will.
        self._next_status_seq = 0
        self._pending_online: StatusRecord | None = None
        self._offline: StatusRecord | None = None

        self._client = make_client(endpoint, device_id, protocol=protocol)
        self._client.on_pre_connect = self._on_pre_connect
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._endpoint = endpoint

    @property
    def connected(self) -> bool:
        """Whether the broker accepted the connection and the online status went out."""
        return self._ready

    @property
    def buffered(self) -> int:
        """Records held for store-and-forward."""
        with self._lock:
            return self._outbox.held

    def start(self) -> None:
        """Connect in the background; the network thread retries until the broker answers."""
        self._client.connect_async(self._endpoint.host, self._endpoint.port, keepalive=KEEPALIVE_S)
        self._client.loop_start()

    def send(self, stream: Stream, record: Record, covered: bool = True) -> None:
        """Publish a record, or hold it while the bus has no coverage or no broker connection."""
        with self._lock:
            online = covered and self._ready
            backlog = self._outbox.held if online else 0
            messages = self._outbox.submit(stream, record, online)
            if backlog:
                logger.info(
                    "%s uplink back: sending %d buffered records in %d batches",
                    self.device_id,
                    backlog,
                    len(messages) - 1,
                )
            for message in messages:
                info = self._client.publish(message.topic, message.payload, qos=QOS)
                if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
                    # NO_CONN is fine: paho keeps QoS 1 messages and sends them after reconnecting.
                    logger.warning("%s publish on %s failed: %s", self.device_id, message.topic, info.rc)

    def announce_offline(self) -> mqtt.MQTTMessageInfo | None:
        """Begin a clean stop: publish the retained offline status (None when not connected)."""
        with self._lock:
            self._stopping = True
            if not self._ready or self._offline is None:
                return None
            offline = _status("offline", self._offline.seq, self._clock())
            return self._client.publish(self._status_topic, encode_message([offline]), qos=QOS, retain=True)

    def disconnect(self) -> None:
        """Send DISCONNECT (so the broker drops the will) and stop reconnecting."""
        with self._lock:
            self._stopping = True
            if self._outbox.held:
                logger.info("%s stops with %d unsent buffered records", self.device_id, self._outbox.held)
        self._client.disconnect()

    def join(self) -> None:
        """Wait for the network thread to end (at most about a second after `disconnect`)."""
        self._client.loop_stop()

    def stop(self, timeout: float = 1.0) -> None:
        """Clean stop of this device alone: offline status, disconnect, join."""
        info = self.announce_offline()
        if info is not None:
            try:
                info.wait_for_publish(timeout)
            except (RuntimeError, ValueError):
                logger.debug("%s offline status not confirmed", self.device_id)
        self.disconnect()
        self.join()

    # --- paho callbacks (network thread); they never raise ------------------------------------------

    def _on_pre_connect(self, client: mqtt.Client, userdata: Any) -> None:
        # The will must be in the CONNECT packet, so each attempt prepares the pair it would announce;
        # both share one ts, and the will's higher seq makes it the later state when the broker sends it.
        now = self._clock()
        seq = self._next_status_seq
        self._pending_online = _status("online", seq, now)
        will = _status("offline", seq + 1, now)
        client.will_set(self._status_topic, encode_message([will]), qos=QOS, retain=True)
        self._offline = will

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason_code: Any,
        properties: Any,
    ) -> None:
        if reason_code.is_failure:
            logger.warning("%s connection refused: %s", self.device_id, reason_code)
            return
        online = self._pending_online
        if online is None:
            logger.error("%s connected without a prepared status; staying quiet", self.device_id)
            return
        client.publish(self._status_topic, encode_message([online]), qos=QOS, retain=True)
        with self._lock:
            self._next_status_seq = online.seq + 2
            self._ready = True
        logger.debug("%s connected", self.device_id)

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason_code: Any,
        properties: Any,
    ) -> None:
        with self._lock:
            self._ready = False
            stopping = self._stopping
        if not stopping:
            logger.warning("%s lost the broker (%s); buffering until it is back", self.device_id, reason_code)
