"""The events, alarms, rules and geofences routes on SQLite, the embedded default."""

from collections.abc import Iterator

import pytest
from sqlalchemy import select

from fleet.db.engine import make_engine, make_session_factory
from fleet.db.models import LiveMessage
from tests.events_api.conftest import Env, make_env


@pytest.fixture
def sqlite_env(sqlite_url: str, unique: str) -> Iterator[Env]:
    """An Env on a fresh SQLite database."""
    engine = make_engine(sqlite_url)
    yield from make_env(make_session_factory(engine), sqlite_url, unique)
    engine.dispose()


def test_the_alarm_flow_on_sqlite(sqlite_env: Env) -> None:
    env = sqlite_env
    event_id, alarm_id = env.event(event_type="door_open_moving", severity="critical", source="detector",
                                   data={"doors": [1], "peak_speed_kmh": 20})  # fmt: skip

    assert [e["id"] for e in env.get("/v1/events", type="door_open_moving").json()["items"]] == [event_id]
    assert env.get("/v1/events/counts").json()["by_severity"]["critical"] == 1
    assert env.get(f"/v1/alarms/{alarm_id}").json()["event_detail"]["id"] == event_id
    assert env.send("POST", f"/v1/alarms/{alarm_id}/acknowledge", "operator", {"comment": "on it"}).status_code == 200
    assert env.send("POST", f"/v1/alarms/{alarm_id}/close", "operator").json()["state"] == "closed"
    assert env.get("/v1/alarms").json()["items"] == []
    assert (
        env.send("PUT", "/v1/event-rules/door_open_moving/groups/city", "admin", {"min_speed_kmh": 3}).status_code
        == 200
    )
    assert (
        env.send(
            "POST", "/v1/geofences", "admin", {"name": "D", "kind": "depot", "polygon": [[0, 0], [1, 0], [0, 1]]}
        ).status_code
        == 201
    )
    with env.sessions() as session:
        kinds = session.scalars(select(LiveMessage.kind).where(LiveMessage.tenant_id == env.tenant.id)).all()
    assert kinds.count("alarm") == 3  # opened, acknowledged, closed
