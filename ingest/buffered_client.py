"""A paho client that reads the socket in large chunks, handles every packet they hold, and acknowledges a batch
in one write.

paho-mqtt 2.2 handles one packet per select() wake-up and reads each packet with several small recv()
calls. A draining consumer then spends most of its time in system calls and loop overhead. Reading 64 KiB
at a time and parsing every complete packet before returning to select() removes that cost. On the way out,
paho's `ack()` queues one PUBACK and wakes the network thread for each message, which then sends each in a
system call of its own: `ack_many` queues a batch's PUBACKs as one packet of concatenated PUBACKs, one wake-up
and one send. It relies on private methods of the pinned paho version (`_sock_recv`, `_sock_close`,
`_packet_queue`); tests run it on every path.
"""

from collections.abc import Sequence

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode

READ_CHUNK_BYTES = 64 * 1024
# A PUBACK without reason code or properties, in MQTT 3.1.1 and 5 alike: its type and remaining length (2, the
# packet id's bytes).
PUBACK_HEADER = bytes((mqtt.PUBACK, 2))


class BufferedClient(mqtt.Client):
    """paho Client with a read buffer between the socket and the packet parser."""

    _read_buffer = b""

    def _sock_recv(self, bufsize: int) -> bytes:
        if not self._read_buffer:
            self._read_buffer = super()._sock_recv(max(bufsize, READ_CHUNK_BYTES))
            if not self._read_buffer:
                return b""  # the peer closed the connection
        chunk, self._read_buffer = self._read_buffer[:bufsize], self._read_buffer[bufsize:]
        return chunk

    def _sock_close(self) -> None:
        self._read_buffer = b""
        super()._sock_close()

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
