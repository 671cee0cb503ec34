"""Smoke test of the whole API on SQLite, the embedded default."""

from datetime import timedelta

from fastapi.testclient import TestClient

from api.app import create_app
from fleet.db.engine import make_engine, make_session_factory
from fleet.db.models import DeadLetter, VehicleState
from fleet.settings import ApiSettings, SharedSettings
from tests.api.conftest import BASE_TS, insert_can, insert_positions, iso, make_app, parse, seed_tenant


def test_api_on_sqlite(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    sessions = make_session_factory(engine)
    tenant = seed_tenant(sessions, "sqlite-tenant", ["bus-2", "bus-1"])
    other = seed_tenant(sessions, "sqlite-other", ["bus-9"])
    stamps = [BASE_TS + timedelta(seconds=i, microseconds=i) for i in range(7)]
    insert_positions(sessions, tenant.vehicle_ids["bus-1"], stamps)
    insert_can(
        sessions, tenant.vehicle_ids["bus-1"], [{"ts": BASE_TS, "seq": 1, "doors_open_mask": 1, "door_count": 2}]
    )
    with sessions() as session:
        session.add(VehicleState(vehicle_id=tenant.vehicle_ids["bus-1"], pos_ts=BASE_TS, pos_seq=1, lat=1.0, lon=2.0))
        session.add(DeadLetter(topic="t", tenant_id=tenant.id, reason="invalid", detail="d", payload=b"x"))
        session.commit()
    engine.dispose()

    with TestClient(make_app(sqlite_url)) as client:
        h = tenant.headers
        assert client.get("/readyz").status_code == 200
        assert [v["device_id"] for v in client.get("/v1/vehicles", headers=h).json()["items"]] == ["bus-1", "bus-2"]
        assert client.get("/v1/vehicles/bus-1", headers=h).json()["state"]["position"]["lat"] == 1.0
        assert client.get("/v1/vehicles/bus-9", headers=h).status_code == 404

        seen, cursor = [], None
        while True:
            params = {"since": iso(BASE_TS), "until": iso(stamps[-1]), "limit": "2"}
            body = client.get(
                "/v1/vehicles/bus-1/positions", params={**params, **({"cursor": cursor} if cursor else {})}, headers=h
            ).json()
            seen += [parse(p["ts"]) for p in body["items"]]
            if (cursor := body["next"]) is None:
                break
        assert seen == stamps[:-1]

        can = client.get("/v1/vehicles/bus-1/can", params={"since": iso(BASE_TS)}, headers=h).json()
        assert can["items"][0]["doors_open"] == [True, False]
        assert [i["device_id"] for i in client.get("/v1/live", headers=h).json()["items"]] == ["bus-1"]
        assert len(client.get("/v1/deadletters", headers=h).json()["items"]) == 1
        assert client.get("/v1/deadletters", headers=other.headers).json()["items"] == []
        assert client.get("/v1/vehicles/bus-1/positions", params={"limit": "0"}, headers=h).status_code == 422


def test_an_app_on_the_callers_engine_leaves_disposing_it_to_the_caller(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    pool = engine.pool
    app = create_app(SharedSettings(database_url="sqlite:///unused.db"), ApiSettings(), engine)

    with TestClient(app) as client:
        assert client.get("/readyz").status_code == 200

    assert app.state.engine is engine
    assert engine.pool is pool  # dispose() would have replaced it
    engine.dispose()
