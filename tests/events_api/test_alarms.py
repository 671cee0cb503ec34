"""Alarms over HTTP: the list (not closed by default), one with its event, acknowledging and closing by role,
409s for the wrong state, counts, the audit log and the live feed; another tenant's alarms are never seen."""

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from fleet.db.models import Alarm, AuditEntry, Event, LiveMessage, utcnow
from fleet.events.service import Changes, retract
from tests.api.conftest import BASE_TS, iso
from tests.events_api.conftest import Env, store_event

pytestmark = pytest.mark.integration

SHAPE = {
    *("id", "device_id", "event", "type", "severity", "state", "opened_at", "acknowledged_at", "acknowledged_by"),
    *("comment", "closed_at", "closed_by", "close_reason"),
}


def alarm(env: Env, minutes: int = 0, **fields: Any) -> int:
    """The id of the alarm of a new critical panic button (unless `fields` say otherwise) `minutes` after BASE_TS."""
    _event_id, alarm_id = env.event(started_at=BASE_TS + timedelta(minutes=minutes), **fields)
    assert alarm_id is not None
    return alarm_id


def ack(env: Env, alarm_id: int, role: str = "operator", body: object = None) -> httpx.Response:
    """POST .../acknowledge."""
    return env.send("POST", f"/v1/alarms/{alarm_id}/acknowledge", role, body)


def close(env: Env, alarm_id: int, role: str = "operator", body: object = None) -> httpx.Response:
    """POST .../close."""
    return env.send("POST", f"/v1/alarms/{alarm_id}/close", role, body)


def listed(env: Env, **params: object) -> list[int]:
    """Ids of the listed alarms, in order."""
    response = env.get("/v1/alarms", **params)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


def test_an_alarm_is_listed_and_got_with_its_event(env: Env) -> None:
    event_id, alarm_id = env.event(event_type="crash", severity="critical", data={"g": 4.0})
    _info, no_alarm = env.event(event_type="harsh_braking", severity="info", data={"g": 0.4})

    items = env.get("/v1/alarms").json()["items"]
    detail = env.get(f"/v1/alarms/{alarm_id}").json()

    assert no_alarm is None and [item["id"] for item in items] == [alarm_id]
    assert set(items[0]) == SHAPE
    assert (items[0]["event"], items[0]["type"], items[0]["state"], items[0]["device_id"]) == (
        event_id, "crash", "open", env.devices[0],
    )  # fmt: skip
    assert {k: v for k, v in detail.items() if k != "event_detail"} == items[0]
    assert detail["event_detail"] == env.get(f"/v1/events/{event_id}").json()


def test_a_retracted_events_alarm_keeps_its_type_without_the_event(env: Env) -> None:
    event_id, alarm_id = env.event(event_type="overspeed", severity="warning", source="detector",
                                   data={"limit_kmh": 80, "peak_speed_kmh": 99})  # fmt: skip
    with env.sessions.begin() as session:
        retract(session, session.get_one(Event, event_id), env.devices[0], Changes(), utcnow())

    detail = env.get(f"/v1/alarms/{alarm_id}").json()

    assert (detail["event"], detail["event_detail"], detail["type"], detail["state"]) == (
        None,
        None,
        "overspeed",
        "closed",
    )
    assert detail["close_reason"].startswith("retracted")


def test_ack_then_close_by_an_operator_audited_and_on_the_live_feed(env: Env) -> None:
    alarm_id = alarm(env)

    acked = ack(env, alarm_id, body={"comment": "driver called back"})
    closed = close(env, alarm_id, body={"comment": "false alarm"})

    assert acked.status_code == 200, acked.text
    a = acked.json()
    assert (a["state"], a["acknowledged_by"], a["comment"], a["closed_at"]) == (
        "acknowledged", "operator", "driver called back", None,
    )  # fmt: skip
    c = closed.json()
    assert (c["state"], c["closed_by"], c["close_reason"], c["comment"]) == (
        "closed", "operator", "closed by hand", "false alarm",
    )  # fmt: skip
    with env.sessions() as session:
        feed = session.scalars(
            select(LiveMessage).where(LiveMessage.tenant_id == env.tenant.id, LiveMessage.kind == "alarm")
            .order_by(LiveMessage.id)
        ).all()  # fmt: skip
        audit = session.scalars(
            select(AuditEntry).where(AuditEntry.tenant_id == env.tenant.id, AuditEntry.target == str(alarm_id))
            .order_by(AuditEntry.id)
        ).all()  # fmt: skip
    # The first message is the alarm's opening, by the event's save; then one per change, as answered.
    assert [m.payload["state"] for m in feed] == ["open", "acknowledged", "closed"]
    assert [{**m.payload} for m in feed[1:]] == [
        {k: v.replace("Z", "+00:00") if isinstance(v, str) and k.endswith("_at") else v for k, v in body.items()}
        for body in (a, c)
    ]
    assert [(e.action, e.actor, e.detail["comment"]) for e in audit] == [
        ("alarm.acknowledge", "operator", "driver called back"),
        ("alarm.close", "operator", "false alarm"),
    ]


def test_the_wrong_state_is_409(env: Env) -> None:
    alarm_id = alarm(env)

    assert ack(env, alarm_id).status_code == 200
    again = ack(env, alarm_id)
    assert close(env, alarm_id).status_code == 200
    closed_twice = close(env, alarm_id)
    ack_closed = ack(env, alarm_id)

    assert again.status_code == 409 and "acknowledged by operator" in again.json()["detail"]
    assert closed_twice.status_code == 409 and "was closed at" in closed_twice.json()["detail"]
    assert ack_closed.status_code == 409


def test_an_open_alarm_closes_without_a_body_or_acknowledgement(env: Env) -> None:
    alarm_id = alarm(env)

    response = close(env, alarm_id, role="admin")

    assert response.status_code == 200
    body = response.json()
    assert (body["state"], body["acknowledged_at"], body["comment"], body["closed_by"]) == (
        "closed",
        None,
        None,
        "admin",
    )


def test_a_viewer_cannot_act_and_another_tenants_alarm_is_404(env: Env) -> None:
    mine = alarm(env)
    _event, theirs = store_event(env.sessions, env.other, env.other.device_ids[0])
    assert theirs is not None

    assert ack(env, mine, role="viewer").status_code == 403
    assert close(env, mine, role="viewer").status_code == 403
    assert ack(env, theirs).status_code == 404
    assert close(env, theirs).status_code == 404
    assert env.get(f"/v1/alarms/{theirs}").status_code == 404
    assert theirs not in listed(env, state="all")
    assert ack(env, 2**63).status_code == 404
    with env.sessions() as session:
        assert session.get_one(Alarm, theirs).state == "open"
        assert session.get_one(Alarm, mine).state == "open"


@pytest.mark.parametrize("body", [{"comment": "x" * 2001}, {"comment": 5}, {"note": "hi"}, {"comment": "a\x00b"}])
def test_a_bad_body_is_422(env: Env, body: object) -> None:
    alarm_id = alarm(env)

    assert ack(env, alarm_id, body=body).status_code == 422
    assert close(env, alarm_id, body=body).status_code == 422
    assert ack(env, alarm_id, body={"comment": "x" * 2000}).status_code == 200


def test_the_list_shows_what_is_not_closed_unless_asked(env: Env) -> None:
    first, acked, closed = alarm(env, 0), alarm(env, 1), alarm(env, 2)
    warning = alarm(env, 3, event_type="power_cut", severity="warning")
    ack(env, acked)
    close(env, closed)

    assert listed(env) == [warning, acked, first]
    assert listed(env, state="all") == [warning, closed, acked, first]
    assert listed(env, state="closed") == [closed]
    assert listed(env, state="open,closed") == listed(env, state=["open", "closed"]) == [warning, closed, first]
    assert listed(env, severity="critical") == [acked, first]
    assert listed(env, type="power_cut") == [warning]
    assert listed(env, since=iso(BASE_TS + timedelta(minutes=1)), until=iso(BASE_TS + timedelta(minutes=3))) == [acked]
    assert listed(env, device_id=env.devices[1]) == []
    pages, cursor = [], None
    while True:
        body = env.get("/v1/alarms", state="all", limit=3, **({"cursor": cursor} if cursor else {})).json()
        pages.append([item["id"] for item in body["items"]])
        if (cursor := body["next"]) is None:
            break
    assert pages == [[warning, closed, acked], [first]]


def test_counts_per_type_state_and_severity(env: Env) -> None:
    first, second = alarm(env, 0), alarm(env, 1, event_type="power_cut", severity="warning")
    alarm(env, 2, event_type="power_cut", severity="warning")
    ack(env, first)
    close(env, second)

    default = env.get("/v1/alarms/counts").json()
    everything = env.get("/v1/alarms/counts", state="all").json()

    assert default == {
        "total": 2,
        "by_type": {"panic_button": 1, "power_cut": 1},
        "by_state": {"open": 1, "acknowledged": 1},
        "by_severity": {"warning": 1, "critical": 1},
    }
    assert (everything["total"], everything["by_state"]) == (3, {"open": 1, "acknowledged": 1, "closed": 1})
    assert env.get("/v1/alarms/counts", state="all").json()["by_type"] == {"panic_button": 1, "power_cut": 2}


@pytest.mark.parametrize(
    "params",
    [{"state": "pending"}, {"type": "BAD"}, {"severity": "high"}, {"cursor": "x"}, {"since": "yesterday"}],
)
def test_bad_parameters_are_422(env: Env, params: dict[str, str]) -> None:
    assert env.get("/v1/alarms", **params).status_code == 422
