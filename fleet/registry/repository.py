"""Queries of the registry: vehicles by device id and by group, the row a new registration adds, deleting vehicles."""

from collections.abc import Iterable, Sequence

from sqlalchemy import ColumnElement, bindparam, delete, exists, func, literal, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from fleet.db.models import Base, Vehicle, VehicleCredential
from fleet.streams import STREAMS


def vehicles_by_device_ids(session: Session, device_ids: Sequence[str]) -> Sequence[Vehicle]:
    """Vehicles of any tenant whose device id is among `device_ids`."""
    return session.scalars(select(Vehicle).where(Vehicle.device_id.in_(device_ids))).all()


def vehicle_of_tenant(session: Session, tenant_id: int, device_id: str) -> Vehicle | None:
    """The tenant's vehicle with `device_id`."""
    return session.scalar(select(Vehicle).where(Vehicle.tenant_id == tenant_id, Vehicle.device_id == device_id))


# Built once, with bound parameters: the lookup of every request naming a vehicle.
VEHICLE_ID = select(Vehicle.id).where(
    Vehicle.tenant_id == bindparam("tenant_id"), Vehicle.device_id == bindparam("device_id")
)


def vehicle_id_of_tenant(session: Session, tenant_id: int, device_id: str) -> int | None:
    """The id of the tenant's vehicle with `device_id`."""
    vehicle_id: int | None = session.execute(VEHICLE_ID, {"tenant_id": tenant_id, "device_id": device_id}).scalar()
    return vehicle_id


def in_group(session: Session, name: str) -> ColumnElement[bool]:
    """A condition on `Vehicle`: the vehicle is in the group `name` (a query adds its tenant's condition beside it)."""
    if session.get_bind().dialect.name == "postgresql":
        return Vehicle.groups.op("@>")(literal([name], JSONB))  # JSONB containment
    each = func.json_each(Vehicle.groups).table_valued("value")  # SQLite: one row per name in the list
    return exists().select_from(each).where(each.c.value == name)


def add_vehicle(session: Session, tenant_id: int, device_id: str) -> Vehicle:
    """Add a vehicle of a tenant to the session (inserted at the next flush)."""
    vehicle = Vehicle(tenant_id=tenant_id, device_id=device_id)
    session.add(vehicle)
    return vehicle


def credentials_of(session: Session, vehicle_ids: Sequence[int]) -> dict[int, VehicleCredential]:
    """The credential rows of these vehicles, by vehicle id."""
    rows = session.scalars(select(VehicleCredential).where(VehicleCredential.vehicle_id.in_(vehicle_ids)))
    return {row.vehicle_id: row for row in rows}


def add_credential(session: Session, vehicle_id: int, secret_hash: str) -> VehicleCredential:
    """Add a vehicle's credential row to the session."""
    credential = VehicleCredential(vehicle_id=vehicle_id, secret_hash=secret_hash)
    session.add(credential)
    return credential


def active_credentials(session: Session) -> Sequence[tuple[str, str]]:
    """(device id, secret hash) of every vehicle whose credential is not revoked."""
    stmt = (
        select(Vehicle.device_id, VehicleCredential.secret_hash)
        .join(VehicleCredential, VehicleCredential.vehicle_id == Vehicle.id)
        .where(VehicleCredential.revoked_at.is_(None))
    )
    return [(device_id, secret_hash) for device_id, secret_hash in session.execute(stmt)]


# Tables holding a vehicle's telemetry (its latest state and credential go by the foreign keys' cascade).
TELEMETRY_TABLES = tuple(spec.table for spec in STREAMS.values() if spec.table)


def delete_vehicles(session: Session, vehicle_ids: Sequence[int]) -> None:
    """Delete vehicles and their telemetry rows (every partition)."""
    for name in TELEMETRY_TABLES:
        table = Base.metadata.tables[name]
        session.execute(delete(table).where(table.c.vehicle_id.in_(vehicle_ids)))
    session.execute(delete(Vehicle).where(Vehicle.id.in_(vehicle_ids)))


def devices_by_vehicle_id(session: Session, vehicle_ids: Iterable[int]) -> dict[int, tuple[int, str]]:
    """vehicle id -> (tenant id, device id)."""
    rows = session.execute(select(Vehicle.id, Vehicle.tenant_id, Vehicle.device_id).where(Vehicle.id.in_(vehicle_ids)))
    return {vehicle_id: (tenant_id, device_id) for vehicle_id, tenant_id, device_id in rows}
