"""Token and vehicle administration over HTTP (rules, and their audit entries, in `fleet.tenancy` and `fleet.registry`).

This is the one place the admin API registers, changes and deletes vehicles: a step that issues or revokes each
vehicle's broker credential belongs beside these calls, in the same transaction.
"""

from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy.orm import Session

from api.admin.schemas import (
    CredentialOut,
    DeletedVehicles,
    TokenCreated,
    TokenIn,
    TokenList,
    TokenOut,
    VehicleIn,
    VehiclePatch,
    VehiclesCreated,
    VehiclesUpdated,
    VehicleUpdate,
)
from api.tenancy.service import Principal
from api.vehicles.schemas import VehicleOut
from fleet.blobs.store import BlobStore
from fleet.errors import Conflict
from fleet.registry import service as registry
from fleet.registry.credentials import CredentialBroker, issue_credentials, revoke_credentials
from fleet.tenancy import service as tenancy


def create_token(session: Session, principal: Principal, body: TokenIn) -> TokenCreated:
    """Create a token of the caller's tenant; its secret is in the answer only."""
    expires_in = timedelta(days=body.expires_in_days) if body.expires_in_days is not None else None
    token, secret = tenancy.create_token(
        session, principal.tenant_id, name=body.name, role=body.role, expires_in=expires_in, actor=principal.actor
    )
    return TokenCreated(**TokenOut.from_row(token).model_dump(), token=secret)


def list_tokens(session: Session, tenant_id: int) -> TokenList:
    """The tenant's tokens, without secrets."""
    return TokenList(items=[TokenOut.from_row(token) for token in tenancy.tokens(session, tenant_id)])


def revoke_token(session: Session, principal: Principal, token_id: int) -> TokenOut:
    """Revoke one of the tenant's tokens (revoking it again changes nothing)."""
    return TokenOut.from_row(tenancy.revoke_token(session, principal.tenant_id, token_id, actor=principal.actor))


def create_vehicles(
    session: Session, principal: Principal, new: Sequence[VehicleIn], broker: CredentialBroker | None
) -> VehiclesCreated:
    """Register new vehicles for the tenant, all or none, each with a broker credential when we issue them."""
    specs = [registry.NewVehicle(v.device_id, v.label, v.plate, v.groups or ()) for v in new]
    vehicles = registry.create_vehicles(session, principal.tenant_id, specs, actor=principal.actor)
    passwords = issue_credentials(session, broker, vehicles, actor=principal.actor) if broker else {}
    return VehiclesCreated(
        items=[VehicleOut.model_validate(v) for v in vehicles],
        credentials=[CredentialOut(device_id=d, password=p) for d, p in passwords.items()],
    )


def update_vehicle(session: Session, principal: Principal, device_id: str, patch: VehiclePatch) -> VehicleOut:
    """Change the label, plate, tachograph duty or groups of one of the tenant's vehicles."""
    vehicle = registry.update_vehicle(session, principal.tenant_id, device_id, _changes(patch), actor=principal.actor)
    return VehicleOut.model_validate(vehicle)


def update_vehicles(session: Session, principal: Principal, updates: Sequence[VehicleUpdate]) -> VehiclesUpdated:
    """Change several of the tenant's vehicles, all or none."""
    changes = [(u.device_id, _changes(u)) for u in updates]
    vehicles = registry.update_vehicles(session, principal.tenant_id, changes, actor=principal.actor)
    return VehiclesUpdated(items=[VehicleOut.model_validate(v) for v in vehicles])


def _changes(patch: VehiclePatch) -> registry.VehicleChanges:
    """The fields the request gave (an omitted one stays as it is); null groups are no groups."""
    changes: registry.VehicleChanges = {}
    if "label" in patch.model_fields_set:
        changes["label"] = patch.label
    if "plate" in patch.model_fields_set:
        changes["plate"] = patch.plate
    if "tachograph_required" in patch.model_fields_set:
        changes["tachograph_required"] = patch.tachograph_required
    if "groups" in patch.model_fields_set:
        changes["groups"] = patch.groups or []
    return changes


def delete_vehicles(
    session: Session,
    principal: Principal,
    device_ids: Sequence[str],
    broker: CredentialBroker | None,
    store: BlobStore,
) -> DeletedVehicles:
    """Delete the tenant's vehicles with their state, telemetry and files, all or none (none while a file is held);
    their units lose broker access."""
    deleted = registry.delete_vehicles(session, principal.tenant_id, device_ids, actor=principal.actor, store=store)
    if broker:
        # After the database's part, inside the same transaction: a broker that fails rolls the delete back.
        broker.revoke_vehicles(deleted)
    return DeletedVehicles(deleted=deleted)


def rotate_credential(
    session: Session, principal: Principal, device_id: str, broker: CredentialBroker | None
) -> CredentialOut:
    """A new broker credential for one of the tenant's vehicles; the old one stops working at once."""
    vehicle = registry.find_vehicle(session, principal.tenant_id, device_id)
    passwords = issue_credentials(session, _managed(broker), [vehicle], actor=principal.actor)
    return CredentialOut(device_id=device_id, password=passwords[device_id])


def revoke_credential(session: Session, principal: Principal, device_id: str, broker: CredentialBroker | None) -> None:
    """Refuse one of the tenant's vehicles on the broker from now on, disconnecting it."""
    vehicle = registry.find_vehicle(session, principal.tenant_id, device_id)
    revoke_credentials(session, _managed(broker), [vehicle], actor=principal.actor)


def _managed(broker: CredentialBroker | None) -> CredentialBroker:
    if broker is None:
        raise Conflict("this deployment's broker credentials are managed elsewhere (FLEET_BROKER_ADMIN_URL is not set)")
    return broker
