"""A device is registered to one tenant and exists for no other; impossible ids never reach the database; audited."""

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from fleet.audit.service import Actor
from fleet.blobs.keys import file_key
from fleet.blobs.local import LocalBlobStore
from fleet.db.models import AuditEntry, CanSample, File, Position, Tenant, Vehicle, VehicleState, utcnow
from fleet.errors import Conflict, Invalid, NotFound
from fleet.files.states import FileState
from fleet.registry.repository import in_group
from fleet.registry.service import (
    MAX_GROUPS,
    NewVehicle,
    add_vehicles,
    create_vehicles,
    delete_vehicles,
    find_vehicle,
    group_set,
    update_vehicle,
    update_vehicles,
)
from fleet.tenancy.roles import Role
from fleet.tenancy.service import create_tenant, create_token, token_name


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


def audit_log(session: Session) -> list[tuple[str, str, str | None, dict[str, Any]]]:
    """(actor, action, target, detail) of every vehicle entry, oldest first."""
    rows = session.scalars(select(AuditEntry).where(AuditEntry.action.like("vehicle.%")).order_by(AuditEntry.id))
    return [(e.actor, e.action, e.target, e.detail) for e in rows]


@pytest.fixture
def store(tmp_path: Path) -> LocalBlobStore:
    """The local blob store of `fleet up`, in a temporary folder."""
    return LocalBlobStore(tmp_path / "blobs", b"k" * 32)


@pytest.fixture
def admin(session: Session, acme: Tenant) -> Actor:
    """An admin token of acme's, calling from 192.0.2.9."""
    token, _ = create_token(session, acme.id, name="ops-admin", role=Role.ADMIN)
    return Actor(token_name(token), token_id=token.id, address="192.0.2.9")


def test_the_clis_registration_is_recorded(session: Session, acme: Tenant) -> None:
    add_vehicles(session, acme, ["bus-1"], label="line 7")
    add_vehicles(session, acme, ["bus-1", "bus-2"], plate="W-1")
    add_vehicles(session, acme, ["bus-1"], plate="W-1")  # nothing changes: nothing recorded

    assert audit_log(session) == [
        ("cli", "vehicle.create", "bus-1", {"label": "line 7", "plate": None}),
        ("cli", "vehicle.update", "bus-1", {"plate": {"from": None, "to": "W-1"}}),
        ("cli", "vehicle.create", "bus-2", {"label": None, "plate": "W-1"}),
    ]


def test_creating_vehicles_is_all_or_nothing(session: Session, acme: Tenant, other: Tenant, admin: Actor) -> None:
    add_vehicles(session, other, ["bus-9"])
    add_vehicles(session, acme, ["bus-5"])

    with pytest.raises(Conflict, match="'bus-9' is already registered to another tenant"):
        create_vehicles(session, acme.id, [NewVehicle("bus-1"), NewVehicle("bus-9")], actor=admin)
    with pytest.raises(Conflict, match="'bus-5' is already registered to you"):
        create_vehicles(session, acme.id, [NewVehicle("bus-1"), NewVehicle("bus-5")], actor=admin)
    with pytest.raises(Conflict, match="more than once"):
        create_vehicles(session, acme.id, [NewVehicle("bus-1"), NewVehicle("bus-1")], actor=admin)
    with pytest.raises(Invalid, match="no vehicles"):
        create_vehicles(session, acme.id, [], actor=admin)
    with pytest.raises(Invalid, match="plate"):
        create_vehicles(session, acme.id, [NewVehicle("bus-1", plate="x" * 33)], actor=admin)
    with pytest.raises(NotFound):
        find_vehicle(session, acme.id, "bus-1")

    [vehicle] = create_vehicles(session, acme.id, [NewVehicle("bus-1", "line 7", "W-1")], actor=admin)
    assert (vehicle.tenant_id, vehicle.label, vehicle.plate) == (acme.id, "line 7", "W-1")
    assert audit_log(session)[-1] == ("ops-admin", "vehicle.create", "bus-1", {"label": "line 7", "plate": "W-1"})


def test_updating_a_vehicle_changes_only_the_given_fields(
    session: Session, acme: Tenant, other: Tenant, admin: Actor
) -> None:
    add_vehicles(session, acme, ["bus-1"], label="line 7", plate="W-1")
    add_vehicles(session, other, ["bus-9"])

    vehicle = update_vehicle(session, acme.id, "bus-1", {"plate": None}, actor=admin)

    assert (vehicle.label, vehicle.plate) == ("line 7", None)
    assert audit_log(session)[-1] == ("ops-admin", "vehicle.update", "bus-1", {"plate": {"from": "W-1", "to": None}})
    with pytest.raises(NotFound):
        update_vehicle(session, acme.id, "bus-9", {"label": "mine now"}, actor=admin)
    with pytest.raises(Invalid, match="label"):
        update_vehicle(session, acme.id, "bus-1", {"label": "x" * 101}, actor=admin)


def test_deleting_vehicles_takes_their_state_and_telemetry(
    session: Session, acme: Tenant, other: Tenant, admin: Actor, store: LocalBlobStore
) -> None:
    add_vehicles(session, other, ["bus-9"])
    kept, gone = add_vehicles(session, acme, ["bus-1", "bus-2"])
    now = utcnow()
    for vehicle in (kept, gone):
        session.add(Position(vehicle_id=vehicle.id, ts=now, seq=1, lat=1.0, lon=1.0))
        session.add(CanSample(vehicle_id=vehicle.id, ts=now, seq=1))
        session.add(VehicleState(vehicle_id=vehicle.id))
    session.flush()
    gone_id = gone.id

    with pytest.raises(NotFound, match="bus-9"):
        delete_vehicles(session, acme.id, ["bus-2", "bus-9"], actor=admin, store=store)
    assert delete_vehicles(session, acme.id, ["bus-2", "bus-2"], actor=admin, store=store) == ["bus-2"]

    session.expire_all()
    assert [v.device_id for v in session.scalars(select(Vehicle).where(Vehicle.tenant_id == acme.id))] == ["bus-1"]
    for model in (Position, CanSample, VehicleState):
        assert session.scalars(select(model.vehicle_id)).all() == [kept.id], model
    assert audit_log(session)[-1] == ("ops-admin", "vehicle.delete", "bus-2", {"label": None, "plate": None})
    # SQLite gives the next vehicle the id of the deleted one (the highest): it must start without its telemetry.
    [again] = add_vehicles(session, other, ["bus-3"])
    assert again.id == gone_id
    assert session.scalars(select(Position).where(Position.vehicle_id == again.id)).all() == []


# --- groups ----------------------------------------------------------------------------------------------------


def test_a_group_set_is_sorted_without_repeats() -> None:
    assert group_set(["north", "Depot 2", "north", "a.b_c-d", "x" * 64]) == ["Depot 2", "a.b_c-d", "north", "x" * 64]
    assert group_set([]) == []
    assert group_set([f"g{i}" for i in range(MAX_GROUPS)] + ["g0"]) == sorted(f"g{i}" for i in range(MAX_GROUPS))


@pytest.mark.parametrize(
    ("groups", "match"),
    [
        ([""], "invalid group name"),
        (["x" * 65], "invalid group name"),
        (["north/south"], "invalid group name"),
        (["north\n"], "invalid group name"),
        ([" north"], "invalid group name"),
        (["north "], "invalid group name"),
        ([" "], "invalid group name"),
        (["Zürich"], "invalid group name"),
        ([f"g{i}" for i in range(MAX_GROUPS + 1)], "at most 20 groups"),
        ("north", "a list of names"),
    ],
)
def test_a_bad_group_set_is_refused(groups: list[str], match: str) -> None:
    with pytest.raises(Invalid, match=match):
        group_set(groups)


def test_groups_are_set_on_creation_replaced_and_recorded(session: Session, acme: Tenant, admin: Actor) -> None:
    [bus1, bus2] = create_vehicles(
        session, acme.id, [NewVehicle("bus-1", groups=["north", "electric", "north"]), NewVehicle("bus-2")], actor=admin
    )
    assert (bus1.groups, bus2.groups) == (["electric", "north"], [])

    update_vehicle(session, acme.id, "bus-1", {"groups": ["south"]}, actor=admin)
    update_vehicle(session, acme.id, "bus-1", {"groups": ["south", "south"]}, actor=admin)  # the same set
    update_vehicle(session, acme.id, "bus-1", {"label": "line 7"}, actor=admin)  # groups stay
    session.expire_all()

    assert find_vehicle(session, acme.id, "bus-1").groups == ["south"]
    assert audit_log(session)[-4:] == [
        ("ops-admin", "vehicle.create", "bus-1", {"label": None, "plate": None, "groups": ["electric", "north"]}),
        ("ops-admin", "vehicle.create", "bus-2", {"label": None, "plate": None}),
        ("ops-admin", "vehicle.update", "bus-1", {"groups": {"from": ["electric", "north"], "to": ["south"]}}),
        ("ops-admin", "vehicle.update", "bus-1", {"label": {"from": None, "to": "line 7"}}),
    ]
    with pytest.raises(Invalid, match="invalid group name"):
        create_vehicles(session, acme.id, [NewVehicle("bus-3", groups=["bad/name"])], actor=admin)
    with pytest.raises(Invalid, match="invalid group name"):
        update_vehicle(session, acme.id, "bus-1", {"label": "kept?", "groups": ["bad/name"]}, actor=admin)
    assert (find_vehicle(session, acme.id, "bus-1").label, find_vehicle(session, acme.id, "bus-1").groups) == (
        "line 7",
        ["south"],
    )


def test_the_clis_registration_sets_or_replaces_groups(session: Session, acme: Tenant) -> None:
    add_vehicles(session, acme, ["bus-1"], groups=["north"])
    add_vehicles(session, acme, ["bus-1", "bus-2"], label="line 7")  # no groups given: kept
    add_vehicles(session, acme, ["bus-2"], groups=["south", "north"])

    assert [(v.device_id, v.groups) for v in session.scalars(select(Vehicle).order_by(Vehicle.device_id))] == [
        ("bus-1", ["north"]),
        ("bus-2", ["north", "south"]),
    ]
    assert audit_log(session)[-1] == (
        "cli",
        "vehicle.update",
        "bus-2",
        {"groups": {"from": [], "to": ["north", "south"]}},
    )


def test_a_bulk_update_is_all_or_nothing_and_recorded_per_vehicle(
    session: Session, acme: Tenant, other: Tenant, admin: Actor
) -> None:
    add_vehicles(session, acme, ["bus-1", "bus-2", "bus-3"])
    add_vehicles(session, other, ["bus-9"])
    session.commit()
    before = len(audit_log(session))

    for updates, error, match in [
        ([("bus-1", {"label": "x"}), ("bus-9", {"label": "mine now"})], NotFound, "no vehicle 'bus-9'"),
        ([("bus-1", {"label": "x"}), ("nobodys-bus", {})], NotFound, "no vehicle 'nobodys-bus'"),
        ([("bus-1", {"label": "x"}), ("bus\x00", {})], NotFound, "no vehicle"),
        ([("bus-1", {"label": "x"}), ("bus-1", {"label": "y"})], Conflict, "'bus-1' is given more than once"),
        ([("bus-1", {"label": "x"}), ("bus-2", {"plate": "x" * 33})], Invalid, "plate"),
        ([("bus-1", {"label": "x"}), ("bus-2", {"groups": ["bad/name"]})], Invalid, "group name"),
        ([], Invalid, "no vehicles"),
    ]:
        with pytest.raises(error, match=match):
            update_vehicles(session, acme.id, updates, actor=admin)  # type: ignore[arg-type]
        session.rollback()
    assert [(v.label, v.groups) for v in session.scalars(select(Vehicle).order_by(Vehicle.device_id))] == [
        (None, [])
    ] * 4
    assert len(audit_log(session)) == before

    changed = update_vehicles(
        session,
        acme.id,
        [
            ("bus-3", {"groups": ["north"], "tachograph_required": False}),
            ("bus-1", {"label": "line 7", "groups": ["north", "south"]}),
            ("bus-2", {"label": None}),  # nothing changes: nothing recorded
        ],
        actor=admin,
    )

    assert [v.device_id for v in changed] == ["bus-3", "bus-1", "bus-2"]
    assert audit_log(session)[before:] == [
        (
            "ops-admin",
            "vehicle.update",
            "bus-3",
            {"tachograph_required": {"from": True, "to": False}, "groups": {"from": [], "to": ["north"]}},
        ),
        (
            "ops-admin",
            "vehicle.update",
            "bus-1",
            {"label": {"from": None, "to": "line 7"}, "groups": {"from": [], "to": ["north", "south"]}},
        ),
    ]


def test_in_group_finds_the_vehicles_of_a_group(session: Session, acme: Tenant, other: Tenant, admin: Actor) -> None:
    create_vehicles(
        session,
        acme.id,
        [
            NewVehicle("bus-1", groups=["north", "Depot 2"]),
            NewVehicle("bus-2", groups=["northern"]),
            NewVehicle("bus-3"),
        ],
        actor=admin,
    )
    add_vehicles(session, other, ["bus-9"], groups=["north"])

    def members(name: str) -> list[str]:
        stmt = select(Vehicle.device_id).where(Vehicle.tenant_id == acme.id, in_group(session, name))
        return list(session.scalars(stmt.order_by(Vehicle.device_id)))

    assert members("north") == ["bus-1"]  # not "northern", not the other tenant's
    assert members("Depot 2") == ["bus-1"]
    assert members("depot 2") == []  # names are case-sensitive
    assert members("nort") == []
    assert members("%") == []


def test_a_deleted_vehicles_groups_are_recorded(
    session: Session, acme: Tenant, admin: Actor, store: LocalBlobStore
) -> None:
    add_vehicles(session, acme, ["bus-1"], groups=["north"])

    delete_vehicles(session, acme.id, ["bus-1"], actor=admin, store=store)

    assert audit_log(session)[-1] == (
        "ops-admin",
        "vehicle.delete",
        "bus-1",
        {"label": None, "plate": None, "groups": ["north"]},
    )


# --- files of deleted vehicles ---------------------------------------------------------------------------------


def stored_file(session: Session, store: LocalBlobStore, vehicle: Vehicle, file_id: str, *, held: bool = False) -> str:
    """A verified file of the vehicle with its object in `store`; the object's key."""
    offered_at = datetime(2026, 3, 1, tzinfo=UTC)
    key = file_key(vehicle.tenant_id, vehicle.device_id, "video", offered_at, file_id)
    store.put_bytes(key, file_id.encode())
    session.add(
        File(
            tenant_id=vehicle.tenant_id,
            vehicle_id=vehicle.id,
            file_id=file_id,
            kind="video",
            name=f"{file_id}.mp4",
            content_type="video/mp4",
            size_bytes=len(file_id),
            sha256="0" * 64,
            state=FileState.VERIFIED,
            object_key=key,
            offered_at=offered_at,
            received_at=offered_at,
            legal_hold=held,
        )
    )
    session.flush()
    return key


def test_a_vehicle_with_a_held_file_is_not_deleted(
    session: Session, acme: Tenant, admin: Actor, store: LocalBlobStore
) -> None:
    free, held = add_vehicles(session, acme, ["bus-1", "bus-2"])
    keys = [stored_file(session, store, free, "clip-1"), stored_file(session, store, held, "clip-2", held=True)]
    keys.append(stored_file(session, store, held, "clip-3", held=True))

    with pytest.raises(Conflict) as refused:
        delete_vehicles(session, acme.id, ["bus-1", "bus-2"], actor=admin, store=store)

    assert refused.value.detail == (
        "2 files are on legal hold (vehicle 'bus-2' (2 files)): release the holds first; nothing was deleted"
    )
    assert all(store.head(key) is not None for key in keys)
    assert len(session.scalars(select(File)).all()) == 3


def test_deleting_a_vehicle_deletes_its_files_objects(
    session: Session, acme: Tenant, admin: Actor, store: LocalBlobStore
) -> None:
    gone, kept = add_vehicles(session, acme, ["bus-1", "bus-2"])
    gone_keys = [stored_file(session, store, gone, "clip-1"), stored_file(session, store, gone, "clip-2")]
    kept_key = stored_file(session, store, kept, "clip-3", held=True)

    delete_vehicles(session, acme.id, ["bus-1"], actor=admin, store=store)

    assert [store.head(key) for key in gone_keys] == [None, None]
    assert store.head(kept_key) is not None
    assert session.scalars(select(File.file_id)).all() == ["clip-3"]
    assert audit_log(session)[-1] == (
        "ops-admin",
        "vehicle.delete",
        "bus-1",
        {"label": None, "plate": None, "files": 2},
    )
