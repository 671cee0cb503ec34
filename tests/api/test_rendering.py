"""The answers written from plain rows (`api.render`) are byte for byte what the response models wrote before."""

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from api.can.schemas import CanPage, CanSampleOut
from api.live.schemas import LiveCan, LiveItem, LiveList, LivePosition, StateOut
from api.positions.schemas import PositionOut, PositionPage
from api.timeseries.window import encode_cursor
from api.vehicles.schemas import VehicleDetail, VehicleList, VehicleOut
from fleet.db.models import CanSample, Position, Vehicle, VehicleState
from fleet.db.partitions import ensure_partitions
from fleet.doors import unpack_doors
from tests.api.conftest import BASE_TS, Database, SeededTenant, insert_can, iso, make_app, seed_tenant

pytestmark = pytest.mark.integration

# Floats whose text differs between writers that are not careful (integral, tiny, huge, negative zero), timestamps
# with and without microseconds, and nulls in every nullable column.
ODD_FLOATS = (30.0, 0.1, 1e-7, 1e16, -0.0, 123456789.123, 5e-324, 1e15)


def position_rows(vehicle_id: int) -> list[Position]:
    """Positions covering the odd values."""
    rows = []
    for n, value in enumerate(ODD_FLOATS):
        ts = BASE_TS + timedelta(seconds=n, microseconds=0 if n % 2 else 250_001)
        nullable = None if n % 3 == 0 else value
        rows.append(
            Position(
                vehicle_id=vehicle_id, ts=ts, seq=n, lat=value, lon=-value, speed_kmh=nullable, heading_deg=nullable,
                alt_m=None if n % 2 else value, sats=None if n % 4 == 0 else n, hdop=nullable,
            )
        )  # fmt: skip
    return rows


def add(sessions: sessionmaker[Session], rows: list[object], table: str | None = None) -> None:
    """Insert ORM rows, creating the day's partition of `table`."""
    with sessions() as session:
        if table:
            ensure_partitions(session.connection(), table, {BASE_TS.date()})
        session.add_all(rows)
        session.commit()


def test_a_page_of_positions_is_what_the_models_wrote(database: Database, unique: str) -> None:
    tenant = seed_tenant(database.sessions, f"render-{unique}", [f"r-{unique}"])
    device = tenant.device_ids[0]
    add(database.sessions, position_rows(tenant.vehicle_ids[device]), "positions")
    with database.sessions() as session:
        mine = Position.vehicle_id == tenant.vehicle_ids[device]
        stored = session.scalars(select(Position).where(mine).order_by(Position.ts)).all()
        models = [PositionOut.model_validate(row, from_attributes=True) for row in stored]
    params = {"since": iso(BASE_TS), "until": iso(BASE_TS + timedelta(hours=1))}

    with TestClient(make_app(database.url)) as client:
        whole = client.get(f"/v1/vehicles/{device}/positions", params=params, headers=tenant.headers)
        first = client.get(f"/v1/vehicles/{device}/positions", params={**params, "limit": "3"}, headers=tenant.headers)

    assert whole.content == PositionPage(items=models, next=None).model_dump_json().encode()
    cursor = encode_cursor(models[2].ts, models[2].seq)
    assert first.content == PositionPage(items=models[:3], next=cursor).model_dump_json().encode()
    assert b'"ts":"2026-03-01T00:00:00.250001Z"' in whole.content and b'"ts":"2026-03-01T00:00:01Z"' in whole.content


def test_a_page_of_can_samples_is_what_the_models_wrote(
    client: TestClient, tenant: SeededTenant, pg_sessions: sessionmaker[Session]
) -> None:
    device = tenant.device_ids[0]
    insert_can(
        pg_sessions,
        tenant.vehicle_ids[device],
        [
            {"ts": BASE_TS, "seq": 1, "fuel_level_pct": 30.0, "doors_open_mask": 0b101, "door_count": 3},
            {"ts": BASE_TS + timedelta(seconds=1, microseconds=7), "seq": 2, "distance_total_km": 1e16},
            {"ts": BASE_TS + timedelta(seconds=2), "seq": 3, "engine_speed_rpm": 0.1, "doors_open_mask": 2},
        ],
    )
    with pg_sessions() as session:
        stored = session.scalars(
            select(CanSample).where(CanSample.vehicle_id == tenant.vehicle_ids[device]).order_by(CanSample.ts)
        ).all()
        models = [
            CanSampleOut(
                **{name: getattr(row, name) for name in CanSampleOut.model_fields if name != "doors_open"},
                doors_open=unpack_doors(row.doors_open_mask, row.door_count),
            )
            for row in stored
        ]

    answer = client.get(
        f"/v1/vehicles/{device}/can", params={"since": iso(BASE_TS), "limit": "2"}, headers=tenant.headers
    )

    expected = CanPage(items=models[:2], next=encode_cursor(models[1].ts, models[1].seq))
    assert answer.content == expected.model_dump_json().encode()


def states(tenant: SeededTenant) -> list[VehicleState]:
    """A position only, CAN values only with a status, and everything, on the tenant's first three vehicles."""
    first, second, third = (tenant.vehicle_ids[d] for d in tenant.device_ids[:3])
    ts = datetime(2026, 3, 1, 8, 0, 0, 125, tzinfo=UTC)
    return [
        VehicleState(vehicle_id=first, pos_ts=ts, pos_seq=None, lat=48.0, lon=11.5, updated_at=ts),
        VehicleState(
            vehicle_id=second, can_ts=ts, can_seq=4, passenger_count=12, doors_open_mask=0b10, door_count=2,
            status_ts=ts, status_seq=1, online=False, updated_at=ts + timedelta(seconds=1),
        ),
        VehicleState(
            vehicle_id=third, pos_ts=ts, pos_seq=9, lat=1e-7, lon=30.0, speed_kmh=0.0, heading_deg=359.9,
            can_ts=ts, can_seq=2, fuel_level_pct=55.5, distance_total_km=123456.7, battery_soc_pct=1e16,
            status_ts=ts, status_seq=3, online=True, updated_at=ts,
        ),
    ]  # fmt: skip


def state_model(state: VehicleState) -> StateOut:
    """The state as the models built it."""
    position = None
    if state.pos_ts is not None:
        position = LivePosition(
            ts=state.pos_ts, seq=state.pos_seq or 0, lat=state.lat, lon=state.lon, speed_kmh=state.speed_kmh,
            heading_deg=state.heading_deg,
        )  # fmt: skip
    can = None
    if state.can_ts is not None:
        can = LiveCan(
            ts=state.can_ts, fuel_level_pct=state.fuel_level_pct, distance_total_km=state.distance_total_km,
            passenger_count=state.passenger_count, battery_soc_pct=state.battery_soc_pct,
            doors_open=unpack_doors(state.doors_open_mask, state.door_count),
        )  # fmt: skip
    return StateOut(
        online=state.online, status_ts=state.status_ts, position=position, can=can, updated_at=state.updated_at
    )


def test_live_vehicles_and_a_vehicle_are_what_the_models_wrote(database: Database, unique: str) -> None:
    tenant = seed_tenant(database.sessions, f"render-{unique}", [f"s-{unique}-{n}" for n in range(4)])
    add(database.sessions, list(states(tenant)))
    with database.sessions() as session:
        vehicles = session.scalars(select(Vehicle).where(Vehicle.tenant_id == tenant.id).order_by(Vehicle.device_id))
        summaries = [VehicleOut.model_validate(vehicle) for vehicle in vehicles]
        mine = VehicleState.vehicle_id.in_(tenant.vehicle_ids.values())
        found = {state.vehicle_id: state_model(state) for state in session.scalars(select(VehicleState).where(mine))}
    by_device = {d: found.get(tenant.vehicle_ids[d]) for d in tenant.device_ids}
    live = LiveList(
        items=[
            LiveItem(device_id=d, label=None, online=s.online, position=s.position, can=s.can, status_ts=s.status_ts)
            for d, s in by_device.items()
            if s is not None
        ]
    )

    with TestClient(make_app(database.url)) as client:
        answers = {
            "live": client.get("/v1/live", headers=tenant.headers).content,
            "list": client.get("/v1/vehicles", headers=tenant.headers).content,
            **{d: client.get(f"/v1/vehicles/{d}", headers=tenant.headers).content for d in tenant.device_ids},
        }

    assert answers["live"] == live.model_dump_json().encode()
    assert answers["list"] == VehicleList(items=summaries).model_dump_json().encode()
    for summary in summaries:
        detail = VehicleDetail(**summary.model_dump(), state=by_device[summary.device_id])
        assert answers[summary.device_id] == detail.model_dump_json().encode()
