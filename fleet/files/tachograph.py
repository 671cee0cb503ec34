"""Tachograph downloads in the file store: which are verified, when each happened, and what is overdue fleet-wide.

EU 581/2010: the vehicle unit's data is downloaded at least every 90 days, each driver card's every 28 days (a
tenant's country may set its own periods). The API lists a tenant's downloads; the worker counts what is overdue
across tenants for `fleet_tachograph_overdue`.
"""

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Connection, case, func, literal, select

from fleet.db.models import File, Tenant, Vehicle
from fleet.db.types import UtcDateTime
from fleet.files.states import FileState

VEHICLE_UNIT_KIND = "tachograph_vu"
DRIVER_CARD_KIND = "tachograph_card"
# When a download happened: the end of the data it holds, else the offer.
DOWNLOADED_AT = func.coalesce(File.ended_at, File.offered_at)


def verified(kind: str) -> ColumnElement[bool]:
    """Verified files of `kind`."""
    return (File.kind == kind) & (File.state == FileState.VERIFIED)


def overdue_counts(
    connection: Connection, vehicle_unit_days: int, driver_card_days: int, now: datetime
) -> dict[str, int]:
    """Vehicle units and driver cards of every tenant whose next download was due before `now`.

    A vehicle unit never downloaded counts once a period has passed since the vehicle was registered. Each
    tenant's own periods apply (None: the defaults given).
    """
    unit_period = func.coalesce(Tenant.tachograph_vu_days, vehicle_unit_days)
    card_period = func.coalesce(Tenant.tachograph_card_days, driver_card_days)
    periods = connection.execute(select(unit_period, card_period).distinct()).all()
    if not periods:
        return {"vehicle_unit": 0, "driver_card": 0}
    newest_unit = (
        select(File.vehicle_id, func.max(DOWNLOADED_AT).label("downloaded_at"))
        .where(verified(VEHICLE_UNIT_KIND))
        .group_by(File.vehicle_id)
        .subquery()
    )
    units = (
        select(func.count())
        .select_from(Vehicle)
        .join(Tenant, Tenant.id == Vehicle.tenant_id)
        .outerjoin(newest_unit, newest_unit.c.vehicle_id == Vehicle.id)
        .where(
            Vehicle.tachograph_required,
            func.coalesce(newest_unit.c.downloaded_at, Vehicle.created_at)
            < _deadline(unit_period, {unit for unit, _ in periods}, now),
        )
    )
    newest_card = (
        select(File.tenant_id, func.max(DOWNLOADED_AT).label("downloaded_at"))
        .where(verified(DRIVER_CARD_KIND), File.driver_card_id.is_not(None))
        .group_by(File.tenant_id, File.driver_card_id)
        .subquery()
    )
    cards = (
        select(func.count())
        .select_from(newest_card)
        .join(Tenant, Tenant.id == newest_card.c.tenant_id)
        .where(newest_card.c.downloaded_at < _deadline(card_period, {card for _, card in periods}, now))
    )
    return {"vehicle_unit": connection.scalar(units) or 0, "driver_card": connection.scalar(cards) or 0}


def _deadline(period: ColumnElement[int], days: Iterable[int], now: datetime) -> ColumnElement[datetime]:
    """`now` minus the row's period: a download before it is overdue (one CASE branch per period in use)."""
    return case({value: literal(now - timedelta(days=value), UtcDateTime()) for value in days}, value=period)
