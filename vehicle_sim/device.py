"""One bus unit's MQTT connection: status and last will, QoS 1 uplink, store-and-forward, downlink, reboots."""

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTProtocolVersion
from pydantic import TypeAdapter, ValidationError

from fleet.contract.codec import encode_message
from fleet.contract.downlink import FileGrantMessage
from fleet.contract.records import Record, StatusRecord
from fleet.contract.topics import Stream, downlink_topic, uplink_topic
from fleet.mqtt.client import make_client
from fleet.mqtt.url import MqttEndpoint
from vehicle_sim.network import NetworkLoop
from vehicle_sim.outbox import Outbox

logger = logging.getLogger(__name__)

# Contract v1: telemetry and status travel at QoS 1.
QOS = 1
# The broker publishes the last will 1.5 keepalives after a unit falls silent: 45 s for a vanished bus.
KEEPALIVE_S = 30
# The answers to file offers and the commands (of DOWNLINK_SUFFIXES; fleet.files, fleet.commands and fleet.outbox
# name them too, but import the database), and the MQTT v5 user property by which a repeated downlink is known.
GRANT_SUFFIX = "file/grant"
COMMAND_SUFFIX = "cmd"
MESSAGE_ID_PROPERTY = "fleet-message-id"
# How long a rebooting unit waits for the broker's acknowledgement of what it sent last: paho sends again what is
# unacknowledged after reconnecting, which would put the offline status after the new online one.
REBOOT_FLUSH_S = 2.0
# How often a rebooting unit looks whether that acknowledgement came.
ACK_POLL_S = 0.05
_ANSWERS: TypeAdapter[FileGrantMessage] = TypeAdapter(FileGrantMessage)


def utc_now() -> datetime:
    """Current wall-clock time, timezone-aware UTC."""
    return datetime.now(UTC)


def _acknowledged(info: mqtt.MQTTMessageInfo) -> bool:
    """Whether the broker acknowledged a message; one that can no longer be sent counts as settled."""
    try:
        return info.is_published()
    except (RuntimeError, ValueError):
        return True


def _status(state: Literal["online", "offline"], seq: int, ts: datetime) -> StatusRecord:
    return StatusRecord(ts=ts.astimezone(UTC).isoformat(timespec="milliseconds"), seq=seq, state=state)


class Device:
    """MQTT client of one bus, driven by the fleet's network loop, which connects and reconnects it."""

    def __init__(
        self,
        device_id: str,
        endpoint: MqttEndpoint,
        network: NetworkLoop,
        protocol: MQTTProtocolVersion = MQTTProtocolVersion.MQTTv311,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.device_id = device_id
        self._status_topic = uplink_topic(device_id, Stream.STATUS)
        self._grant_topic = downlink_topic(device_id, GRANT_SUFFIX)
        self._command_topic = downlink_topic(device_id, COMMAND_SUFFIX)
        # Set by the owners of the unit's files and commands: called on the network thread with each message.
        self.on_file_answer: Callable[[FileGrantMessage], None] | None = None
        self.on_command: Callable[[bytes, str | None], None] | None = None
        self._clock = clock
        self._outbox = Outbox(device_id)
        self._lock = threading.Lock()
        self._ready = False
        # Set once for good by a clean stop; a reboot under way stays down then.
        self._stopping = False
        self._rebooting = False
        # Status records come in pairs per connection: online seq n when connected, offline n + 1 as the will.
        self._next_status_seq = 0
        self._pending_online: StatusRecord | None = None
        self._offline: StatusRecord | None = None

        self._client = make_client(endpoint, device_id, protocol=protocol)
        self._client.on_pre_connect = self._on_pre_connect
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message
        # The network loop reads only host, port and keepalive from here; it makes the connection itself.
        self._client.connect_async(endpoint.host, endpoint.port, keepalive=KEEPALIVE_S)
        self._network = network
        network.attach(self._client, device_id)

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
        """Connect in the background, at the network loop's next connect slot; retried until the broker answers."""
        self._network.connect(self._client)

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
            return self._publish_offline()

    def disconnect(self) -> None:
        """Send DISCONNECT (so the broker drops the will) and stop reconnecting."""
        with self._lock:
            self._stopping = True
            if self._outbox.held:
                logger.info("%s stops with %d unsent buffered records", self.device_id, self._outbox.held)
            self._network.release(self._client)
        self._client.disconnect()

    def reboot(self, downtime: float) -> None:
        """Restart the unit: offline status, DISCONNECT once it is acknowledged, `downtime` seconds away, connect."""
        with self._lock:
            if self._stopping or self._rebooting:
                return
            self._rebooting = True
            info = self._publish_offline()
            # Records from now on wait in the outbox for the next connection.
            self._ready = False
        self._after_ack(info, time.monotonic() + REBOOT_FLUSH_S, lambda: self._go_down(downtime))

    def _after_ack(self, info: mqtt.MQTTMessageInfo | None, deadline: float, then: Callable[[], None]) -> None:
        """Call `then` on the network thread once the broker acknowledged `info`, or at `deadline`."""
        if info is None or time.monotonic() >= deadline or _acknowledged(info):
            then()
            return
        self._network.call_later(ACK_POLL_S, lambda: self._after_ack(info, deadline, then))

    def _go_down(self, downtime: float) -> None:
        with self._lock:
            # Under the lock, so a clean stop either comes first (and this stays down) or disconnects this connection.
            if self._stopping:
                return
            self._network.release(self._client)
        self._client.disconnect()
        logger.info("%s rebooting: back in %.0f s", self.device_id, downtime)
        self._network.call_later(downtime, self._come_back)

    def _come_back(self) -> None:
        with self._lock:
            if self._stopping:
                return
            self._rebooting = False
            self.start()

    def _publish_offline(self) -> mqtt.MQTTMessageInfo | None:
        """Publish this connection's retained offline status (None when not connected); the caller holds the lock."""
        if not self._ready or self._offline is None:
            return None
        offline = _status("offline", self._offline.seq, self._clock())
        return self._client.publish(self._status_topic, encode_message([offline]), qos=QOS, retain=True)

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
        # Every connection subscribes again (the session is not kept), before announcing itself online: the
        # backend sends a unit its downlink once it is online.
        client.subscribe([(self._grant_topic, QOS), (self._command_topic, QOS)])
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
            quiet = self._stopping or self._rebooting
        if not quiet:
            logger.warning("%s lost the broker (%s); buffering until it is back", self.device_id, reason_code)

    def _on_subscribe(
        self, client: mqtt.Client, userdata: Any, mid: int, reason_codes: list[Any], properties: Any
    ) -> None:
        topics = (self._grant_topic, self._command_topic)
        for topic, code in zip(topics, reason_codes, strict=False):
            if code.is_failure:
                logger.warning("%s may not subscribe to %s: %s", self.device_id, topic, code)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        if message.topic == self._command_topic:
            self._take_command(message)
        else:
            self._take_file_answer(message)

    def _take_command(self, message: mqtt.MQTTMessage) -> None:
        handler = self.on_command
        if handler is None:
            logger.debug("%s takes no commands; ignoring one", self.device_id)
            return
        # A message of an MQTT 3.1.1 connection has no properties, and so no message id.
        user_properties = getattr(getattr(message, "properties", None), "UserProperty", None) or []
        message_id = dict(user_properties).get(MESSAGE_ID_PROPERTY)
        try:
            handler(bytes(message.payload), message_id)
        except Exception:
            # Raised here, it would reach the network loop that every bus shares.
            logger.exception("%s failed to handle a command", self.device_id)

    def _take_file_answer(self, message: mqtt.MQTTMessage) -> None:
        try:
            answer = _ANSWERS.validate_json(message.payload)
        except ValidationError as error:
            logger.warning("%s ignores a malformed answer on %s: %s", self.device_id, message.topic, error)
            return
        handler = self.on_file_answer
        if handler is None:
            logger.debug("%s has no files; ignoring the answer for %s", self.device_id, answer.file_id)
            return
        try:
            handler(answer)
        except Exception:
            # Raised here, it would reach the network loop that every bus shares.
            logger.exception("%s failed to handle the answer for %s", self.device_id, answer.file_id)
