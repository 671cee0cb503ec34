"""The MQTT side of ingest: a persistent QoS 1 subscription whose messages are acknowledged by the caller."""

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from fleet.mqtt.client import make_client
from fleet.mqtt.url import MqttEndpoint
from ingest import metrics
from ingest.buffered_client import BufferedClient
from ingest.messages import InboundMessage

logger = logging.getLogger(__name__)

KEEPALIVE_SECONDS = 30
# Largest MQTT v5 Receive Maximum.
MAX_RECEIVE_MAXIMUM = 65535
# QoS 1 end to end: a subscription granted at QoS 0 would let the broker drop what ingest has not stored.
REQUIRED_QOS = 1


class MqttConsumer:
    """Subscribes in on_connect (so a reconnect restores it) and hands every message to `deliver`.

    `subscribed` is true only once the broker granted the subscription at QoS 1; `subscription_problem`
    says why not when the broker refused it (as an ACL does).
    """

    def __init__(
        self,
        endpoint: MqttEndpoint,
        client_id: str,
        subscription: str,
        deliver: Callable[[InboundMessage], None],
        *,
        protocol_v5: bool = True,
        session_expiry_seconds: int = 7 * 24 * 3600,
        receive_maximum: int = 1000,
    ) -> None:
        self._endpoint = endpoint
        self._subscription = subscription
        self._deliver = deliver
        self._protocol_v5 = protocol_v5
        self._session_expiry = session_expiry_seconds
        self._receive_maximum = min(receive_maximum, MAX_RECEIVE_MAXIMUM)
        self._connection = 0
        self._subscribe_mid: int | None = None
        self.connected = False
        self.subscribed = False
        self.subscription_problem: str | None = None
        self._client = make_client(
            endpoint,
            client_id,
            protocol=MQTTProtocolVersion.MQTTv5 if protocol_v5 else MQTTProtocolVersion.MQTTv311,
            clean_session=False,
            manual_ack=True,
            client_class=BufferedClient,
        )
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message

    def start(self) -> None:
        """Connect in the background; paho reconnects on its own."""
        if self._protocol_v5:
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            properties.SessionExpiryInterval = self._session_expiry
            properties.ReceiveMaximum = self._receive_maximum
            self._client.connect_async(
                self._endpoint.host,
                self._endpoint.port,
                KEEPALIVE_SECONDS,
                clean_start=False,
                properties=properties,
            )
        else:
            self._client.connect_async(self._endpoint.host, self._endpoint.port, KEEPALIVE_SECONDS)
        self._client.loop_start()

    def ack(self, messages: Iterable[InboundMessage]) -> None:
        """Acknowledge messages received on the current connection; older ones will be redelivered."""
        if not self.connected:
            return
        # QoS 0 has nothing to acknowledge, and the subscription's QoS 1 caps what the broker sends.
        current = self._connection
        self._client.ack_many([m.mid for m in messages if m.qos == 1 and m.connection == current])

    def stop(self) -> None:
        """Disconnect cleanly (the broker keeps the session) and stop the network thread."""
        self._client.disconnect()
        self._client.loop_stop()
        self._set_connected(False)

    def _on_connect(
        self, client: mqtt.Client, _userdata: Any, flags: Any, reason_code: ReasonCode, _properties: Any
    ) -> None:
        if reason_code.is_failure:
            logger.error("broker refused the connection: %s", reason_code)
            return
        self._connection += 1
        self._set_connected(True)
        logger.info(
            "connected to %s:%s (session present: %s)", self._endpoint.host, self._endpoint.port, flags.session_present
        )
        _result, self._subscribe_mid = client.subscribe(self._subscription, qos=REQUIRED_QOS)

    def _on_subscribe(
        self, _client: mqtt.Client, _userdata: Any, mid: int, reason_codes: list[ReasonCode], _properties: Any
    ) -> None:
        if mid != self._subscribe_mid:
            return
        granted = reason_codes[0] if reason_codes else None
        if granted is not None and not granted.is_failure and granted.value >= REQUIRED_QOS:
            self.subscribed, self.subscription_problem = True, None
            metrics.SUBSCRIBED.set(1)
            logger.info("subscribed to %s at QoS %s", self._subscription, granted.value)
            return
        self.subscribed = False
        metrics.SUBSCRIBED.set(0)
        metrics.SUBSCRIPTIONS_REFUSED.inc()
        answer = "no answer" if granted is None else f"{granted} (0x{granted.value:02x})"
        self.subscription_problem = (
            f"the broker did not grant {self._subscription} at QoS {REQUIRED_QOS}: {answer}; "
            "check the broker's ACL for ingest's user"
        )
        logger.error("%s", self.subscription_problem)

    def _on_disconnect(
        self, _client: mqtt.Client, _userdata: Any, _flags: Any, reason_code: ReasonCode, _properties: Any
    ) -> None:
        self._set_connected(False)
        logger.warning("disconnected from broker: %s", reason_code)

    def _set_connected(self, connected: bool) -> None:
        # A new connection subscribes afresh: ready again only after its SUBACK.
        self.connected = connected
        self.subscribed = False
        metrics.BROKER_CONNECTED.set(1 if connected else 0)
        metrics.SUBSCRIBED.set(0)

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        try:
            self._deliver(
                InboundMessage(
                    topic=message.topic,
                    payload=bytes(message.payload),
                    mid=message.mid,
                    qos=message.qos,
                    connection=self._connection,
                    received_monotonic=time.monotonic(),
                    retain=bool(message.retain),
                )
            )
        except Exception:
            # A callback must never raise into paho's loop; the message stays unacknowledged and comes back.
            logger.exception("could not queue message on %.200s", message.topic)
