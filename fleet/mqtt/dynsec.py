"""Mosquitto's dynamic-security plugin: its password hashes, its bootstrap file, and its control API.

The plugin keeps clients, roles and ACLs in a JSON file on the broker's volume and changes them at run time
through `$CONTROL/dynamic-security/v1`. Each vehicle gets a client bound to its device id as both username and
client id, and a role of its own with literal topics (Mosquitto 2.0's plugin has no `%u` substitution).
"""

import base64
import hashlib
import json
import secrets
import threading
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt

from fleet.errors import Conflict, Unavailable
from fleet.mqtt.client import make_client
from fleet.mqtt.policy import SERVICE_GRANTS, Grant, ServiceIdentity, vehicle_grants
from fleet.mqtt.url import MqttEndpoint

CONTROL_TOPIC = "$CONTROL/dynamic-security/v1"
RESPONSE_TOPIC = f"{CONTROL_TOPIC}/response"
ADMIN_ROLE = "fleet-dynsec-admin"
# The plugin's own defaults (Mosquitto 2.0): 101 rounds of PBKDF2-SHA512 over a 12-byte salt.
HASH_ITERATIONS = 101
SALT_BYTES = 12
RESPONSE_TIMEOUT_SECONDS = 10.0
# Commands per control message: one message for a small fleet, bounded packets for a large one.
COMMANDS_PER_MESSAGE = 400


@dataclass(frozen=True, slots=True)
class PasswordHash:
    """A password as the plugin stores it: base64 salt and PBKDF2-SHA512 digest."""

    salt: str
    digest: str
    iterations: int = HASH_ITERATIONS

    def encoded(self) -> str:
        """One string for a database column: `iterations$salt$digest`."""
        return f"{self.iterations}${self.salt}${self.digest}"

    @classmethod
    def decode(cls, encoded: str) -> "PasswordHash":
        """The hash `encoded()` produced."""
        iterations, salt, digest = encoded.split("$")
        return cls(salt, digest, int(iterations))

    def matches(self, password: str) -> bool:
        """Whether `password` hashes to this."""
        return secrets.compare_digest(hash_password(password, self.salt, self.iterations).digest, self.digest)


def hash_password(password: str, salt: str | None = None, iterations: int = HASH_ITERATIONS) -> PasswordHash:
    """The plugin's hash of `password`, with a fresh salt unless one is given."""
    salt = salt or base64.b64encode(secrets.token_bytes(SALT_BYTES)).decode()
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), base64.b64decode(salt), iterations, 64)
    return PasswordHash(salt, base64.b64encode(digest).decode(), iterations)


def vehicle_role(device_id: str) -> str:
    """Name of the role holding one vehicle's ACLs."""
    return f"fleet-vehicle-{device_id}"


def _acls(grants: Iterable[Grant]) -> list[dict[str, Any]]:
    acls: list[dict[str, Any]] = []
    for grant in grants:
        if grant.action == "publish":
            acls.append({"acltype": "publishClientSend", "topic": grant.topic, "priority": 0, "allow": True})
        else:
            kind = "subscribePattern" if "+" in grant.topic or "#" in grant.topic else "subscribeLiteral"
            acls.append({"acltype": kind, "topic": grant.topic, "priority": 0, "allow": True})
            # Receiving is denied by default (defence in depth: a session taken over still gets nothing), so each
            # subscription is granted its messages too; a shared subscription's messages carry the plain topic.
            received = grant.topic.split("/", 2)[2] if grant.topic.startswith("$share/") else grant.topic
            acls.append({"acltype": "publishClientReceive", "topic": received, "priority": 0, "allow": True})
    return acls


def _client(username: str, password: PasswordHash, roles: Sequence[str], clientid: str | None) -> dict[str, Any]:
    client: dict[str, Any] = {
        "username": username,
        "roles": [{"rolename": role} for role in roles],
        "password": password.digest,
        "salt": password.salt,
        "iterations": password.iterations,
    }
    if clientid:
        client["clientid"] = clientid
    return client


def bootstrap_config(
    admin: tuple[str, str], services: dict[ServiceIdentity, str], vehicles: dict[str, PasswordHash]
) -> dict[str, Any]:
    """The plugin's whole configuration file: admin, service and vehicle clients, default deny.

    `admin` is (username, password); `services` maps each service identity to its password; `vehicles` maps
    device ids to their stored hashes, so a broker whose volume was lost gets every unit back without rotation.
    """
    admin_user, admin_password = admin
    roles = [
        {
            "rolename": ADMIN_ROLE,
            "acls": [
                {"acltype": "publishClientSend", "topic": f"{CONTROL_TOPIC}/#", "priority": 0, "allow": True},
                {"acltype": "publishClientReceive", "topic": f"{CONTROL_TOPIC}/#", "priority": 0, "allow": True},
                {"acltype": "subscribePattern", "topic": f"{CONTROL_TOPIC}/#", "priority": 0, "allow": True},
            ],
        },
        *({"rolename": identity.value, "acls": _acls(grants)} for identity, grants in SERVICE_GRANTS.items()),
        *({"rolename": vehicle_role(d), "acls": _acls(vehicle_grants(d))} for d in vehicles),
    ]
    clients = [
        _client(admin_user, hash_password(admin_password), [ADMIN_ROLE], None),
        *(
            _client(identity.value, hash_password(password), [identity.value], None)
            for identity, password in services.items()
        ),
        *(_client(d, h, [vehicle_role(d)], d) for d, h in vehicles.items()),
    ]
    return {
        "defaultACLAccess": {
            "publishClientSend": False,
            "publishClientReceive": False,
            "subscribe": False,
            "unsubscribe": True,
        },
        "clients": clients,
        "groups": [],
        "roles": roles,
    }


class DynsecControl:
    """Sends command batches to the plugin as its admin and waits for the answers."""

    def __init__(self, endpoint: MqttEndpoint) -> None:
        self._endpoint = endpoint

    def provision_vehicles(self, passwords: Mapping[str, str]) -> None:
        """Give each vehicle a client bound to its device id with this password, and a role of its own.

        Existing clients and roles are deleted first: that kicks a session still using an old password and
        repairs a role whose ACLs drifted.
        """
        devices = list(passwords)
        for start in range(0, len(devices), COMMANDS_PER_MESSAGE // 2):
            chunk = devices[start : start + COMMANDS_PER_MESSAGE // 2]
            self.revoke_vehicles(chunk)
            creates: list[dict[str, Any]] = []
            for device_id in chunk:
                role = vehicle_role(device_id)
                creates.append({"command": "createRole", "rolename": role, "acls": _acls(vehicle_grants(device_id))})
                creates.append(
                    {
                        "command": "createClient",
                        "username": device_id,
                        "password": passwords[device_id],
                        "clientid": device_id,
                        "roles": [{"rolename": role}],
                    }
                )
            self.run(creates)

    def revoke_vehicles(self, device_ids: Sequence[str]) -> None:
        """Delete the vehicles' clients (the broker disconnects them at once) and their roles."""
        commands: list[dict[str, Any]] = []
        for device_id in device_ids:
            commands.append({"command": "deleteClient", "username": device_id})
            commands.append({"command": "deleteRole", "rolename": vehicle_role(device_id)})
        for start in range(0, len(commands), COMMANDS_PER_MESSAGE):
            self.run(commands[start : start + COMMANDS_PER_MESSAGE], tolerate=("not found",))

    def run(self, commands: list[dict[str, Any]], tolerate: tuple[str, ...] = ()) -> list[dict[str, Any]]:
        """Send `commands` in one message; raise unless each succeeded (or failed with a tolerated error)."""
        responses = self._exchange(commands)
        for command, response in zip(commands, responses, strict=True):
            error = response.get("error")
            if error and not any(part in str(error).lower() for part in tolerate):
                if "already exists" in str(error).lower():
                    raise Conflict(f"broker: {command['command']}: {error}")
                raise Unavailable(f"broker refused {command['command']}: {error}")
        return responses

    def _exchange(self, commands: list[dict[str, Any]]) -> list[dict[str, Any]]:
        answered = threading.Event()
        result: list[dict[str, Any]] = []

        def on_message(_client: mqtt.Client, _userdata: object, message: mqtt.MQTTMessage) -> None:
            body = json.loads(message.payload)
            result.extend(body.get("responses", []))
            answered.set()

        def on_connect(client: mqtt.Client, _userdata: object, _flags: object, reason: Any, _props: object) -> None:
            if not reason.is_failure:
                client.subscribe(RESPONSE_TOPIC, qos=1)

        subscribed = threading.Event()
        refused: list[str] = []

        def on_subscribe(_client: mqtt.Client, _userdata: object, _mid: int, codes: list[Any], _props: object) -> None:
            refused.extend(str(code) for code in codes if code.is_failure)
            subscribed.set()

        client = make_client(self._endpoint, f"fleet-dynsec-{uuid.uuid4().hex[:8]}")
        client.on_message = on_message
        client.on_connect = on_connect
        client.on_subscribe = on_subscribe
        try:
            client.connect(self._endpoint.host, self._endpoint.port)
        except OSError as error:
            raise Unavailable(f"broker {self._endpoint.host}:{self._endpoint.port} unreachable: {error}") from None
        client.loop_start()
        try:
            if not subscribed.wait(RESPONSE_TIMEOUT_SECONDS) or refused:
                raise Unavailable(
                    f"cannot use the broker's {CONTROL_TOPIC} ({', '.join(refused) or 'no answer'}): is the "
                    "dynamic-security plugin loaded, and is FLEET_BROKER_ADMIN_URL its admin?"
                )
            client.publish(CONTROL_TOPIC, json.dumps({"commands": commands}), qos=1)
            if not answered.wait(RESPONSE_TIMEOUT_SECONDS):
                raise Unavailable("the broker did not answer the dynamic-security commands in time")
        finally:
            client.disconnect()
            client.loop_stop()
        return result
