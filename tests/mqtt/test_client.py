"""The core MQTT client against real Mosquitto brokers: TLS with a generated CA, refused subscriptions."""

import logging
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import Engine, func, select

from fleet.db.models import Position, Vehicle
from fleet.mqtt.client import make_client
from fleet.mqtt.dynsec import bootstrap_config
from fleet.mqtt.policy import ServiceIdentity
from fleet.mqtt.url import MqttEndpoint, parse_mqtt_url
from fleet.ports import free_port
from fleet.settings import SharedSettings, SimSettings
from tests.fixtures.factories import seed_tenant
from tests.fixtures.ingest_runner import IngestThread, wait_until
from tests.fixtures.mosquitto import MosquittoServer
from tests.fixtures.publisher import Publisher
from vehicle_sim.fleet_sim import run_simulation

pytestmark = pytest.mark.integration

PUBLISHER_PASSWORD = "publisher-only"


@dataclass(frozen=True)
class Pki:
    """A throw-away CA with a broker certificate for 127.0.0.1 and one client certificate."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _openssl(*args: str | Path) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)


def _issue(base: Path, name: str, subject: str, ca: Path, ca_key: Path, extensions: str) -> tuple[Path, Path]:
    key, csr, cert, ext = (base / f"{name}.{suffix}" for suffix in ("key", "csr", "crt", "ext"))
    ext.write_text(extensions)
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key,
             "-out", csr, "-subj", subject)  # fmt: skip
    _openssl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-out", cert, "-days", "1",
             "-extfile", ext)  # fmt: skip
    return cert, key


@pytest.fixture(scope="module")
def pki() -> Iterator[Pki]:
    # Outside pytest's root-only tmp dir: the broker runs as user mosquitto and must read its key.
    base = Path(tempfile.mkdtemp(prefix="fleet-pki-"))
    base.chmod(0o755)
    ca, ca_key = base / "ca.crt", base / "ca.key"
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", ca_key, "-out", ca, "-days", "1", "-subj", "/CN=fleet test CA")  # fmt: skip
    server = _issue(base, "server", "/CN=127.0.0.1", ca, ca_key, "subjectAltName=IP:127.0.0.1\n")
    client = _issue(base, "client", "/CN=fleet-ingest-test", ca, ca_key, "extendedKeyUsage=clientAuth\n")
    for path in base.iterdir():
        path.chmod(0o644)
    yield Pki(ca, *server, *client)
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def tls_broker(pki: Pki) -> Iterator[tuple[MosquittoServer, int]]:
    tls_port = free_port()
    base = Path(tempfile.mkdtemp(prefix="fleet-mqtt-tls-"))
    config = (
        f"\nlistener {tls_port} 127.0.0.1\ncafile {pki.ca}\ncertfile {pki.server_cert}\nkeyfile {pki.server_key}\n"
        "require_certificate true\n"
    )
    server = MosquittoServer(base, config, (tls_port,))
    server.start()
    yield server, tls_port
    server.stop()
    shutil.rmtree(base, ignore_errors=True)


def test_ingest_stores_what_arrives_over_tls_with_a_client_certificate(
    tls_broker: tuple[MosquittoServer, int], pki: Pki, pg_url: str, pg_engine: Engine, unique: str
) -> None:
    _broker, tls_port = tls_broker
    device = f"tls-{unique}"
    seed_tenant(pg_engine, f"tls-{unique}", [device])
    url = f"mqtts://127.0.0.1:{tls_port}"
    tls_files = {"mqtt_ca_file": pki.ca, "mqtt_cert_file": pki.client_cert, "mqtt_key_file": pki.client_key}
    ingest = IngestThread(pg_url, url, shared=tls_files)
    ingest.start()
    endpoint = replace(parse_mqtt_url(url), ca_file=pki.ca, cert_file=pki.client_cert, key_file=pki.client_key)
    publisher = Publisher(0, endpoint=endpoint)
    try:
        publisher.publish(f"fleet/v1/{device}/pos", {"ts": "2026-11-30T10:00:00Z", "seq": 1, "lat": 48.2, "lon": 16.4})

        def stored() -> int:
            with pg_engine.connect() as connection:
                return int(connection.scalar(select(func.count()).select_from(Position).where(Position.seq == 1)) or 0)

        wait_until(lambda: stored() >= 1, "position stored over TLS")
    finally:
        publisher.close()
        ingest.stop()


def broker_acknowledges(endpoint: MqttEndpoint) -> bool:
    """Whether a client made for `endpoint` gets a QoS 1 publish acknowledged."""
    client = make_client(endpoint, "")
    try:
        client.connect(endpoint.host, endpoint.port)
        client.loop_start()
        info = client.publish("fleet/v1/probe/pos", b"{}", qos=1)
        info.wait_for_publish(timeout=3)
        return info.is_published()
    except (OSError, RuntimeError, ValueError):
        return False
    finally:
        client.disconnect()
        client.loop_stop()


def test_a_client_needs_both_the_ca_and_its_certificate(tls_broker: tuple[MosquittoServer, int], pki: Pki) -> None:
    _broker, tls_port = tls_broker
    endpoint = parse_mqtt_url(f"mqtts://127.0.0.1:{tls_port}")
    certificate = {"cert_file": pki.client_cert, "key_file": pki.client_key}

    assert broker_acknowledges(replace(endpoint, ca_file=pki.ca, **certificate))
    # Without the CA the handshake fails at once; without a certificate (TLS 1.3) the broker drops the session.
    assert not broker_acknowledges(replace(endpoint, ca_file=pki.ca))
    assert not broker_acknowledges(replace(endpoint, **certificate))


@pytest.fixture
def acl_broker() -> Iterator[MosquittoServer]:
    """A broker with fleet's access control: the publisher identity may not subscribe, so its SUBACK refuses."""
    base = Path(tempfile.mkdtemp(prefix="fleet-mqtt-acl-"))
    services = {identity: PUBLISHER_PASSWORD for identity in ServiceIdentity}
    server = MosquittoServer(base, access=bootstrap_config(("fleet-admin", "test-only"), services, {}))
    server.start()
    yield server
    server.stop()
    shutil.rmtree(base, ignore_errors=True)


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_ingest_is_not_ready_while_the_broker_refuses_its_subscription(
    acl_broker: MosquittoServer, pg_url: str, protocol: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="ingest.mqtt_consumer")

    def logged() -> list[str]:
        records = [r for r in caplog.records if r.name == "ingest.mqtt_consumer" and r.levelno >= logging.ERROR]
        return [r.getMessage() for r in records]

    refused_before = REGISTRY.get_sample_value("fleet_ingest_subscriptions_refused_total") or 0.0
    url = f"mqtt://{ServiceIdentity.PUBLISHER.value}:{PUBLISHER_PASSWORD}@127.0.0.1:{acl_broker.port}"
    ingest = IngestThread(pg_url, url, mqtt_protocol=protocol)
    ingest.thread.start()
    try:
        wait_until(lambda: ingest.service.consumer.subscription_problem is not None, "the refusal")
        reason = ingest.service.not_ready_reason()

        assert ingest.service.consumer.connected
        assert reason is not None and "did not grant" in reason and "fleet/v1/#" in reason
        assert REGISTRY.get_sample_value("fleet_ingest_subscriptions_refused_total") == refused_before + 1
        assert REGISTRY.get_sample_value("fleet_ingest_subscribed") == 0
        # The operator's log says why, not only the readiness probe: the topic, the broker's answer, what to check.
        wait_until(logged, "the refusal in the log")  # logged just after the reason is set, on paho's thread
        assert logged() == [reason]
        assert "check the broker's ACL" in reason
    finally:
        ingest.stop()


def test_the_simulator_publishes_over_tls_with_a_ca_file(
    tls_broker: tuple[MosquittoServer, int], pki: Pki, pg_url: str, pg_engine: Engine, unique: str
) -> None:
    _broker, tls_port = tls_broker
    settings = SimSettings(vehicles=1, prefix=f"tls{unique}-", dropout_probability_per_minute=0)
    device = f"{settings.prefix}0001"
    seed_tenant(pg_engine, f"tls-sim-{unique}", [device])
    url = f"mqtts://127.0.0.1:{tls_port}"
    tls_files = {"mqtt_ca_file": pki.ca, "mqtt_cert_file": pki.client_cert, "mqtt_key_file": pki.client_key}
    shared = SharedSettings(mqtt_url=url, **tls_files)
    ingest = IngestThread(pg_url, url, shared=tls_files).start()
    stop = threading.Event()
    sim = threading.Thread(target=run_simulation, args=(shared.mqtt_endpoint(), settings, stop), daemon=True)
    sim.start()
    try:

        def stored() -> int:
            with pg_engine.connect() as connection:
                query = select(func.count()).select_from(Position).join(Vehicle, Vehicle.id == Position.vehicle_id)
                return int(connection.scalar(query.where(Vehicle.device_id == device)) or 0)

        wait_until(lambda: stored() >= 2, "the simulated bus's positions over TLS")
    finally:
        stop.set()
        sim.join(timeout=10)
        ingest.stop()
