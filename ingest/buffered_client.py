"""A paho client for a draining consumer: large socket reads, every buffered packet handled per wake-up, a lean
PUBLISH without properties, and a batch acknowledged in one write.

- paho-mqtt 2.2 handles one packet per select() wake-up and reads each packet with several small recv() calls.
  Reading 64 KiB at a time and parsing every complete packet before returning to select() removes that cost; the
  packet parser's small reads are served from the buffer by an offset, without copying what is left of it.
- On MQTT v5 paho builds a `Properties` for every PUBLISH, and its constructor builds its lookup tables each
  time: a third of a consumer's receive cost. A PUBLISH at QoS 1 with no properties (every message of a v3.1.1
  unit, as the broker forwards it) gets one shared, empty `Properties` instead; any other goes through paho.
- paho's `ack()` queues one PUBACK and wakes the network thread for each message, which then sends each in a
  system call of its own: `ack_many` queues a batch's PUBACKs as one packet of concatenated PUBACKs, one wake-up
  and one send.

It relies on private methods of the pinned paho version (`_sock_recv`, `_sock_close`, `_handle_publish`,
`_handle_on_message`, `_packet_queue`); tests run it on every path.
"""

from collections.abc import Sequence

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

READ_CHUNK_BYTES = 64 * 1024
# A PUBACK without reason code or properties, in MQTT 3.1.1 and 5 alike: its type and remaining length (2, the
# packet id's bytes).
PUBACK_HEADER = bytes((mqtt.PUBACK, 2))
# Shared by every PUBLISH that carries none; nothing here reads or changes a message's properties.
NO_PROPERTIES = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]


class BufferedClient(mqtt.Client):
    """paho Client for a draining consumer: buffered reads, a lean PUBLISH without properties, batched PUBACKs."""

    _read_buffer = b""
    # Where the unread part of _read_buffer starts.
    _read_offset = 0

    def _sock_recv(self, bufsize: int) -> bytes:
        if self._read_offset >= len(self._read_buffer):
            self._read_buffer = super()._sock_recv(max(bufsize, READ_CHUNK_BYTES))
            self._read_offset = 0
            if not self._read_buffer:
                return b""  # the peer closed the connection
        start = self._read_offset
        self._read_offset = start + bufsize
        return self._read_buffer[start : self._read_offset]

    def _sock_close(self) -> None:
        self._read_buffer, self._read_offset = b"", 0
        super()._sock_close()

    def _handle_publish(self) -> MQTTErrorCode:
        """paho's, without building a `Properties` for a QoS 1 PUBLISH that has none."""
        header, packet = self._in_packet["command"], self._in_packet["packet"]
        qos = (header & 0x06) >> 1
        topic_end = 2 + int.from_bytes(packet[:2], "big")
        properties_at = topic_end + 2  # after the packet id
        if (
            self._protocol != MQTTProtocolVersion.MQTTv5
            or qos != 1
            or len(packet) <= properties_at
            or packet[properties_at] != 0  # a property length of zero
        ):
            return super()._handle_publish()
        message = mqtt.MQTTMessage(int.from_bytes(packet[topic_end:properties_at], "big"), bytes(packet[2:topic_end]))
        message.dup = bool(header & 0x08)
        message.qos = qos
        message.retain = bool(header & 0x01)
        message.properties = NO_PROPERTIES
        message.payload = bytes(packet[properties_at + 1 :])
        message.timestamp = mqtt.time_func()
        self._handle_on_message(message)
        return MQTTErrorCode.MQTT_ERR_SUCCESS if self._manual_ack else self._send_puback(message.mid)

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        """Handle every packet available, so no buffered byte waits for the next select()."""
        while True:
            if self._sock is None:
                return MQTTErrorCode.MQTT_ERR_NO_CONN
            rc = self._packet_read()
            if rc == MQTTErrorCode.MQTT_ERR_AGAIN:
                return MQTTErrorCode.MQTT_ERR_SUCCESS
            if rc > 0:
                return self._loop_rc_handle(rc)

    def ack_many(self, mids: Sequence[int]) -> None:
        """Acknowledge these QoS 1 messages (manual ack) with their PUBACKs in one write, in this order."""
        if mids:
            packet = b"".join(PUBACK_HEADER + mid.to_bytes(2, "big") for mid in mids)
            self._packet_queue(mqtt.PUBACK, packet, 0, 1)
