"""Access control on a real Mosquitto whose dynamic-security plugin fleet bootstraps and drives.

A vehicle may publish only its own uplink and subscribe only to its own downlink; anonymous clients are
refused; a credential is bound to its device id as client id; revocation disconnects at once; everything
survives a broker restart; ingest's identity can subscribe to the uplink and nothing more.
"""

import json
import secrets
import shutil
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from fastapi.testclient import TestClient
from paho.mqtt.enums import MQTTProtocolVersion
from sqlalchemy import Engine, func, select

from api.app import create_app
from fleet.db.engine import make_session_factory
from fleet.db.models import Position, Vehicle, VehicleCredential
from fleet.errors import Invalid
from fleet.mqtt.client import make_client
from fleet.mqtt.dynsec import DynsecControl, PasswordHash, bootstrap_config
from fleet.mqtt.policy import ServiceIdentity
from fleet.mqtt.url import MqttEndpoint, parse_mqtt_url
from fleet.registry.credentials import active_credentials, issue_credentials, revoke_credentials
from fleet.settings import ApiSettings, BrokerSettings, SharedSettings
from fleet.tenancy.service import INITIAL_TOKEN_NAME
from tests.fixtures.factories import seed_tenant
from tests.fixtures.ingest_runner import IngestThread, wait_until
from tests.fixtures.mosquitto import MosquittoServer

pytestmark = pytest.mark.integration

ADMIN = ("fleet-admin", secrets.token_urlsafe(16))
ACCEPTED = ("Success", "No matching subscribers")
SERVICES = {identity: secrets.token_urlsafe(16) for identity in ServiceIdentity}


@dataclass
class Broker:
    """A Mosquitto with fleet's access control, and how to reach it as whom."""

    server: MosquittoServer
    control: DynsecControl

    def endpoint(self, username: str | None = None, password: str | None = None) -> MqttEndpoint:
        return MqttEndpoint("127.0.0.1", self.server.port, username, password)

    def url(self, identity: ServiceIdentity) -> str:
        return f"mqtt://{identity.value}:{SERVICES[identity]}@127.0.0.1:{self.server.port}"


@pytest.fixture(scope="module")
def broker() -> Iterator[Broker]:
    base = Path(tempfile.mkdtemp(prefix="fleet-mqtt-access-"))
    # The repo's broker configuration, with the plugin: what compose and the chart run.
    server = MosquittoServer(base, access=bootstrap_config(ADMIN, SERVICES, {}))
    server.start()
    admin = MqttEndpoint("127.0.0.1", server.port, *ADMIN)
    yield Broker(server, DynsecControl(admin))
    server.stop()
    shutil.rmtree(base, ignore_errors=True)


class Probe:
    """A connected client recording what the broker answered."""

    def __init__(self, endpoint: MqttEndpoint, client_id: str) -> None:
        self.connected = threading.Event()
        self.disconnected = threading.Event()
        self.refusal: str | None = None
        self.granted: dict[int, list[str]] = {}
        self.received: list[str] = []
        self.client = make_client(endpoint, client_id)
        self.client.reconnect_delay_set(60, 60)  # a probe never reconnects within a test
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = lambda *_args: self.disconnected.set()
        self.client.on_subscribe = lambda _c, _u, mid, codes, _p: self.granted.__setitem__(mid, [str(c) for c in codes])
        self.client.on_message = lambda _c, _u, message: self.received.append(message.topic)
        self.client.connect_async(endpoint.host, endpoint.port)
        self.client.loop_start()

    def _on_connect(
        self, _client: mqtt.Client, _userdata: object, _flags: object, reason: object, _props: object
    ) -> None:
        if getattr(reason, "is_failure", False):
            self.refusal = str(reason)
            self.disconnected.set()
        else:
            self.connected.set()

    def wait(self) -> bool:
        """True once connected; False when the broker refused."""
        wait_until(lambda: self.connected.is_set() or self.disconnected.is_set(), "the broker's answer")
        return self.connected.is_set()

    def publish(self, topic: str) -> str:
        """The broker's answer to a QoS 1 publish (MQTT v5 PUBACK reason)."""
        answer: list[str] = []
        self.client.on_publish = lambda _c, _u, _mid, reason, _p: answer.append(str(reason))
        self.client.publish(topic, json.dumps({"ts": "2026-11-30T10:00:00Z", "seq": 1, "lat": 48.2, "lon": 16.4}), 1)
        wait_until(lambda: answer, f"PUBACK on {topic}")
        return answer[0]

    def subscribe(self, topic: str) -> str:
        """The broker's answer to a subscription."""
        _result, mid = self.client.subscribe(topic, qos=1)
        wait_until(lambda: mid in self.granted, f"SUBACK on {topic}")
        return self.granted[mid][0]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def units(broker: Broker, pg_engine: Engine, unique: str) -> Iterator[dict[str, str]]:
    """Two registered units with credentials issued the way `fleet vehicle add` issues them."""
    devices = [f"unit-{unique}-a", f"unit-{unique}-b"]
    seed_tenant(pg_engine, f"access-{unique}", devices)
    with make_session_factory(pg_engine)() as session:
        vehicles = list(session.scalars(select(Vehicle).where(Vehicle.device_id.in_(devices))))
        passwords = issue_credentials(session, broker.control, vehicles)
        session.commit()
    yield passwords


def test_only_a_hash_of_the_secret_is_stored(units: dict[str, str], pg_engine: Engine) -> None:
    with make_session_factory(pg_engine)() as session:
        stored = active_credentials(session)
        rows = list(session.scalars(select(VehicleCredential.secret_hash)))
    for device_id, password in units.items():
        assert stored[device_id].matches(password)
        assert not any(password in row for row in rows)
    assert not PasswordHash.decode(rows[0]).matches("a guess")


def test_anonymous_and_wrong_passwords_are_refused(broker: Broker, units: dict[str, str]) -> None:
    a = next(iter(units))
    for endpoint in (broker.endpoint(), broker.endpoint(a, "wrong"), broker.endpoint("nobody", "x")):
        probe = Probe(endpoint, a)
        try:
            assert not probe.wait(), f"{endpoint.username} was let in"
        finally:
            probe.close()


def test_a_unit_publishes_and_subscribes_only_as_itself(broker: Broker, units: dict[str, str]) -> None:
    a, b = units
    probe = Probe(broker.endpoint(a, units[a]), a)
    try:
        assert probe.wait()
        # MQTT v5 brokers say when nobody listens: accepted all the same.
        assert probe.publish(f"fleet/v1/{a}/pos") in ACCEPTED
        assert probe.publish(f"fleet/v1/{b}/pos") == "Not authorized"
        assert probe.publish(f"fleet/v1/{a}/cmd") == "Not authorized"
        assert probe.subscribe(f"fleet/v1/{a}/cmd") == "Granted QoS 1"
        for forbidden in (f"fleet/v1/{b}/cmd", f"fleet/v1/{b}/pos", "fleet/v1/#", "#", "$SYS/#", f"fleet/v1/{a}/pos"):
            assert probe.subscribe(forbidden) == "Not authorized", forbidden
    finally:
        probe.close()


def test_a_credential_is_bound_to_its_device_id_as_client_id(broker: Broker, units: dict[str, str]) -> None:
    a, b = units
    for client_id in (b, "fleet-ingest-0", f"{a}-2"):
        probe = Probe(broker.endpoint(a, units[a]), client_id)
        try:
            assert not probe.wait(), f"{a} connected as client id {client_id}"
        finally:
            probe.close()


def test_a_unit_cannot_forge_another_units_data(
    broker: Broker, units: dict[str, str], pg_url: str, pg_engine: Engine
) -> None:
    a, b = units
    ingest = IngestThread(pg_url, broker.url(ServiceIdentity.INGEST)).start()
    probe = Probe(broker.endpoint(a, units[a]), a)
    try:
        assert probe.wait()
        probe.publish(f"fleet/v1/{b}/pos")
        probe.publish(f"fleet/v1/{a}/pos")

        def stored(device_id: str) -> int:
            with pg_engine.connect() as connection:
                query = select(func.count()).select_from(Position).join(Vehicle, Vehicle.id == Position.vehicle_id)
                return int(connection.scalar(query.where(Vehicle.device_id == device_id)) or 0)

        wait_until(lambda: stored(a) == 1, "the unit's own record")
        assert stored(b) == 0
    finally:
        probe.close()
        ingest.stop()


def test_a_unit_receives_its_own_commands(broker: Broker, units: dict[str, str]) -> None:
    a, _b = units
    unit = Probe(broker.endpoint(a, units[a]), a)
    publisher = Probe(parse_mqtt_url(broker.url(ServiceIdentity.PUBLISHER)), "fleet-publisher-cmd")
    try:
        assert unit.wait() and publisher.wait()
        assert unit.subscribe(f"fleet/v1/{a}/cmd") == "Granted QoS 1"
        publisher.publish(f"fleet/v1/{a}/cmd")
        wait_until(lambda: unit.received == [f"fleet/v1/{a}/cmd"], "the command at the unit")
    finally:
        unit.close()
        publisher.close()


def test_device_ids_that_could_pass_for_fleets_own_identities_are_refused(pg_engine: Engine, unique: str) -> None:
    for device_id in ("fleet-ingest", "fleet-admin", "Fleet-ingest-0", "fleet-publisher"):
        with pytest.raises(Invalid, match="reserved"):
            seed_tenant(pg_engine, f"reserved-{unique}-{device_id}", [device_id])


def test_service_identities_have_only_their_rights(broker: Broker) -> None:
    ingest = Probe(parse_mqtt_url(broker.url(ServiceIdentity.INGEST)), "fleet-ingest-test")
    publisher = Probe(parse_mqtt_url(broker.url(ServiceIdentity.PUBLISHER)), "fleet-publisher-test")
    try:
        assert ingest.wait() and publisher.wait()
        assert ingest.subscribe("$share/g/fleet/v1/#") == "Granted QoS 1"
        assert ingest.subscribe("$SYS/#") == "Not authorized"
        assert ingest.publish("fleet/v1/x/cmd") == "Not authorized"
        assert publisher.publish("fleet/v1/x/cmd") in ACCEPTED
        assert publisher.subscribe("fleet/v1/#") == "Not authorized"
    finally:
        ingest.close()
        publisher.close()


def test_revoking_disconnects_at_once_and_survives_a_broker_restart(
    broker: Broker, units: dict[str, str], pg_engine: Engine
) -> None:
    a, b = units
    connected = Probe(broker.endpoint(a, units[a]), a)
    assert connected.wait()
    with make_session_factory(pg_engine)() as session:
        vehicle = session.scalars(select(Vehicle).where(Vehicle.device_id == a)).one()
        revoke_credentials(session, broker.control, [vehicle])
        session.commit()
    try:
        assert connected.disconnected.wait(10), "the revoked unit stayed connected"
    finally:
        connected.close()

    broker.server.stop()
    broker.server.start()
    for device_id, allowed in ((a, False), (b, True)):
        probe = Probe(broker.endpoint(device_id, units[device_id]), device_id)
        try:
            assert probe.wait() is allowed, f"{device_id} after the restart"
        finally:
            probe.close()


def test_rotation_replaces_the_secret(broker: Broker, units: dict[str, str], pg_engine: Engine) -> None:
    _a, b = units
    with make_session_factory(pg_engine)() as session:
        vehicle = session.scalars(select(Vehicle).where(Vehicle.device_id == b)).one()
        new = issue_credentials(session, broker.control, [vehicle])[b]
        session.commit()
    for password, allowed in ((units[b], False), (new, True)):
        probe = Probe(replace(broker.endpoint(b, password)), b)
        try:
            assert probe.wait() is allowed
        finally:
            probe.close()


def test_an_mqtt_3_1_1_unit_is_held_to_the_same_rules(broker: Broker, units: dict[str, str]) -> None:
    a, b = units
    client = make_client(broker.endpoint(a, units[a]), a, protocol=MQTTProtocolVersion.MQTTv311)
    client.connect("127.0.0.1", broker.server.port)
    client.loop_start()
    try:
        granted: list[list[int]] = []
        client.on_subscribe = lambda _c, _u, _mid, codes, _p: granted.append([c.value for c in codes])
        client.subscribe(f"fleet/v1/{b}/cmd", qos=1)
        wait_until(lambda: granted, "SUBACK")
        assert granted[0][0] >= 0x80
    finally:
        client.disconnect()
        client.loop_stop()


def test_the_admin_api_issues_rotates_and_revokes_unit_credentials(
    broker: Broker, pg_url: str, pg_engine: Engine, unique: str
) -> None:
    tenant = seed_tenant(pg_engine, f"admin-api-{unique}", [])
    admin_url = f"mqtt://{ADMIN[0]}:{ADMIN[1]}@127.0.0.1:{broker.server.port}"
    app = create_app(SharedSettings(database_url=pg_url), ApiSettings(), broker=BrokerSettings(admin_url=admin_url))
    client = TestClient(app)
    headers = {"Authorization": f"Bearer {tenant.token}"}
    device = f"api-unit-{unique}"

    created = client.post("/v1/admin/vehicles", json={"device_id": device}, headers=headers)
    assert created.status_code == 201, created.text
    [credential] = created.json()["credentials"]
    assert credential["device_id"] == device
    first = Probe(broker.endpoint(device, credential["password"]), device)
    assert first.wait()

    rotated = client.post(f"/v1/admin/vehicles/{device}/credentials", headers=headers)
    assert rotated.status_code == 201
    assert first.disconnected.wait(10), "the unit on the old password stayed connected"
    first.close()
    second = Probe(broker.endpoint(device, rotated.json()["password"]), device)
    assert second.wait()

    # Revoked through the admin API: the connected unit is cut off within 10 s and its reconnect refused.
    revoked = client.delete(f"/v1/admin/vehicles/{device}/credentials", headers=headers)
    assert revoked.status_code == 204, revoked.text
    assert second.disconnected.wait(10), "the revoked unit stayed connected"
    second.close()
    refused = Probe(broker.endpoint(device, rotated.json()["password"]), device)
    try:
        assert not refused.wait(), "the revoked credential still connects"
        assert refused.refusal is not None
    finally:
        refused.close()

    reissued = client.post(f"/v1/admin/vehicles/{device}/credentials", headers=headers)
    assert reissued.status_code == 201
    third = Probe(broker.endpoint(device, reissued.json()["password"]), device)
    assert third.wait(), "a credential issued after the revocation works"
    assert client.delete(f"/v1/admin/vehicles/{device}", headers=headers).status_code == 204
    assert third.disconnected.wait(10), "a deleted vehicle's unit stayed connected"
    third.close()
    again = Probe(broker.endpoint(device, reissued.json()["password"]), device)
    try:
        assert not again.wait()
    finally:
        again.close()
    entries = client.get("/v1/audit", headers=headers).json()["items"]
    actions = {e["action"] for e in entries}
    assert {"vehicle.credentials.issue", "vehicle.credentials.revoke", "vehicle.delete"} <= actions
    [revoke] = [e for e in entries if e["action"] == "vehicle.credentials.revoke"]
    # Recorded as the API's caller did it: the token's name and id, not the CLI.
    assert (revoke["target"], revoke["actor"]) == (device, INITIAL_TOKEN_NAME) and revoke["token_id"] is not None
