"""The one place a paho client is made: protocol, credentials, TLS, reconnect back-off and logging."""

import logging
import ssl
from functools import lru_cache
from typing import TypeVar, overload

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from fleet.mqtt.url import MqttEndpoint

# paho logs every packet at DEBUG: ours shows only its warnings and errors, whatever the root level.
PAHO_LOGGER = logging.getLogger("fleet.mqtt.paho")
PAHO_LOGGER.setLevel(logging.WARNING)
# Reconnect back-off; capped low so a restarted broker sees every client again within about 10 s.
RECONNECT_MIN_SECONDS = 1
RECONNECT_MAX_SECONDS = 10

C = TypeVar("C", bound=mqtt.Client)


@overload
def make_client(
    endpoint: MqttEndpoint,
    client_id: str,
    *,
    protocol: MQTTProtocolVersion = ...,
    clean_session: bool | None = ...,
    manual_ack: bool = ...,
) -> mqtt.Client: ...


@overload
def make_client(
    endpoint: MqttEndpoint,
    client_id: str,
    *,
    protocol: MQTTProtocolVersion = ...,
    clean_session: bool | None = ...,
    manual_ack: bool = ...,
    client_class: type[C],
) -> C: ...


def make_client(
    endpoint: MqttEndpoint,
    client_id: str,
    *,
    protocol: MQTTProtocolVersion = MQTTProtocolVersion.MQTTv5,
    clean_session: bool | None = None,
    manual_ack: bool = False,
    client_class: type[mqtt.Client] = mqtt.Client,
) -> mqtt.Client:
    """A paho client (callback API 2) set up for `endpoint`; connecting is the caller's business."""
    client = client_class(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=protocol,
        clean_session=None if protocol == MQTTProtocolVersion.MQTTv5 else clean_session,
        manual_ack=manual_ack,
    )
    if endpoint.username:
        client.username_pw_set(endpoint.username, endpoint.password)
    if endpoint.tls:
        client.tls_set_context(tls_context(endpoint))
    client.reconnect_delay_set(RECONNECT_MIN_SECONDS, RECONNECT_MAX_SECONDS)
    client.enable_logger(PAHO_LOGGER)
    return client


# One context per endpoint: a simulator of thousands of buses would otherwise load the CA file for each.
@lru_cache(maxsize=8)
def tls_context(endpoint: MqttEndpoint) -> ssl.SSLContext:
    """A verifying TLS context: the endpoint's CA file (else the system's CAs) and its client certificate."""
    context = ssl.create_default_context(cafile=str(endpoint.ca_file) if endpoint.ca_file else None)
    if endpoint.cert_file and endpoint.key_file:
        context.load_cert_chain(str(endpoint.cert_file), str(endpoint.key_file))
    return context
