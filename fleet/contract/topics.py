"""The only place topic strings are built and parsed."""

import re
from enum import StrEnum
from functools import lru_cache

TOPIC_ROOT = "fleet/v1"
DEVICE_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")


class Stream(StrEnum):
    """Uplink streams of contract v1."""

    POS = "pos"
    CAN = "can"
    STATUS = "status"


class TopicError(ValueError):
    """A topic that is not a v1 uplink topic."""


def uplink_topic(device_id: str, stream: Stream) -> str:
    """Topic a device publishes `stream` on."""
    if not DEVICE_ID_PATTERN.fullmatch(device_id):
        raise TopicError(f"invalid device id {device_id!r}")
    return f"{TOPIC_ROOT}/{device_id}/{stream.value}"


# Every device publishes on a handful of topics again and again: parsing each once saves time per message.
@lru_cache(maxsize=65536)
def parse_uplink_topic(topic: str) -> tuple[str, Stream]:
    """Split `fleet/v1/{device_id}/{stream}` into its device id and stream."""
    parts = topic.split("/")
    if len(parts) != 4 or "/".join(parts[:2]) != TOPIC_ROOT:
        raise TopicError(f"not a {TOPIC_ROOT} uplink topic: {topic[:200]!r}")
    device_id, stream_name = parts[2], parts[3]
    if not DEVICE_ID_PATTERN.fullmatch(device_id):
        raise TopicError(f"invalid device id in topic: {device_id[:80]!r}")
    try:
        return device_id, Stream(stream_name)
    except ValueError:
        raise TopicError(f"unknown stream {stream_name[:40]!r}") from None


def uplink_subscription(share_group: str = "") -> str:
    """Subscription filter for every device's uplink, optionally in a `$share` group."""
    topic_filter = f"{TOPIC_ROOT}/+/+"
    return f"$share/{share_group}/{topic_filter}" if share_group else topic_filter
