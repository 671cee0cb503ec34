"""Tachograph compliance: each download's due date from the tenant's periods, and the fleet-wide overdue gauge."""

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from api.compliance import repository
from api.compliance.schemas import (
    DriverCardOut,
    PeriodsIn,
    PeriodsOut,
    TachographCompliance,
    TachographStatus,
    VehicleUnitOut,
)
from api.tenancy.service import Principal
from fleet.audit.service import AuditAction, record
from fleet.db.models import Tenant, utcnow
from fleet.settings import FilesSettings

logger = logging.getLogger(__name__)

# A download due within this many days is `due_soon`: a week to plan it.
DUE_SOON_DAYS = 7


def standing(last: datetime, period_days: int, now: datetime) -> tuple[datetime, int, TachographStatus]:
    """When the next download is due after `last`, the whole days left until then (negative: overdue), the status."""
    due_at = last + timedelta(days=period_days)
    days_left = (due_at - now).days  # floored: 12 hours late is -1
    if days_left < 0:
        return due_at, days_left, TachographStatus.OVERDUE
    return due_at, days_left, TachographStatus.DUE_SOON if days_left <= DUE_SOON_DAYS else TachographStatus.OK


def periods_of(tenant: Tenant, settings: FilesSettings) -> PeriodsOut:
    """The tenant's periods, or the deployment's where it has none."""
    unit_days, card_days = tenant.tachograph_vu_days, tenant.tachograph_card_days
    return PeriodsOut(
        vehicle_unit_days=settings.tachograph_vu_days if unit_days is None else unit_days,
        driver_card_days=settings.tachograph_card_days if card_days is None else card_days,
    )


def tachograph(
    session: Session, tenant_id: int, settings: FilesSettings, status: TachographStatus | None
) -> TachographCompliance:
    """The tenant's vehicle units and driver cards with their due dates, of one status if given."""
    now = utcnow()
    periods = periods_of(repository.tenant(session, tenant_id), settings)
    units = []
    for device_id, registered_at, last in repository.vehicle_units(session, tenant_id):
        due_at, days_left, standing_now = standing(last or registered_at, periods.vehicle_unit_days, now)
        units.append(
            VehicleUnitOut(
                device_id=device_id,
                last_download_at=last,
                due_at=due_at,
                days_left=days_left,
                status=TachographStatus.NEVER if last is None else standing_now,
            )
        )
    cards = []
    for card_id, device_id, last in repository.driver_cards(session, tenant_id):
        due_at, days_left, standing_now = standing(last, periods.driver_card_days, now)
        cards.append(
            DriverCardOut(
                driver_card_id=card_id,
                device_id=device_id,
                last_download_at=last,
                due_at=due_at,
                days_left=days_left,
                status=standing_now,
            )
        )
    return TachographCompliance(
        vehicle_units=[u for u in units if status is None or u.status == status],
        driver_cards=[c for c in cards if status is None or c.status == status],
        periods=periods,
    )


def set_periods(session: Session, principal: Principal, settings: FilesSettings, body: PeriodsIn) -> PeriodsOut:
    """Set the tenant's own periods (None: the deployment's again); a change is recorded in the audit log."""
    tenant = repository.tenant(session, principal.tenant_id)
    changed: dict[str, Any] = {}
    if body.vehicle_unit_days != tenant.tachograph_vu_days:
        changed["vehicle_unit_days"] = {"from": tenant.tachograph_vu_days, "to": body.vehicle_unit_days}
        tenant.tachograph_vu_days = body.vehicle_unit_days
    if body.driver_card_days != tenant.tachograph_card_days:
        changed["driver_card_days"] = {"from": tenant.tachograph_card_days, "to": body.driver_card_days}
        tenant.tachograph_card_days = body.driver_card_days
    if changed:
        record(
            session,
            tenant_id=tenant.id,
            actor=principal.actor,
            action=AuditAction.TACHOGRAPH_PERIODS,
            target=tenant.name,
            detail=changed,
        )
        session.flush()
    return periods_of(tenant, settings)
