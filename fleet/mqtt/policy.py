"""Who may do what on the broker, independent of the broker: the one source of every ACL we render.

Vehicles publish only their own uplink streams and subscribe to (and receive) only their own downlink; ingest
subscribes to and receives the whole tree (also through a `$share` group); the publisher (dead-letter replay
today, the command dispatcher later) publishes under the tree. Nobody else gets anything: anonymous clients are
refused, `#` and `$SYS` are granted to no fleet identity, and receiving is denied unless granted.
"""

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from fleet.contract.topics import DOWNLINK_SUFFIXES, TOPIC_ROOT, Stream

# Broker usernames and client ids beginning with this belong to the backend: no device id may (a vehicle named
# `fleet-ingest` would replace that identity, one named like an ingest client id would take over its session).
RESERVED_PREFIX = "fleet-"


class ServiceIdentity(StrEnum):
    """Broker usernames of the backend's own processes."""

    INGEST = "fleet-ingest"
    PUBLISHER = "fleet-publisher"


@dataclass(frozen=True, slots=True)
class Grant:
    """One permission: publish on a topic, or subscribe with a topic filter."""

    action: Literal["publish", "subscribe"]
    topic: str


def is_reserved(device_id: str) -> bool:
    """Whether `device_id` would collide with the backend's own broker identities."""
    return device_id.lower().startswith(RESERVED_PREFIX)


def vehicle_grants(device_id: str) -> tuple[Grant, ...]:
    """What the unit `device_id` may do: publish its uplink streams, subscribe to its downlink."""
    base = f"{TOPIC_ROOT}/{device_id}"
    return (
        *(Grant("publish", f"{base}/{stream.value}") for stream in Stream),
        *(Grant("subscribe", f"{base}/{suffix}") for suffix in DOWNLINK_SUFFIXES),
    )


SERVICE_GRANTS: dict[ServiceIdentity, tuple[Grant, ...]] = {
    ServiceIdentity.INGEST: (
        Grant("subscribe", f"{TOPIC_ROOT}/#"),
        Grant("subscribe", f"$share/+/{TOPIC_ROOT}/#"),
    ),
    ServiceIdentity.PUBLISHER: (Grant("publish", f"{TOPIC_ROOT}/#"),),
}
