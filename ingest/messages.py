"""Messages as received from the broker, before decoding."""

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One MQTT message waiting for its acknowledgement."""

    topic: str
    payload: bytes
    mid: int
    qos: int
    # Acknowledgements belong to one connection: after a reconnect the broker redelivers instead.
    connection: int
    received_monotonic: float
    # Set on a retained message the broker sends because ingest subscribed (on every connect): the same message
    # comes again on each reconnect. Messages forwarded live arrive with it unset.
    retain: bool = False
