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
    FILE = "file"
    ACK = "ack"
    EVT = "evt"


# Topics below fleet/v1/{device_id}/ that vehicles receive and the backend publishes (commands today, file
# transfer grants later): the one definition, for the broker's ACLs and for ingest, which subscribes to the whole
# fleet/v1/# tree and ignores these instead of dead-lettering them.
DOWNLINK_SUFFIXES = ("cmd", "file/grant")


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


def downlink_topic(device_id: str, suffix: str) -> str:
    """Topic the backend publishes `suffix` (one of DOWNLINK_SUFFIXES) to a device on."""
    if suffix not in DOWNLINK_SUFFIXES:
        raise TopicError(f"not a downlink topic suffix: {suffix!r}")
    if not DEVICE_ID_PATTERN.fullmatch(device_id):
        raise TopicError(f"invalid device id {device_id!r}")
    return f"{TOPIC_ROOT}/{device_id}/{suffix}"


def downlink_suffix(topic: str) -> str | None:
    """The suffix when `topic` is `fleet/v1/{device_id}/{suffix}` with a suffix of DOWNLINK_SUFFIXES, else None."""
    root, _, rest = topic.partition("/")
    version, _, rest = rest.partition("/")
    if f"{root}/{version}" != TOPIC_ROOT:
        return None
    device_id, _, suffix = rest.partition("/")
    if suffix in DOWNLINK_SUFFIXES and DEVICE_ID_PATTERN.fullmatch(device_id):
        return suffix
    return None


def uplink_subscription(share_group: str = "") -> str:
    """Subscription filter for the whole v1 tree, optionally in a `$share` group.

    `#` rather than `+/+`: a topic with a level too many or too few must reach ingest, to be dead-lettered as
    `bad_topic` and counted, instead of vanishing unseen. The tree also holds the downlink (DOWNLINK_SUFFIXES),
    which ingest acknowledges and ignores.
    """
    topic_filter = f"{TOPIC_ROOT}/#"
    return f"$share/{share_group}/{topic_filter}" if share_group else topic_filter
