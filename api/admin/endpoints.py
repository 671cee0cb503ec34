"""HTTP routes of the admin module: tokens and vehicles of your tenant (admin role)."""

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Response, status

from api.admin import service
from api.admin.schemas import (
    MAX_BULK,
    CredentialOut,
    DeletedVehicles,
    TokenCreated,
    TokenIn,
    TokenList,
    TokenOut,
    VehicleBatch,
    VehicleIds,
    VehicleIn,
    VehiclePatch,
    VehiclesCreated,
    VehiclesUpdated,
    VehicleUpdates,
)
from api.deps import AdminDep, BlobStoreDep, CredentialBrokerDep, SessionDep, TokenCacheDep
from api.errors import FORBIDDEN_RESPONSE, NOT_FOUND_RESPONSE, UNAUTHORIZED_RESPONSE, ErrorOut
from api.vehicles.schemas import VehicleOut
from fleet.tenancy.service import MAX_TOKEN_ID

router = APIRouter(prefix="/v1/admin", tags=["admin"], responses={**UNAUTHORIZED_RESPONSE, **FORBIDDEN_RESPONSE})

Responses = dict[int | str, dict[str, Any]]
TOKEN_NOT_FOUND: Responses = {404: {"model": ErrorOut, "description": "No such token among yours"}}
CONFLICT: Responses = {409: {"model": ErrorOut, "description": "The name or device id is taken"}}
REPEATED: Responses = {409: {"model": ErrorOut, "description": "A device id is given more than once"}}
HELD: Responses = {
    409: {
        "model": ErrorOut,
        "description": "A file of the vehicle is on legal hold (how many, of which vehicle): release it first",
    }
}
STORE_UNAVAILABLE: Responses = {
    503: {"model": ErrorOut, "description": "The file store cannot be reached now: the vehicle stays, try again"}
}
TokenId = Annotated[int, Path(ge=1, le=MAX_TOKEN_ID)]


@router.post("/tokens", status_code=status.HTTP_201_CREATED, summary="Create a token", responses={**CONFLICT})
def create_token(session: SessionDep, principal: AdminDep, body: TokenIn) -> TokenCreated:
    """A new API token of your tenant. The answer holds its secret, shown this once."""
    return service.create_token(session, principal, body)


@router.get("/tokens", summary="List tokens")
def list_tokens(session: SessionDep, principal: AdminDep) -> TokenList:
    """Every token of your tenant with its role, lifetime and last use; never the secrets."""
    return service.list_tokens(session, principal.tenant_id)


@router.delete("/tokens/{token_id}", summary="Revoke a token", responses={**TOKEN_NOT_FOUND})
def revoke_token(session: SessionDep, tokens: TokenCacheDep, principal: AdminDep, token_id: TokenId) -> TokenOut:
    """Revoke a token from now on (it answers 401 afterwards; other API processes refuse it within
    FLEET_API_TOKEN_CACHE_SECONDS); it stays listed, with `revoked_at`."""
    revoked = service.revoke_token(session, principal, token_id)
    tokens.forget(token_id)
    return revoked


@router.post("/vehicles", status_code=status.HTTP_201_CREATED, summary="Register vehicles", responses={**CONFLICT})
def create_vehicles(
    session: SessionDep,
    principal: AdminDep,
    broker: CredentialBrokerDep,
    body: Annotated[VehicleIn | VehicleBatch, Body(description=f"One vehicle, or a list of 1 to {MAX_BULK}")],
) -> VehiclesCreated:
    """Register one vehicle or a list, all or none: a device id registered already (to anyone) is a 409.

    Each unit gets its broker credential (username and client id = device id), shown in this answer only.
    """
    new = body if isinstance(body, list) else [body]
    return service.create_vehicles(session, principal, new, broker)


@router.patch("/vehicles/{device_id}", summary="Change a vehicle", responses={**NOT_FOUND_RESPONSE})
def update_vehicle(session: SessionDep, principal: AdminDep, device_id: str, body: VehiclePatch) -> VehicleOut:
    """Change the label, plate, tachograph duty or groups of one of your vehicles (null clears, an omitted field stays).

    `groups` replaces the vehicle's set of groups.
    """
    return service.update_vehicle(session, principal, device_id, body)


@router.patch("/vehicles", summary="Change vehicles", responses={**NOT_FOUND_RESPONSE, **REPEATED})
def update_vehicles(session: SessionDep, principal: AdminDep, body: VehicleUpdates) -> VehiclesUpdated:
    """Change several of your vehicles, each as a single change does, all or none: one unknown id is a 404 naming it.

    A device id given twice is a 409. Each vehicle that changed gets its `vehicle.update` entry in the audit log.
    """
    return service.update_vehicles(session, principal, body.vehicles)


@router.delete(
    "/vehicles/{device_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a vehicle",
    responses={**NOT_FOUND_RESPONSE, **HELD, **STORE_UNAVAILABLE},
)
def delete_vehicle(
    session: SessionDep, principal: AdminDep, broker: CredentialBrokerDep, store: BlobStoreDep, device_id: str
) -> Response:
    """Delete one of your vehicles with its latest state, stored telemetry and files; its unit loses broker access.

    A vehicle with a file on legal hold is a 409 and stays: release the holds first. The files' bytes are deleted
    from the store.
    """
    service.delete_vehicles(session, principal, [device_id], broker, store)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete("/vehicles", summary="Delete vehicles", responses={**NOT_FOUND_RESPONSE, **HELD, **STORE_UNAVAILABLE})
def delete_vehicles(
    session: SessionDep, principal: AdminDep, broker: CredentialBrokerDep, store: BlobStoreDep, body: VehicleIds
) -> DeletedVehicles:
    """Delete several of your vehicles with their state, telemetry and files, all or none: one unknown id is a 404,
    a file of any of them on legal hold a 409 naming the vehicles.

    The ids are in a JSON body (a path of its own, such as `/vehicles/bulk-delete`, would also be a device id).
    """
    return service.delete_vehicles(session, principal, body.device_ids, broker, store)


@router.post(
    "/vehicles/{device_id}/credentials",
    status_code=status.HTTP_201_CREATED,
    summary="Issue or rotate a vehicle's broker credential",
    responses={**NOT_FOUND_RESPONSE, **CONFLICT},
)
def rotate_credential(
    session: SessionDep, principal: AdminDep, broker: CredentialBrokerDep, device_id: str
) -> CredentialOut:
    """A new broker password for one of your units, shown this once; the old one stops working at once."""
    return service.rotate_credential(session, principal, device_id, broker)


@router.delete(
    "/vehicles/{device_id}/credentials",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke a vehicle's broker credential",
    responses={**NOT_FOUND_RESPONSE, **CONFLICT},
)
def revoke_credential(
    session: SessionDep, principal: AdminDep, broker: CredentialBrokerDep, device_id: str
) -> Response:
    """Refuse one of your units on the broker from now on; a connected unit is disconnected within seconds."""
    service.revoke_credential(session, principal, device_id, broker)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
