"""Rules of the registry: a device belongs to one tenant, and exists for no other."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypedDict

from sqlalchemy.orm import Session

from fleet.audit.service import CLI, Actor, AuditAction, record
from fleet.contract.topics import DEVICE_ID_PATTERN
from fleet.db.models import Tenant, Vehicle
from fleet.errors import Conflict, Invalid, NotFound
from fleet.mqtt.policy import RESERVED_PREFIX, is_reserved
from fleet.registry import repository

MAX_LABEL_LENGTH = 100
MAX_PLATE_LENGTH = 32


@dataclass(frozen=True, slots=True)
class NewVehicle:
    """A device to register, with its label and plate."""

    device_id: str
    label: str | None = None
    plate: str | None = None


class VehicleChanges(TypedDict, total=False):
    """Fields of a vehicle to change; a missing key is left as it is, None clears the field."""

    label: str | None
    plate: str | None
    tachograph_required: bool


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
    return changed


def add_vehicles(
    session: Session,
    tenant: Tenant,
    device_ids: Sequence[str],
    label: str | None = None,
    plate: str | None = None,
    *,
    actor: Actor = CLI,
) -> list[Vehicle]:
    """Register devices for `tenant` (again: updates label and plate); one registered to another tenant is refused.

    The CLI's registration (`fleet vehicle add`), recorded in the audit log as `actor`'s.
    """
    _check_device_ids(device_ids)
    _check_fields(label, plate)
    existing = {v.device_id: v for v in repository.vehicles_by_device_ids(session, device_ids)}
    foreign = [d for d, v in existing.items() if v.tenant_id != tenant.id]
    if foreign:
        raise Conflict(f"device {foreign[0]!r} is registered to another tenant")
    changes: VehicleChanges = {}
    if label is not None:
        changes["label"] = label
    if plate is not None:
        changes["plate"] = plate
    vehicles = []
    for device_id in dict.fromkeys(device_ids):
        vehicle = existing.get(device_id)
        if vehicle is None:
            vehicle = repository.add_vehicle(session, tenant.id, device_id)
            vehicle.label, vehicle.plate = label, plate
            detail = {"label": label, "plate": plate}
            record(
                session,
                tenant_id=tenant.id,
                actor=actor,
                action=AuditAction.VEHICLE_CREATE,
                target=device_id,
                detail=detail,
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
    for v in new:
        _check_fields(v.label, v.plate)
    existing = {v.device_id: v for v in repository.vehicles_by_device_ids(session, device_ids)}
    for device_id in device_ids:
        if (found := existing.get(device_id)) is not None:
            whose = "to you" if found.tenant_id == tenant_id else "to another tenant"
            raise Conflict(f"device {device_id!r} is already registered {whose}")
    vehicles = []
    for v in new:
        vehicle = repository.add_vehicle(session, tenant_id, v.device_id)
        vehicle.label, vehicle.plate = v.label, v.plate
        vehicles.append(vehicle)
        detail = {"label": v.label, "plate": v.plate}
        record(
            session,
            tenant_id=tenant_id,
            actor=actor,
            action=AuditAction.VEHICLE_CREATE,
            target=v.device_id,
            detail=detail,
        )
    session.flush()
    return vehicles


def update_vehicle(
    session: Session, tenant_id: int, device_id: str, changes: VehicleChanges, *, actor: Actor
) -> Vehicle:
    """Change the label, plate or tachograph duty of the tenant's vehicle; recorded only when something changed."""
    vehicle = find_vehicle(session, tenant_id, device_id)
    _check_fields(changes.get("label"), changes.get("plate"))
    if changed := _apply(vehicle, changes):
        record(
            session,
            tenant_id=tenant_id,
            actor=actor,
            action=AuditAction.VEHICLE_UPDATE,
            target=device_id,
            detail=changed,
        )
        session.flush()
    return vehicle


def delete_vehicles(session: Session, tenant_id: int, device_ids: Sequence[str], *, actor: Actor) -> list[str]:
    """Delete the tenant's vehicles with their latest state and stored telemetry, all or none.

    One unknown (or another tenant's) device is a NotFound and nothing is deleted. The telemetry goes too: no
    route reaches it without the vehicle, and on SQLite a later vehicle may get the deleted one's id.
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
    for vehicle in vehicles:
        detail = {"label": vehicle.label, "plate": vehicle.plate}
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
    # A string that cannot be a device id (NUL bytes, 10k characters...) never reaches the database.
    vehicle = (
        repository.vehicle_of_tenant(session, tenant_id, device_id) if DEVICE_ID_PATTERN.fullmatch(device_id) else None
    )
    if vehicle is None:
        raise NotFound(f"no vehicle {device_id[:64]!r}")
    return vehicle
