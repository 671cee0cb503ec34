"""The broker `fleet up` runs: a private mosquitto when one is on PATH, else amqtt in-process (MQTT 3.1.1)."""

import asyncio
import logging
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Protocol

from fleet.ports import free_port, wait_for_port

logger = logging.getLogger(__name__)

START_TIMEOUT_SECONDS = 10.0


class EmbeddedBroker(Protocol):
    """A broker on 127.0.0.1:port that `fleet up` owns."""

    port: int
    supports_v5: bool

    def stop(self) -> None:
        """Stop the broker."""


class MosquittoProcess:
    """A mosquitto child process without persistence (the demo keeps nothing)."""

    supports_v5 = True

    def __init__(self, binary: str, data_dir: Path) -> None:
        self.port = free_port()
        conf = data_dir / "mosquitto-up.conf"
        conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
            "max_queued_messages 100000\nlog_dest stdout\n"
        )
        log = open(data_dir / "mosquitto.log", "ab")  # noqa: SIM115 - owned by the child for its lifetime
        self._process = subprocess.Popen([binary, "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT)
        wait_for_port(self.port, START_TIMEOUT_SECONDS)

    def stop(self) -> None:
        """Terminate and reap the child."""
        self._process.terminate()
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


class AmqttThread:
    """amqtt running on its own event loop in a daemon thread."""

    supports_v5 = False

    def __init__(self) -> None:
        from amqtt.broker import Broker  # imported only when needed: most runs use mosquitto

        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{self.port}"}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        }
        self._broker = Broker(config, loop=self._loop)
        self._thread = threading.Thread(target=self._loop.run_forever, name="amqtt", daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._broker.start(), self._loop).result(START_TIMEOUT_SECONDS)
        wait_for_port(self.port, START_TIMEOUT_SECONDS)

    def stop(self) -> None:
        """Shut the broker down and end its loop."""
        try:
            asyncio.run_coroutine_threadsafe(self._broker.shutdown(), self._loop).result(5)
        except Exception:
            logger.warning("amqtt did not shut down cleanly", exc_info=True)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)


def start_embedded_broker(data_dir: Path) -> EmbeddedBroker:
    """Start mosquitto if installed, otherwise the in-process broker."""
    binary = shutil.which("mosquitto")
    if binary:
        logger.info("embedded broker: mosquitto (%s)", binary)
        return MosquittoProcess(binary, data_dir)
    logger.info("embedded broker: amqtt in-process (MQTT 3.1.1); install mosquitto for MQTT v5")
    return AmqttThread()
