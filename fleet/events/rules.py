"""The detectors' thresholds: defaults, a tenant's overrides, and overrides per vehicle group.

A vehicle's rule of a detector is the tenant's override of it (or the default), with the group override of the
first of the vehicle's groups (by name) that has one laid over it. Every detector can be switched off
(`enabled: false`) and given the severity of its events.
"""

from collections.abc import Sequence
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from fleet.contract.events import Severity
from fleet.db.models import EventRule
from fleet.errors import Invalid


class Rule(BaseModel):
    """What every detector has."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    severity: Severity


class OverspeedRule(Rule):
    """Over `limit_kmh` for at least `min_duration_s`."""

    severity: Severity = "warning"
    limit_kmh: float = Field(default=80, gt=0, le=300)
    min_duration_s: float = Field(default=10, ge=0, le=3600)


class HarshRule(Rule):
    """A change of speed between consecutive positions (at most `max_gap_s` apart) faster than these rates."""

    severity: Severity = "info"
    braking_kmh_per_s: float = Field(default=12, gt=0, le=100, description="12 km/h/s is about 0.34 g")
    acceleration_kmh_per_s: float = Field(default=10, gt=0, le=100)
    max_gap_s: float = Field(default=3, gt=0, le=30)


class DoorOpenMovingRule(Rule):
    """A door open while the speed is above `min_speed_kmh`."""

    severity: Severity = "critical"
    min_speed_kmh: float = Field(default=5, ge=0, le=100)


class IdlingRule(Rule):
    """Engine running (above `min_rpm`), speed below `max_speed_kmh`, for at least `min_duration_s`."""

    severity: Severity = "info"
    min_duration_s: float = Field(default=300, ge=10, le=86400)
    min_rpm: float = Field(default=300, ge=0, le=3000)
    max_speed_kmh: float = Field(default=2, ge=0, le=20)


class GeofenceRule(Rule):
    """Inside a geofence of the tenant (the severity of each comes with the geofence)."""

    severity: Severity = "info"


class SilentRule(Rule):
    """Online, and no record for more than `after_s`."""

    severity: Severity = "warning"
    after_s: float = Field(default=120, ge=10, le=86400)


class LowLevelRule(Rule):
    """Below `threshold_pct`, until back above it by `hysteresis_pct`."""

    severity: Severity = "warning"
    threshold_pct: float = Field(default=10, ge=0, le=100)
    hysteresis_pct: float = Field(default=2, ge=0, le=50)


DetectorName = Literal[
    "overspeed", "harsh", "door_open_moving", "idling", "geofence", "silent", "low_fuel", "low_battery"
]
RULES: dict[str, type[Rule]] = {
    "overspeed": OverspeedRule,
    "harsh": HarshRule,
    "door_open_moving": DoorOpenMovingRule,
    "idling": IdlingRule,
    "geofence": GeofenceRule,
    "silent": SilentRule,
    "low_fuel": LowLevelRule,
    "low_battery": LowLevelRule,
}
NO_GROUP = ""
RuleT = TypeVar("RuleT", bound=Rule)


def check(detector: str, params: dict[str, Any]) -> dict[str, Any]:
    """Validated override `params` of `detector` (only the fields given); `Invalid` with the reason."""
    model = RULES.get(detector)
    if model is None:
        raise Invalid(f"unknown detector {detector!r}; detectors are {', '.join(RULES)}")
    try:
        model.model_validate(params)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'params'}: {e['msg']}" for e in error.errors())
        raise Invalid(f"rule {detector}: {problems}") from None
    return dict(params)


class TenantRules:
    """A tenant's rules of every detector, resolved per vehicle from its groups."""

    def __init__(self, overrides: Sequence[EventRule]) -> None:
        self._tenant = {r.detector: r.params for r in overrides if r.group_name == NO_GROUP}
        self._groups: dict[str, dict[str, dict[str, Any]]] = {}
        for rule in overrides:
            if rule.group_name != NO_GROUP:
                self._groups.setdefault(rule.group_name, {})[rule.detector] = rule.params

    def for_vehicle(self, detector: str, groups: Sequence[str]) -> Rule:
        """The rule of `detector` for a vehicle in `groups`."""
        params = dict(self._tenant.get(detector, {}))
        for group in sorted(groups):
            if detector in self._groups.get(group, {}):
                params.update(self._groups[group][detector])
                break
        return RULES[detector].model_validate(params)

    def typed(self, detector: str, groups: Sequence[str], kind: type[RuleT]) -> RuleT:
        """`for_vehicle`, checked to be of `kind`, the class of `detector`'s rules."""
        rule = self.for_vehicle(detector, groups)
        if not isinstance(rule, kind):
            raise TypeError(f"the {detector} rule is a {type(rule).__name__}, not a {kind.__name__}")
        return rule


def load(session: Session, tenant_ids: Sequence[int]) -> dict[int, TenantRules]:
    """The rules of each tenant in `tenant_ids`."""
    found = session.scalars(select(EventRule).where(EventRule.tenant_id.in_(tenant_ids))).all()
    return {t: TenantRules([r for r in found if r.tenant_id == t]) for t in tenant_ids}
