"""`fleet vehicle add` issues broker credentials, `fleet sim` drives buses with them, `rotate` replaces a secret,
`revoke` cuts one off."""

import json
import os
import secrets
import shutil
import stat
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from fleet.db.models import Position, Vehicle
from fleet.mqtt.client import make_client
from fleet.mqtt.credentials_file import read_credentials
from fleet.mqtt.dynsec import bootstrap_config
from fleet.mqtt.policy import ServiceIdentity
from fleet.mqtt.url import MqttEndpoint
from tests.fixtures.factories import seed_tenant
from tests.fixtures.ingest_runner import IngestThread, wait_until
from tests.fixtures.mosquitto import MosquittoServer
from tests.fixtures.processes import FleetProcess, fleet_command

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

ADMIN_PASSWORD = secrets.token_urlsafe(16)
SERVICES = {identity: secrets.token_urlsafe(16) for identity in ServiceIdentity}


@pytest.fixture(scope="module")
def broker() -> Iterator[MosquittoServer]:
    base = Path(tempfile.mkdtemp(prefix="fleet-mqtt-cli-"))
    server = MosquittoServer(base, access=bootstrap_config(("fleet-admin", ADMIN_PASSWORD), SERVICES, {}))
    server.start()
    yield server
    server.stop()
    shutil.rmtree(base, ignore_errors=True)


def fleet(env: dict[str, str], *args: str) -> str:
    """Run a `fleet` command; its output, failing the test on a non-zero exit."""
    done = subprocess.run([*fleet_command(), *args], env={**os.environ, **env}, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


class Unit:
    """A unit connected (or refused) as `device_id` with `password`, as a real one connects."""

    def __init__(self, broker: MosquittoServer, device_id: str, password: str) -> None:
        self.answer: list[bool] = []
        self.disconnected = threading.Event()
        self.client = make_client(MqttEndpoint("127.0.0.1", broker.port, device_id, password), device_id)
        self.client.reconnect_delay_set(60, 60)  # it never reconnects within a test
        self.client.on_connect = lambda _c, _u, _f, reason, _p: self.answer.append(not reason.is_failure)
        self.client.on_disconnect = lambda *_args: self.disconnected.set()
        self.client.connect_async("127.0.0.1", broker.port)
        self.client.loop_start()

    def accepted(self) -> bool:
        """True once connected; False when the broker refused the credential."""
        wait_until(lambda: self.answer or self.disconnected.is_set(), "the broker's answer")
        return bool(self.answer and self.answer[0])

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def positions_of(engine: Engine, device_id: str) -> int:
    with engine.connect() as connection:
        query = select(func.count()).select_from(Position).join(Vehicle, Vehicle.id == Position.vehicle_id)
        return int(connection.scalar(query.where(Vehicle.device_id == device_id)) or 0)


def test_units_registered_by_the_cli_connect_as_themselves_until_revoked(
    broker: MosquittoServer, pg_url: str, pg_engine: Engine, unique: str, tmp_path: Path
) -> None:
    prefix = f"cred{unique}-"
    first, second = f"{prefix}0001", f"{prefix}0002"
    tenant = f"cli-{unique}"
    seed_tenant(pg_engine, tenant, [])
    env = {
        "FLEET_DATABASE_URL": pg_url,
        "FLEET_BROKER_ADMIN_URL": f"mqtt://fleet-admin:{ADMIN_PASSWORD}@127.0.0.1:{broker.port}",
    }
    credentials = tmp_path / "units.csv"
    fleet(env, "vehicle", "add", "--tenant", tenant, "--credentials-out", str(credentials), first, second)

    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    assert credentials.read_text().splitlines()[0] == "device_id,password"

    ingest_url = f"mqtt://{ServiceIdentity.INGEST.value}:{SERVICES[ServiceIdentity.INGEST]}@127.0.0.1:{broker.port}"
    ingest = IngestThread(pg_url, ingest_url).start()
    sim_env = {
        "FLEET_MQTT_URL": broker.url,
        "FLEET_SIM_VEHICLES": "2",
        "FLEET_SIM_PREFIX": prefix,
        "FLEET_SIM_CREDENTIALS_FILE": str(credentials),
        "FLEET_SIM_DROPOUT_PROBABILITY_PER_MINUTE": "0",
    }
    sim = FleetProcess(["sim"], sim_env, tmp_path / "sim.log").start()
    try:
        wait_until(lambda: positions_of(pg_engine, first) >= 2 and positions_of(pg_engine, second) >= 2, "both buses")

        fleet(env, "vehicle", "credentials", "revoke", first)
        time.sleep(1)  # what was in flight at the revocation
        frozen = positions_of(pg_engine, first)
        moving = positions_of(pg_engine, second)
        wait_until(lambda: positions_of(pg_engine, second) >= moving + 3, "the other bus going on")
        assert positions_of(pg_engine, first) == frozen, "the revoked unit still got data in"
    finally:
        sim.terminate()
        ingest.stop()

    bootstrap = tmp_path / "dynamic-security.json"
    services = {"FLEET_BROKER_INGEST_PASSWORD": "i", "FLEET_BROKER_PUBLISHER_PASSWORD": "p"}
    fleet({**env, **services}, "broker", "bootstrap", "--from-database", "--out", str(bootstrap))
    clients = {c["username"] for c in json.loads(bootstrap.read_text())["clients"]}
    assert second in clients and first not in clients


def test_rotating_through_the_cli_refuses_the_old_secret_and_accepts_the_new(
    broker: MosquittoServer, pg_engine: Engine, pg_url: str, unique: str, tmp_path: Path
) -> None:
    device, tenant = f"rot{unique}-0001", f"cli-rotate-{unique}"
    seed_tenant(pg_engine, tenant, [])
    env = {
        "FLEET_DATABASE_URL": pg_url,
        "FLEET_BROKER_ADMIN_URL": f"mqtt://fleet-admin:{ADMIN_PASSWORD}@127.0.0.1:{broker.port}",
    }
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    fleet(env, "vehicle", "add", "--tenant", tenant, "--credentials-out", str(first), device)
    old = read_credentials(first)[device]
    connected = Unit(broker, device, old)
    assert connected.accepted(), "the issued secret connects"

    fleet(env, "vehicle", "credentials", "rotate", "--credentials-out", str(second), device)
    new = read_credentials(second)[device]
    assert new != old
    try:
        assert connected.disconnected.wait(10), "the unit on the old secret stayed connected"
    finally:
        connected.close()
    for password, allowed in ((old, False), (new, True)):
        unit = Unit(broker, device, password)
        try:
            assert unit.accepted() is allowed, "the new secret" if allowed else "the old secret"
        finally:
            unit.close()


def test_bootstrap_refuses_to_write_without_every_service_password(tmp_path: Path) -> None:
    env = {"FLEET_BROKER_ADMIN_URL": "mqtt://fleet-admin:x@127.0.0.1:1", "FLEET_BROKER_INGEST_PASSWORD": "x"}
    done = subprocess.run(
        [*fleet_command(), "broker", "bootstrap", "--out", str(tmp_path / "f.json")],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1 and "FLEET_BROKER_PUBLISHER_PASSWORD" in done.stderr
    assert not (tmp_path / "f.json").exists()
