"""A paho client that reads the socket in large chunks and handles every packet they hold.

paho-mqtt 2.2 handles one packet per select() wake-up and reads each packet with several small recv()
calls. A draining consumer then spends most of its time in system calls and loop overhead. Reading 64 KiB
at a time and parsing every complete packet before returning to select() removes that cost. It relies on
two private methods of the pinned paho version (`_sock_recv`, `_sock_close`); tests run it on every path.
"""

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode

READ_CHUNK_BYTES = 64 * 1024


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
