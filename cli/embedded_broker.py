"""The broker `fleet up` runs: a private mosquitto when one is on PATH, else amqtt in-process (MQTT 3.1.1)."""

import asyncio
import json
import logging
import os
import pwd
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any, Protocol

from fleet.ports import free_port, wait_for_port

logger = logging.getLogger(__name__)

START_TIMEOUT_SECONDS = 10.0


class EmbeddedBroker(Protocol):
    """A broker on 127.0.0.1:port that `fleet up` owns."""

    port: int
    supports_v5: bool
    enforces_access: bool

    def stop(self) -> None:
        """Stop the broker."""


class MosquittoProcess:
    """A mosquitto child process without persistence (the demo keeps nothing) and with access control on.

    Its dynamic-security plugin starts from `access` (fleet.mqtt.dynsec.bootstrap_config): anonymous clients
    are refused, vehicles and services get only their own topics.
    """

    supports_v5 = True
    enforces_access = True

    def __init__(self, binary: str, plugin: Path, data_dir: Path, access: dict[str, Any]) -> None:
        self.port = free_port()
        # Started as root, mosquitto runs as user mosquitto, which must read and write the plugin's file.
        self._dir = Path(tempfile.mkdtemp(prefix="fleet-up-mosquitto-"))
        self._dir.chmod(0o755)
        dynsec = self._dir / "dynamic-security.json"
        dynsec.write_text(json.dumps(access, indent=1))
        if os.geteuid() == 0 and _user_exists("mosquitto"):
            shutil.chown(dynsec, "mosquitto", "mosquitto")
        conf = self._dir / "mosquitto-up.conf"
        conf.write_text(
            f"listener {self.port} 127.0.0.1\npersistence false\nmax_queued_messages 100000\nlog_dest stdout\n"
            f"plugin {plugin}\nplugin_opt_config_file {dynsec}\n"
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
        shutil.rmtree(self._dir, ignore_errors=True)


class AmqttThread:
    """amqtt running on its own event loop in a daemon thread."""

    supports_v5 = False
    # amqtt has no run-time credential changes: the demo on it runs without access control.
    enforces_access = False

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
        # start() returns once the listener is bound; a probe connection would only log an amqtt error.
        asyncio.run_coroutine_threadsafe(self._broker.start(), self._loop).result(START_TIMEOUT_SECONDS)

    def stop(self) -> None:
        """Shut the broker down and end its loop."""
        try:
            asyncio.run_coroutine_threadsafe(self._broker.shutdown(), self._loop).result(5)
        except Exception:
            logger.warning("amqtt did not shut down cleanly", exc_info=True)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)


def start_embedded_broker(data_dir: Path, access: dict[str, Any]) -> EmbeddedBroker:
    """Start mosquitto with its dynamic-security plugin if installed, otherwise the in-process broker."""
    binary = shutil.which("mosquitto")
    plugin = next(iter(sorted(Path("/usr/lib").glob("*/mosquitto_dynamic_security.so"))), None)
    if binary and plugin:
        logger.info("embedded broker: mosquitto (%s) with access control", binary)
        return MosquittoProcess(binary, plugin, data_dir, access)
    logger.warning(
        "embedded broker: amqtt in-process (MQTT 3.1.1) WITHOUT access control; install mosquitto (Debian package "
        "mosquitto) for MQTT v5 and per-vehicle credentials"
    )
    return AmqttThread()


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True
