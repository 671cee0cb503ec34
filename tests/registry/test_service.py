"""A device is registered to one tenant and exists for no other; impossible device ids never reach the database."""

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session

from fleet.db.engine import make_engine, make_session_factory
from fleet.db.models import Tenant
from fleet.errors import Conflict, Invalid, NotFound
from fleet.registry.service import add_vehicles, find_vehicle
from fleet.tenancy.service import create_tenant


@pytest.fixture
def session(sqlite_url: str) -> Iterator[Session]:
    engine = make_engine(sqlite_url)
    with make_session_factory(engine)() as session:
        yield session
    engine.dispose()


@pytest.fixture
def acme(session: Session) -> Tenant:
    return create_tenant(session, "acme")[0]


@pytest.fixture
def other(session: Session) -> Tenant:
    return create_tenant(session, "other")[0]


def test_registering_again_updates_label_and_plate(session: Session, acme: Tenant) -> None:
    first = add_vehicles(session, acme, ["bus-1", "bus-2", "bus-1"], label="line 7")

    again = add_vehicles(session, acme, ["bus-1"], plate="W-123")

    assert [v.device_id for v in first] == ["bus-1", "bus-2"]
    assert again == [first[0]]
    assert (first[0].label, first[0].plate) == ("line 7", "W-123")
    assert find_vehicle(session, acme.id, "bus-2") is first[1]


def test_a_device_of_another_tenant_is_refused(session: Session, acme: Tenant, other: Tenant) -> None:
    add_vehicles(session, other, ["bus-1"])

    with pytest.raises(Conflict, match="bus-1"):
        add_vehicles(session, acme, ["bus-9", "bus-1"])

    with pytest.raises(NotFound):
        find_vehicle(session, acme.id, "bus-9")


@pytest.mark.parametrize("device_id", ["", "bus 1", "bus/1", "x" * 65])
def test_an_impossible_device_id_is_refused(session: Session, acme: Tenant, device_id: str) -> None:
    with pytest.raises(Invalid, match="invalid device id"):
        add_vehicles(session, acme, ["bus-1", device_id])


def test_another_tenants_vehicle_is_not_found_like_an_unknown_one(
    session: Session, acme: Tenant, other: Tenant
) -> None:
    add_vehicles(session, other, ["bus-1"])

    with pytest.raises(NotFound) as foreign:
        find_vehicle(session, acme.id, "bus-1")
    with pytest.raises(NotFound) as unknown:
        find_vehicle(session, acme.id, "bus-2")

    assert foreign.value.detail == "no vehicle 'bus-1'"
    assert unknown.value.detail == "no vehicle 'bus-2'"


@pytest.mark.parametrize("device_id", ["bus\x001", "x" * 10_000, "../etc"])
def test_an_impossible_device_id_is_not_found_without_a_query(session: Session, acme: Tenant, device_id: str) -> None:
    session.flush()
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(args[2])

    event.listen(session.get_bind(), "before_cursor_execute", record)
    with pytest.raises(NotFound) as error:
        find_vehicle(session, acme.id, device_id)

    assert statements == []
    assert len(error.value.detail) < 80
