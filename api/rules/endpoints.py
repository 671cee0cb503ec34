"""HTTP routes of the rules module."""

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path

from api.deps import AdminDep, SessionDep, ViewerDep
from api.errors import FORBIDDEN_RESPONSE, UNAUTHORIZED_RESPONSE, ErrorOut
from api.rules import service
from api.rules.schemas import RuleList, RuleOut
from api.vehicles.schemas import GROUP_NAME_DESCRIPTION
from fleet.events.rules import DetectorName
from fleet.registry.service import GROUP_NAME_REGEX, MAX_GROUP_LENGTH

router = APIRouter(prefix="/v1/event-rules", tags=["event rules"], responses={**UNAUTHORIZED_RESPONSE})

Responses = dict[int | str, dict[str, Any]]
CHANGE_RESPONSES: Responses = {
    **FORBIDDEN_RESPONSE,
    409: {"model": ErrorOut, "description": "Another request set the same override at the same time: retry"},
}
DetectorPath = Annotated[DetectorName, Path(description="The detector")]
GroupPath = Annotated[
    str,
    Path(
        max_length=MAX_GROUP_LENGTH,
        pattern=f"^{GROUP_NAME_REGEX}$",
        description=f"A vehicle group ({GROUP_NAME_DESCRIPTION})",
    ),
]
OverrideBody = Annotated[
    dict[str, Any],
    Body(
        description="The rule's fields to set, checked against the detector's (a field it has not, or a value out of "
        "range, is a 422 naming it); the fields left out keep the defaults (the tenant's rule, for a group)",
        examples=[{"limit_kmh": 70, "min_duration_s": 15}],
    ),
]
RULES_DESCRIPTION = """Each detector's rule for your vehicles. A vehicle gets `effective`: the defaults with your
tenant's `override` laid over them, then the override of the first of the vehicle's groups (by name) that has one.
Every rule has `enabled` (false: the detector is off) and the `severity` of its events (warning and critical ones
open alarms)."""


@router.get("", summary="List the detectors' rules", description=RULES_DESCRIPTION)
def list_rules(session: SessionDep, principal: ViewerDep) -> RuleList:
    return service.list_rules(session, principal.tenant_id)


@router.put("/{detector}", summary="Set your tenant's rule of a detector", responses={**CHANGE_RESPONSES})
def set_rule(session: SessionDep, principal: AdminDep, detector: DetectorPath, body: OverrideBody) -> RuleOut:
    """Replace your tenant's override of the detector (`{}`: the defaults); needs the admin role, audited
    (`tenant.event_rules`). Detection uses it from its next pass."""
    return service.set_override(session, principal, detector, body)


@router.put(
    "/{detector}/groups/{group}", summary="Set a vehicle group's rule of a detector", responses={**CHANGE_RESPONSES}
)
def set_group_rule(
    session: SessionDep, principal: AdminDep, detector: DetectorPath, group: GroupPath, body: OverrideBody
) -> RuleOut:
    """Replace the override of the detector for your vehicles in `group`, laid over your tenant's rule; needs the
    admin role, audited (`tenant.event_rules`)."""
    return service.set_override(session, principal, detector, body, group)


@router.delete(
    "/{detector}/groups/{group}",
    summary="Remove a vehicle group's rule of a detector",
    responses={**FORBIDDEN_RESPONSE, 404: {"model": ErrorOut, "description": "The group has no override of it"}},
)
def delete_group_rule(session: SessionDep, principal: AdminDep, detector: DetectorPath, group: GroupPath) -> RuleOut:
    """Remove the group's override: its vehicles get your tenant's rule again; needs the admin role, audited."""
    return service.delete_override(session, principal, detector, group)
