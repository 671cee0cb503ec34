"""The MQTT side of the dispatcher: one connection publishing at QoS 1 and waiting for each PUBACK.

Nothing is left to paho's own queue: a message not acknowledged in time is dropped from the client, so paho never
sends it on its own after a reconnect, behind a later message of the same vehicle. The dispatcher tries it again
in order; the broker may have received it already (at least once).
"""

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from dispatcher import metrics
from fleet.mqtt.client import make_client
from fleet.mqtt.url import MqttEndpoint
from fleet.outbox.service import MESSAGE_ID_PROPERTY

logger = logging.getLogger(__name__)

KEEPALIVE_SECONDS = 30


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message to publish: its id, topic, payload and MQTT v5 Message Expiry Interval.

    Downlink carries its outbox id (the unit drops repeats by it) and its expiry; a replayed dead letter carries
    neither (`expiry_seconds` None), as the unit's original message did not.
    """

    id: int
    topic: str
    payload: bytes
    expiry_seconds: int | None


class DownlinkClient:
    """A publisher connection (clean start: it subscribes to nothing and keeps no session); paho reconnects it."""

    def __init__(
        self,
        endpoint: MqttEndpoint,
        client_id: str,
        *,
        protocol_v5: bool = True,
        on_connected: Callable[[], None] | None = None,
    ) -> None:
        self._endpoint = endpoint
        self._protocol_v5 = protocol_v5
        self._on_connected = on_connected
        self._changed = threading.Condition()
        # mid -> (PUBACK reason code, when it arrived), filled by paho's thread.
        self._acks: dict[int, tuple[ReasonCode, float]] = {}
        self._connection = 0
        self.connected = False
        self.refusal: str | None = None
        self._client = make_client(
            endpoint,
            client_id,
            protocol=MQTTProtocolVersion.MQTTv5 if protocol_v5 else MQTTProtocolVersion.MQTTv311,
        )
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_publish = self._on_publish

    def start(self) -> None:
        """Connect in the background."""
        if self._protocol_v5:
            self._client.connect_async(self._endpoint.host, self._endpoint.port, KEEPALIVE_SECONDS, clean_start=True)
        else:
            self._client.connect_async(self._endpoint.host, self._endpoint.port, KEEPALIVE_SECONDS)
        self._client.loop_start()

    def stop(self) -> None:
        """Disconnect and stop the network thread."""
        self._client.disconnect()
        self._client.loop_stop()
        self._set_connected(False)

    def publish(self, messages: Sequence[Outgoing], timeout: float) -> dict[int, str | None]:
        """Publish `messages` at QoS 1 and wait up to `timeout` seconds for their PUBACKs.

        Returns, by outbox id, None for a message the broker acknowledged, else why it was not.
        """
        with self._changed:
            connection, connected = self._connection, self.connected
        if not connected:
            return {message.id: "not connected to the broker" for message in messages}
        results: dict[int, str | None] = {}
        started: dict[int, tuple[Outgoing, float]] = {}
        for message in messages:
            info = self._client.publish(message.topic, message.payload, qos=1, properties=self._properties(message))
            if info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS:
                started[info.mid] = (message, time.perf_counter())
            else:
                results[message.id] = f"not published: {mqtt.error_string(info.rc)}"
        deadline = time.monotonic() + timeout
        with self._changed:
            while (outstanding := any(mid not in self._acks for mid in started)) and self._connection == connection:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self.connected:
                    break
                self._changed.wait(remaining)
        if results or outstanding:
            # Whatever is outstanding now is given up, before paho could send it again on a reconnect; no PUBACK
            # is reported after this. (Not under our lock: paho calls on_publish holding its own.)
            self._client.drop_out_messages()
        with self._changed:
            for mid, (message, sent_at) in started.items():
                ack = self._acks.pop(mid, None)
                if ack is None:
                    lost = " (connection lost)" if not self.connected else ""
                    results[message.id] = f"no PUBACK within {timeout:g} s{lost}"
                elif ack[0].is_failure:
                    results[message.id] = f"refused by the broker: {ack[0]} (0x{ack[0].value:02x})"
                else:
                    results[message.id] = None
                    metrics.PUBLISH_DURATION.observe(ack[1] - sent_at)
            self._acks.clear()
        return results

    def _properties(self, message: Outgoing) -> Properties | None:
        if not self._protocol_v5 or message.expiry_seconds is None:
            return None
        properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        properties.MessageExpiryInterval = message.expiry_seconds
        properties.UserProperty = (MESSAGE_ID_PROPERTY, str(message.id))
        return properties

    def _on_connect(
        self, _client: mqtt.Client, _userdata: Any, _flags: Any, reason_code: ReasonCode, _properties: Any
    ) -> None:
        if reason_code.is_failure:
            self.refusal = f"the broker refused the connection: {reason_code}"
            logger.error("%s", self.refusal)
            return
        self.refusal = None
        with self._changed:
            self._connection += 1
        self._set_connected(True)
        logger.info("connected to %s:%s", self._endpoint.host, self._endpoint.port)
        if self._on_connected:
            self._on_connected()

    def _on_disconnect(
        self, _client: mqtt.Client, _userdata: Any, _flags: Any, reason_code: ReasonCode, _properties: Any
    ) -> None:
        if self.connected:
            logger.warning("disconnected from broker: %s", reason_code)
        self._set_connected(False)

    def _on_publish(
        self, _client: mqtt.Client, _userdata: Any, mid: int, reason_code: ReasonCode, _properties: Any
    ) -> None:
        with self._changed:
            self._acks[mid] = (reason_code, time.perf_counter())
            self._changed.notify_all()

    def _set_connected(self, connected: bool) -> None:
        with self._changed:
            self.connected = connected
            self._changed.notify_all()
        metrics.BROKER_CONNECTED.set(1 if connected else 0)
