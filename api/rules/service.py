"""The detectors' rules over HTTP: each detector's rule as it resolves, and the overrides an admin sets (audited).

Overrides are checked with `fleet.events.rules.check` and stored as their model reads them (`"70"` as 70.0), only
the fields given. An override replaces the previous one of the same tenant or group; `{}` sets nothing.
"""

from collections.abc import Sequence
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.rules import repository
from api.rules.schemas import GroupRuleOut, RuleList, RuleOut
from api.tenancy.service import Principal
from fleet.audit.service import AuditAction, record
from fleet.db.models import EventRule, utcnow
from fleet.errors import Conflict, NotFound
from fleet.events.rules import NO_GROUP, RULES, TenantRules, check


def list_rules(session: Session, tenant_id: int) -> RuleList:
    """The rule of every detector for the tenant."""
    rows = repository.overrides(session, tenant_id)
    return RuleList(items=[_rule_out(detector, rows) for detector in RULES])


def set_override(
    session: Session, principal: Principal, detector: str, params: dict[str, Any], group: str = NO_GROUP
) -> RuleOut:
    """Set the tenant's override of `detector` (or its group's); 422 with the reason for a rule that cannot be."""
    checked = RULES[detector].model_validate(check(detector, params)).model_dump(include=set(params))
    rule = repository.override(session, principal.tenant_id, detector, group)
    before = rule.params if rule is not None else None
    if rule is None:
        try:
            with session.begin_nested():
                session.add(
                    EventRule(tenant_id=principal.tenant_id, group_name=group, detector=detector, params=checked)
                )
        except IntegrityError:
            raise Conflict(f"the rule of {detector} was just set by another request: retry") from None
    else:
        rule.params, rule.updated_at = checked, utcnow()
    _audit(session, principal, detector, group, before, checked)
    session.flush()
    return _rule_out(detector, repository.overrides(session, principal.tenant_id, detector))


def delete_override(session: Session, principal: Principal, detector: str, group: str) -> RuleOut:
    """Remove the override of `detector` for the tenant's `group`; 404 when there is none."""
    rule = repository.override(session, principal.tenant_id, detector, group)
    if rule is None:
        raise NotFound(f"no override of {detector} for group {group!r}")
    _audit(session, principal, detector, group, rule.params, None)
    session.delete(rule)
    session.flush()
    return _rule_out(detector, repository.overrides(session, principal.tenant_id, detector))


def _rule_out(detector: str, rows: Sequence[EventRule]) -> RuleOut:
    mine = [row for row in rows if row.detector == detector]
    resolved = TenantRules(mine)
    own = next((row.params for row in mine if row.group_name == NO_GROUP), None)
    groups = [
        GroupRuleOut(group=row.group_name, override=row.params, effective=_dump(resolved, detector, [row.group_name]))
        for row in sorted(mine, key=lambda row: row.group_name)
        if row.group_name != NO_GROUP
    ]
    return RuleOut(
        detector=detector,
        defaults=RULES[detector].model_validate({}).model_dump(),
        override=own,
        effective=_dump(resolved, detector, []),
        groups=groups,
    )


def _dump(resolved: TenantRules, detector: str, groups: list[str]) -> dict[str, Any]:
    return resolved.for_vehicle(detector, groups).model_dump()


def _audit(
    session: Session,
    principal: Principal,
    detector: str,
    group: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:
    record(
        session,
        tenant_id=principal.tenant_id,
        actor=principal.actor,
        action=AuditAction.RULES_UPDATE,
        target=detector,
        detail={"group": group or None, "from": before, "to": after},
    )
