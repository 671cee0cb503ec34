"""The client factory against a real broker: paho's packet logs stay out of ours, and a client reconnects on its
own within the capped back-off after the broker restarts."""

import logging
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fleet.mqtt.client import RECONNECT_MAX_SECONDS, make_client
from fleet.mqtt.url import MqttEndpoint
from tests.fixtures.ingest_runner import wait_until
from tests.fixtures.mosquitto import MosquittoServer

pytestmark = pytest.mark.integration


@pytest.fixture
def own_broker() -> Iterator[MosquittoServer]:
    """A broker this test may restart."""
    base = Path(tempfile.mkdtemp(prefix="fleet-client-factory-"))
    server = MosquittoServer(base)
    server.start()
    yield server
    server.stop()
    shutil.rmtree(base, ignore_errors=True)


def test_paho_packets_are_not_logged_even_at_debug(
    own_broker: MosquittoServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = make_client(MqttEndpoint("127.0.0.1", own_broker.port), "factory-logs")
    client.connect("127.0.0.1", own_broker.port)
    client.loop_start()
    try:
        wait_until(client.is_connected, "connected")
        client.publish("fleet/v1/factory/pos", b"{}", qos=1).wait_for_publish(5)
    finally:
        client.disconnect()
        client.loop_stop()

    paho = [r for r in caplog.records if r.name == "fleet.mqtt.paho"]
    assert not [r for r in paho if r.levelno < logging.WARNING], [r.getMessage() for r in paho][:5]


def test_a_client_reconnects_by_itself_within_the_backoff_cap(own_broker: MosquittoServer) -> None:
    connects: list[float] = []
    connected = threading.Event()

    def on_connect(*_args: Any) -> None:
        connects.append(time.monotonic())
        connected.set()

    client = make_client(MqttEndpoint("127.0.0.1", own_broker.port), "factory-reconnect")
    client.on_connect = on_connect
    client.connect_async("127.0.0.1", own_broker.port)
    client.loop_start()
    try:
        assert connected.wait(10)
        own_broker.stop()
        # Down for longer than a few attempts: the back-off grows, but never past its cap.
        time.sleep(4)
        own_broker.start()
        back = time.monotonic()
        wait_until(lambda: len(connects) == 2, "reconnected", timeout=RECONNECT_MAX_SECONDS + 5)
        assert connects[1] - back <= RECONNECT_MAX_SECONDS + 1
    finally:
        client.disconnect()
        client.loop_stop()
