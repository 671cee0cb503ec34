"""Commands over HTTP: create (idempotently), params checked per type, list and page, get with history, cancel.

Every test but the concurrent one runs on PostgreSQL and on SQLite. Acks are applied as ingest applies them
(`fleet.commands.acks.apply_acks` in a transaction of its own).
"""

import base64
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from api.commands import service as api_service
from api.commands.schemas import CommandIn
from api.tenancy.service import Principal
from fleet.commands.acks import Ack, apply_acks
from fleet.contract.commands import PARAMS, CommandMessage
from fleet.contract.records import AckRecord
from fleet.db.engine import make_session_factory
from fleet.db.models import Command, OutboxMessage
from fleet.errors import Conflict
from fleet.tenancy.roles import Role
from tests.api.conftest import Database, SeededTenant, add_token, bearer, make_app, parse, seed_tenant

pytestmark = pytest.mark.integration

MESSAGE = {"type": "driver_message", "params": {"text": "Depot at 18:00"}}


@dataclass
class Env:
    """An app on one database with a tenant (two vehicles, a token of each role) and another tenant."""

    client: TestClient
    sessions: sessionmaker[Session]
    tenant: SeededTenant
    other: SeededTenant
    headers: dict[str, dict[str, str]]

    @property
    def devices(self) -> list[str]:
        """The tenant's device ids, sorted."""
        return self.tenant.device_ids

    def send(
        self, body: Any = None, device: str | None = None, role: str = "operator", key: str | None = None
    ) -> httpx.Response:
        """POST a command (MESSAGE unless `body`) for `device` (the first vehicle), with an Idempotency-Key."""
        headers = self.headers[role] | ({"Idempotency-Key": key} if key is not None else {})
        path = f"/v1/vehicles/{device or self.devices[0]}/commands"
        return self.client.post(path, headers=headers, json=MESSAGE if body is None else body)

    def queued(self, body: Any = None, device: str | None = None) -> int:
        """The id of a command just queued."""
        response = self.send(body, device)
        assert response.status_code == 201, response.text
        return int(response.json()["id"])

    def get(self, path: str, role: str = "viewer", **kwargs: Any) -> httpx.Response:
        """GET with a token of `role`."""
        return self.client.get(path, headers=self.headers[role], **kwargs)

    def cancel(self, command_id: int | str, role: str = "operator") -> httpx.Response:
        """POST .../cancel with a token of `role`."""
        return self.client.post(f"/v1/commands/{command_id}/cancel", headers=self.headers[role])

    def ack(self, command_id: int, state: str, seq: int, device: str | None = None, **fields: Any) -> None:
        """Apply the unit's ack as ingest does, in a transaction of its own."""
        vehicle_id = self.tenant.vehicle_ids[device or self.devices[0]]
        record = AckRecord(ts=datetime.now(UTC), seq=seq, command_id=str(command_id), state=state, **fields)
        with self.sessions.begin() as session:
            assert apply_acks(session.connection(), [Ack(vehicle_id, record, datetime.now(UTC))]) == []


@pytest.fixture
def env(database: Database, unique: str) -> Iterator[Env]:
    sessions = database.sessions
    tenant = seed_tenant(sessions, f"cmd-{unique}", [f"bus-{unique}-1", f"bus-{unique}-2"])
    other = seed_tenant(sessions, f"cmd-other-{unique}", [f"bus-{unique}-9"])
    headers = {role.value: bearer(add_token(sessions, tenant.id, role, role.value)[1]) for role in Role}
    with TestClient(make_app(database.url)) as client:
        yield Env(client, sessions, tenant, other, headers)


# --- create ----------------------------------------------------------------------------------------------------


def test_a_command_is_created_queued_with_its_outbox_message(env: Env) -> None:
    response = env.send({**MESSAGE, "expires_in_seconds": 600})

    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {
        *("id", "device_id", "type", "params", "state", "created_at", "expires_at", "sent_at", "delivered_at"),
        *("finished_at", "result", "error", "created_by"),
    }
    assert (body["device_id"], body["type"], body["params"], body["state"], body["created_by"]) == (
        env.devices[0],
        "driver_message",
        {"text": "Depot at 18:00"},
        "queued",
        "operator",
    )
    assert [body[name] for name in ("sent_at", "delivered_at", "finished_at", "result", "error")] == [None] * 5
    assert parse(body["expires_at"]) - parse(body["created_at"]) == timedelta(seconds=600)
    with env.sessions() as session:
        command = session.get_one(Command, body["id"])
        message = session.get_one(OutboxMessage, command.outbox_id)
        assert (message.vehicle_id, message.suffix, message.state) == (
            env.tenant.vehicle_ids[env.devices[0]],
            "cmd",
            "pending",
        )
        sent = CommandMessage.model_validate_json(message.payload)
        assert (sent.id, sent.type, sent.params) == (str(body["id"]), "driver_message", {"text": "Depot at 18:00"})
        assert sent.expires_at == message.expires_at == parse(body["expires_at"])


def test_params_default_to_empty_and_expiry_to_an_hour(env: Env) -> None:
    body = env.send({"type": "reboot"}).json()

    assert (body["type"], body["params"]) == ("reboot", {})
    assert parse(body["expires_at"]) - parse(body["created_at"]) == timedelta(hours=1)


def test_a_repeat_with_the_same_idempotency_key_returns_the_same_command(env: Env) -> None:
    first = env.send(key="retry-7f3a")
    again = env.send(key="retry-7f3a")

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    with env.sessions() as session:
        rows = session.scalars(select(Command).where(Command.tenant_id == env.tenant.id)).all()
        messages = session.scalars(select(OutboxMessage).where(OutboxMessage.tenant_id == env.tenant.id)).all()
        assert [c.id for c in rows] == [first.json()["id"]]
        assert [m.id for m in messages] == [rows[0].outbox_id]


@pytest.mark.parametrize(
    ("body", "device"),
    [
        pytest.param({"type": "driver_message", "params": {"text": "Other text"}}, 0, id="other-params"),
        pytest.param({"type": "reboot"}, 0, id="other-type"),
        pytest.param(MESSAGE, 1, id="other-vehicle"),
    ],
)
def test_the_same_idempotency_key_with_another_request_is_409(env: Env, body: dict[str, Any], device: int) -> None:
    assert env.send(key="k-1").status_code == 201

    response = env.send(body, env.devices[device], key="k-1")

    assert response.status_code == 409
    assert response.json() == {"detail": "this Idempotency-Key was used for another command"}


def test_idempotency_keys_are_the_tenants_own(env: Env) -> None:
    ours = env.send(key="shared-key")
    theirs = env.client.post(
        f"/v1/vehicles/{env.other.device_ids[0]}/commands",
        headers=env.other.headers | {"Idempotency-Key": "shared-key"},
        json={"type": "reboot"},
    )

    assert (ours.status_code, theirs.status_code) == (201, 201)
    assert ours.json()["id"] != theirs.json()["id"]


@pytest.mark.parametrize(
    ("key", "status"),
    [
        pytest.param("k" * 200, 201, id="200-characters"),
        pytest.param("a b~!{}", 201, id="inner-space-and-punctuation"),
        pytest.param("k" * 201, 422, id="201-characters"),
        pytest.param("", 422, id="empty"),
        pytest.param("tab\there", 422, id="control-character"),
    ],
)
def test_an_idempotency_key_is_1_to_200_printable_ascii_characters(env: Env, key: str, status: int) -> None:
    assert env.send(key=key).status_code == status


@pytest.mark.parametrize(
    ("command_type", "params", "problem"),
    [
        ("driver_message", {}, "params of driver_message: text: Field required"),
        ("driver_message", {"text": "x" * 501}, "text: String should have at most 500 characters"),
        ("driver_message", {"text": "hi", "colour": "red"}, "colour: Extra inputs are not permitted"),
        ("request_file", {"kind": "firmware"}, "params of request_file: kind: Input should be"),
        ("request_file", {"kind": "video"}, "a video needs started_at and ended_at"),
        (
            "request_file",
            {"kind": "video", "started_at": "2026-03-01T08:00:00Z", "ended_at": "2026-03-01T10:00:00Z"},
            "a clip covers at most an hour",
        ),
        ("set_reporting", {}, "set pos_interval_seconds, can_interval_seconds or both"),
        ("set_reporting", {"pos_interval_seconds": 0.1}, "pos_interval_seconds: Input should be greater than"),
        ("reboot", {"now": True}, "params of reboot: now: Extra inputs are not permitted"),
    ],
)
def test_params_that_do_not_fit_the_types_schema_are_422_with_the_reason(
    env: Env, command_type: str, params: dict[str, Any], problem: str
) -> None:
    response = env.send({"type": command_type, "params": params})

    assert response.status_code == 422
    assert problem in response.json()["detail"]
    with env.sessions() as session:
        assert session.scalars(select(Command).where(Command.tenant_id == env.tenant.id)).all() == []


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"type": "self_destruct"}, id="unknown-type"),
        pytest.param({"params": {}}, id="no-type"),
        pytest.param({**MESSAGE, "params": ["text"]}, id="params-not-an-object"),
        pytest.param({**MESSAGE, "expires_in_seconds": 9}, id="expiry-too-short"),
        pytest.param({**MESSAGE, "expires_in_seconds": 2_592_001}, id="expiry-too-long"),
        pytest.param({**MESSAGE, "priority": 1}, id="unknown-field"),
    ],
)
def test_a_body_that_is_not_a_command_is_422(env: Env, body: dict[str, Any]) -> None:
    response = env.send(body)

    assert response.status_code == 422
    assert isinstance(response.json()["detail"], list)


def test_the_longest_expiry_is_30_days(env: Env) -> None:
    body = env.send({**MESSAGE, "expires_in_seconds": 2_592_000}).json()

    assert parse(body["expires_at"]) - parse(body["created_at"]) == timedelta(days=30)


def test_the_types_and_their_params_are_documented(env: Env) -> None:
    operation = env.client.get("/openapi.json").json()["paths"]["/v1/vehicles/{device_id}/commands"]["post"]

    description = operation["description"]
    assert "fleet/contract/schemas/v1/cmd-params.json" in description
    for command_type, model in PARAMS.items():
        assert f"- `{command_type}`" in description
        assert all(f"`{field}`" in description for field in model.model_fields)
    assert {"200", "201", "403", "404", "409", "422"} <= set(operation["responses"])
    header = next(p for p in operation["parameters"] if p["in"] == "header")
    assert header["name"] == "Idempotency-Key"


# --- list ------------------------------------------------------------------------------------------------------


def test_a_vehicles_commands_are_listed_newest_first_and_paged_by_id(env: Env) -> None:
    ids = [env.queued({"type": "driver_message", "params": {"text": f"message {i}"}}) for i in range(5)]
    env.queued({"type": "reboot"}, env.devices[1])
    path = f"/v1/vehicles/{env.devices[0]}/commands"

    pages, cursor = [], None
    while True:
        page = env.get(path, params={"limit": 2} | ({"cursor": cursor} if cursor else {})).json()
        pages.append([item["id"] for item in page["items"]])
        if (cursor := page["next"]) is None:
            break

    assert pages == [ids[4:2:-1], ids[2:0:-1], ids[0:1]]
    everything = env.get(path).json()
    assert [item["id"] for item in everything["items"]] == ids[::-1] and everything["next"] is None
    assert everything["items"][0]["params"] == {"text": "message 4"}
    assert env.get(path, params={"limit": 5}).json()["next"] is None


def test_listing_by_state(env: Env) -> None:
    first, second, third = env.queued(), env.queued(), env.queued()
    assert env.cancel(second).status_code == 200
    path = f"/v1/vehicles/{env.devices[0]}/commands"

    queued = env.get(path, params={"state": "queued"}).json()["items"]
    cancelled = env.get(path, params={"state": "cancelled"}).json()["items"]
    page = env.get(path, params={"state": "queued", "limit": 1}).json()
    rest = env.get(path, params={"state": "queued", "cursor": page["next"]}).json()

    assert [c["id"] for c in queued] == [third, first]
    assert [(c["id"], c["state"]) for c in cancelled] == [(second, "cancelled")]
    assert [c["id"] for c in page["items"] + rest["items"]] == [third, first]
    assert env.get(path, params={"state": "done"}).json() == {"items": [], "next": None}
    assert env.get(path, params={"state": "lost"}).status_code == 422


def b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        pytest.param("garbage!", id="not-base64"),
        pytest.param(b64("c1:0"), id="id-0"),
        pytest.param(b64(f"c1:{2**63}"), id="id-out-of-range"),
        pytest.param(b64("c1:-5"), id="negative"),
        pytest.param(b64("c9:12"), id="other-version"),
        pytest.param(b64("2:1:2026-03-01T00:00:00+00:00"), id="a-time-series-cursor"),
    ],
)
def test_a_cursor_not_issued_by_the_listing_is_422(env: Env, cursor: str) -> None:
    response = env.get(f"/v1/vehicles/{env.devices[0]}/commands", params={"cursor": cursor})

    assert response.status_code == 422
    assert response.json() == {"detail": "invalid cursor: pass the `next` value of a previous page unchanged"}


def test_cursors_round_trip() -> None:
    for command_id in (1, 42, 2**63 - 1):
        assert api_service.decode_cursor(api_service.encode_cursor(command_id)) == command_id


# --- get -------------------------------------------------------------------------------------------------------


def test_a_command_is_shown_with_its_history_in_order(env: Env) -> None:
    command_id = env.queued()
    env.ack(command_id, "received", 1)
    env.ack(command_id, "done", 2, result={"shown": True})

    response = env.get(f"/v1/commands/{command_id}")

    assert response.status_code == 200
    body = response.json()
    assert (body["state"], body["result"], body["error"], body["device_id"]) == (
        "done",
        {"shown": True},
        None,
        env.devices[0],
    )
    assert body["delivered_at"] is not None and body["finished_at"] is not None
    assert [(step["state"], step["detail"]) for step in body["history"]] == [
        ("queued", "by operator"),
        ("sent", "shown by the unit's ack"),
        ("delivered", None),
        ("done", None),
    ]
    stamps = [parse(step["at"]) for step in body["history"]]
    assert stamps == sorted(stamps)


def test_a_rejected_command_shows_the_units_error(env: Env) -> None:
    command_id = env.queued()
    env.ack(command_id, "rejected", 1, error="display off")

    body = env.get(f"/v1/commands/{command_id}").json()

    assert (body["state"], body["error"]) == ("rejected", "display off")
    assert [(step["state"], step["detail"]) for step in body["history"]][-1] == ("rejected", "display off")


# --- cancel ----------------------------------------------------------------------------------------------------


def test_a_queued_command_is_cancelled_and_never_sent(env: Env) -> None:
    command_id = env.queued()

    response = env.cancel(command_id)

    assert response.status_code == 200
    assert (response.json()["id"], response.json()["state"]) == (command_id, "cancelled")
    assert response.json()["finished_at"] is not None
    history = env.get(f"/v1/commands/{command_id}").json()["history"]
    assert [(step["state"], step["detail"]) for step in history] == [
        ("queued", "by operator"),
        ("cancelled", "by operator"),
    ]
    with env.sessions() as session:
        assert session.get_one(OutboxMessage, session.get_one(Command, command_id).outbox_id).state == "cancelled"
    again = env.cancel(command_id)
    assert again.status_code == 409
    assert again.json() == {
        "detail": f"command {command_id} is cancelled: only queued or sent commands can be cancelled"
    }


@pytest.mark.parametrize(("acks", "state"), [(["received"], "delivered"), (["received", "done"], "done")])
def test_a_command_the_unit_has_cannot_be_cancelled(env: Env, acks: list[str], state: str) -> None:
    command_id = env.queued()
    for seq, ack in enumerate(acks, start=1):
        env.ack(command_id, ack, seq)

    response = env.cancel(command_id)

    assert response.status_code == 409
    assert f"is {state}" in response.json()["detail"]
    assert env.get(f"/v1/commands/{command_id}").json()["state"] == state


# --- roles, tenants, audit -------------------------------------------------------------------------------------


def test_a_viewer_may_read_but_not_send_or_cancel(env: Env) -> None:
    command_id = env.queued()

    assert env.send(role="viewer").status_code == 403
    assert env.cancel(command_id, role="viewer").status_code == 403
    assert env.get(f"/v1/commands/{command_id}").status_code == 200
    assert env.get(f"/v1/vehicles/{env.devices[0]}/commands").status_code == 200
    assert env.get(f"/v1/commands/{command_id}").json()["state"] == "queued"


def test_another_tenants_vehicles_and_commands_are_404_everywhere(env: Env) -> None:
    theirs = env.other.device_ids[0]
    their_command = env.client.post(
        f"/v1/vehicles/{theirs}/commands", headers=env.other.headers, json={"type": "reboot"}
    ).json()["id"]

    answers = [
        env.send(device=theirs),
        env.send(device=theirs, key="k"),
        env.get(f"/v1/vehicles/{theirs}/commands"),
        env.get(f"/v1/commands/{their_command}"),
        env.cancel(their_command),
        env.get("/v1/vehicles/no-such-bus/commands"),
    ]

    assert [a.status_code for a in answers] == [404] * len(answers)
    assert answers[3].json() == answers[4].json() == {"detail": f"no command {their_command}"}
    mine = env.client.get(f"/v1/commands/{their_command}", headers=env.other.headers).json()
    assert mine["state"] == "queued"


@pytest.mark.parametrize("command_id", ["0", "-1", str(2**63), str(10**30)])
def test_an_id_out_of_the_64_bit_range_is_404(env: Env, command_id: str) -> None:
    assert env.get(f"/v1/commands/{command_id}").status_code == 404
    assert env.cancel(command_id).status_code == 404


def test_creating_and_cancelling_are_in_the_audit_log(env: Env) -> None:
    command_id = env.queued()
    env.send(key="audited")
    env.send(key="audited")  # a repeat queues nothing and records nothing
    assert env.cancel(command_id).status_code == 200

    created = env.get("/v1/audit", "admin", params={"action": "command.create"}).json()["items"]
    cancelled = env.get("/v1/audit", "admin", params={"action": "command.cancel"}).json()["items"]

    assert len(created) == 2
    entry = created[-1]
    assert (entry["target"], entry["actor"]) == (str(command_id), "operator")
    assert entry["detail"]["device_id"] == env.devices[0]
    assert (entry["detail"]["type"], entry["detail"]["params"]) == ("driver_message", {"text": "Depot at 18:00"})
    assert [(e["target"], e["actor"]) for e in cancelled] == [(str(command_id), "operator")]


# --- concurrency (PostgreSQL) ----------------------------------------------------------------------------------


def test_a_concurrent_request_with_the_same_key_gets_the_command_or_409_never_a_500(
    pg_engine: Engine, unique: str
) -> None:
    sessions = make_session_factory(pg_engine)
    tenant = seed_tenant(sessions, f"cmd-race-{unique}", [f"bus-{unique}-1"])
    token_id, _ = add_token(sessions, tenant.id, Role.OPERATOR, "operator")
    principal = Principal(tenant.id, token_id, "operator", Role.OPERATOR)
    body = CommandIn.model_validate(MESSAGE)
    outcome: list[object] = []

    def second_request() -> None:
        with sessions() as session:
            try:
                command, is_new = api_service.create_command(session, principal, tenant.device_ids[0], body, "race")
                outcome.append((command.id, is_new))
            except Conflict as error:
                outcome.append(error.detail)

    with sessions() as first:
        command, is_new = api_service.create_command(first, principal, tenant.device_ids[0], body, "race")
        # The second request's insert waits on this uncommitted one, then fails on the unique key.
        thread = threading.Thread(target=second_request)
        thread.start()
        thread.join(timeout=1)
        first.commit()
    thread.join(timeout=10)

    assert is_new
    assert outcome in (
        [(command.id, False)],
        ["a request with this Idempotency-Key is in progress: retry it for its answer"],
    )
