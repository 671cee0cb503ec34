"""Rules of the registry: a device belongs to one tenant, and exists for no other."""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypedDict

from sqlalchemy.orm import Session

from fleet.audit.service import CLI, Actor, AuditAction, record
from fleet.blobs.store import BlobStore
from fleet.contract.topics import DEVICE_ID_PATTERN
from fleet.db.models import Tenant, Vehicle
from fleet.errors import Conflict, Invalid, NotFound
from fleet.files import removal
from fleet.mqtt.policy import RESERVED_PREFIX, is_reserved
from fleet.registry import repository

MAX_LABEL_LENGTH = 100
MAX_PLATE_LENGTH = 32
# A vehicle is in at most this many groups of its tenant; each name is 1-64 of A-Z a-z 0-9 space _ - . and neither
# begins nor ends with a space ("north" and "north " would look the same in a list).
MAX_GROUPS = 20
MAX_GROUP_LENGTH = 64
GROUP_NAME_REGEX = r"[A-Za-z0-9_.-](?:[A-Za-z0-9 _.-]{0,62}[A-Za-z0-9_.-])?"
_GROUP_NAME = re.compile(GROUP_NAME_REGEX)


@dataclass(frozen=True, slots=True)
class NewVehicle:
    """A device to register, with its label and plate."""

    device_id: str
    label: str | None = None
    plate: str | None = None
    groups: Sequence[str] = ()


class VehicleChanges(TypedDict, total=False):
    """Fields of a vehicle to change; a missing key is left as it is, None clears the field.

    `groups` replaces the vehicle's set of groups (an empty list: in no group).
    """

    label: str | None
    plate: str | None
    tachograph_required: bool
    groups: Sequence[str]


def _check_device_ids(device_ids: Sequence[str]) -> None:
    invalid = [d for d in device_ids if not DEVICE_ID_PATTERN.fullmatch(d)]
    if invalid:
        raise Invalid(f"invalid device id {invalid[0][:100]!r}: use 1-64 of A-Z a-z 0-9 _ -")
    reserved = [d for d in device_ids if is_reserved(d)]
    if reserved:
        raise Invalid(
            f"device id {reserved[0]!r} is reserved: ids beginning with {RESERVED_PREFIX!r} are the backend's"
        )


def _check_fields(label: str | None, plate: str | None) -> None:
    if label is not None and len(label) > MAX_LABEL_LENGTH:
        raise Invalid(f"a label is at most {MAX_LABEL_LENGTH} characters")
    if plate is not None and len(plate) > MAX_PLATE_LENGTH:
        raise Invalid(f"a plate is at most {MAX_PLATE_LENGTH} characters")


def group_set(groups: Sequence[str]) -> list[str]:
    """The set of group names `groups`, sorted without repeats; Invalid for a bad name or more than MAX_GROUPS."""
    if isinstance(groups, str):  # a lone name would pass as its characters
        raise Invalid("groups are a list of names")
    bad = [g for g in groups if len(g) > MAX_GROUP_LENGTH or not _GROUP_NAME.fullmatch(g)]
    if bad:
        raise Invalid(
            f"invalid group name {bad[0][:100]!r}: use 1-{MAX_GROUP_LENGTH} of A-Z a-z 0-9 space _ - ., "
            "not beginning or ending with a space"
        )
    unique = sorted(set(groups))
    if len(unique) > MAX_GROUPS:
        raise Invalid(f"a vehicle is in at most {MAX_GROUPS} groups ({len(unique)} given)")
    return unique


def _summary(vehicle: Vehicle) -> dict[str, Any]:
    """The audit detail of a vehicle created or deleted: label and plate, and its groups when it has some."""
    detail: dict[str, Any] = {"label": vehicle.label, "plate": vehicle.plate}
    if vehicle.groups:
        detail["groups"] = list(vehicle.groups)
    return detail


def _apply(vehicle: Vehicle, changes: VehicleChanges) -> dict[str, Any]:
    """Apply `changes` to `vehicle`; the fields that changed, each as {"from": old, "to": new}."""
    changed: dict[str, Any] = {}
    if "label" in changes and changes["label"] != vehicle.label:
        changed["label"] = {"from": vehicle.label, "to": changes["label"]}
        vehicle.label = changes["label"]
    if "plate" in changes and changes["plate"] != vehicle.plate:
        changed["plate"] = {"from": vehicle.plate, "to": changes["plate"]}
        vehicle.plate = changes["plate"]
    if "tachograph_required" in changes and changes["tachograph_required"] != vehicle.tachograph_required:
        changed["tachograph_required"] = {"from": vehicle.tachograph_required, "to": changes["tachograph_required"]}
        vehicle.tachograph_required = changes["tachograph_required"]
    if "groups" in changes and (groups := group_set(changes["groups"])) != (vehicle.groups or []):
        changed["groups"] = {"from": list(vehicle.groups or []), "to": groups}
        vehicle.groups = groups  # a new list: a JSON column notices only an assignment
    return changed


def add_vehicles(
    session: Session,
    tenant: Tenant,
    device_ids: Sequence[str],
    label: str | None = None,
    plate: str | None = None,
    groups: Sequence[str] | None = None,
    *,
    actor: Actor = CLI,
) -> list[Vehicle]:
    """Register devices for `tenant` (again: updates label and plate, and replaces the groups when `groups` is given);
    one registered to another tenant is refused.

    The CLI's registration (`fleet vehicle add`), recorded in the audit log as `actor`'s.
    """
    _check_device_ids(device_ids)
    _check_fields(label, plate)
    new_groups = group_set(groups) if groups is not None else None
    existing = {v.device_id: v for v in repository.vehicles_by_device_ids(session, device_ids)}
    foreign = [d for d, v in existing.items() if v.tenant_id != tenant.id]
    if foreign:
        raise Conflict(f"device {foreign[0]!r} is registered to another tenant")
    changes: VehicleChanges = {}
    if label is not None:
        changes["label"] = label
    if plate is not None:
        changes["plate"] = plate
    if new_groups is not None:
        changes["groups"] = new_groups
    vehicles = []
    for device_id in dict.fromkeys(device_ids):
        vehicle = existing.get(device_id)
        if vehicle is None:
            vehicle = repository.add_vehicle(session, tenant.id, device_id)
            vehicle.label, vehicle.plate, vehicle.groups = label, plate, list(new_groups or [])
            record(
                session,
                tenant_id=tenant.id,
                actor=actor,
                action=AuditAction.VEHICLE_CREATE,
                target=device_id,
                detail=_summary(vehicle),
            )
        elif changed := _apply(vehicle, changes):
            record(
                session,
                tenant_id=tenant.id,
                actor=actor,
                action=AuditAction.VEHICLE_UPDATE,
                target=device_id,
                detail=changed,
            )
        vehicles.append(vehicle)
    session.flush()
    return vehicles


def create_vehicles(session: Session, tenant_id: int, new: Sequence[NewVehicle], *, actor: Actor) -> list[Vehicle]:
    """Register new devices for the tenant, all or none: a device registered already (to anyone) is a Conflict."""
    device_ids = [v.device_id for v in new]
    if not device_ids:
        raise Invalid("no vehicles given")
    _check_device_ids(device_ids)
    repeated = [d for d in dict.fromkeys(device_ids) if device_ids.count(d) > 1]
    if repeated:  # the request clashes with itself
        raise Conflict(f"device {repeated[0]!r} is given more than once")
    groups = []
    for v in new:
        _check_fields(v.label, v.plate)
        groups.append(group_set(v.groups))
    existing = {v.device_id: v for v in repository.vehicles_by_device_ids(session, device_ids)}
    for device_id in device_ids:
        if (found := existing.get(device_id)) is not None:
            whose = "to you" if found.tenant_id == tenant_id else "to another tenant"
            raise Conflict(f"device {device_id!r} is already registered {whose}")
    vehicles = []
    for v, vehicle_groups in zip(new, groups, strict=True):
        vehicle = repository.add_vehicle(session, tenant_id, v.device_id)
        vehicle.label, vehicle.plate, vehicle.groups = v.label, v.plate, vehicle_groups
        vehicles.append(vehicle)
        record(
            session,
            tenant_id=tenant_id,
            actor=actor,
            action=AuditAction.VEHICLE_CREATE,
            target=v.device_id,
            detail=_summary(vehicle),
        )
    session.flush()
    return vehicles


def update_vehicle(
    session: Session, tenant_id: int, device_id: str, changes: VehicleChanges, *, actor: Actor
) -> Vehicle:
    """Change the label, plate, tachograph duty or groups of the tenant's vehicle; recorded only when something
    changed."""
    return update_vehicles(session, tenant_id, [(device_id, changes)], actor=actor)[0]


def update_vehicles(
    session: Session, tenant_id: int, updates: Sequence[tuple[str, VehicleChanges]], *, actor: Actor
) -> list[Vehicle]:
    """Change several of the tenant's vehicles, all or none; the vehicles in the order given.

    One unknown (or another tenant's) device is a NotFound naming it, a device given twice a Conflict, a bad field an
    Invalid: each is raised before anything changes. Each vehicle that changed is recorded as the single update is.
    """
    device_ids = [device_id for device_id, _ in updates]
    if not device_ids:
        raise Invalid("no vehicles given")
    repeated = [d for d in dict.fromkeys(device_ids) if device_ids.count(d) > 1]
    if repeated:  # which of the two changes would win is not for us to guess
        raise Conflict(f"device {repeated[0][:64]!r} is given more than once")
    possible = [d for d in device_ids if DEVICE_ID_PATTERN.fullmatch(d)]  # an impossible id never reaches the database
    found = {v.device_id: v for v in repository.vehicles_by_device_ids(session, possible) if v.tenant_id == tenant_id}
    missing = [d for d in device_ids if d not in found]
    if missing:
        raise NotFound(f"no vehicle {missing[0][:64]!r}")
    for _, changes in updates:
        _check_fields(changes.get("label"), changes.get("plate"))
        if "groups" in changes:
            group_set(changes["groups"])
    vehicles = []
    for device_id, changes in updates:
        vehicle = found[device_id]
        if changed := _apply(vehicle, changes):
            record(
                session,
                tenant_id=tenant_id,
                actor=actor,
                action=AuditAction.VEHICLE_UPDATE,
                target=device_id,
                detail=changed,
            )
        vehicles.append(vehicle)
    session.flush()
    return vehicles


def delete_vehicles(
    session: Session, tenant_id: int, device_ids: Sequence[str], *, actor: Actor, store: BlobStore
) -> list[str]:
    """Delete the tenant's vehicles with their latest state, stored telemetry and files, all or none.

    One unknown (or another tenant's) device is a NotFound, and a vehicle with a file on legal hold a Conflict
    naming the vehicles and their held files: nothing is deleted. The files' objects are deleted from `store`
    before the rows (`fleet.files.removal`). The telemetry goes too: no route reaches it without the vehicle, and
    on SQLite a later vehicle may get the deleted one's id.
    """
    unique = list(dict.fromkeys(device_ids))
    if not unique:
        raise Invalid("no vehicles given")
    possible = [d for d in unique if DEVICE_ID_PATTERN.fullmatch(d)]  # an impossible id never reaches the database
    found = {v.device_id: v for v in repository.vehicles_by_device_ids(session, possible) if v.tenant_id == tenant_id}
    missing = [d for d in unique if d not in found]
    if missing:
        raise NotFound(f"no vehicle {missing[0][:64]!r}")
    vehicles = [found[d] for d in unique]
    # Before the rows: deleting them locks the vehicles, which would hold up ingest while the store is called.
    files = removal.delete_objects_of_vehicles(session, store, {v.id: v.device_id for v in vehicles})
    for vehicle in vehicles:
        detail = _summary(vehicle)
        if count := files.get(vehicle.id):
            detail["files"] = count
        record(
            session,
            tenant_id=tenant_id,
            actor=actor,
            action=AuditAction.VEHICLE_DELETE,
            target=vehicle.device_id,
            detail=detail,
        )
    repository.delete_vehicles(session, [v.id for v in vehicles])
    return unique


def find_vehicle(session: Session, tenant_id: int, device_id: str) -> Vehicle:
    """The tenant's vehicle `device_id`; NotFound when unknown or another tenant's, so existence never leaks."""
    vehicle = repository.vehicle_of_tenant(session, tenant_id, device_id) if is_device_id(device_id) else None
    if vehicle is None:
        raise unknown_vehicle(device_id)
    return vehicle


def find_vehicle_id(session: Session, tenant_id: int, device_id: str) -> int:
    """The id of the tenant's vehicle `device_id`, without loading the vehicle; NotFound as `find_vehicle`."""
    vehicle_id = repository.vehicle_id_of_tenant(session, tenant_id, device_id) if is_device_id(device_id) else None
    if vehicle_id is None:
        raise unknown_vehicle(device_id)
    return vehicle_id


def is_device_id(device_id: str) -> bool:
    """Whether `device_id` could name a vehicle: a string that cannot (NUL bytes, 10k characters...) never reaches
    the database."""
    return DEVICE_ID_PATTERN.fullmatch(device_id) is not None


def unknown_vehicle(device_id: str) -> NotFound:
    """The answer for a vehicle the tenant does not have, whether or not another tenant does."""
    return NotFound(f"no vehicle {device_id[:64]!r}")
